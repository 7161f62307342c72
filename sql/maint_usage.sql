--
-- maint_usage: metering and billing.  sample_usage records storage, runs
-- and compute from <prefix>audit.pipeline_runs since the previous sample;
-- usage and invoice integrate samples over a period and price them with
-- the spec's rates under its billing model.  The amounts below are checked
-- against a hand computation.
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
SET timezone = 'UTC';

-- rates of the source document's spec; three billing models
CREATE FUNCTION pg_temp.billing(model text, storage_gb numeric) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_build_object(
		'billing', jsonb_build_object('model', model, 'metrics', '[
			{"type": "task_runs", "rate": 0.01},
			{"type": "storage_gb", "rate": 0.10},
			{"type": "compute_hours", "rate": 0.50}]'::jsonb),
		'resources', jsonb_build_object(
			'database', jsonb_build_object('storage_gb', storage_gb),
			'kubernetes', '{"quotas": {"requests": {"cpu": "8", "memory": "32Gi"}}}'::jsonb))
$$;
SELECT tenancy.provision('meter-usage', pg_temp.spec('meter-usage', pg_temp.billing('usage_based', 100))) > 0 AS usage_based,
       tenancy.provision('meter-hybrid', pg_temp.spec('meter-hybrid', pg_temp.billing('hybrid', 15))) > 0 AS hybrid,
       tenancy.provision('meter-fixed', pg_temp.spec('meter-fixed', pg_temp.billing('fixed', 100))) > 0 AS fixed;

-- sample_usage on real pipeline runs: 40 runs of 90 seconds, 2 unfinished
INSERT INTO meter_usage_audit.pipeline_runs (dag_id, task_id, start_time, end_time, status)
SELECT 'dag', 'task_' || i, now() - interval '10 minutes', now() - interval '10 minutes' + interval '90 seconds', 'success'
  FROM generate_series(1, 40) i;
INSERT INTO meter_usage_audit.pipeline_runs (dag_id, task_id, start_time, status)
SELECT 'dag', 'running_' || i, now(), 'running' FROM generate_series(1, 2) i;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT t.name, s.task_runs, s.compute_seconds, s.storage_bytes > 0 AS has_storage,
       s.cpu_requested IS NULL AS no_pods_yet
  FROM tenancy.usage_samples s JOIN tenancy.tenants t USING (tenant_id) ORDER BY t.name;
-- the next sample counts only runs that ended since: the two that finish now
-- (a few milliseconds after they started), not the 40 counted before
UPDATE meter_usage_audit.pipeline_runs SET end_time = now()
 WHERE end_time IS NULL;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT s.task_runs,
       CASE WHEN s.compute_seconds > 0 AND s.compute_seconds < 60 THEN 'under a minute'
            ELSE s.compute_seconds::text END AS compute_seconds
  FROM tenancy.usage_samples s
  JOIN tenancy.tenants t USING (tenant_id)
 WHERE t.name = 'meter-usage' ORDER BY s.sample_id;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT s.task_runs FROM tenancy.usage_samples s JOIN tenancy.tenants t USING (tenant_id)
 WHERE t.name = 'meter-usage' ORDER BY s.sample_id DESC LIMIT 1;

-- large objects the tenant's roles own are in no schema of theirs
-- (pg_largeobject) and count in its storage: 1 MiB stored with
-- lo_from_bytea by its etl role adds 1 MiB to its next sample
SET ROLE etl_meter_fixed;
SELECT lo_from_bytea(0, convert_to(repeat('x', 1048576), 'UTF8')) > 0 AS stored;
RESET ROLE;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT added FROM (
	SELECT s.sample_id, s.storage_bytes - lag(s.storage_bytes) OVER (ORDER BY s.sample_id) AS added
	  FROM tenancy.usage_samples s JOIN tenancy.tenants t USING (tenant_id)
	 WHERE t.name = 'meter-fixed') d
 ORDER BY sample_id DESC LIMIT 1;

-- so do the temporary tables its roles' sessions hold (in pg_temp_N, no
-- schema of theirs): 2 MiB in one adds its exact size to the next sample
SET ROLE etl_meter_fixed;
CREATE TEMP TABLE stash AS
SELECT i, repeat('y', 1000) AS pad FROM generate_series(1, 2048) i;
RESET ROLE;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT added = pg_total_relation_size('pg_temp.stash') AS temp_table_counted,
       added >= 2 * 1024 * 1024 AS at_least_2_mib
  FROM (SELECT s.sample_id, s.storage_bytes - lag(s.storage_bytes) OVER (ORDER BY s.sample_id) AS added
		  FROM tenancy.usage_samples s JOIN tenancy.tenants t USING (tenant_id)
		 WHERE t.name = 'meter-fixed') d
 ORDER BY sample_id DESC LIMIT 1;
DROP TABLE pg_temp.stash;

-- synthetic samples for January 2026 (30 days), the same for every tenant:
--   Dec 31  10 GiB, 999 runs  (before the period: its runs are not counted,
--                               its storage level holds until the next sample)
--   Jan  1  10 GiB,   0 runs
--   Jan 16  30 GiB, 500 runs, 10 compute hours
--   Jan 31  30 GiB, 734 runs, 14.5 compute hours (at the end: runs counted)
-- by hand: task runs 1234; compute 24.5 h; storage 10 GiB for 15 days and
-- 30 GiB for 15 days = 5 + 15 = 20 GB-months
DELETE FROM tenancy.usage_samples;
INSERT INTO tenancy.usage_samples (tenant_id, sampled_at, storage_bytes, task_runs, compute_seconds)
SELECT t.tenant_id, v.at, v.gib * 1073741824::bigint, v.runs, v.hours * 3600
  FROM tenancy.tenants t,
       (VALUES ('2025-12-31 00:00+00'::timestamptz, 10, 999, 1),
               ('2026-01-01 00:00+00', 10, 0, 0),
               ('2026-01-16 00:00+00', 30, 500, 10),
               ('2026-01-31 00:00+00', 30, 734, 14.5)) AS v(at, gib, runs, hours);
