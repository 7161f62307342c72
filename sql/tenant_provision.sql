--
-- tenant_provision: what a DBA gets from tenancy.provision('acme-corp', spec)
-- with the reference spec: roles with their attributes and settings,
-- memberships, schemas with their owner and ACLs, default privileges, the
-- audit table, the catalog rows and steps, all in the caller's transaction.
--
CREATE EXTENSION tenancy;

-- the reference spec, placed in this database (its host names another server)
\getenv abs_srcdir PG_ABS_SRCDIR
\set seed_file :abs_srcdir '/test/fixtures/acme-corp.yaml'
SELECT pg_read_file(:'seed_file') AS seed_yaml \gset
CREATE TEMP TABLE seed AS
SELECT tenancy.parse_spec(:'seed_yaml') AS remote,
       tenancy.parse_spec(:'seed_yaml') #- '{warehouse,database,host}'
                                        #- '{warehouse,database,name}' AS spec;

-- as written, the spec names warehouse-db.internal: the same statements
-- become remote_database steps for the worker, chained in order
SELECT target, count(*) AS actions FROM seed, tenancy.plan('acme-corp', remote)
 GROUP BY target ORDER BY target;
SELECT ordinal, target, detail FROM seed, tenancy.plan('acme-corp', remote)
 WHERE ordinal IN (1, 2, 3, 53) OR action LIKE '% database access' ORDER BY ordinal;

-- placed here: every action in order, SQL with its exact statement, then
-- the platform steps for the worker
CREATE TEMP TABLE planned AS SELECT p.* FROM seed, tenancy.plan('acme-corp', spec) p;
SELECT * FROM planned WHERE target = 'database' ORDER BY ordinal;
SELECT ordinal, target, action, object FROM planned WHERE target <> 'database' ORDER BY ordinal;
-- planning executed nothing
SELECT count(*) AS roles FROM pg_roles WHERE rolname LIKE '%acme_corp%';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname LIKE 'acme\_%';

-- ROLLBACK leaves no trace
BEGIN;
SELECT tenancy.provision('acme-corp', spec) > 0 AS provisioned FROM seed;
SELECT count(*) AS roles_inside FROM pg_roles WHERE rolname LIKE '%acme_corp%';
ROLLBACK;
SELECT count(*) AS roles FROM pg_roles WHERE rolname LIKE '%acme_corp%';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname LIKE 'acme\_%';
SELECT count(*) AS tenants FROM tenancy.tenants;
SELECT count(*) AS operations FROM tenancy.operations;

-- the spec may also be given as YAML text; as written it is placed on
-- warehouse-db.internal (a registered server), so nothing runs here: every
-- step waits for the worker
BEGIN;
SELECT tenancy.register_server('warehouse-db', 'host=warehouse-db.internal port=5432');
SELECT tenancy.provision('acme-corp', :'seed_yaml') > 0 AS provisioned;
SELECT target, state, count(*) FROM tenancy.steps GROUP BY 1, 2 ORDER BY 1;
SELECT count(*) AS roles_here FROM pg_roles WHERE rolname LIKE '%acme_corp%';
ROLLBACK;

-- provision, and look at what the transaction holds before COMMIT
BEGIN;
SELECT tenancy.provision('acme-corp', spec) AS op FROM seed \gset
SELECT name, slug, state, generation, spec = (SELECT tenancy.normalize_spec(spec) FROM seed) AS spec_stored_normalized
  FROM tenancy.tenants;
SELECT kind, state, generation, requested_by = session_user AS by_me
  FROM tenancy.operations WHERE operation_id = :op;
-- every planned action is in a step: the SQL already ran, one step per
-- phase (succeeded, its statements in request.sql, in plan order, the step
-- numbered by its last statement); each platform action is a step that
-- waits for the worker
SELECT target, state, count(*) FROM tenancy.steps WHERE operation_id = :op
 GROUP BY target, state ORDER BY target;
SELECT ordinal, action, object FROM tenancy.steps
 WHERE operation_id = :op AND target = 'database' ORDER BY ordinal;
