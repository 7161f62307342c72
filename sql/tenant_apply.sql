--
-- tenant_apply: apply converges a tenant to a changed spec touching only
-- what changed, repairs drift, refuses what it cannot converge to; a no-op
-- apply changes nothing and says so.  deprovision with and without
-- drop_data.
--
CREATE EXTENSION tenancy;
-- spec(name, patch): the smallest valid spec of a tenant, with patch merged in
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
-- worker_done(): what the worker records when every step of the queued
-- operations succeeded (no worker runs here); an apply after it is planned
-- against the spec last applied, not queued behind an unfinished
-- operation (which plans every platform object again)
CREATE FUNCTION pg_temp.worker_done() RETURNS void
LANGUAGE sql AS $$
	UPDATE tenancy.steps SET state = 'succeeded', started_at = now(), finished_at = now()
	 WHERE state = 'pending';
	UPDATE tenancy.operations SET state = 'succeeded', started_at = coalesce(started_at, now()),
	       finished_at = now()
	 WHERE state IN ('pending', 'running');
$$;
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{}')) AS op \gset
SELECT kind, generation FROM tenancy.operations WHERE operation_id = :op;
SELECT rolname, rolconnlimit, rolconfig FROM pg_roles WHERE rolname LIKE '%\_acme' ORDER BY 1;

-- a changed tier: only the login roles' settings, their connection limit
-- (the tier's default) and the namespace labels (once the provision ended:
-- worker_done)
SELECT pg_temp.worker_done();
SELECT ordinal, target, action, object, detail
  FROM tenancy.plan('acme', pg_temp.spec('acme', '{"tenant": {"tier": "enterprise"}}'));
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"tenant": {"tier": "enterprise"}}')) AS op \gset
SELECT kind, generation FROM tenancy.operations WHERE operation_id = :op;
SELECT target, count(*) FROM tenancy.steps WHERE operation_id = :op GROUP BY 1 ORDER BY 1;
SELECT compensation IS NULL AS existing_namespace_not_deleted_on_failure
  FROM tenancy.steps WHERE operation_id = :op AND target = 'kubernetes';
-- each step names the object it acts on in typed columns (what rotation
-- and the steps_remember trigger look for, not the request's path)
SELECT ordinal, action, object_kind, object_namespace, object_name
  FROM tenancy.steps WHERE operation_id = :op AND target = 'kubernetes' ORDER BY ordinal;
SELECT rolname, rolconfig FROM pg_roles WHERE rolname LIKE '%\_acme' ORDER BY 1;

-- a changed connection limit: two ALTER ROLE, nothing else
SELECT pg_temp.worker_done();
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"tenant": {"tier": "enterprise"},
    "resources": {"database": {"connections": {"max": 25}}}}')) AS op \gset
SELECT ordinal, target, object, request ->> 'sql' AS sql
  FROM tenancy.steps WHERE operation_id = :op ORDER BY ordinal;

-- the same spec again: nothing to do, nothing recorded
SELECT count(*) AS operations_before FROM tenancy.operations \gset
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"tenant": {"tier": "enterprise"},
    "resources": {"database": {"connections": {"max": 25}}}}')) IS NULL AS no_op;
SELECT count(*) - :operations_before AS new_operations, max(generation) AS generation
  FROM tenancy.operations;

-- audit_logging, with pgaudit loaded (test/regress.conf): pgaudit.log on
-- the two login roles and nothing on the platform side
SELECT pg_temp.worker_done();
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"tenant": {"tier": "enterprise"},
    "resources": {"database": {"connections": {"max": 25}}},
    "features": {"audit_logging": true}}')) AS op \gset
SELECT kind, state, generation, (SELECT count(*) FROM tenancy.steps s
                                  WHERE s.operation_id = o.operation_id) AS steps
  FROM tenancy.operations o WHERE operation_id = :op;
