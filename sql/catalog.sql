--
-- catalog: the extension installs cleanly, its catalog refuses bad states,
-- PUBLIC reaches nothing, tenancy_admin reaches what it should, and DROP
-- EXTENSION leaves nothing behind.
--
CREATE EXTENSION tenancy;
SELECT tenancy.version() = extversion AS library_matches_extension
  FROM pg_extension WHERE extname = 'tenancy';

-- every table, view and function of the schema carries a comment (its
-- sequences are those of identity columns, described by their tables)
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tenancy' AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy' AND obj_description(p.oid, 'pg_proc') IS NULL;

-- every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp:
-- listed with its settings, so that a new one (or a dropped SET) shows here
SELECT p.oid::regprocedure::text AS security_definer, p.proconfig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy' AND p.prosecdef ORDER BY 1;
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy' AND p.prosecdef
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);

-- tables are logged and dumped with the extension
SELECT c.relname, c.relpersistence
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tenancy' AND c.relkind = 'r' ORDER BY 1;
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension
 WHERE extname = 'tenancy' ORDER BY 1;

-- the catalog's constraints refuse bad states
\set VERBOSITY terse
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('Bad_Name', 'bad_name', '{}');
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('-lead', 'lead', '{}');
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('ok', 'ok', '[]');
INSERT INTO tenancy.tenants (name, slug, spec, state) VALUES ('ok', 'ok', '{}', 'happy');
INSERT INTO tenancy.tenants (name, slug, spec, generation) VALUES ('ok', 'ok', '{}', 0);
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('ok', 'ok', '{}');
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('ok', 'ok2', '{}');
INSERT INTO tenancy.operations (tenant_id, kind, generation)
	SELECT tenant_id, 'explode', 1 FROM tenancy.tenants;
INSERT INTO tenancy.operations (tenant_id, kind, generation, state)
	SELECT tenant_id, 'provision', 1, 'succeeded' FROM tenancy.tenants;
INSERT INTO tenancy.operations (tenant_id, kind, generation)
	VALUES (424242, 'provision', 1);
INSERT INTO tenancy.operations (tenant_id, kind, generation)
	SELECT tenant_id, 'provision', 1 FROM tenancy.tenants;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object)
	SELECT operation_id, 1, 'mainframe', 'create', 'x' FROM tenancy.operations;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, depends_on)
	SELECT operation_id, 2, 'kubernetes', 'create', 'x', '{2}' FROM tenancy.operations;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, state)
	SELECT operation_id, 1, 'kubernetes', 'create', 'x', 'running' FROM tenancy.operations;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, http_status)
	SELECT operation_id, 1, 'kubernetes', 'create', 'x', 700 FROM tenancy.operations;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, attempts)
	SELECT operation_id, 1, 'kubernetes', 'create', 'x', -1 FROM tenancy.operations;
-- not due before the end of the test, so the worker leaves it alone
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, next_attempt_at)
	SELECT operation_id, 1, 'kubernetes', 'create', 'namespace', 'infinity' FROM tenancy.operations;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object)
	SELECT operation_id, 1, 'kubernetes', 'create', 'again' FROM tenancy.operations;
SELECT state, attempts, lease_until IS NULL AS no_lease FROM tenancy.steps;
TRUNCATE tenancy.steps, tenancy.operations, tenancy.created_objects, tenancy.platform_objects, tenancy.tenants;
\set VERBOSITY default

-- PUBLIC reaches nothing in schema tenancy; tenancy_admin reaches the catalog
CREATE ROLE regress_nobody LOGIN;
CREATE ROLE regress_admin LOGIN IN ROLE tenancy_admin;
SELECT has_schema_privilege('regress_nobody', 'tenancy', 'USAGE') AS nobody_usage,
       has_schema_privilege('regress_admin', 'tenancy', 'USAGE') AS admin_usage;
SELECT c.relname,
       has_table_privilege('regress_nobody', c.oid, 'SELECT') AS nobody_select,
       has_table_privilege('regress_admin', c.oid, 'SELECT') AS admin_select,
       has_table_privilege('regress_admin', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS admin_writes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tenancy' AND c.relkind IN ('r', 'v') ORDER BY 1;
-- functions PUBLIC may execute: only those listed here, on purpose
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy' AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE')
 ORDER BY 1;
SELECT count(*) > 0 AS admin_functions_exist,
       bool_and(has_function_privilege('regress_admin', p.oid, 'EXECUTE')) AS admin_executes_all
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy';
-- functions tenancy_admin may not execute: only the registry of warehouse
-- servers, superuser-only on purpose (a conninfo picks the server files the
-- worker reads and where its passwords go)
SELECT p.oid::regprocedure AS superuser_only_function
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'tenancy' AND NOT has_function_privilege('regress_admin', p.oid, 'EXECUTE')
 ORDER BY 1;
SET ROLE regress_nobody;
SELECT * FROM tenancy.tenants;
SELECT tenancy.version();
RESET ROLE;
SET ROLE regress_admin;
SELECT count(*) FROM tenancy.tenants;
SELECT tenancy.version() IS NOT NULL AS admin_calls_version;
RESET ROLE;

-- settings: the prefix is reserved, endpoints hidden from non-superusers
SET tenancy.no_such_setting = 1;
SHOW tenancy.poll_interval;
SET ROLE regress_admin;
-- the message differs by version (16 reworded it): the SQLSTATE does not
DO $$ BEGIN PERFORM pg_catalog.current_setting('tenancy.database'); EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'tenancy.database is hidden (%)', SQLSTATE; END $$;
RESET ROLE;

-- DROP EXTENSION leaves nothing of the extension behind
CREATE TABLE public.keep_me (id int);  -- not the extension's
DROP EXTENSION tenancy;
SELECT count(*) AS left_behind FROM pg_namespace WHERE nspname = 'tenancy';
SELECT count(*) AS left_behind FROM pg_class WHERE relname ~ '^(tenants|operations|steps)';
SELECT count(*) AS tenancy_admin_kept FROM pg_roles WHERE rolname = 'tenancy_admin';
-- and it can be created again, but never adopts a schema it did not create
CREATE EXTENSION tenancy;
DROP EXTENSION tenancy;
CREATE SCHEMA tenancy;
\set VERBOSITY terse
CREATE EXTENSION tenancy;
\set VERBOSITY default
DROP SCHEMA tenancy;
CREATE EXTENSION tenancy;
DROP EXTENSION tenancy;
DROP TABLE public.keep_me;
DROP ROLE regress_nobody, regress_admin;