SELECT * FROM tenancy.usage('meter-usage', '2026-01-01 00:00+00', '2026-01-31 00:00+00');

-- usage_based: 1234 x 0.01 = 12.34; 24.5 x 0.50 = 12.25; 20 x 0.10 = 2.00;
-- total 26.59
SELECT * FROM tenancy.invoice('meter-usage', '2026-01-01 00:00+00', '2026-01-31 00:00+00');
SELECT amount = 26.59 AS matches_hand_computation
  FROM tenancy.invoice('meter-usage', '2026-01-01 00:00+00', '2026-01-31 00:00+00')
 WHERE line = 'total';
-- hybrid, 15 GB reserved for the month: storage billed beyond 15 GB-months,
-- (20 - 15) x 0.10 = 0.50; total 12.34 + 12.25 + 0.50 = 25.09
SELECT line, amount, note FROM tenancy.invoice('meter-hybrid', '2026-01-01 00:00+00', '2026-01-31 00:00+00');
-- fixed: usage reported, nothing metered is charged
SELECT line, quantity, amount FROM tenancy.invoice('meter-fixed', '2026-01-01 00:00+00', '2026-01-31 00:00+00');
-- half the period: storage 10 GiB for 7.5 days = 2.5 GB-months; no sample
-- inside it, so no runs
SELECT metric, quantity FROM tenancy.usage('meter-usage', '2026-01-01 00:00+00', '2026-01-08 12:00+00')
 WHERE metric IN ('task_runs', 'storage_gb');

-- recommendations: the last 7 days of pod requests against the quotas
-- (cpu 8, memory 32Gi, storage 100 GB)
DELETE FROM tenancy.usage_samples;
INSERT INTO tenancy.usage_samples (tenant_id, sampled_at, storage_bytes, cpu_requested, memory_requested_bytes)
SELECT t.tenant_id, now() - i * interval '1 day', 50 * 1073741824::bigint, 1 + i * 0.1, 4 * 1073741824::bigint
  FROM tenancy.tenants t, generate_series(1, 5) i WHERE t.name = 'meter-usage';
INSERT INTO tenancy.usage_samples (tenant_id, sampled_at, cpu_requested, memory_requested_bytes)
SELECT t.tenant_id, now() - interval '30 days', 100, 100 * 1073741824::bigint
  FROM tenancy.tenants t WHERE t.name = 'meter-usage';  -- too old: ignored
SELECT * FROM tenancy.recommendations('meter-usage');
SELECT resource, recommendation FROM tenancy.recommendations('meter-fixed');

-- parse_quantity: the planner's own quantity parser
SELECT tenancy.parse_quantity('500m') AS half_core, tenancy.parse_quantity('32Gi') AS bytes,
       tenancy.parse_quantity('1k') AS thousand;

-- bad input
\set VERBOSITY terse
SELECT * FROM tenancy.usage('nobody', '2026-01-01', '2026-02-01');
SELECT * FROM tenancy.usage('meter-usage', '2026-02-01', '2026-01-01');
SELECT * FROM tenancy.usage('meter-usage', '-infinity', '2026-01-01');
SELECT * FROM tenancy.usage('meter-usage', NULL, '2026-01-01');
SELECT * FROM tenancy.invoice('x''; DROP TABLE tenancy.tenants; --', '2026-01-01', '2026-02-01');
SELECT * FROM tenancy.recommendations('nobody');
SELECT tenancy.parse_quantity('12 cores');
SELECT tenancy.parse_quantity(repeat('9', 200));
INSERT INTO tenancy.usage_samples (tenant_id, task_runs) VALUES (1, -1);
\set VERBOSITY default

-- purge_history: bounded journal and audit tables, never the latest.
-- First let the worker finish the provisions (no endpoint: steps skipped).
DO $$
BEGIN
	FOR i IN 1..600 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM tenancy.operations WHERE finished_at IS NULL);
		IF i = 600 THEN
			RAISE EXCEPTION 'the worker did not finish the provisions within 60 s';
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT kind, state, count(*) FROM tenancy.operations GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) FROM tenancy.audit();
UPDATE tenancy.operations SET created_at = created_at - interval '200 days',
       started_at = started_at - interval '200 days', finished_at = finished_at - interval '200 days';
UPDATE tenancy.audit_runs SET started_at = started_at - interval '200 days',
       finished_at = finished_at - interval '200 days';
SELECT count(*) FROM tenancy.audit();
SELECT tenancy.apply('meter-fixed', pg_temp.spec('meter-fixed', pg_temp.billing('fixed', 200))) IS NOT NULL AS applied;
UPDATE tenancy.operations SET created_at = created_at - interval '200 days',
       started_at = started_at - interval '200 days', finished_at = finished_at - interval '200 days'
 WHERE finished_at > now() - interval '1 day';
SELECT * FROM tenancy.purge_history('90 days');
SELECT t.name, count(o.*) AS operations_left FROM tenancy.tenants t
  LEFT JOIN tenancy.operations o USING (tenant_id) GROUP BY t.name ORDER BY t.name;
SELECT count(*) AS audit_runs_left FROM tenancy.audit_runs;
\set VERBOSITY terse
SELECT * FROM tenancy.purge_history('1 hour');
SELECT * FROM tenancy.purge_history(NULL);
\set VERBOSITY default

SELECT tenancy.deprovision(name, drop_data => true) IS NOT NULL AS dropped
  FROM tenancy.tenants ORDER BY name;
DROP EXTENSION tenancy;