SELECT (SELECT string_agg(request ->> 'sql', E';\n' ORDER BY ordinal)
          FROM tenancy.steps WHERE operation_id = :op AND target = 'database')
     = (SELECT string_agg(detail, E';\n' ORDER BY ordinal)
          FROM planned WHERE target = 'database') AS sql_steps_hold_the_plan;
SELECT count(*) AS steps_differing_from_plan
  FROM tenancy.steps s JOIN planned p USING (ordinal)
 WHERE s.operation_id = :op AND s.target <> 'database'
   AND (s.target, s.action, s.object) IS DISTINCT FROM (p.target, p.action, p.object);
-- the platform steps in dependency order: the namespace first, the release
-- after everything it uses, validation last; every dependency comes earlier
SELECT ordinal, target, action, object, depends_on, state
  FROM tenancy.steps WHERE operation_id = :op AND target <> 'database' ORDER BY ordinal;
SELECT d.ordinal, d.object AS the_release_waits_for
  FROM tenancy.steps s
  JOIN tenancy.steps d ON d.operation_id = s.operation_id AND d.ordinal = ANY (s.depends_on)
 WHERE s.operation_id = :op AND s.object LIKE 'helmrelease %'
 ORDER BY d.ordinal;
SELECT count(*) AS dependencies_not_earlier
  FROM tenancy.steps s, unnest(s.depends_on) AS d(ordinal)
 WHERE s.operation_id = :op AND d.ordinal >= s.ordinal;
-- requests: server-side apply of a deterministic body, or a worker handler
SELECT ordinal, coalesce(request ->> 'method', 'handler ' || (request ->> 'handler')) AS request,
       coalesce(request ->> 'path', request ->> 'secret') AS path,
       request #>> '{query,fieldManager}' AS manager, request ->> 'content_type' AS content_type
  FROM tenancy.steps WHERE operation_id = :op AND target <> 'database' ORDER BY ordinal;
SELECT jsonb_pretty(request) AS request
  FROM tenancy.steps WHERE operation_id = :op AND object LIKE 'namespace %';
SELECT jsonb_pretty(request -> 'body') AS rolebinding
  FROM tenancy.steps WHERE operation_id = :op AND object LIKE 'rolebinding %';
SELECT jsonb_pretty(request - 'port') AS request
  FROM tenancy.steps WHERE operation_id = :op AND object LIKE '%/database-credentials';
-- compensation of a new tenant: delete the namespace and the dashboard
SELECT ordinal, compensation
  FROM tenancy.steps WHERE operation_id = :op AND compensation IS NOT NULL ORDER BY ordinal;
-- no secret in a step: every key that names a credential holds the name of
-- a Secret object or a Vault reference, never a literal credential
SELECT DISTINCT kv ->> 'key' AS key, jsonb_typeof(kv -> 'value') AS holds,
       CASE WHEN jsonb_typeof(kv -> 'value') = 'string' THEN kv ->> 'value' ELSE (kv -> 'value')::text END AS value
  FROM tenancy.steps s,
       LATERAL (VALUES (s.request), (s.compensation)) AS r(doc),
       LATERAL jsonb_path_query(r.doc, 'strict $.** ? (@.type() == "object").keyvalue()') AS kv
 WHERE s.operation_id = :op
   AND kv ->> 'key' ~* '(pass|token|secret|private|credential|api_?key|auth)'
 ORDER BY 1, 3;
-- the DBA views
SELECT name, state, generation, tier, environment, schema_prefix, placement,
       last_operation = :op AS last_is_provision
  FROM tenancy.tenant_summary;
SELECT tenant, kind, ordinal, target, action, object
  FROM tenancy.operation_steps
 WHERE operation_id = :op AND ordinal IN (17, 47, 52, 53) ORDER BY ordinal;
COMMIT;

-- roles: three NOLOGIN groups, two login roles; none privileged
SELECT rolname, rolcanlogin AS login, rolsuper, rolcreatedb, rolcreaterole,
       rolreplication, rolbypassrls, rolinherit, rolconnlimit
  FROM pg_roles WHERE rolname LIKE '%acme_corp%' ORDER BY rolname;
