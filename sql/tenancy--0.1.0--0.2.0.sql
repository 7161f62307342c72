-- tenancy 0.1.0 -> 0.2.0
--
-- Every catalog change of 0.2.0, in the order of sql/install/: a database
-- upgraded with ALTER EXTENSION tenancy UPDATE ends with the same catalog as
-- a fresh CREATE EXTENSION tenancy VERSION '0.2.0'.

\echo Use "ALTER EXTENSION tenancy UPDATE TO '0.2.0'" to load this file. \quit

-- issue 13 (noisy and nosy neighbours): tenant_of_role for the audit's
-- checks of shared tables; the completions of pipeline runs that billing
-- counts (tenancy.run_completions, recorded by the guard trigger that
-- provision/apply put on each local tenant's pipeline_runs: run
-- tenancy.apply with the stored spec to add it to existing tenants, the
-- audit reports billing_guard until then); sample_usage counting them and
-- skipping a tenant whose tables stay locked beyond tenancy.lock_timeout;
-- USAGE on schema tenancy for every role (tenancy.current_tenant()), with
-- the schema's types not usable by PUBLIC.  Keep the type REVOKE below the
-- last table or view any later section creates, as 99_grants.sql does.
CREATE FUNCTION tenancy.tenant_of_role(role oid)
RETURNS text
LANGUAGE c STRICT STABLE
AS 'MODULE_PATHNAME', 'tenancy_tenant_of_role';

COMMENT ON FUNCTION tenancy.tenant_of_role(oid) IS
	'Tenant of a role as current_tenant() finds it, NULL when none (the audit''s checks of shared tables)';

COMMENT ON FUNCTION tenancy.share_table(regclass, name) IS
	'Share a table between tenants: FORCE row-level security and one policy on the tenant column, on the table and every partition; an index on it, DEFAULT tenancy.current_tenant(); TRIGGER, TRUNCATE and REFERENCES of tenant roles revoked';

-- Billing must not depend on rows a tenant can rewrite after the fact: the
-- completion of each run is recorded here, by the guard trigger of the
-- tenant's pipeline_runs (src/maintenance/metering.c), when it happens;
-- sample_usage counts these.  The guard function is created by provision
-- in each tenant's audit schema, not here: a trigger on a tenant's table
-- that depended on the extension would make DROP EXTENSION fail.
CREATE TABLE tenancy.run_completions (
	completion_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid		oid NOT NULL,
	run_id		bigint NOT NULL,
	start_time	timestamptz,
	end_time	timestamptz NOT NULL,
	completed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	sample_id	bigint,
	UNIQUE (relid, run_id)
);

CREATE INDEX run_completions_unsampled_idx ON tenancy.run_completions (relid)
	WHERE sample_id IS NULL;

COMMENT ON TABLE tenancy.run_completions IS
	'Billing input: each completed run of a tenant''s <prefix>audit.pipeline_runs, recorded by its guard trigger when it completed; tenants cannot touch it';
COMMENT ON COLUMN tenancy.run_completions.relid IS
	'The tenant''s pipeline_runs table';
COMMENT ON COLUMN tenancy.run_completions.completed_at IS
	'Server time of the completion (not the end_time the tenant wrote)';
COMMENT ON COLUMN tenancy.run_completions.sample_id IS
	'The usage sample that counted the run; NULL until sampled (each run is counted once)';

