
/*
 * 50_maintenance.sql: the source document's maintenance, done from the
 * catalog.  Audits (src/audit.c, src/audit_acl.c, platform checks in
 * src/handler_audit.c), metering and billing (src/metering.c and the
 * PL/pgSQL below), pg_cron scheduling and history purge.
 */

CREATE TABLE tenancy.audit_runs (
	run_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant		text CHECK (tenant IS NULL OR length(tenant) <= 40),
	started_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	finished_at timestamptz,
	tenants_audited integer NOT NULL DEFAULT 0 CHECK (tenants_audited >= 0),
	findings	integer NOT NULL DEFAULT 0 CHECK (findings >= 0),
	platform_operations integer NOT NULL DEFAULT 0 CHECK (platform_operations >= 0),
	CHECK (finished_at IS NULL OR finished_at >= started_at)
);

COMMENT ON TABLE tenancy.audit_runs IS
	'One row per tenancy.audit() call: when, which tenant (NULL: all), how many findings';
COMMENT ON COLUMN tenancy.audit_runs.tenant IS
	'The tenant audited, NULL when every tenant was';
COMMENT ON COLUMN tenancy.audit_runs.findings IS
	'Database findings of the run (platform findings arrive later from the worker)';
COMMENT ON COLUMN tenancy.audit_runs.platform_operations IS
	'Audit operations enqueued for the worker''s platform checks';

CREATE TABLE tenancy.audit_findings (
	finding_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id		bigint NOT NULL REFERENCES tenancy.audit_runs (run_id)
				ON DELETE CASCADE,
	tenant		text,
	source		text NOT NULL DEFAULT 'database'
				CHECK (source IN ('database', 'platform')),
	check_name	text NOT NULL CHECK (check_name ~ '^[a-z][a-z_]*$'),
	severity	text NOT NULL
				CHECK (severity IN ('critical', 'high', 'warning', 'info')),
	object		text NOT NULL,
	detail		text NOT NULL,
	found_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX audit_findings_run_idx ON tenancy.audit_findings (run_id);
CREATE INDEX audit_runs_started_idx ON tenancy.audit_runs (started_at);

COMMENT ON TABLE tenancy.audit_findings IS
	'What each audit run found: drift and access findings, database and platform';
COMMENT ON COLUMN tenancy.audit_findings.tenant IS
	'Tenant concerned, NULL for platform-wide findings (shared tables)';
COMMENT ON COLUMN tenancy.audit_findings.source IS
	'database (found by tenancy.audit) or platform (found by the worker''s audit steps)';
COMMENT ON COLUMN tenancy.audit_findings.severity IS
	'critical (isolation or access broken), high, warning or info';

CREATE TABLE tenancy.usage_samples (
	sample_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id	bigint NOT NULL,	-- no foreign key: billing records outlive catalog cleanup
	sampled_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	storage_bytes bigint CHECK (storage_bytes >= 0),
	task_runs	bigint CHECK (task_runs >= 0),
	compute_seconds numeric CHECK (compute_seconds >= 0),
	cpu_requested numeric CHECK (cpu_requested >= 0),
	memory_requested_bytes bigint CHECK (memory_requested_bytes >= 0),
	pods_running integer CHECK (pods_running >= 0),
	storage_estimated boolean NOT NULL DEFAULT false,
	UNIQUE (tenant_id, sampled_at)
);

COMMENT ON TABLE tenancy.usage_samples IS
	'Metering: per tenant and sample, storage, task runs and compute since the previous sample, and pod requests';
COMMENT ON COLUMN tenancy.usage_samples.storage_bytes IS
	'Bytes of the tenant''s schemas (tables, indexes, TOAST) when sampled; NULL for tenants on another server';
COMMENT ON COLUMN tenancy.usage_samples.storage_estimated IS
	'storage_bytes was read from the sizes of the tables'' files, without a lock, because one of them was locked beyond tenancy.lock_timeout';
COMMENT ON COLUMN tenancy.usage_samples.task_runs IS
	'Runs of <prefix>audit.pipeline_runs completed since the tenant''s previous sample (tenancy.run_completions; each run counted once)';
COMMENT ON COLUMN tenancy.usage_samples.compute_seconds IS
	'Sum of end_time - start_time of those runs';
COMMENT ON COLUMN tenancy.usage_samples.cpu_requested IS
	'CPU cores requested by the running pods of the tenant''s namespace (set by the worker; NULL until then)';
COMMENT ON COLUMN tenancy.usage_samples.memory_requested_bytes IS
	'Memory requested by the running pods of the tenant''s namespace (set by the worker; NULL until then)';

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
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_runs', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_findings', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.usage_samples', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_findings_finding_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.usage_samples_sample_id_seq', '');

