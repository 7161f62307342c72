--
-- tenant_isolation: three tenants on one database.  Every login role of each
-- tenant tries USAGE, CREATE, SELECT and INSERT on every tenant's schemas and
-- on the rows of a shared table: refused on the others', allowed on its own.
-- Tenant roles reach nothing of tenancy, cannot SET ROLE to another tenant's
-- roles and cannot create outside their schemas.
--
CREATE EXTENSION tenancy;
-- spec(name, patch): the smallest valid spec of a tenant, with patch merged in
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers

SELECT t AS tenant, tenancy.provision(t, pg_temp.spec(t)) > 0 AS provisioned
  FROM unnest(ARRAY['red', 'green', 'blue']) AS t;

-- attempt(role, sql): run sql as role and undo it: 'allowed', or the SQLSTATE
-- that refused it
CREATE FUNCTION pg_temp.attempt(r text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	BEGIN
		EXECUTE stmt;
		RAISE SQLSTATE 'TQ001';
	EXCEPTION WHEN OTHERS THEN
		result := CASE SQLSTATE WHEN 'TQ001' THEN 'allowed' ELSE SQLSTATE END;
	END;
	RESET ROLE;
	RETURN result;
END
$$;

-- one probe table per schema, created by the tenant's etl role (the audit
-- schema has its pipeline_runs)
DO $$
DECLARE
	t text;
	s text;
BEGIN
	FOREACH t IN ARRAY ARRAY['red', 'green', 'blue'] LOOP
		EXECUTE format('SET LOCAL ROLE %I', 'etl_' || t);
		FOREACH s IN ARRAY ARRAY['bronze', 'silver', 'gold_mart', 'gold_reporting', 'staging'] LOOP
			EXECUTE format('CREATE TABLE %I.probe (i int DEFAULT 1)', t || '_' || s);
		END LOOP;
		RESET ROLE;
	END LOOP;
END
$$;

-- the matrix: 6 login roles x 18 schemas x 4 attempts
CREATE TEMP TABLE matrix AS
WITH tenants(t) AS (VALUES ('red'), ('green'), ('blue')),
     logins AS (SELECT t AS login_tenant, r || t AS login
                  FROM tenants, unnest(ARRAY['etl_', 'airflow_']) AS r),
     schemas AS (SELECT t AS schema_tenant, t || '_' || s AS schema,
                        CASE s WHEN 'audit' THEN 'pipeline_runs' ELSE 'probe' END AS tbl
                   FROM tenants, unnest(ARRAY['bronze', 'silver', 'gold_mart',
                                              'gold_reporting', 'staging', 'audit']) AS s)
SELECT l.login, l.login_tenant = s.schema_tenant AS own, s.schema, a.what,
       pg_temp.attempt(l.login, format(a.stmt, s.schema, s.tbl)) AS result
  FROM logins l CROSS JOIN schemas s
 CROSS JOIN (VALUES
	('1 usage',  'SELECT NULL::%1$I.%2$I'),
	('2 create', 'CREATE TABLE %1$I.intruder (i int)'),
	('3 select', 'SELECT count(*) FROM %1$I.%2$I'),
	('4 insert', 'INSERT INTO %1$I.%2$I DEFAULT VALUES')
 ) AS a(what, stmt);
-- other tenants' schemas: everything refused (42501); own: all allowed but
-- CREATE in the audit schema
SELECT own, what, result, count(*) FROM matrix GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT login, schema, what, result FROM matrix
 WHERE own AND result <> 'allowed' ORDER BY 1, 2, 3;
-- the catalog's view agrees, for every privilege
SELECT own, privilege, bool_or(granted) AS any_granted, bool_and(granted) AS all_granted
  FROM (SELECT m.own, p.privilege, has_schema_privilege(m.login, m.schema, p.privilege) AS granted
          FROM (SELECT DISTINCT login, own, schema FROM matrix) m,
               unnest(ARRAY['USAGE', 'CREATE']) AS p(privilege)) x
 GROUP BY 1, 2 ORDER BY 1, 2;