-- no password: password authentication fails until the worker sets one
SELECT rolname, rolpassword IS NULL AS no_password
  FROM pg_authid WHERE rolname LIKE '%acme_corp%' ORDER BY rolname;
-- per-tier settings (enterprise) on the login roles only
SELECT rolname, unnest(rolconfig) AS setting
  FROM pg_roles WHERE rolname LIKE '%acme_corp%' ORDER BY 1, 2;
SELECT r.rolname AS role, m.rolname AS member, a.admin_option
  FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid
  JOIN pg_roles m ON m.oid = a.member
 WHERE r.rolname LIKE '%acme_corp%' OR m.rolname LIKE '%acme_corp%'
 ORDER BY 1, 2;

-- schemas owned by the owner role; writers may create (not in audit)
SELECT nspname, pg_get_userbyid(nspowner) AS owner, nspacl
  FROM pg_namespace WHERE nspname LIKE 'acme\_%' ORDER BY nspname;

-- PostgreSQL 17 gives an owner MAINTAIN (m) on what it owns: a role's grant
-- to itself shows without it, so that one output holds for every version
-- (the owner's own m is PostgreSQL's doing, not tenancy's; an m granted to
-- any other role is not removed here and would show, failing the test)
CREATE FUNCTION pg_temp.acl(a aclitem[]) RETURNS text LANGUAGE sql AS
$$SELECT regexp_replace(a::text, '([a-z_]+)=([a-zA-Z]*)m/\1([,}])', '\1=\2/\1\3', 'g')$$;
-- default privileges: what owner, etl and airflow create later follows
SELECT pg_get_userbyid(defaclrole) AS creator, defaclnamespace = 0 AS any_schema,
       defaclobjtype, pg_temp.acl(defaclacl) AS defaclacl
  FROM pg_default_acl
 WHERE pg_get_userbyid(defaclrole) LIKE '%acme_corp%'
 ORDER BY 1, 3;

-- the audit table of the source document, owned by the owner role
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, attidentity
  FROM pg_attribute
 WHERE attrelid = 'acme_audit.pipeline_runs'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT relname, pg_get_userbyid(relowner) AS owner, pg_temp.acl(relacl) AS relacl
  FROM pg_class WHERE oid = 'acme_audit.pipeline_runs'::regclass;

-- the tenant works: a table etl creates in bronze is readable and writable
-- by airflow and readable by a reporting role in the reader group
CREATE ROLE regress_bi IN ROLE tenant_acme_corp_reader;
SET ROLE etl_acme_corp;
CREATE TABLE acme_bronze.customers (id int PRIMARY KEY, name text);
INSERT INTO acme_bronze.customers VALUES (1, 'Wile E. Coyote');
INSERT INTO acme_audit.pipeline_runs (dag_id, task_id, status) VALUES ('bronze', 'customers', 'success');
DELETE FROM acme_audit.pipeline_runs;
CREATE TABLE acme_audit.sneaky (i int);
RESET ROLE;
SET ROLE airflow_acme_corp;
UPDATE acme_bronze.customers SET name = 'Road Runner' WHERE id = 1;
SELECT run_id, dag_id, status FROM acme_audit.pipeline_runs;
RESET ROLE;
SET ROLE regress_bi;
SELECT * FROM acme_bronze.customers;
INSERT INTO acme_bronze.customers VALUES (2, 'nope');
RESET ROLE;

-- provisioning again is refused; planning an unchanged tenant plans nothing
\set VERBOSITY terse
SELECT tenancy.provision('acme-corp', spec) FROM seed;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT count(*) AS actions FROM seed, tenancy.plan('acme-corp', spec);
SELECT tenancy.apply('acme-corp', spec) IS NULL AS nothing_to_do FROM seed;
SELECT generation FROM tenancy.tenants;

-- deprovision with drop_data removes every role and schema
DROP ROLE regress_bi;
SELECT tenancy.deprovision('acme-corp', drop_data => true) > 0 AS deprovisioned;
SELECT count(*) AS roles FROM pg_roles WHERE rolname LIKE '%acme_corp%';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname LIKE 'acme\_%';
SELECT count(*) AS default_acls FROM pg_default_acl;

DROP EXTENSION tenancy;