GRANT SELECT ON tenancy.audit_runs, tenancy.audit_findings, tenancy.usage_samples,
	tenancy.run_completions
	TO tenancy_admin;

/* ---------------------------------------------------------------- audit */

CREATE FUNCTION tenancy.audit(name text DEFAULT NULL)
RETURNS TABLE (tenant text, check_name text, severity text, object text, detail text)
LANGUAGE c VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_audit';

COMMENT ON FUNCTION tenancy.audit(text) IS
	'Compare what the catalog says should exist with what exists (one tenant, or all with NULL); records the run and enqueues platform checks';

-- The latest finished run and the run it is compared with: the previous
-- finished run of all tenants, or of the same tenant when the latest run
-- audited one (an all-tenant run counts for it too).
CREATE VIEW tenancy.audit_comparison AS
SELECT r.run_id, r.tenant,
	   (SELECT pg_catalog.max(p.run_id) FROM tenancy.audit_runs p
		 WHERE p.run_id < r.run_id AND p.finished_at IS NOT NULL
		   AND (p.tenant IS NULL OR p.tenant = r.tenant)) AS previous_run
  FROM tenancy.audit_runs r
 WHERE r.run_id = (SELECT pg_catalog.max(l.run_id) FROM tenancy.audit_runs l
					WHERE l.finished_at IS NOT NULL);

COMMENT ON VIEW tenancy.audit_comparison IS
	'The latest finished audit run and the earlier run its findings are compared with';

CREATE VIEW tenancy.audit_latest AS
SELECT f.run_id, f.tenant, f.source, f.check_name, f.severity, f.object, f.detail,
	   NOT EXISTS (SELECT 1 FROM tenancy.audit_findings o
				   WHERE o.run_id = c.previous_run
					 AND o.tenant IS NOT DISTINCT FROM f.tenant
					 AND o.check_name = f.check_name
					 AND o.object = f.object) AS is_new
  FROM tenancy.audit_comparison c
  JOIN tenancy.audit_findings f ON f.run_id = c.run_id;

COMMENT ON VIEW tenancy.audit_latest IS
	'Findings of the latest finished audit run; is_new when the run it is compared with did not have them';

CREATE VIEW tenancy.audit_resolved AS
SELECT o.run_id AS previous_run, o.tenant, o.source, o.check_name, o.severity, o.object
  FROM tenancy.audit_comparison c
  JOIN tenancy.audit_findings o ON o.run_id = c.previous_run
 WHERE (c.tenant IS NULL OR o.tenant = c.tenant)
   AND NOT EXISTS (SELECT 1 FROM tenancy.audit_findings f
					WHERE f.run_id = c.run_id
					  AND f.tenant IS NOT DISTINCT FROM o.tenant
					  AND f.check_name = o.check_name
					  AND f.object = o.object);

COMMENT ON VIEW tenancy.audit_resolved IS
	'Findings of the run the latest audit run is compared with that the latest run no longer reports';

GRANT SELECT ON tenancy.audit_comparison, tenancy.audit_latest, tenancy.audit_resolved TO tenancy_admin;