SELECT pg_catalog.pg_extension_config_dump('tenancy.run_completions', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.run_completions_completion_id_seq', '');
GRANT SELECT ON tenancy.run_completions TO tenancy_admin;

COMMENT ON COLUMN tenancy.usage_samples.task_runs IS
	'Runs of <prefix>audit.pipeline_runs completed since the tenant''s previous sample (tenancy.run_completions; each run counted once)';

CREATE OR REPLACE FUNCTION tenancy.sample_usage()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_now timestamptz := pg_catalog.clock_timestamp();
	v_tenant record;
	v_since timestamptz;
	v_storage bigint;
	v_runs bigint;
	v_seconds numeric;
	v_sample bigint;
	v_operation bigint;
	v_platform boolean := COALESCE(pg_catalog.current_setting('tenancy.kubernetes_url', true), '') <> '';
	v_count integer := 0;
	v_runs_table regclass;
	v_lock_timeout text := pg_catalog.current_setting('lock_timeout');
BEGIN
	-- a tenant holding a lock on one of its tables is skipped, not waited for
	PERFORM pg_catalog.set_config('lock_timeout',
		pg_catalog.current_setting('tenancy.lock_timeout'), true);
	FOR v_tenant IN
		WITH o AS (SELECT * FROM tenancy.tenant_objects())
		SELECT t.tenant_id, t.name, t.generation,
			   pg_catalog.bool_and(o.local) AS local,
			   pg_catalog.array_agg(o.object_name) FILTER (WHERE o.object_type = 'schema') AS schemas,
			   pg_catalog.max(o.object_name) FILTER (WHERE o.object_type = 'schema' AND o.purpose = 'audit') AS audit_schema,
			   pg_catalog.max(o.object_name) FILTER (WHERE o.object_type = 'namespace') AS namespace
		  FROM tenancy.tenants t JOIN o ON o.tenant = t.name
		 WHERE t.state IN ('ready', 'updating', 'provisioning', 'failed')
		 GROUP BY t.tenant_id, t.name, t.generation
		 ORDER BY t.name
	LOOP
	  BEGIN
		v_since := (SELECT pg_catalog.max(s.sampled_at) FROM tenancy.usage_samples s
					 WHERE s.tenant_id = v_tenant.tenant_id);
		v_storage := NULL;
		v_runs := NULL;
		v_seconds := NULL;
		INSERT INTO tenancy.usage_samples (tenant_id, sampled_at)
		VALUES (v_tenant.tenant_id, v_now)
		RETURNING sample_id INTO v_sample;
		IF v_tenant.local THEN
			SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid)), 0)
			  INTO v_storage
			  FROM pg_catalog.pg_class c
			  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			 WHERE n.nspname = ANY (v_tenant.schemas::name[]) AND c.relkind IN ('r', 'm');
			v_runs_table := pg_catalog.to_regclass(pg_catalog.format('%I.pipeline_runs', v_tenant.audit_schema));
			IF v_runs_table IS NOT NULL AND EXISTS (
				SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = v_runs_table
				   AND g.tgname = 'tenancy_append_only' AND g.tgenabled <> 'D') THEN
				-- completions as the guard recorded them, each counted once
				WITH counted AS (
					UPDATE tenancy.run_completions c SET sample_id = v_sample
					 WHERE c.relid = v_runs_table AND c.sample_id IS NULL
					RETURNING c.start_time, c.end_time)
				SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(GREATEST(0,
					   EXTRACT(epoch FROM counted.end_time - counted.start_time))), 0)
				  INTO v_runs, v_seconds FROM counted;
			ELSIF v_runs_table IS NOT NULL THEN
				-- no guard (tenancy.audit reports billing_guard): the rows as they are
				EXECUTE pg_catalog.format(
					'SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(GREATEST(0, '
					'EXTRACT(epoch FROM r.end_time - r.start_time))), 0) '
					'FROM %s r WHERE r.end_time IS NOT NULL '
					'AND r.end_time <= $2 AND ($1 IS NULL OR r.end_time > $1)',
					v_runs_table)
				   INTO v_runs, v_seconds USING v_since, v_now;
			END IF;
		END IF;
		UPDATE tenancy.usage_samples
		   SET storage_bytes = v_storage, task_runs = v_runs, compute_seconds = v_seconds
		 WHERE sample_id = v_sample;
	  EXCEPTION WHEN lock_not_available THEN
		RAISE WARNING 'usage of tenant "%" not sampled: one of its tables is locked', v_tenant.name
			USING DETAIL = pg_catalog.format('A session held a lock on a table of the tenant for longer than tenancy.lock_timeout (%s); the other tenants were sampled, and its next sample counts what this one missed.',
											  pg_catalog.current_setting('tenancy.lock_timeout'));
		CONTINUE;
	  END;

		-- pod requests: the worker reads the namespace and fills the sample in
		IF v_platform THEN
			INSERT INTO tenancy.operations (tenant_id, kind, generation)
			VALUES (v_tenant.tenant_id, 'usage', v_tenant.generation)
			RETURNING operation_id INTO v_operation;
			INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request)
			VALUES (v_operation, 1, 'kubernetes', 'measure',
					'pods in namespace ' || v_tenant.namespace,
					pg_catalog.jsonb_build_object('handler', 'pod_requests',
												  'namespace', v_tenant.namespace,
												  'sample_id', v_sample));
		END IF;
		v_count := v_count + 1;
	END LOOP;
	IF v_platform AND v_count > 0 THEN
		PERFORM tenancy.wake_worker();
	END IF;
	PERFORM pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.sample_usage() IS
	'Record a usage sample per tenant: storage of its schemas, pipeline runs completed and their compute since the previous sample; pod requests through the worker. A tenant with a table locked beyond tenancy.lock_timeout is skipped with a WARNING';

REVOKE ALL ON FUNCTION tenancy.tenant_of_role(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.tenant_of_role(oid) TO tenancy_admin;
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;
DO $do$
DECLARE
	v_type regtype;
BEGIN
	FOR v_type IN
		SELECT t.oid FROM pg_catalog.pg_type t
		 WHERE t.typnamespace = 'tenancy'::regnamespace
		   AND t.typelem = 0 AND t.typtype IN ('c', 'd', 'e', 'r', 'b')
	LOOP
		EXECUTE pg_catalog.format('REVOKE USAGE ON TYPE %s FROM PUBLIC', v_type);
	END LOOP;
END
$do$;