SELECT target, request ->> 'sql' AS statement
  FROM tenancy.steps WHERE operation_id = :op ORDER BY ordinal;
SELECT spec #> '{features,audit_logging}' AS audit_logging FROM tenancy.tenants WHERE name = 'acme';

-- drift is repaired by applying the same spec
DROP SCHEMA acme_staging;
ALTER ROLE etl_acme SUPERUSER CONNECTION LIMIT 3;
ALTER ROLE airflow_acme RESET work_mem;
REVOKE tenant_acme_writer FROM airflow_acme;
SELECT ordinal, action, object, detail FROM tenancy.plan('acme', (SELECT spec FROM tenancy.tenants WHERE name = 'acme'));
SELECT tenancy.apply('acme', spec) > 0 AS repaired FROM tenancy.tenants WHERE name = 'acme';
SELECT count(*) AS actions_left FROM tenancy.plan('acme', (SELECT spec FROM tenancy.tenants WHERE name = 'acme'));
SELECT rolname, rolsuper, rolconnlimit FROM pg_roles WHERE rolname = 'etl_acme';

-- what apply cannot converge to: refused, nothing changed
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"warehouse": {"database": {"schema_prefix": "other_"}}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"warehouse": {"database": {"host": "elsewhere.internal", "name": "elsewhere"}}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{"tenant": {"tier": "nope"}}'));
SELECT generation FROM tenancy.tenants WHERE name = 'acme';

-- deprovision, keeping the data: logins gone at once, roles removed, schemas
-- and their rows kept and owned by the (NOLOGIN) owner role
INSERT INTO acme_audit.pipeline_runs (dag_id, status) VALUES ('kept', 'success');
SET ROLE etl_acme;
CREATE TABLE acme_silver.made_by_etl (i int);
RESET ROLE;
BEGIN;
SELECT tenancy.deprovision('acme') AS op \gset
SELECT ordinal, target, action, coalesce(request ->> 'sql', request ->> 'path') AS request
  FROM tenancy.steps WHERE operation_id = :op ORDER BY ordinal;
SELECT state FROM tenancy.tenants WHERE name = 'acme';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE '%\_acme%' ORDER BY 1;
SELECT nspname, pg_get_userbyid(nspowner) AS owner, nspacl FROM pg_namespace
 WHERE nspname LIKE 'acme\_%' ORDER BY 1;
SELECT pg_get_userbyid(relowner) AS made_by_etl_owner FROM pg_class
 WHERE oid = 'acme_silver.made_by_etl'::regclass;
SELECT dag_id FROM acme_audit.pipeline_runs;
-- while the platform side is being removed, apply waits its turn
SAVEPOINT s;
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{}'));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- once the worker has finished (simulated here, in the same transaction):
-- deprovision again is a no-op, apply brings the tenant back on its data
UPDATE tenancy.tenants SET state = 'deprovisioned' WHERE name = 'acme';
SELECT tenancy.deprovision('acme') IS NULL AS already_deprovisioned;
SELECT tenancy.apply('acme', pg_temp.spec('acme', '{}')) AS op \gset
SELECT kind FROM tenancy.operations WHERE operation_id = :op;
SELECT action, count(*) FROM tenancy.steps WHERE operation_id = :op GROUP BY 1 ORDER BY 1;
SELECT dag_id FROM acme_audit.pipeline_runs;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE '%\_acme%' ORDER BY 1;
COMMIT;

-- deprovision with drop_data: schemas, data and every role gone
SELECT tenancy.deprovision('acme', drop_data => true) AS op \gset
SELECT ordinal, action, object FROM tenancy.steps WHERE operation_id = :op ORDER BY ordinal;
SELECT count(*) AS roles FROM pg_roles WHERE rolname LIKE '%\_acme%';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname LIKE 'acme\_%';
SELECT tenancy.deprovision('nobody');
\echo :LAST_ERROR_SQLSTATE

DROP EXTENSION tenancy;
