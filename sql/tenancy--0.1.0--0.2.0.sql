-- tenancy 0.1.0 -> 0.2.0
--
-- Every catalog change of 0.2.0, in the order of sql/install/: a database
-- upgraded with ALTER EXTENSION tenancy UPDATE ends with the same catalog as
-- a fresh CREATE EXTENSION tenancy VERSION '0.2.0'.

\echo Use "ALTER EXTENSION tenancy UPDATE TO '0.2.0'" to load this file. \quit

-- issue 21 (a DBA's first and second day): plan(name, text); status shows
-- when a pending step is tried next; wait says which targets were skipped
-- and why no worker answers; tenant_summary.skipped_targets; set_password,
-- connection_info, worker_problem, forget; schedule_maintenance and
-- unschedule_maintenance run as the extension's owner, one job per name.
CREATE FUNCTION tenancy.plan(name text, spec text)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text,
               request jsonb, changes jsonb)
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan_text';

COMMENT ON FUNCTION tenancy.plan(text, text) IS
	'plan() with the spec as YAML or JSON text';

DROP FUNCTION tenancy.status(text);
CREATE FUNCTION tenancy.status(name text)
RETURNS TABLE (operation_id bigint, kind text, operation_state text,
			   ordinal integer, target text, action text, object text,
			   state text, phase text, attempts integer, http_status integer,
			   last_error text, started_at timestamptz, finished_at timestamptz,
			   next_attempt_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
BEGIN
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t WHERE t.name = status.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', left(status.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN QUERY
	SELECT o.operation_id, o.kind, o.state, s.ordinal, s.target, s.action,
		   s.object, s.state, s.phase, s.attempts, s.http_status, s.last_error,
		   s.started_at, s.finished_at,
		   CASE WHEN s.state = 'pending' THEN s.next_attempt_at END
	  FROM tenancy.operations o
	  LEFT JOIN tenancy.steps s ON s.operation_id = o.operation_id
	 WHERE o.operation_id = (SELECT max(l.operation_id) FROM tenancy.operations l
							  WHERE l.tenant_id = v_tenant)
	 ORDER BY s.ordinal;
END
$fn$;

COMMENT ON FUNCTION tenancy.status(text) IS
	'Steps of the tenant''s latest operation, with their state, attempts, last error (for a skipped step: why) and, while pending, when the worker tries next';

CREATE FUNCTION tenancy.is_own_transaction(xid)
RETURNS boolean
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'tenancy_is_own_transaction';

COMMENT ON FUNCTION tenancy.is_own_transaction(xid) IS
	'Whether the transaction id is the current transaction or one of its subtransactions (tenancy.wait refuses to wait for its own operation)';

REVOKE ALL ON FUNCTION tenancy.is_own_transaction(xid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.is_own_transaction(xid) TO tenancy_admin;

CREATE OR REPLACE FUNCTION tenancy.wait(name text, timeout interval DEFAULT '5 min')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
	v_op bigint;
	v_op_state text;
	v_mine boolean;
	v_deadline timestamptz;
	v_seen jsonb := '{}';
	v_step record;
	v_now text;
	v_skipped text;
	v_problem text;
BEGIN
	IF timeout IS NULL OR timeout < interval '0' THEN
		RAISE EXCEPTION 'timeout must be a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'tenancy.wait needs a READ COMMITTED transaction'
			USING ERRCODE = 'active_sql_transaction',
				  DETAIL = 'In a REPEATABLE READ or SERIALIZABLE transaction the worker''s progress is invisible.';
	END IF;
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t WHERE t.name = wait.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', left(wait.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	v_deadline := clock_timestamp() + timeout;

	LOOP
		SELECT o.operation_id, o.state,
			   tenancy.is_own_transaction(o.xmin)
		  INTO v_op, v_op_state, v_mine
		  FROM tenancy.operations o
		 WHERE o.tenant_id = v_tenant
		 ORDER BY o.operation_id DESC LIMIT 1;
		IF v_op IS NULL THEN
			RAISE EXCEPTION 'tenant "%" has no operation', wait.name
				USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		IF v_mine AND v_op_state NOT IN ('succeeded', 'failed', 'compensated', 'cancelled') THEN
			RAISE EXCEPTION 'operation % of tenant "%" is not committed yet', v_op, wait.name
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'The worker starts an operation only after the transaction that requested it commits.',
					  HINT = 'COMMIT, then call tenancy.wait.';
		END IF;

		FOR v_step IN
			SELECT s.ordinal, s.target, s.action, s.object, s.state, s.phase,
				   s.attempts, s.last_error
			  FROM tenancy.steps s WHERE s.operation_id = v_op ORDER BY s.ordinal
		LOOP
			v_now := v_step.state || '/' || v_step.phase || '/' || v_step.attempts;
			IF v_seen ->> v_step.ordinal::text IS DISTINCT FROM v_now THEN
				RAISE NOTICE '%', format('step %s %s %s %s: %s%s%s',
					v_step.ordinal, v_step.target, v_step.action, v_step.object,
					CASE WHEN v_step.phase = 'compensation' AND v_step.state = 'running'
						 THEN 'compensating' ELSE v_step.state END,
					CASE WHEN v_step.attempts > 1 THEN format(' (attempt %s)', v_step.attempts) ELSE '' END,
					CASE WHEN v_step.last_error IS NOT NULL AND v_step.state <> 'cancelled'
						 THEN ': ' || v_step.last_error ELSE '' END);
				v_seen := v_seen || jsonb_build_object(v_step.ordinal::text, v_now);
			END IF;
		END LOOP;

		IF v_op_state IN ('succeeded', 'failed', 'compensated', 'cancelled') THEN
			SELECT pg_catalog.string_agg(DISTINCT s.target, ', ' ORDER BY s.target)
			  INTO v_skipped
			  FROM tenancy.steps s
			 WHERE s.operation_id = v_op AND s.state = 'skipped';
			IF v_skipped IS NOT NULL THEN
				RAISE NOTICE 'operation % of tenant "%" %, but its steps on % were skipped', v_op, wait.name, v_op_state, v_skipped
					USING DETAIL = 'Nothing was done there: no endpoint is configured for them (tenancy.kubernetes_url, tenancy.vault_url, tenancy.grafana_url), or the step did not apply.',
						  HINT = 'tenancy.status shows why each step was skipped; tenancy.tenant_summary lists the skipped targets.';
			END IF;
			RETURN v_op_state;
		END IF;
		IF clock_timestamp() >= v_deadline THEN
			v_problem := tenancy.worker_problem();
			RAISE EXCEPTION 'timed out waiting for operation % of tenant "%"', v_op, wait.name
				USING ERRCODE = 'query_canceled',
					  DETAIL = format('The operation is still %s after %s.', v_op_state, timeout)
							   || coalesce(' ' || v_problem, ''),
					  HINT = CASE WHEN v_problem IS NULL
								  THEN 'Call tenancy.status to see which step it waits for.'
								  ELSE 'Set tenancy.database to this database and tenancy in shared_preload_libraries, then restart the server.' END;
		END IF;
		PERFORM pg_catalog.pg_sleep(0.05);
	END LOOP;
END
$fn$;

COMMENT ON FUNCTION tenancy.wait(text, interval) IS
	'Block until the tenant''s latest operation ends, with a NOTICE per step state change; returns the final state';

CREATE OR REPLACE VIEW tenancy.tenant_summary AS
SELECT t.name,
	   t.state,
	   t.generation,
	   COALESCE(t.spec #>> '{tenant,tier}', 'standard') AS tier,
	   COALESCE(t.spec #>> '{tenant,environment}', 'production') AS environment,
	   COALESCE(t.spec #>> '{warehouse,database,schema_prefix}', t.slug || '_') AS schema_prefix,
	   CASE WHEN COALESCE(t.spec #>> '{warehouse,database,host}', '') = ''
				 AND COALESCE(t.spec #>> '{warehouse,database,name}',
							  pg_catalog.current_database()) = pg_catalog.current_database()
			THEN 'local'
			ELSE 'remote' END AS placement,
	   (SELECT o.operation_id FROM tenancy.operations o
		 WHERE o.tenant_id = t.tenant_id
		 ORDER BY o.operation_id DESC LIMIT 1) AS last_operation,
	   t.created_at,
	   t.updated_at,
	   (SELECT pg_catalog.array_agg(DISTINCT s.target ORDER BY s.target)
		  FROM tenancy.steps s
		 WHERE s.state = 'skipped'
		   AND s.operation_id = (SELECT max(o.operation_id) FROM tenancy.operations o
								  WHERE o.tenant_id = t.tenant_id
									AND o.kind IN ('provision', 'apply'))) AS skipped_targets
  FROM tenancy.tenants t;

COMMENT ON VIEW tenancy.tenant_summary IS
	'Tenants with their state and a summary of their spec (tier, environment, schema prefix, placement); skipped_targets: the targets (kubernetes, vault, grafana ...) whose steps the latest provision or apply skipped, so nothing exists there';

CREATE FUNCTION tenancy.set_password(role text)
RETURNS text
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_set_password';

COMMENT ON FUNCTION tenancy.set_password(text) IS
	'Set a generated password on a login role of a tenant of this database and return it; stored nowhere, shown once. Installations without Vault only';

CREATE FUNCTION tenancy.connection_info(tenant text)
RETURNS TABLE (role text, purpose text, host text, port integer, database text,
			   password_source text)
LANGUAGE c STRICT STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_connection_info';

COMMENT ON FUNCTION tenancy.connection_info(text) IS
	'Where each login role of a tenant connects (host, port, database) and where its password comes from; never a secret';

CREATE FUNCTION tenancy.worker_problem(running_now boolean DEFAULT true)
RETURNS text
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_worker_problem';

COMMENT ON FUNCTION tenancy.worker_problem(boolean) IS
	'Why no background worker serves this database (not preloaded, tenancy.database names another database, or, with running_now, not running at the moment); NULL when one does';

CREATE FUNCTION tenancy.forget(name text)
RETURNS TABLE (object_type text, purpose text, object_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to forget tenant "%"', left(forget.name, 64)
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only superusers may remove a tenant''s record without deprovisioning it.';
	END IF;
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t
	 WHERE t.name = forget.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', left(forget.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	IF EXISTS (SELECT FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
				WHERE o.tenant_id = v_tenant AND s.state IN ('running', 'compensating')) THEN
		RAISE EXCEPTION 'tenant "%" has a step in progress', forget.name
			USING ERRCODE = 'object_in_use',
				  HINT = 'Cancel its operation (tenancy.cancel) and wait until no step is running, then forget it.';
	END IF;

	-- what the planner derives for it: what may be left to remove by hand
	RETURN QUERY
	SELECT o.object_type, o.purpose, o.object_name
	  FROM tenancy.tenant_objects(forget.name) o;
	DELETE FROM tenancy.steps s USING tenancy.operations o
	 WHERE s.operation_id = o.operation_id AND o.tenant_id = v_tenant;
	DELETE FROM tenancy.operations o WHERE o.tenant_id = v_tenant;
	DELETE FROM tenancy.tenants t WHERE t.tenant_id = v_tenant;
	RAISE NOTICE 'tenant "%" forgotten', forget.name
		USING DETAIL = 'Its record, operations and steps are deleted; its roles, schemas and platform objects (listed) were not touched.',
			  HINT = 'Drop what remains by hand (DROP OWNED BY, DROP ROLE, DROP SCHEMA) once its data is safe.';
END
$fn$;

COMMENT ON FUNCTION tenancy.forget(text) IS
	'Superusers: delete a stuck tenant''s record, operations and steps without touching anything it created (returned: what may remain); frees its warehouse server for drop_server';

-- Said at CREATE EXTENSION: a database that no worker serves keeps its
-- platform and remote steps pending for ever.
DO $do$
DECLARE
	v_problem text := tenancy.worker_problem(false);
BEGIN
	IF v_problem IS NOT NULL THEN
		RAISE WARNING 'no tenancy background worker serves database "%"', pg_catalog.current_database()
			USING DETAIL = v_problem || ' The database side (roles, schemas, grants) works; platform and remote steps wait for a worker.',
				  HINT = pg_catalog.format('Set shared_preload_libraries = ''tenancy'' and tenancy.database = %L in postgresql.conf and restart the server (tenancy.database defaults to postgres).',
										   pg_catalog.current_database());
	END IF;
END
$do$;

CREATE OR REPLACE FUNCTION tenancy.schedule_maintenance(
	audit_schedule text DEFAULT '17 3 * * *',
	usage_schedule text DEFAULT '7 * * * *',
	rotation_schedule text DEFAULT '37 4 * * *',
	purge_schedule text DEFAULT '47 5 * * 0',
	history_retention interval DEFAULT '90 days')
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_job record;
	v_other bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'tenancy.schedule_maintenance registers its jobs with pg_cron; nothing was scheduled.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart and run CREATE EXTENSION pg_cron; or run the commands the README lists under "Maintenance" from another scheduler.';
	END IF;
	IF history_retention IS NULL OR history_retention < interval '1 day' THEN
		RAISE EXCEPTION 'history_retention must be at least 1 day'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on' THEN
		RAISE WARNING 'pg_cron will connect to run each job'
			USING DETAIL = pg_catalog.format('With cron.use_background_workers off, every run opens a connection to cron.host (%s) as role %s; unless pg_hba.conf (or a password file of the server''s OS user) lets that role in without a prompt, every run fails. tenancy.audit() reports a failed or overdue run.',
											 coalesce(pg_catalog.current_setting('cron.host', true), 'localhost'), current_user),
				  HINT = 'Set cron.use_background_workers = on (and max_worker_processes high enough) in postgresql.conf and restart.';
	END IF;

	FOR v_job IN
		SELECT * FROM (VALUES
			(1, 'tenancy-audit', audit_schedule, 'SELECT pg_catalog.count(*) FROM tenancy.audit()'),
			(2, 'tenancy-usage', usage_schedule, 'SELECT tenancy.sample_usage()'),
			(3, 'tenancy-rotation', rotation_schedule, 'SELECT tenancy.rotate_due_credentials()'),
			(4, 'tenancy-purge', purge_schedule,
			 pg_catalog.format('SELECT pg_catalog.count(*) FROM tenancy.purge_history(%L)', history_retention))
		) AS j(ord, job_name, schedule, command) ORDER BY j.ord
	LOOP
		IF v_job.schedule IS NULL THEN
			RAISE EXCEPTION 'the schedule of job % is NULL', v_job.job_name
				USING ERRCODE = 'null_value_not_allowed';
		END IF;
		-- one job per name in this database, whoever scheduled it before:
		-- jobs of that name that other roles scheduled (0.1.0 let any
		-- caller) are removed, this one is replaced
		FOR v_other IN EXECUTE
			'SELECT j.jobid FROM cron.job j WHERE j.jobname = $1 AND j.username <> current_user'
			USING v_job.job_name
		LOOP
			EXECUTE 'SELECT cron.unschedule($1)' USING v_other;
		END LOOP;
		job_name := v_job.job_name;
		schedule := v_job.schedule;
		command := v_job.command;
		-- cron.schedule with a job name replaces the job of that name
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		  USING v_job.job_name, v_job.schedule, v_job.command;
		RETURN NEXT;
	END LOOP;
END
$fn$;

COMMENT ON FUNCTION tenancy.schedule_maintenance(text, text, text, text, interval) IS
	'Register tenancy''s periodic jobs with pg_cron (audit daily, usage hourly, credential rotation check daily, history purge weekly) as the extension''s owner, one job per name whoever calls it; idempotent, schedules overridable';

CREATE OR REPLACE FUNCTION tenancy.unschedule_maintenance()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_count integer := 0;
	v_job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RETURN 0;
	END IF;
	FOR v_job IN EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = ANY ($1)'
		USING ARRAY['tenancy-audit', 'tenancy-usage', 'tenancy-rotation', 'tenancy-purge']
	LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING v_job;
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.unschedule_maintenance() IS
	'Remove the pg_cron jobs tenancy.schedule_maintenance registered, whoever scheduled them; returns how many';

REVOKE ALL ON FUNCTION tenancy.plan(text, text), tenancy.status(text),
	tenancy.set_password(text), tenancy.connection_info(text),
	tenancy.worker_problem(boolean), tenancy.forget(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.plan(text, text), tenancy.status(text),
	tenancy.set_password(text), tenancy.connection_info(text),
	tenancy.worker_problem(boolean) TO tenancy_admin;

-- Issue 16: operations always converge --------------------------------------

ALTER TABLE tenancy.steps ADD COLUMN unreachable_since timestamptz;

COMMENT ON COLUMN tenancy.steps.unreachable_since IS
	'Since when the step''s requests get no answer (refused, reset, timed out); the worker waits that out without using attempts, up to tenancy.unreachable_timeout';

-- Issue 15: the object a step acts on, typed, so that rotation and the
-- trigger below find earlier steps without matching their request's JSON
ALTER TABLE tenancy.steps ADD COLUMN object_kind text,
	ADD COLUMN object_namespace text,
	ADD COLUMN object_name text;

COMMENT ON COLUMN tenancy.steps.object_kind IS
	'Kind of the Kubernetes object the step acts on (namespace, helmrelease, configmap...), NULL if none';
COMMENT ON COLUMN tenancy.steps.object_namespace IS
	'Namespace of that object, NULL for a namespace itself';
COMMENT ON COLUMN tenancy.steps.object_name IS
	'Name of that object';

-- the steps 0.1.0 recorded: their object column says "kind namespace/name"
-- (or "namespace name") for every Kubernetes apply and delete it planned
UPDATE tenancy.steps
   SET object_kind = pg_catalog.split_part(object, ' ', 1),
	   object_namespace = pg_catalog.split_part(pg_catalog.split_part(object, ' ', 2), '/', 1),
	   object_name = pg_catalog.split_part(pg_catalog.split_part(object, ' ', 2), '/', 2)
 WHERE target = 'kubernetes' AND action IN ('apply', 'delete')
   AND object ~ '^[a-z]+ [-a-z0-9.]+/[-a-z0-9.]+$';
UPDATE tenancy.steps
   SET object_kind = 'namespace', object_name = pg_catalog.split_part(object, ' ', 2)
 WHERE target = 'kubernetes' AND action IN ('apply', 'verify', 'delete')
   AND object ~ '^namespace [-a-z0-9]+$';

CREATE OR REPLACE FUNCTION tenancy.retry(operation bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_op record;
	v_undone boolean;
BEGIN
	-- the journal's lock order: the tenant's row, then its operations and
	-- steps (doc/architecture.md); the worker takes them in that order too
	PERFORM FROM tenancy.tenants t
	  WHERE t.tenant_id = (SELECT o.tenant_id FROM tenancy.operations o
							WHERE o.operation_id = retry.operation)
	  FOR NO KEY UPDATE;
	SELECT o.operation_id, o.tenant_id, o.kind, o.state INTO v_op
	  FROM tenancy.operations o WHERE o.operation_id = retry.operation FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'operation % does not exist', retry.operation
			USING ERRCODE = 'undefined_object';
	END IF;
	IF v_op.state NOT IN ('failed', 'compensated', 'cancelled') THEN
		RAISE EXCEPTION 'operation % is %', v_op.operation_id, v_op.state
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Only failed, compensated or cancelled operations can be retried.';
	END IF;
	IF EXISTS (SELECT FROM tenancy.operations n
				WHERE n.tenant_id = v_op.tenant_id AND n.operation_id > v_op.operation_id) THEN
		RAISE EXCEPTION 'operation % is not the tenant''s latest', v_op.operation_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A later operation of the same tenant exists; retrying this one would undo it.';
	END IF;

	-- Compensation undid what the operation made (deleting a namespace
	-- deletes what was in it, whatever its steps say): every step the
	-- worker runs starts over, each idempotent against what exists now
	-- (server-side apply; credentials read back from Vault).  SQL that
	-- ran in the caller's transaction is never undone, and stays done.
	v_undone := v_op.state IN ('compensated', 'failed')
		OR EXISTS (SELECT FROM tenancy.steps c
					WHERE c.operation_id = v_op.operation_id
					  AND c.phase = 'compensation' AND c.state = 'compensated');
	PERFORM tenancy.journal_restart(v_op.operation_id, v_undone);
	RETURN v_op.operation_id;
END
$fn$;

COMMENT ON FUNCTION tenancy.retry(bigint) IS
	'Run a failed, compensated or cancelled operation again: its unfinished steps start over with fresh attempts, and after a compensation every step the worker runs';

-- issue 13 (noisy and nosy neighbours): tenant_of_role for the audit's
-- checks of shared tables; the completions of pipeline runs that billing
-- counts (tenancy.run_completions, recorded by the guard trigger that
-- provision/apply put on each local tenant's pipeline_runs: run
-- tenancy.apply with the stored spec to add it to existing tenants, the
-- audit reports billing_guard until then); sample_usage counting them and
-- skipping a tenant whose tables stay locked beyond tenancy.lock_timeout;
-- USAGE on schema tenancy for every role (tenancy.current_tenant()).
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
ALTER TABLE tenancy.usage_samples ADD COLUMN storage_estimated boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN tenancy.usage_samples.storage_estimated IS
	'storage_bytes was read from the sizes of the tables'' files, without a lock, because one of them was locked beyond tenancy.lock_timeout';

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
	v_estimated boolean;
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
			   pg_catalog.array_agg(o.object_name) FILTER (WHERE o.object_type = 'role') AS roles,
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
		v_estimated := false;
		v_runs := NULL;
		v_seconds := NULL;
		INSERT INTO tenancy.usage_samples (tenant_id, sampled_at)
		VALUES (v_tenant.tenant_id, v_now)
		RETURNING sample_id INTO v_sample;
		IF v_tenant.local THEN
		  BEGIN
			-- its schemas' tables, and the temporary tables its roles' sessions
			-- hold (in pg_temp_N, no schema of the tenant's)
			SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid)), 0)
			  INTO v_storage
			  FROM pg_catalog.pg_class c
			  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			 WHERE c.relkind IN ('r', 'm')
			   AND (n.nspname = ANY (v_tenant.schemas::name[])
					OR (c.relpersistence = 't' AND c.relowner IN (
						SELECT r.oid FROM pg_catalog.pg_roles r
						 WHERE r.rolname = ANY (v_tenant.roles::name[]))));
		  EXCEPTION WHEN lock_not_available THEN
			-- a table of the tenant is locked (skipping it would freeze its
			-- storage at the last level): the sizes of the files of its
			-- tables, TOAST tables and their indexes, read without a lock
			v_estimated := true;
			WITH t AS (
				SELECT c.oid, c.reltoastrelid FROM pg_catalog.pg_class c
				  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
				 WHERE c.relkind IN ('r', 'm')
				   AND (n.nspname = ANY (v_tenant.schemas::name[])
						OR (c.relpersistence = 't' AND c.relowner IN (
							SELECT r.oid FROM pg_catalog.pg_roles r
							 WHERE r.rolname = ANY (v_tenant.roles::name[]))))),
			rels AS (
				SELECT t.oid FROM t
				UNION ALL SELECT t.reltoastrelid FROM t WHERE t.reltoastrelid <> 0),
			paths AS (
				SELECT pg_catalog.pg_relation_filepath(r.oid) AS path
				  FROM (SELECT rels.oid FROM rels
						UNION ALL SELECT i.indexrelid FROM pg_catalog.pg_index i
						 WHERE i.indrelid IN (SELECT rels.oid FROM rels)) r),
			nodes AS (
				SELECT pg_catalog.regexp_replace(p.path, '/[^/]*$', '') AS dir,
					   pg_catalog.regexp_replace(p.path, '^.*/', '') AS node
				  FROM paths p WHERE p.path IS NOT NULL),
			files AS (
				-- each directory listed once: forks (_fsm, _vm, _init) and segments (.1, ...)
				SELECT d.dir, f.name,
					   pg_catalog.regexp_replace(f.name, '(_[a-z]+)?([.][0-9]+)?$', '') AS node
				  FROM (SELECT DISTINCT nodes.dir FROM nodes) d,
					   pg_catalog.pg_ls_dir(d.dir, true, false) AS f(name))
			SELECT COALESCE(pg_catalog.sum((pg_catalog.pg_stat_file(f.dir || '/' || f.name, true)).size), 0)
			  INTO v_storage
			  FROM nodes JOIN files f ON f.dir = nodes.dir AND f.node = nodes.node;
		  END;
			-- and the large objects its roles own (pg_largeobject is no schema's)
			v_storage := v_storage + (
				SELECT COALESCE(pg_catalog.sum(pg_catalog.octet_length(l.data)), 0)
				  FROM pg_catalog.pg_largeobject_metadata m
				  JOIN pg_catalog.pg_largeobject l ON l.loid = m.oid
				 WHERE m.lomowner IN (SELECT r.oid FROM pg_catalog.pg_roles r
									   WHERE r.rolname = ANY (v_tenant.roles::name[])));
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
		   SET storage_bytes = v_storage, storage_estimated = v_estimated,
			   task_runs = v_runs, compute_seconds = v_seconds
		 WHERE sample_id = v_sample;
	  EXCEPTION WHEN lock_not_available THEN
		RAISE WARNING 'usage of tenant "%" not sampled: one of its tables is locked', v_tenant.name
			USING DETAIL = pg_catalog.format('A session held a lock on a table of the tenant for longer than tenancy.lock_timeout (%s); the other tenants were sampled, and its next sample counts what this one missed.',
											  pg_catalog.current_setting('tenancy.lock_timeout'));
		CONTINUE;
	  END;

		-- pod requests: the worker reads the namespace and fills the sample in
		IF v_platform THEN
			v_operation := tenancy.journal_add_operation(v_tenant.tenant_id, 'usage', v_tenant.generation);
			PERFORM tenancy.journal_add_step(v_operation, 1, 'kubernetes', 'measure',
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
	'Record a usage sample per tenant: storage of its schemas, of the temporary tables and the large objects its roles own, pipeline runs completed and their compute since the previous sample; pod requests through the worker. A tenant with a table locked beyond tenancy.lock_timeout gets its storage from the sizes of its files, read without a lock (storage_estimated)';

REVOKE ALL ON FUNCTION tenancy.tenant_of_role(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.tenant_of_role(oid) TO tenancy_admin;
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;

-- Issue 17 (finding 4) and issue 18 (namespace): the Kubernetes namespace
-- tenancy created for a tenant, proved by its uid; one live tenant per
-- namespace.  0.1.0 ignored resources.kubernetes.namespace and gave every
-- tenant airflow-<name>: the stored specs are made to say so, so that an
-- apply that names another namespace is refused as a move (0A000) instead of
-- creating a second namespace.
UPDATE tenancy.tenants
	SET spec = pg_catalog.jsonb_set(spec, '{resources,kubernetes,namespace}',
									pg_catalog.to_jsonb('airflow-' OPERATOR(pg_catalog.||) name))
	WHERE spec #> '{resources,kubernetes}' IS NOT NULL
	  AND pg_catalog.jsonb_typeof(spec #> '{resources,kubernetes}') = 'object'
	  AND (spec #>> '{resources,kubernetes,namespace}') IS DISTINCT FROM ('airflow-' OPERATOR(pg_catalog.||) name);

ALTER TABLE tenancy.tenants ADD COLUMN namespace_uid text
	CHECK (namespace_uid ~ '^[-0-9A-Za-z]{1,128}$');
COMMENT ON COLUMN tenancy.tenants.namespace_uid IS
	'metadata.uid of the Kubernetes namespace the worker created for the tenant (NULL until it has); an object at that name with another uid is not the tenant''s';
CREATE UNIQUE INDEX tenants_namespace_idx
	ON tenancy.tenants ((spec #>> '{resources,kubernetes,namespace}'))
	WHERE state <> 'deprovisioned';
COMMENT ON INDEX tenancy.tenants_namespace_idx IS
	'A namespace (resources.kubernetes.namespace of the normalized spec) belongs to one tenant that is not deprovisioned';

-- issue 18 (every key of the tenant spec does what it says): tenancy.plan
-- shows each external request's body and, for an apply, what changes.
-- A function's result columns cannot change in place: drop, create, grant.
DROP FUNCTION tenancy.plan(text, jsonb);
CREATE FUNCTION tenancy.plan(name text, spec jsonb)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text,
               request jsonb, changes jsonb)
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan';

COMMENT ON FUNCTION tenancy.plan(text, jsonb) IS
	'What provision (new tenant) or apply (existing tenant) would do, in order, with each external request''s body (no secret; Vault references as references) and, for an apply, the fields that change; nothing is executed';
REVOKE ALL ON FUNCTION tenancy.plan(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.plan(text, jsonb) TO tenancy_admin;

-- ---------------------------------------------------------------------
-- Issue 17: trust boundary, database side (20_tenants.sql,
-- 30_operations.sql, 40_servers.sql)
-- ---------------------------------------------------------------------

CREATE TABLE tenancy.created_objects (
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id)
				ON DELETE CASCADE,
	kind		text NOT NULL CHECK (kind IN ('role', 'schema')),
	name		text NOT NULL,
	object_oid	oid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (tenant_id, kind, name)
);

COMMENT ON TABLE tenancy.created_objects IS
	'Roles and schemas tenancy created for each tenant in this database, by OID: the only ones it changes, grants on, sets passwords on or drops';
COMMENT ON COLUMN tenancy.created_objects.kind IS
	'role (pg_authid) or schema (pg_namespace)';
COMMENT ON COLUMN tenancy.created_objects.object_oid IS
	'OID of the object when tenancy created it: a role or schema created again under the name by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.created_objects', '');

CREATE TABLE tenancy.locks (
	lock_key	text PRIMARY KEY CHECK (length(lock_key) <= 80)
);

COMMENT ON TABLE tenancy.locks IS
	'Rows that provision, apply, deprovision and placement lock FOR UPDATE to serialize (tenant <name>, placement); no role has a privilege on it';

GRANT SELECT ON tenancy.created_objects TO tenancy_admin;

-- Tenants of 0.1.0 in this database: their roles and schemas as they are
-- now are taken as tenancy's (0.1.0 refused foreign ones at provision).
-- Deprovisioned tenants kept only their owner role and its schemas.
WITH t AS (
	SELECT t.tenant_id, t.slug, t.state,
		   COALESCE(t.spec #>> '{warehouse,database,schema_prefix}', t.slug || '_') AS prefix
	  FROM tenancy.tenants t
	 WHERE t.server IS NULL
	   AND COALESCE(t.spec #>> '{warehouse,database,host}', '') = ''
	   AND COALESCE(t.spec #>> '{warehouse,database,name}', pg_catalog.current_database())
		   = pg_catalog.current_database()
), roles AS (
	SELECT t.tenant_id, r.rolname::text AS name, r.oid
	  FROM t CROSS JOIN LATERAL pg_catalog.unnest(ARRAY[
			'tenant_' || t.slug || '_owner', 'tenant_' || t.slug || '_writer',
			'tenant_' || t.slug || '_reader', 'etl_' || t.slug, 'airflow_' || t.slug]) AS n(name)
	  JOIN pg_catalog.pg_roles r ON r.rolname = n.name
	 WHERE (t.state <> 'deprovisioned' OR n.name = 'tenant_' || t.slug || '_owner')
	   AND NOT r.rolsuper
), schemas AS (
	SELECT t.tenant_id, s.nspname::text AS name, s.oid
	  FROM t CROSS JOIN LATERAL pg_catalog.unnest(ARRAY['bronze', 'silver', 'gold_mart',
			'gold_reporting', 'staging', 'audit']) AS x(suffix)
	  JOIN pg_catalog.pg_namespace s ON s.nspname = t.prefix || x.suffix
	  JOIN pg_catalog.pg_roles o ON o.oid = s.nspowner
	   AND o.rolname = 'tenant_' || t.slug || '_owner' AND NOT o.rolsuper
)
INSERT INTO tenancy.created_objects (tenant_id, kind, name, object_oid)
SELECT tenant_id, 'role', name, oid FROM roles
UNION ALL
SELECT tenant_id, 'schema', name, oid FROM schemas
ON CONFLICT DO NOTHING;

ALTER TABLE tenancy.tenants ADD COLUMN credentials_set_at timestamptz,
	ADD COLUMN credentials_request jsonb
		CHECK (credentials_request IS NULL OR jsonb_typeof(credentials_request) = 'object'),
	ADD COLUMN release_path text;

COMMENT ON COLUMN tenancy.tenants.credentials_set_at IS
	'When the database credentials of the tenant''s login roles were last set (a database_credentials step succeeded); NULL: never, or unknown';
COMMENT ON COLUMN tenancy.tenants.credentials_request IS
	'Target and request of the tenant''s last database_credentials step (never a secret): what rotate_credentials runs again';
COMMENT ON COLUMN tenancy.tenants.release_path IS
	'API path of the tenant''s Airflow HelmRelease, as last applied: what a rotation rolls out';

CREATE FUNCTION tenancy.steps_remember()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF NEW.request ->> 'handler' = 'database_credentials' THEN
		UPDATE tenancy.tenants t
		   SET credentials_set_at = GREATEST(t.credentials_set_at,
											 COALESCE(NEW.finished_at, pg_catalog.now())),
			   credentials_request = pg_catalog.jsonb_build_object(
					'target', NEW.target, 'request', NEW.request - 'rotation')
		  FROM tenancy.operations o
		 WHERE o.operation_id = NEW.operation_id AND t.tenant_id = o.tenant_id;
	ELSE
		UPDATE tenancy.tenants t
		   SET release_path = NEW.request ->> 'path'
		  FROM tenancy.operations o
		 WHERE o.operation_id = NEW.operation_id AND t.tenant_id = o.tenant_id;
	END IF;
	RETURN NULL;
END
$fn$;

COMMENT ON FUNCTION tenancy.steps_remember() IS
	'Trigger: a database_credentials step or a HelmRelease apply succeeded; keep on the tenant what rotation and the audit need, so that purge_history cannot make them forget it';

CREATE TRIGGER steps_remember
	AFTER INSERT OR UPDATE OF state ON tenancy.steps
	FOR EACH ROW
	WHEN (NEW.state = 'succeeded' AND NEW.phase = 'forward'
		  AND (NEW.request ->> 'handler' = 'database_credentials'
			   OR (NEW.object_kind = 'helmrelease' AND NEW.action = 'apply')))
	EXECUTE FUNCTION tenancy.steps_remember();

-- what the step history of 0.1.0 still knows
UPDATE tenancy.tenants t
   SET credentials_set_at = c.finished_at,
	   credentials_request = pg_catalog.jsonb_build_object('target', c.target,
															'request', c.request - 'rotation')
  FROM (SELECT DISTINCT ON (o.tenant_id) o.tenant_id, s.finished_at, s.target, s.request
		  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
		 WHERE s.state = 'succeeded' AND s.phase = 'forward'
		   AND s.request ->> 'handler' = 'database_credentials'
		 ORDER BY o.tenant_id, s.finished_at DESC) c
 WHERE c.tenant_id = t.tenant_id;
UPDATE tenancy.tenants t
   SET release_path = r.path
  FROM (SELECT DISTINCT ON (o.tenant_id) o.tenant_id, s.request ->> 'path' AS path
		  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
		 WHERE s.state = 'succeeded' AND s.phase = 'forward'
		   AND s.object_kind = 'helmrelease' AND s.action = 'apply'
		 ORDER BY o.tenant_id, s.finished_at DESC) r
 WHERE r.tenant_id = t.tenant_id;

ALTER TABLE tenancy.servers ADD COLUMN existing_databases text[] NOT NULL DEFAULT '{}'
	CHECK (pg_catalog.array_ndims(existing_databases) IS NULL
		   OR pg_catalog.array_ndims(existing_databases) = 1);

COMMENT ON COLUMN tenancy.servers.existing_databases IS
	'Databases tenancy did not create that a superuser allowed tenants to be placed in; tenancy never changes their database-level grants';

CREATE TABLE tenancy.databases (
	server		text NOT NULL,
	name		text NOT NULL,
	database_oid oid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (server, name)
);

COMMENT ON TABLE tenancy.databases IS
	'Databases the worker created for tenants on warehouse servers, with their OIDs: only these (and a server''s existing_databases) hold tenants';
COMMENT ON COLUMN tenancy.databases.server IS
	'Registered server name, or the empty string for this PostgreSQL server';
COMMENT ON COLUMN tenancy.databases.database_oid IS
	'pg_database.oid right after CREATE DATABASE: a database dropped and created again by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.databases', '');

-- Databases of this server that tenants of 0.1.0 live in are taken as
-- tenancy's (a superuser can delete a row to withdraw that).
INSERT INTO tenancy.databases (server, name, database_oid)
SELECT DISTINCT '', d.datname::text, d.oid
  FROM tenancy.tenants t
  JOIN pg_catalog.pg_database d ON d.datname = t.spec #>> '{warehouse,database,name}'
 WHERE t.server IS NULL AND COALESCE(t.spec #>> '{warehouse,database,host}', '') = ''
   AND d.datname <> pg_catalog.current_database()
ON CONFLICT DO NOTHING;

CREATE FUNCTION tenancy.reconcile_created_objects()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_roles bigint;
	v_schemas bigint;
	v_databases bigint;
BEGIN
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user), false) THEN
		RAISE EXCEPTION 'permission denied to reconcile what tenancy created'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only a superuser may declare the roles, schemas and databases that now have the recorded names to be the ones tenancy created.';
	END IF;
	UPDATE tenancy.created_objects o SET object_oid = r.oid
	  FROM pg_catalog.pg_roles r
	 WHERE o.kind = 'role' AND r.rolname = o.name AND r.oid <> o.object_oid AND NOT r.rolsuper;
	GET DIAGNOSTICS v_roles = ROW_COUNT;
	UPDATE tenancy.created_objects o SET object_oid = n.oid
	  FROM pg_catalog.pg_namespace n
	 WHERE o.kind = 'schema' AND n.nspname = o.name AND n.oid <> o.object_oid;
	GET DIAGNOSTICS v_schemas = ROW_COUNT;
	UPDATE tenancy.databases d SET database_oid = p.oid
	  FROM pg_catalog.pg_database p
	 WHERE d.server = '' AND p.datname = d.name AND p.oid <> d.database_oid;
	GET DIAGNOSTICS v_databases = ROW_COUNT;
	RETURN v_roles + v_schemas + v_databases;
END
$fn$;

COMMENT ON FUNCTION tenancy.reconcile_created_objects() IS
	'Superuser only, after restoring the platform database into another cluster (roles, schemas and databases get new OIDs): record the current OIDs of the recorded names as tenancy''s; returns how many records changed';

REVOKE ALL ON FUNCTION tenancy.reconcile_created_objects() FROM PUBLIC;

CREATE FUNCTION tenancy.conninfo_masked(conninfo text)
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_conninfo_masked';

COMMENT ON FUNCTION tenancy.conninfo_masked(text) IS
	'A libpq conninfo with the value of every secret-bearing keyword (libpq marks them with dispchar *) replaced by ********';

REVOKE SELECT ON tenancy.servers FROM tenancy_admin;
GRANT SELECT (name, max_connections, accepting_tenants, existing_databases,
			  created_at, updated_at) ON tenancy.servers TO tenancy_admin;
GRANT SELECT ON tenancy.databases TO tenancy_admin;

CREATE OR REPLACE VIEW tenancy.server_load AS
SELECT s.name AS server, tenancy.conninfo_masked(s.conninfo) AS conninfo,
	   s.accepting_tenants, s.max_connections,
	   count(t.tenant_id) FILTER (WHERE t.state <> 'deprovisioned') AS tenants,
	   count(t.tenant_id) FILTER (WHERE t.state = 'deprovisioned') AS deprovisioned_tenants,
	   s.created_at
  FROM tenancy.servers s
  LEFT JOIN tenancy.tenants t ON t.server = s.name
 GROUP BY s.name;

COMMENT ON VIEW tenancy.server_load IS
	'Registered warehouse servers with the number of tenants each holds (placement picks the fewest); secrets in a conninfo are shown as ********';

DROP FUNCTION tenancy.register_server(text, text, integer, boolean);

CREATE FUNCTION tenancy.register_server(name text, conninfo text,
										max_connections integer DEFAULT 4,
										accepting_tenants boolean DEFAULT true,
										existing_databases text[] DEFAULT '{}')
RETURNS void
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_register_server';

COMMENT ON FUNCTION tenancy.register_server(text, text, integer, boolean, text[]) IS
	'Register a warehouse server (or change a registered one): a libpq conninfo without a password or any other secret, and the databases tenancy did not create that it may place tenants in';

REVOKE ALL ON FUNCTION tenancy.register_server(text, text, integer, boolean, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION tenancy.conninfo_masked(text), tenancy.steps_remember() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.conninfo_masked(text), tenancy.steps_remember() TO tenancy_admin;

-- rotation reads what the tenant keeps (50_maintenance.sql)
CREATE OR REPLACE FUNCTION tenancy.rotate_credentials(name text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant record;
	v_credentials record;
	v_release record;
	v_operation bigint;
BEGIN
	IF rotate_credentials.name IS NULL THEN
		RAISE EXCEPTION 'tenancy.rotate_credentials needs a tenant name'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the row lock serializes with provision, apply and deprovision
	SELECT t.tenant_id, t.state, t.generation, t.credentials_request, t.release_path INTO v_tenant
	  FROM tenancy.tenants t WHERE t.name = rotate_credentials.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', pg_catalog.left(rotate_credentials.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	IF v_tenant.state NOT IN ('ready', 'failed') THEN
		RAISE EXCEPTION 'tenant "%" is %', rotate_credentials.name, v_tenant.state
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Rotate the credentials of a ready tenant; wait for its running operation (tenancy.wait).';
	END IF;
	IF EXISTS (SELECT 1 FROM tenancy.operations o WHERE o.tenant_id = v_tenant.tenant_id
				  AND o.kind = 'rotate' AND o.state IN ('pending', 'running', 'compensating')) THEN
		RAISE EXCEPTION 'the credentials of tenant "%" are being rotated', rotate_credentials.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Wait for the rotate operation to finish (tenancy.wait).';
	END IF;

	-- the planner's own credentials step, as it last ran for this tenant:
	-- kept on the tenant (purge_history cannot lose it), else in the history
	SELECT v_tenant.credentials_request ->> 'target' AS target,
		   v_tenant.credentials_request -> 'request' AS request
	  INTO v_credentials WHERE v_tenant.credentials_request IS NOT NULL;
	IF NOT FOUND THEN
		SELECT s.target, s.request INTO v_credentials
		  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
		 WHERE o.tenant_id = v_tenant.tenant_id AND s.phase = 'forward' AND s.state = 'succeeded'
		   AND s.request ->> 'handler' = 'database_credentials'
		 ORDER BY s.finished_at DESC LIMIT 1;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" has no database credentials to rotate', rotate_credentials.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'No database_credentials step of the tenant has succeeded: its platform side was never provisioned.',
				  HINT = 'Configure tenancy.vault_url and tenancy.kubernetes_url, then run tenancy.apply with the stored spec.';
	END IF;
	-- and its Airflow release, when Flux manages it
	SELECT v_tenant.release_path AS path INTO v_release WHERE v_tenant.release_path IS NOT NULL;
	IF NOT FOUND THEN
		SELECT s.request ->> 'path' AS path INTO v_release
		  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
		 WHERE o.tenant_id = v_tenant.tenant_id AND s.phase = 'forward' AND s.state = 'succeeded'
		   AND s.object_kind = 'helmrelease' AND s.action = 'apply'
		 ORDER BY s.finished_at DESC LIMIT 1;
	END IF;

	v_operation := tenancy.journal_add_operation(v_tenant.tenant_id, 'rotate', v_tenant.generation);
	-- 1. new passwords: Vault (a new version), the SCRAM verifiers, the Secrets
	PERFORM tenancy.journal_add_step(v_operation, 1, v_credentials.target, 'rotate', 'database credentials',
			v_credentials.request || pg_catalog.jsonb_build_object('rotation', v_operation::text));
	-- 2. a rollout of Airflow's pods, which read the Secrets at start
	IF v_release.path IS NOT NULL THEN
		PERFORM tenancy.journal_add_step(v_operation, 2, 'kubernetes', 'rollout', 'helmrelease ' || v_release.path,
				pg_catalog.jsonb_build_object(
					'method', 'PATCH', 'path', v_release.path,
					'query', pg_catalog.jsonb_build_object('fieldManager', 'tenancy-rotation'),
					'content_type', 'application/merge-patch+json',
					'body', pg_catalog.jsonb_build_object('spec', pg_catalog.jsonb_build_object(
						'values', pg_catalog.jsonb_build_object('airflowPodAnnotations',
							pg_catalog.jsonb_build_object('tenancy.io/credentials-rotation', v_operation::text))))),
				'{1}');
	END IF;
	PERFORM tenancy.wake_worker();
	RETURN v_operation;
END
$fn$;

COMMENT ON FUNCTION tenancy.rotate_credentials(text) IS
	'New database passwords end to end: a new Vault version, the login roles'' SCRAM verifiers, the Kubernetes Secrets, then a rollout of the Airflow release; returns the rotate operation';

CREATE OR REPLACE FUNCTION tenancy.rotate_due_credentials()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name text;
	v_count integer := 0;
	v_max_age interval := pg_catalog.make_interval(
		days => pg_catalog.current_setting('tenancy.credential_max_age')::integer);
BEGIN
	FOR v_name IN
		-- credentials_set_at is kept on the tenant (purge_history cannot
		-- lose it); unknown (NULL) with a request to run again: rotate too
		SELECT t.name FROM tenancy.tenants t
		 WHERE t.state = 'ready' AND t.credentials_request IS NOT NULL
		   AND (t.credentials_set_at IS NULL OR t.credentials_set_at < pg_catalog.now() - v_max_age)
		 ORDER BY t.name
	LOOP
		PERFORM tenancy.rotate_credentials(v_name);
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.rotate_due_credentials() IS
	'Rotate the database credentials of every ready tenant whose password is older than tenancy.credential_max_age; returns how many';

-- The library version that planned each operation: the first provision or
-- apply after an upgrade plans every platform object again (provision.c,
-- platform_history), since the new version may build objects the old one
-- did not.  Rows from before the column existed stay NULL ("unknown").
ALTER TABLE tenancy.operations ADD COLUMN planned_by text;
ALTER TABLE tenancy.operations ALTER COLUMN planned_by SET DEFAULT tenancy.version();
COMMENT ON COLUMN tenancy.operations.planned_by IS
	'Version of the tenancy library that planned the operation (NULL: before 0.2.0)';

-- tenancy_admin, made or adopted by 0.1.0 whatever it was, is kept only
-- when nobody could have shaped it to gain its powers (00_catalog.sql): from
-- PostgreSQL 16 a role with CREATEROLE that creates tenancy_admin before
-- the extension keeps ADMIN OPTION on it and could grant it to itself
-- afterwards.  So it must be NOLOGIN without attributes, a member of no
-- role, with no member holding ADMIN OPTION who is not a superuser.
DO $do$
DECLARE
	v_problem text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'tenancy_admin') THEN
		CREATE ROLE tenancy_admin NOLOGIN;
		RETURN;
	END IF;
	SELECT pg_catalog.string_agg(p, '; ') INTO v_problem FROM (
		SELECT 'it can log in or has attributes (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS)' AS p
		  FROM pg_catalog.pg_roles r
		 WHERE r.rolname OPERATOR(pg_catalog.=) 'tenancy_admin'
		   AND (r.rolcanlogin OR r.rolsuper OR r.rolcreatedb OR r.rolcreaterole
				OR r.rolreplication OR r.rolbypassrls)
		UNION ALL
		SELECT pg_catalog.format('%s holds it WITH ADMIN OPTION', m.member::pg_catalog.regrole)
		  FROM pg_catalog.pg_auth_members m
		  JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
		  JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
		 WHERE g.rolname OPERATOR(pg_catalog.=) 'tenancy_admin' AND m.admin_option AND NOT u.rolsuper
		UNION ALL
		SELECT pg_catalog.format('it is a member of %s', m.roleid::pg_catalog.regrole)
		  FROM pg_catalog.pg_auth_members m
		  JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
		 WHERE u.rolname OPERATOR(pg_catalog.=) 'tenancy_admin') AS problems;
	IF v_problem IS NOT NULL THEN
		RAISE EXCEPTION 'role tenancy_admin exists and cannot be trusted as tenancy''s'
			USING ERRCODE = 'duplicate_object',
				  DETAIL = v_problem || '.',
				  HINT = 'As a superuser, DROP ROLE tenancy_admin (or ALTER ROLE tenancy_admin NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, REVOKE ADMIN OPTION FOR tenancy_admin FROM each member named, REVOKE it from the roles it is a member of), then try again.';
	END IF;
END
$do$;

-- Issue 15 (one journal API) and 16 (lock order): retry and cancel lock the
-- tenant's row first and, with rotation, usage sampling and the audit,
-- write operations and steps only through the journal's functions

/*
 * The journal's writers (src/worker/journal_write.c): with the worker, the
 * only code that inserts or changes operations and steps.  Internal: the
 * SECURITY DEFINER functions of the extension call them; no role is
 * granted them (99_grants.sql), since a step is a request the worker sends
 * with its own credentials.
 */
CREATE FUNCTION tenancy.journal_add_operation(tenant bigint, kind text, generation bigint)
RETURNS bigint
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'tenancy_journal_add_operation';

COMMENT ON FUNCTION tenancy.journal_add_operation(bigint, text, bigint) IS
	'Internal: record a pending operation of a tenant; returns its id';

CREATE FUNCTION tenancy.journal_add_step(operation bigint, ordinal integer, target text,
										 action text, object text, request jsonb,
										 depends_on integer[] DEFAULT '{}')
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_journal_add_step';

COMMENT ON FUNCTION tenancy.journal_add_step(bigint, integer, text, text, text, jsonb, integer[]) IS
	'Internal: record a pending step of an operation';

CREATE FUNCTION tenancy.journal_restart(operation bigint, undone boolean)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'tenancy_journal_restart';

COMMENT ON FUNCTION tenancy.journal_restart(bigint, boolean) IS
	'Internal: run an operation again (tenancy.retry); undone: after a compensation, every step the worker runs starts over';

CREATE FUNCTION tenancy.journal_cancel(operation bigint, reason text)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'tenancy_journal_cancel';

COMMENT ON FUNCTION tenancy.journal_cancel(bigint, text) IS
	'Internal: cancel an unfinished operation (tenancy.cancel)';

REVOKE ALL ON FUNCTION tenancy.journal_add_operation(bigint, text, bigint),
	tenancy.journal_add_step(bigint, integer, text, text, text, jsonb, integer[]),
	tenancy.journal_restart(bigint, boolean),
	tenancy.journal_cancel(bigint, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION tenancy.cancel(operation bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_op record;
BEGIN
	-- the journal's lock order: the tenant's row, then its operations and
	-- steps (doc/architecture.md); the worker takes them in that order too
	PERFORM FROM tenancy.tenants t
	  WHERE t.tenant_id = (SELECT o.tenant_id FROM tenancy.operations o
							WHERE o.operation_id = cancel.operation)
	  FOR NO KEY UPDATE;
	SELECT o.operation_id, o.tenant_id, o.kind, o.state INTO v_op
	  FROM tenancy.operations o WHERE o.operation_id = cancel.operation FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'operation % does not exist', cancel.operation
			USING ERRCODE = 'undefined_object';
	END IF;
	IF v_op.state NOT IN ('pending', 'running', 'compensating') THEN
		RAISE EXCEPTION 'operation % is already %', v_op.operation_id, v_op.state
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;

	PERFORM tenancy.journal_cancel(v_op.operation_id, 'cancelled by ' || session_user);
	RETURN v_op.operation_id;
END
$fn$;

COMMENT ON FUNCTION tenancy.cancel(bigint) IS
	'Stop an operation: steps not yet started are cancelled, requests in flight finish; nothing is undone';

-- issue 17, finding 4: Kubernetes objects are proven by metadata.uid

/*
 * Trust boundary in Kubernetes (issue 17, finding 4).  platform_objects
 * records the metadata.uid of every object tenancy created in a tenant's
 * namespace (a Secret, ConfigMap, quota, HelmRelease, ...), by API path.  An
 * apply sends that uid with the object, so that the API server refuses it
 * (422) when what has the name now is an object someone else created after
 * tenancy's was deleted; an object with no record is created with POST, so
 * that one someone else put there first answers 409 and is refused, never
 * taken over by server-side apply.
 */
CREATE TABLE tenancy.platform_objects (
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id)
				ON DELETE CASCADE,
	path		text NOT NULL CHECK (path ~ '^/apis?/' AND length(path) <= 512),
	uid			text NOT NULL CHECK (uid ~ '^[-0-9A-Za-z]{1,128}$'),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (tenant_id, path)
);

COMMENT ON TABLE tenancy.platform_objects IS
	'Kubernetes objects tenancy created for each tenant, by API path and metadata.uid: the only ones it applies changes to';
COMMENT ON COLUMN tenancy.platform_objects.path IS
	'API path of the object (/api/v1/namespaces/<ns>/configmaps/<name>, ...)';
COMMENT ON COLUMN tenancy.platform_objects.uid IS
	'metadata.uid the API server gave the object when tenancy created it: an object created again under the name by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.platform_objects', '');

GRANT SELECT ON tenancy.platform_objects TO tenancy_admin;
-- ---------------------------------------------------------------------
-- Issue 21, second pass (dba3): forget refuses while shared tables hold
-- rows of the tenant (a new tenant of the name would see them).
-- ---------------------------------------------------------------------

CREATE FUNCTION tenancy.refuse_shared_rows(tenant text)
RETURNS void
LANGUAGE c STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_refuse_shared_rows';

COMMENT ON FUNCTION tenancy.refuse_shared_rows(text) IS
	'Internal (tenancy.forget, superusers): refuse (55000) while shared tables hold rows of the tenant, which a new tenant of that name would see';

CREATE OR REPLACE FUNCTION tenancy.forget(name text)
RETURNS TABLE (object_type text, purpose text, object_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to forget tenant "%"', left(forget.name, 64)
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only superusers may remove a tenant''s record without deprovisioning it.';
	END IF;
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t
	 WHERE t.name = forget.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', left(forget.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	IF EXISTS (SELECT FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
				WHERE o.tenant_id = v_tenant AND s.state IN ('running', 'compensating')) THEN
		RAISE EXCEPTION 'tenant "%" has a step in progress', forget.name
			USING ERRCODE = 'object_in_use',
				  HINT = 'Cancel its operation (tenancy.cancel) and wait until no step is running, then forget it.';
	END IF;
	-- current_tenant() knows tenants by name: once the record is gone,
	-- nothing would stop a new tenant of that name from seeing these rows
	PERFORM tenancy.refuse_shared_rows(forget.name);

	-- what the planner derives for it: what may be left to remove by hand
	RETURN QUERY
	SELECT o.object_type, o.purpose, o.object_name
	  FROM tenancy.tenant_objects(forget.name) o;
	DELETE FROM tenancy.steps s USING tenancy.operations o
	 WHERE s.operation_id = o.operation_id AND o.tenant_id = v_tenant;
	DELETE FROM tenancy.operations o WHERE o.tenant_id = v_tenant;
	DELETE FROM tenancy.tenants t WHERE t.tenant_id = v_tenant;
	RAISE NOTICE 'tenant "%" forgotten', forget.name
		USING DETAIL = 'Its record, operations and steps are deleted; its roles, schemas and platform objects (listed) were not touched.',
			  HINT = 'Drop what remains by hand (DROP OWNED BY, DROP ROLE, DROP SCHEMA) once its data is safe.';
END
$fn$;

COMMENT ON FUNCTION tenancy.forget(text) IS
	'Superusers: delete a stuck tenant''s record, operations and steps without touching anything it created (returned: what may remain); frees its warehouse server for drop_server';

REVOKE ALL ON FUNCTION tenancy.refuse_shared_rows(text) FROM PUBLIC;

-- issue 21, second pass (dba3): set_password records when it set each login
-- role's password (the audit's credential_age reads it) and is off unless a
-- superuser turns tenancy.allow_set_password on.
ALTER TABLE tenancy.tenants ADD COLUMN passwords_set_at jsonb NOT NULL DEFAULT '{}'
	CHECK (jsonb_typeof(passwords_set_at) = 'object');

COMMENT ON COLUMN tenancy.tenants.passwords_set_at IS
	'When tenancy.set_password last set the password of each login role of the tenant ({"role": timestamptz}); never the password';

COMMENT ON FUNCTION tenancy.set_password(text) IS
	'Set a generated password on a login role of a tenant of this database and return it; stored nowhere, shown once, logged (role and caller). Installations without Vault, with tenancy.allow_set_password on (superusers decide)';

-- issue 21, second pass (dba3): when schedule_maintenance registered each
-- pg_cron job (the audit reports one that never ran); its clean-up of
-- same-named jobs, and unschedule_maintenance, keep to this database.
/*
 * When schedule_maintenance registered each job with its schedule: pg_cron
 * records no such time, and the audit needs it to report a job that never
 * ran (the launcher not running in this database, a job stuck running).
 */
CREATE TABLE tenancy.scheduled_jobs (
	job_name	text PRIMARY KEY,
	jobid		bigint NOT NULL,
	schedule	text NOT NULL,
	scheduled_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE tenancy.scheduled_jobs IS
	'The pg_cron jobs tenancy.schedule_maintenance registered in this database, and since when with that schedule (the audit''s scheduled_job_overdue for a job that never ran)';
COMMENT ON COLUMN tenancy.scheduled_jobs.scheduled_at IS
	'When the job was registered with this schedule (unchanged when schedule_maintenance runs again with the same one)';

SELECT pg_catalog.pg_extension_config_dump('tenancy.scheduled_jobs', '');
GRANT SELECT ON tenancy.scheduled_jobs TO tenancy_admin;

CREATE OR REPLACE FUNCTION tenancy.schedule_maintenance(
	audit_schedule text DEFAULT '17 3 * * *',
	usage_schedule text DEFAULT '7 * * * *',
	rotation_schedule text DEFAULT '37 4 * * *',
	purge_schedule text DEFAULT '47 5 * * 0',
	history_retention interval DEFAULT '90 days')
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_job record;
	v_other bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'tenancy.schedule_maintenance registers its jobs with pg_cron; nothing was scheduled.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart and run CREATE EXTENSION pg_cron; or run the commands the README lists under "Maintenance" from another scheduler.';
	END IF;
	IF history_retention IS NULL OR history_retention < interval '1 day' THEN
		RAISE EXCEPTION 'history_retention must be at least 1 day'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on' THEN
		RAISE WARNING 'pg_cron will connect to run each job'
			USING DETAIL = pg_catalog.format('With cron.use_background_workers off, every run opens a connection to cron.host (%s) as role %s; unless pg_hba.conf (or a password file of the server''s OS user) lets that role in without a prompt, every run fails. tenancy.audit() reports a failed or overdue run.',
											 coalesce(pg_catalog.current_setting('cron.host', true), 'localhost'), current_user),
				  HINT = 'Set cron.use_background_workers = on (and max_worker_processes high enough) in postgresql.conf and restart.';
	END IF;

	FOR v_job IN
		SELECT * FROM (VALUES
			(1, 'tenancy-audit', audit_schedule, 'SELECT pg_catalog.count(*) FROM tenancy.audit()'),
			(2, 'tenancy-usage', usage_schedule, 'SELECT tenancy.sample_usage()'),
			(3, 'tenancy-rotation', rotation_schedule, 'SELECT tenancy.rotate_due_credentials()'),
			(4, 'tenancy-purge', purge_schedule,
			 pg_catalog.format('SELECT pg_catalog.count(*) FROM tenancy.purge_history(%L)', history_retention))
		) AS j(ord, job_name, schedule, command) ORDER BY j.ord
	LOOP
		IF v_job.schedule IS NULL THEN
			RAISE EXCEPTION 'the schedule of job % is NULL', v_job.job_name
				USING ERRCODE = 'null_value_not_allowed';
		END IF;
		-- one job per name in this database, whoever scheduled it before:
		-- jobs of that name that other roles scheduled (0.1.0 let any
		-- caller) are removed, this one is replaced
		FOR v_other IN EXECUTE
			'SELECT j.jobid FROM cron.job j WHERE j.jobname = $1 AND j.username <> current_user'
			' AND j.database = pg_catalog.current_database()'
			USING v_job.job_name
		LOOP
			EXECUTE 'SELECT cron.unschedule($1)' USING v_other;
		END LOOP;
		job_name := v_job.job_name;
		schedule := v_job.schedule;
		command := v_job.command;
		-- cron.schedule with a job name replaces the job of that name
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		  USING v_job.job_name, v_job.schedule, v_job.command;
		INSERT INTO tenancy.scheduled_jobs AS s (job_name, jobid, schedule)
		VALUES (v_job.job_name, jobid, v_job.schedule)
		ON CONFLICT ON CONSTRAINT scheduled_jobs_pkey DO UPDATE
		   SET jobid = EXCLUDED.jobid, schedule = EXCLUDED.schedule,
			   scheduled_at = CASE WHEN s.jobid = EXCLUDED.jobid AND s.schedule = EXCLUDED.schedule
								   THEN s.scheduled_at ELSE pg_catalog.now() END;
		RETURN NEXT;
	END LOOP;
END
$fn$;

COMMENT ON FUNCTION tenancy.schedule_maintenance(text, text, text, text, interval) IS
	'Register tenancy''s periodic jobs with pg_cron (audit daily, usage hourly, credential rotation check daily, history purge weekly) as the extension''s owner, one job per name whoever calls it; idempotent, schedules overridable';

CREATE OR REPLACE FUNCTION tenancy.unschedule_maintenance()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_count integer := 0;
	v_job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RETURN 0;
	END IF;
	FOR v_job IN EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = ANY ($1)'
		' AND database = pg_catalog.current_database()'
		USING ARRAY['tenancy-audit', 'tenancy-usage', 'tenancy-rotation', 'tenancy-purge']
	LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING v_job;
		v_count := v_count + 1;
	END LOOP;
	DELETE FROM tenancy.scheduled_jobs;
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.unschedule_maintenance() IS
	'Remove the pg_cron jobs tenancy.schedule_maintenance registered in this database, whoever scheduled them; returns how many';

-- tenant_objects names the backup role too (forget's list of what remains)
COMMENT ON FUNCTION tenancy.tenant_objects(text) IS
	'Schemas (purpose: layer), roles (owner, writer, reader, login, backup) and namespace the planner derives for each tenant, or one; local is false for tenants on another server';

-- The commands raise 22004 on a NULL argument instead of returning NULL,
-- having done nothing, as STRICT made them (RequireArguments)
ALTER FUNCTION tenancy.provision(text, jsonb) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.provision(text, text) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.apply(text, jsonb) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.apply(text, text) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.deprovision(text, boolean) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.share_table(regclass, name) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.unshare_table(regclass) CALLED ON NULL INPUT;
ALTER FUNCTION tenancy.drop_server(text) CALLED ON NULL INPUT;
