--
-- maint_audit: tenancy.audit compares what the catalog says should exist
-- with what exists.  A clean tenant has no finding; each tampering a DBA or
-- an attacker could do is found with its severity; every run is recorded
-- and can be compared with the previous one.
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers

SELECT t AS tenant, tenancy.provision(t, pg_temp.spec(t)) > 0 AS provisioned
  FROM unnest(ARRAY['audit-a', 'audit-b']) AS t;

-- clean tenants: no finding at all, and the run is recorded
SELECT * FROM tenancy.audit();
SELECT * FROM tenancy.audit('audit-a');
SELECT run_id, tenant, tenants_audited, findings, finished_at >= started_at AS finished
  FROM tenancy.audit_runs ORDER BY run_id;

-- tenant_objects: what the planner derives, which the audit checks
SELECT object_type, purpose, object_name, local
  FROM tenancy.tenant_objects('audit-a') ORDER BY object_type, object_name;

-- 1. GRANT to PUBLIC on a schema and on the audit table
GRANT USAGE ON SCHEMA audit_a_silver TO PUBLIC;
GRANT SELECT ON audit_a_audit.pipeline_runs TO PUBLIC;
-- 2. a login role gains BYPASSRLS
ALTER ROLE etl_audit_a BYPASSRLS;
-- 3. one tenant's role granted to another's
GRANT tenant_audit_a_reader TO etl_audit_b;
-- 4. a schema dropped
DROP SCHEMA audit_b_staging;
-- 5. a shared table whose policy is dropped (and one left intact)
CREATE TABLE public.shared_orders (tenant text NOT NULL, amount numeric);
CREATE TABLE public.shared_notes (tenant text NOT NULL, note text);
SELECT tenancy.share_table('public.shared_orders', 'tenant');
SELECT tenancy.share_table('public.shared_notes', 'tenant');
DROP POLICY tenancy_tenant_isolation ON public.shared_orders;

SELECT tenant, check_name, severity, object, detail FROM tenancy.audit()
 ORDER BY tenant NULLS FIRST, check_name, object, detail;

-- the latest run against the previous one: what is new
SELECT tenant, check_name, severity, object, is_new FROM tenancy.audit_latest
 ORDER BY tenant NULLS FIRST, check_name, object;

-- more drift: an unplanned privilege for a role outside the tenants, a
-- revoked planned grant, a group role that can log in, a changed
-- connection limit, an unplanned role setting, default privileges for
-- PUBLIC, a schema given away, an altered policy, RLS not forced
CREATE ROLE regress_outsider NOLOGIN;
GRANT CREATE ON SCHEMA audit_a_gold_mart TO regress_outsider;
REVOKE USAGE ON SCHEMA audit_a_bronze FROM tenant_audit_a_reader;
ALTER ROLE tenant_audit_a_writer LOGIN;
ALTER ROLE airflow_audit_a CONNECTION LIMIT 500;
ALTER ROLE airflow_audit_a SET search_path = public;
ALTER DEFAULT PRIVILEGES FOR ROLE etl_audit_a GRANT SELECT ON TABLES TO PUBLIC;
ALTER SCHEMA audit_b_gold_mart OWNER TO regress_outsider;
ALTER POLICY tenancy_tenant_isolation ON public.shared_notes USING (true);
ALTER TABLE public.shared_notes NO FORCE ROW LEVEL SECURITY;
-- revoked planned grants on the audit table, its sequence and in default
-- privileges; and two the roles still hold through PUBLIC (granted above),
-- which the audit counts as missing all the same
REVOKE UPDATE ON audit_a_audit.pipeline_runs FROM tenant_audit_a_writer;
REVOKE SELECT ON audit_a_audit.pipeline_runs FROM tenant_audit_a_reader;
REVOKE SELECT ON SEQUENCE audit_a_audit.pipeline_runs_run_id_seq FROM tenant_audit_a_reader;
REVOKE USAGE ON SCHEMA audit_a_silver FROM tenant_audit_a_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE etl_audit_a REVOKE SELECT ON TABLES FROM tenant_audit_a_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE tenant_audit_a_owner REVOKE USAGE ON SEQUENCES FROM tenant_audit_a_writer;
SELECT tenant, check_name, severity, object, detail FROM tenancy.audit()
 ORDER BY tenant NULLS FIRST, check_name, object, detail;
-- and what the previous run had that this one does not
SELECT tenant, check_name, object FROM tenancy.audit_resolved ORDER BY 1, 2, 3;

-- apply with the stored spec repairs what it plans, every revoked planned
-- grant included (schemas, the audit table and its sequence, default
-- privileges; those held through PUBLIC too), but not what it never
-- revokes: the tenant-role membership and PUBLIC grants remain findings,
-- and no missing_privileges
ALTER SCHEMA audit_b_gold_mart OWNER TO tenant_audit_b_owner;
SELECT t.name AS tenant, p.detail FROM tenancy.tenants t,
       LATERAL tenancy.plan(t.name, t.spec) p
 WHERE p.action LIKE 'grant %' OR p.action = 'alter default privileges'
 ORDER BY 1, 2;
SELECT tenancy.apply(name, spec) IS NOT NULL AS applied
  FROM tenancy.tenants ORDER BY name;
SELECT tenant, check_name, severity, object FROM tenancy.audit()
 WHERE tenant IS NOT NULL ORDER BY tenant, check_name, object;