-- a shared table: FORCE row-level security, one generic policy, an index
CREATE TABLE public.shared_runs (id serial PRIMARY KEY, tenant text NOT NULL, payload text);
SELECT tenancy.share_table('public.shared_runs', 'tenant');
SELECT tenancy.share_table('public.shared_runs', 'tenant');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.shared_runs
   TO tenant_red_writer, tenant_green_writer, tenant_blue_writer;
GRANT USAGE ON SEQUENCE public.shared_runs_id_seq
   TO tenant_red_writer, tenant_green_writer, tenant_blue_writer;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class
 WHERE oid = 'public.shared_runs'::regclass;
SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies
 WHERE tablename = 'shared_runs';
SELECT pg_get_indexdef(indexrelid) AS tenant_index FROM pg_index
 WHERE indrelid = 'public.shared_runs'::regclass AND NOT indisprimary;

-- each etl role writes its own rows (as the table owner, superuser sees all)
SET ROLE etl_red;   INSERT INTO public.shared_runs (tenant, payload) VALUES ('red', 'r1');   RESET ROLE;
SET ROLE etl_green; INSERT INTO public.shared_runs (tenant, payload) VALUES ('green', 'g1'); RESET ROLE;
SET ROLE etl_blue;  INSERT INTO public.shared_runs (tenant, payload) VALUES ('blue', 'b1');  RESET ROLE;