CREATE FUNCTION tenancy.tenant_objects(name text DEFAULT NULL)
RETURNS TABLE (tenant text, object_type text, purpose text, object_name text, local boolean)
LANGUAGE c STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_tenant_objects';

COMMENT ON FUNCTION tenancy.tenant_objects(text) IS
	'Schemas (purpose: layer), roles (owner, writer, reader, login, backup) and namespace the planner derives for each tenant, or one; local is false for tenants on another server';

CREATE FUNCTION tenancy.parse_quantity(quantity text)
RETURNS double precision
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_parse_quantity';

COMMENT ON FUNCTION tenancy.parse_quantity(text) IS
	'A Kubernetes resource quantity (500m, 32Gi) as a plain number of cores or bytes';

/* ------------------------------------------------------------- metering */

CREATE FUNCTION tenancy.sample_usage()
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

CREATE FUNCTION tenancy.usage(name text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (metric text, quantity numeric, unit text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
BEGIN
	IF usage.name IS NULL OR from_time IS NULL OR to_time IS NULL THEN
		RAISE EXCEPTION 'tenancy.usage needs a tenant name and both ends of the period'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF from_time >= to_time OR NOT pg_catalog.isfinite(from_time) OR NOT pg_catalog.isfinite(to_time) THEN
		RAISE EXCEPTION 'invalid usage period'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The period must be finite and start before it ends; it is [%s, %s).', from_time, to_time);
	END IF;
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t WHERE t.name = usage.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', pg_catalog.left(usage.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;

	RETURN QUERY
	WITH counted AS (
		-- a sample counts the runs that ended since the sample before it
		SELECT COALESCE(pg_catalog.sum(s.task_runs), 0)::numeric AS runs,
			   COALESCE(pg_catalog.sum(s.compute_seconds), 0) AS seconds
		  FROM tenancy.usage_samples s
		 WHERE s.tenant_id = v_tenant AND s.sampled_at > from_time AND s.sampled_at <= to_time
	), levels AS (
		-- a level (storage, pod requests) holds from its sample to the next
		SELECT s.storage_bytes, s.cpu_requested, s.memory_requested_bytes,
			   GREATEST(s.sampled_at, from_time) AS level_from,
			   LEAST(COALESCE(pg_catalog.lead(s.sampled_at) OVER (ORDER BY s.sampled_at), to_time),
					 to_time) AS level_to
		  FROM tenancy.usage_samples s
		 WHERE s.tenant_id = v_tenant AND s.sampled_at < to_time
		   AND s.sampled_at >= COALESCE((SELECT pg_catalog.max(b.sampled_at) FROM tenancy.usage_samples b
										  WHERE b.tenant_id = v_tenant AND b.sampled_at <= from_time),
										from_time)
	), integrated AS (
		SELECT COALESCE(pg_catalog.sum(l.storage_bytes * EXTRACT(epoch FROM l.level_to - l.level_from)), 0) AS byte_seconds,
			   COALESCE(pg_catalog.sum(l.cpu_requested * EXTRACT(epoch FROM l.level_to - l.level_from)), 0) AS core_seconds,
			   COALESCE(pg_catalog.sum(l.memory_requested_bytes * EXTRACT(epoch FROM l.level_to - l.level_from)), 0) AS memory_byte_seconds
		  FROM levels l WHERE l.level_to > l.level_from
	)
	SELECT m.metric, pg_catalog.round(m.quantity, 6), m.unit
	  FROM counted c, integrated i,
		   LATERAL (VALUES
			(1, 'task_runs', c.runs, 'runs'),
			(2, 'compute_hours', c.seconds / 3600, 'hours'),
			(3, 'storage_gb', i.byte_seconds / 1073741824 / 2592000, 'GB-months'),
			(4, 'cpu_requested', i.core_seconds / 3600, 'core-hours'),
			(5, 'memory_requested', i.memory_byte_seconds / 1073741824 / 3600, 'GB-hours')
		   ) AS m(ord, metric, quantity, unit)
	 ORDER BY m.ord;
END
$fn$;

COMMENT ON FUNCTION tenancy.usage(text, timestamptz, timestamptz) IS
	'Usage of a tenant in [from_time, to_time): task runs, compute hours, storage in GB-months (GB = 2^30 bytes, month = 30 days), pod requests; quantities rounded to 6 decimals';

CREATE FUNCTION tenancy.invoice(name text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (line text, quantity numeric, unit text, rate numeric, amount numeric, note text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_spec jsonb;
	v_model text;
	v_reserved numeric;
	v_months numeric;
	v_metric jsonb;
	v_type text;
	v_rate numeric;
	v_used numeric;
	v_unit text;
	v_billable numeric;
	v_total numeric := 0;
BEGIN
	-- checks the arguments and the tenant as usage() does
	PERFORM 1 FROM tenancy.usage(invoice.name, from_time, to_time);
	SELECT t.spec INTO v_spec FROM tenancy.tenants t WHERE t.name = invoice.name;
	v_model := COALESCE(v_spec #>> '{billing,model}', 'fixed');
	v_reserved := COALESCE((v_spec #>> '{resources,database,storage_gb}')::numeric, 0);
	v_months := EXTRACT(epoch FROM to_time - from_time) / 2592000;

	FOR v_metric IN SELECT * FROM pg_catalog.jsonb_array_elements(
						COALESCE(v_spec #> '{billing,metrics}', '[]'))
	LOOP
		v_type := v_metric ->> 'type';
		v_rate := (v_metric ->> 'rate')::numeric;
		SELECT u.quantity, u.unit INTO v_used, v_unit
		  FROM tenancy.usage(invoice.name, from_time, to_time) u WHERE u.metric = v_type;
		line := v_type;
		quantity := v_used;
		unit := v_unit;
		rate := v_rate;
		IF v_model = 'fixed' THEN
			amount := 0;
			note := 'included in the fixed fee';
		ELSIF v_model = 'hybrid' AND v_type = 'storage_gb' THEN
			v_billable := GREATEST(v_used - v_reserved * v_months, 0);
			amount := pg_catalog.round(v_billable * v_rate, 2);
			note := pg_catalog.format('beyond the %s GB reserved by the fixed fee (%s GB-months billable)',
									  v_reserved, pg_catalog.round(v_billable, 6));
		ELSE
			amount := pg_catalog.round(v_used * v_rate, 2);
			note := NULL;
		END IF;
		v_total := v_total + amount;
		RETURN NEXT;
	END LOOP;

	line := 'total';
	quantity := NULL;
	unit := NULL;
	rate := NULL;
	amount := v_total;
	note := CASE v_model
			WHEN 'fixed' THEN 'billing model fixed: usage is reported, the agreed fee is billed outside tenancy'
			WHEN 'hybrid' THEN 'billing model hybrid: the agreed fee, plus the metered amounts above'
			ELSE 'billing model usage_based' END;
	RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION tenancy.invoice(text, timestamptz, timestamptz) IS
	'Invoice lines of a tenant for [from_time, to_time) from the spec''s billing.metrics rates under its billing model (fixed, usage_based, hybrid); amounts rounded to cents per line';

CREATE FUNCTION tenancy.recommendations(name text)
RETURNS TABLE (resource text, quota numeric, average numeric, peak numeric, recommendation text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_spec jsonb;
	v_tenant bigint;
	v_samples bigint;
	v_avg numeric;
	v_max numeric;
	v_resource record;
BEGIN
	SELECT t.tenant_id, t.spec INTO v_tenant, v_spec FROM tenancy.tenants t
	 WHERE t.name = recommendations.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', pg_catalog.left(COALESCE(recommendations.name, ''), 64)
			USING ERRCODE = 'undefined_object';
	END IF;

	FOR v_resource IN
		SELECT * FROM (VALUES
			(1, 'cpu', v_spec #>> '{resources,kubernetes,quotas,requests,cpu}', 'cpu_requested'),
			(2, 'memory', v_spec #>> '{resources,kubernetes,quotas,requests,memory}', 'memory_requested_bytes'),
			(3, 'storage', (v_spec #>> '{resources,database,storage_gb}') || 'Gi', 'storage_bytes')
		) AS r(ord, resource, quota_text, sample_column) ORDER BY r.ord
	LOOP
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.count(s.%1$I), pg_catalog.avg(s.%1$I), pg_catalog.max(s.%1$I) '
			'FROM tenancy.usage_samples s WHERE s.tenant_id = $1 '
			'AND s.sampled_at > pg_catalog.now() - interval ''7 days''', v_resource.sample_column)
		   INTO v_samples, v_avg, v_max USING v_tenant;
		resource := v_resource.resource;
		quota := CASE WHEN v_resource.quota_text IS NULL THEN NULL
					  ELSE tenancy.parse_quantity(v_resource.quota_text)::numeric END;
		average := pg_catalog.round(v_avg, 3);
		peak := pg_catalog.round(v_max, 3);
		recommendation := CASE
			WHEN quota IS NULL THEN 'no quota in the spec'
			WHEN v_samples = 0 THEN 'no samples in the last 7 days: run tenancy.sample_usage()'
			WHEN v_max > quota THEN 'raise the quota: the peak exceeds it'
			WHEN v_max > 0.8 * quota THEN 'raise the quota: the peak is above 80% of it'
			WHEN v_max < 0.3 * quota THEN
				pg_catalog.format('lower the quota: the peak is below 30%% of it (%s leaves 50%% headroom)',
								  pg_catalog.round(v_max * 1.5, 3))
			ELSE 'keep the quota' END;
		RETURN NEXT;
	END LOOP;
END
$fn$;

COMMENT ON FUNCTION tenancy.recommendations(text) IS
	'Quota advice from the last 7 days of usage samples against the spec''s quotas (CPU and memory requests, database storage)';

/* --------------------------------------------------- credential rotation */

CREATE FUNCTION tenancy.rotate_credentials(name text)
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

/* ------------------------------------------------ scheduling, housekeeping */

CREATE FUNCTION tenancy.rotate_due_credentials()
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

CREATE FUNCTION tenancy.purge_history(older_than interval DEFAULT '90 days')
RETURNS TABLE (kind text, purged bigint)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_before timestamptz;
	v_count bigint;
BEGIN
	IF older_than IS NULL OR older_than < interval '1 day' THEN
		RAISE EXCEPTION 'older_than must be at least 1 day'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('It is %s.', COALESCE(older_than::text, 'NULL')),
				  HINT = 'Recent history is what operators look at; keep at least a day of it.';
	END IF;
	v_before := pg_catalog.now() - older_than;

	-- finished operations (their steps go with them), never a tenant's latest
	DELETE FROM tenancy.operations o
	 WHERE o.finished_at < v_before
	   AND o.operation_id <> (SELECT pg_catalog.max(l.operation_id) FROM tenancy.operations l
							   WHERE l.tenant_id = o.tenant_id);
	GET DIAGNOSTICS v_count = ROW_COUNT;
	kind := 'operations';
	purged := v_count;
	RETURN NEXT;

	-- audit runs (their findings go with them), never the latest finished one
	DELETE FROM tenancy.audit_runs r
	 WHERE r.started_at < v_before
	   AND r.run_id <> COALESCE((SELECT pg_catalog.max(l.run_id) FROM tenancy.audit_runs l
								  WHERE l.finished_at IS NOT NULL), 0);
	GET DIAGNOSTICS v_count = ROW_COUNT;
	kind := 'audit_runs';
	purged := v_count;
	RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION tenancy.purge_history(interval) IS
	'Delete finished operations (with their steps) and audit runs (with their findings) older than the interval, keeping each tenant''s latest operation and the latest audit; usage samples are billing records and are kept';

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

CREATE FUNCTION tenancy.schedule_maintenance(
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

CREATE FUNCTION tenancy.unschedule_maintenance()
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