-- undo the rest by hand: clean again
REVOKE USAGE ON SCHEMA audit_a_silver FROM PUBLIC;
REVOKE SELECT ON audit_a_audit.pipeline_runs FROM PUBLIC;
REVOKE tenant_audit_a_reader FROM etl_audit_b;
REVOKE CREATE ON SCHEMA audit_a_gold_mart FROM regress_outsider;
GRANT USAGE ON SCHEMA audit_a_bronze TO tenant_audit_a_reader;
ALTER ROLE airflow_audit_a RESET search_path;
ALTER DEFAULT PRIVILEGES FOR ROLE etl_audit_a REVOKE SELECT ON TABLES FROM PUBLIC;
SELECT count(*) AS findings FROM tenancy.audit('audit-a');
SELECT count(*) AS findings FROM tenancy.audit('audit-b');

-- tables the tenant creates later: reachable by its own roles only
SET ROLE etl_audit_a;
CREATE TABLE audit_a_bronze.events (id int, modified_at timestamptz);
RESET ROLE;
SELECT count(*) AS findings FROM tenancy.audit('audit-a');
GRANT SELECT ON audit_a_bronze.events TO tenant_audit_b_reader;
SELECT check_name, severity, object, detail FROM tenancy.audit('audit-a');
REVOKE SELECT ON audit_a_bronze.events FROM tenant_audit_b_reader;

-- data freshness: the spec's freshness check over bronze.*
SELECT tenancy.apply('audit-a', pg_temp.spec('audit-a',
	'{"warehouse": {"data_quality": {"enabled": true, "checks": [
	   {"type": "freshness", "tables": ["bronze.*"], "max_age_hours": 26}]}}}')) IS NOT NULL AS applied;
SELECT check_name, severity, object, detail FROM tenancy.audit('audit-a');
INSERT INTO audit_a_bronze.events VALUES (1, now() - interval '30 hours');
SELECT check_name, severity, object, detail ~ 'older than the 26 hours' AS stale
  FROM tenancy.audit('audit-a');
INSERT INTO audit_a_bronze.events VALUES (2, now() - interval '1 hour');
SELECT count(*) AS findings FROM tenancy.audit('audit-a');
CREATE TABLE audit_a_bronze.undated (id int);
ALTER TABLE audit_a_bronze.undated OWNER TO etl_audit_a;
SELECT check_name, severity, object FROM tenancy.audit('audit-a');
DROP TABLE audit_a_bronze.undated;

-- storage against resources.database.storage_gb (a tiny quota)
SELECT tenancy.apply('audit-b', pg_temp.spec('audit-b',
	'{"resources": {"database": {"storage_gb": 0.00001}}}')) IS NOT NULL AS applied;
SELECT check_name, severity, object, detail ~ 'more than resources.database.storage_gb' AS over
  FROM tenancy.audit('audit-b');
-- the large objects its roles own count too: under a quota of 1 MiB
-- (0.0009765625 GB) with its tables, over it with 2 MiB of large object
SELECT tenancy.apply('audit-b', pg_temp.spec('audit-b',
	'{"resources": {"database": {"storage_gb": 0.0009765625}}}')) IS NOT NULL AS applied;
SELECT count(*) AS storage_findings FROM tenancy.audit('audit-b') WHERE check_name = 'storage';
SET ROLE etl_audit_b;
SELECT lo_from_bytea(0, convert_to(repeat('x', 2097152), 'UTF8')) AS big_lo \gset
RESET ROLE;
SELECT check_name, severity, object, detail ~ '^The tenant''s schemas and large objects hold' AS with_large_objects
  FROM tenancy.audit('audit-b') WHERE check_name = 'storage';
SELECT lo_unlink(:big_lo);
SELECT tenancy.apply('audit-b', pg_temp.spec('audit-b',
	'{"resources": {"database": {"storage_gb": 0.00001}}}')) IS NOT NULL AS applied;

-- credentials older than tenancy.credential_max_age (a synthetic rotation step)
INSERT INTO tenancy.operations (tenant_id, kind, generation, state, finished_at, created_at, started_at)
SELECT tenant_id, 'rotate', generation, 'succeeded', now() - interval '100 days',
	   now() - interval '100 days', now() - interval '100 days'
  FROM tenancy.tenants WHERE name = 'audit-a';
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, state, finished_at)
SELECT max(operation_id), 1, 'vault', 'rotate', 'database credentials',
	   '{"handler": "database_credentials"}', 'succeeded', now() - interval '100 days'
  FROM tenancy.operations;
SELECT check_name, severity, object, detail ~ 'tenancy.credential_max_age is 90 days' AS aged
  FROM tenancy.audit('audit-a');

-- bad input: unknown, hostile and overlong names
\set VERBOSITY terse
SELECT * FROM tenancy.audit('nobody');
SELECT * FROM tenancy.audit('x''; DROP TABLE tenancy.tenants; --');
SELECT * FROM tenancy.audit(repeat('a', 100));
SELECT * FROM tenancy.tenant_objects('Bad Name');
SELECT tenancy.deprovision('audit-b') IS NOT NULL AS deprovisioned;
SELECT * FROM tenancy.audit('audit-b');
\set VERBOSITY default
-- a failed argument leaves no run behind
SELECT count(*) AS unfinished_runs FROM tenancy.audit_runs WHERE finished_at IS NULL;

-- only tenancy_admin (and superusers) may audit
CREATE ROLE regress_maint_nobody LOGIN;
SET ROLE regress_maint_nobody;
SELECT * FROM tenancy.audit();
RESET ROLE;

DROP TABLE public.shared_orders, public.shared_notes;
SELECT tenancy.deprovision(t, drop_data => true) IS NOT NULL AS dropped
  FROM unnest(ARRAY['audit-a', 'audit-b']) AS t;
DROP EXTENSION tenancy;
DROP ROLE regress_outsider, regress_maint_nobody;