-- each login role sees only its tenant's rows
CREATE FUNCTION pg_temp.visible(r text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	seen text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	SELECT string_agg(tenant || ':' || payload, ',' ORDER BY id) INTO seen FROM public.shared_runs;
	RESET ROLE;
	RETURN seen;
END
$$;
SELECT login, pg_temp.visible(login) AS visible_rows
  FROM unnest(ARRAY['etl_red', 'airflow_red', 'etl_green', 'airflow_green',
                    'etl_blue', 'airflow_blue']) AS login;

-- writing another tenant's id is refused (WITH CHECK), on insert and update;
-- the others' rows cannot be touched
SELECT l.login, t AS other_tenant,
       pg_temp.attempt(l.login, format('INSERT INTO public.shared_runs (tenant) VALUES (%L)', t)) AS insert_as_other,
       pg_temp.attempt(l.login, format('UPDATE public.shared_runs SET tenant = %L', t)) AS move_own_row
  FROM (VALUES ('etl_red', 'red'), ('airflow_green', 'green'), ('etl_blue', 'blue')) AS l(login, own),
       unnest(ARRAY['red', 'green', 'blue']) AS t
 WHERE t <> l.own ORDER BY 1, 2;
SET ROLE etl_red;
UPDATE public.shared_runs SET payload = 'hijacked' WHERE tenant <> 'red';
DELETE FROM public.shared_runs WHERE tenant <> 'red';
RESET ROLE;
SELECT tenant, payload FROM public.shared_runs ORDER BY id;

-- a role in the groups of two tenants belongs to neither, however many
-- other roles it is a member of: here green's group is reached through the
-- 300th of 300 other memberships (the rows of a shared table tell)
CREATE ROLE regress_crowded;
GRANT tenant_red_writer TO regress_crowded;
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXECUTE format('CREATE ROLE regress_crowd_%s', i);
		EXECUTE format('GRANT regress_crowd_%s TO regress_crowded', i);
	END LOOP;
END $$;
GRANT tenant_green_writer TO regress_crowd_300;
SET ROLE regress_crowded;
SELECT count(*) AS rows_seen_in_two_tenants FROM public.shared_runs;
RESET ROLE;
REVOKE tenant_green_writer FROM regress_crowd_300;
SET ROLE regress_crowded;
SELECT DISTINCT tenant AS rows_seen_in_red_only FROM public.shared_runs;
RESET ROLE;
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXECUTE format('DROP ROLE regress_crowd_%s', i);
	END LOOP;
END $$;
DROP ROLE regress_crowded;

-- the superuser has no tenant; tenant roles reach nothing of tenancy, cannot
-- become another tenant's roles, cannot create outside their schemas
SELECT tenancy.current_tenant() IS NULL AS superuser_has_no_tenant;
SELECT r AS login, a.what, pg_temp.attempt(r, a.stmt) AS result
  FROM unnest(ARRAY['etl_red', 'airflow_blue']) AS r,
       (VALUES ('read tenancy catalog', 'SELECT count(*) FROM tenancy.tenants'),
               ('call provision', 'SELECT tenancy.provision(''mallory'', ''{}'')'),
               ('call current_tenant', 'SELECT tenancy.current_tenant()'),
               ('create in public', 'CREATE TABLE public.intruder (i int)'),
               ('create schema', 'CREATE SCHEMA intruder'),
               ('unshare the table', 'ALTER TABLE public.shared_runs DISABLE ROW LEVEL SECURITY'))
       AS a(what, stmt)
 ORDER BY 1, 2;

-- logged in as a tenant's login role: no SET ROLE to another tenant's roles,
-- nor to its own tenant's owner
SET SESSION AUTHORIZATION etl_red;
SET ROLE etl_green;
SET ROLE airflow_red;
SET ROLE tenant_green_writer;
SET ROLE tenant_blue_reader;
SET ROLE tenant_red_owner;
SET ROLE tenant_red_writer;
SELECT current_user;
RESET SESSION AUTHORIZATION;

-- share_table refuses what it cannot share
CREATE VIEW public.shared_view AS SELECT * FROM public.shared_runs;
CREATE TABLE public.int_tenant (tenant int);
CREATE ROLE regress_stranger IN ROLE tenancy_admin;
SELECT tenancy.share_table('public.shared_view', 'tenant');
SELECT tenancy.share_table('public.int_tenant', 'tenant');
SELECT tenancy.share_table('public.int_tenant', 'no_such_column');
SELECT tenancy.share_table('pg_catalog.pg_class', 'relname');
SELECT tenancy.share_table('tenancy.tenants', 'name');
SET ROLE regress_stranger;
SELECT tenancy.share_table('public.int_tenant', 'tenant');
RESET ROLE;

-- ... and a table with a partition the caller does not own: a member of
-- the group that owns the table made it, and share_table (or unshare_table)
-- would change it as tenancy's superuser
CREATE ROLE regress_owners;
CREATE ROLE regress_neighbour IN ROLE regress_owners;
GRANT regress_owners TO regress_stranger;
GRANT CREATE ON SCHEMA public TO regress_owners;
SET ROLE regress_owners;
CREATE TABLE public.group_tree (tenant text, v int) PARTITION BY LIST (tenant);
SET ROLE regress_neighbour;
CREATE TABLE public.group_tree_rest PARTITION OF public.group_tree DEFAULT;
GRANT SELECT, TRUNCATE ON public.group_tree_rest TO PUBLIC;
SET ROLE regress_stranger;
SELECT tenancy.share_table('public.group_tree', 'tenant');
RESET ROLE;
SELECT relname, relrowsecurity,
       (SELECT string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type)
          FROM aclexplode(relacl) a WHERE a.grantee = 0) AS public_privileges
  FROM pg_class WHERE oid = 'public.group_tree_rest'::regclass;
SELECT tenancy.share_table('public.group_tree', 'tenant');
SET ROLE regress_stranger;
SELECT tenancy.unshare_table('public.group_tree');
RESET ROLE;
SELECT relname, relrowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c WHERE oid = 'public.group_tree_rest'::regclass;
DROP TABLE public.group_tree;
REVOKE CREATE ON SCHEMA public FROM regress_owners;
DROP ROLE regress_neighbour, regress_owners;

-- unshare: policy and its index gone, row-level security off
SELECT tenancy.unshare_table('public.shared_runs');
SELECT tenancy.unshare_table('public.shared_runs');
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS policies,
       (SELECT count(*) FROM pg_index WHERE indrelid = c.oid) AS indexes
  FROM pg_class c WHERE oid = 'public.shared_runs'::regclass;

DROP VIEW public.shared_view;
DROP TABLE public.shared_runs, public.int_tenant;
DROP ROLE regress_stranger;
SELECT tenancy.deprovision(t, true) > 0 AS deprovisioned
  FROM unnest(ARRAY['red', 'green', 'blue']) AS t;
DROP EXTENSION tenancy;
