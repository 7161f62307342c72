-- tenancy install script, assembled from the files of sql/install in name order

\echo Use "CREATE EXTENSION tenancy" to load this file. \quit

/*
 * 00_catalog.sql: the catalog that is the source of truth.
 *
 * Tenants hold the desired (normalized) spec and a generation that every
 * change bumps; operations are the provision/apply/deprovision/rotate/audit
 * runs against a tenant; steps are the units of an operation the worker
 * carries out after COMMIT, each in its own short transaction.
 */

-- The only non-superuser role that may call the administrative functions.
-- Roles are cluster-wide: it survives DROP EXTENSION (see README).
DO $do$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'tenancy_admin') THEN
		CREATE ROLE tenancy_admin NOLOGIN;
	END IF;
END
$do$;

CREATE SCHEMA tenancy;
COMMENT ON SCHEMA tenancy IS 'Catalog and functions of the tenancy extension';
REVOKE ALL ON SCHEMA tenancy FROM PUBLIC;
GRANT USAGE ON SCHEMA tenancy TO tenancy_admin;

CREATE TABLE tenancy.tenants (
	tenant_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE
				CHECK (name ~ '^[a-z]([-a-z0-9]*[a-z0-9])?$' AND length(name) <= 40),
	slug		text NOT NULL UNIQUE
				CHECK (slug ~ '^[a-z][_a-z0-9]*$'),
	spec		jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
	generation	bigint NOT NULL DEFAULT 1 CHECK (generation > 0),
	state		text NOT NULL DEFAULT 'provisioning'
				CHECK (state IN ('provisioning', 'ready', 'updating', 'failed',
								 'deprovisioning', 'deprovisioned')),
	server		text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE tenancy.tenants IS
	'One row per tenant: the desired spec (normalized) and its lifecycle state';
COMMENT ON COLUMN tenancy.tenants.name IS
	'DNS-1123 label naming the tenant (namespace airflow-<name>)';
COMMENT ON COLUMN tenancy.tenants.slug IS
	'The name as used in SQL identifiers (acme-corp becomes acme_corp)';
COMMENT ON COLUMN tenancy.tenants.spec IS
	'Desired state: the normalized tenant spec last provisioned or applied';
COMMENT ON COLUMN tenancy.tenants.generation IS
	'Bumped by every provision or apply that changes the spec';
COMMENT ON COLUMN tenancy.tenants.state IS
	'provisioning, ready, updating, failed, deprovisioning or deprovisioned';
COMMENT ON COLUMN tenancy.tenants.server IS
	'Registered warehouse server holding the tenant, NULL for the platform database';

CREATE TABLE tenancy.operations (
	operation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id),
	kind		text NOT NULL
				CHECK (kind IN ('provision', 'apply', 'deprovision', 'rotate',
								'audit', 'usage')),
	generation	bigint NOT NULL CHECK (generation > 0),
	state		text NOT NULL DEFAULT 'pending'
				CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
								 'compensating', 'compensated', 'cancelled')),
	requested_by name NOT NULL DEFAULT session_user,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at	timestamptz,
	finished_at timestamptz,
	error		text,
	CHECK (finished_at IS NULL OR finished_at >= created_at),
	CHECK ((state IN ('succeeded', 'failed', 'compensated', 'cancelled')) =
		   (finished_at IS NOT NULL))
);

CREATE INDEX operations_tenant_idx ON tenancy.operations (tenant_id, operation_id);
CREATE INDEX operations_active_idx ON tenancy.operations (operation_id)
	WHERE state IN ('pending', 'running', 'compensating');

COMMENT ON TABLE tenancy.operations IS
	'Provision, apply, deprovision, rotate and audit runs, one row each';
COMMENT ON COLUMN tenancy.operations.generation IS
	'The tenant generation this operation converges to';
COMMENT ON COLUMN tenancy.operations.requested_by IS
	'Session user that asked for the operation';
COMMENT ON COLUMN tenancy.operations.error IS
	'Why the operation failed or was cancelled';

CREATE TABLE tenancy.steps (
	step_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	operation_id bigint NOT NULL REFERENCES tenancy.operations (operation_id)
				ON DELETE CASCADE,
	ordinal		integer NOT NULL CHECK (ordinal > 0),
	target		text NOT NULL
				CHECK (target IN ('database', 'remote_database', 'kubernetes',
								  'vault', 'grafana', 'helm', 'airflow')),
	action		text NOT NULL,
	object		text NOT NULL,
	request		jsonb NOT NULL DEFAULT '{}'
				CHECK (jsonb_typeof(request) = 'object'),
	compensation jsonb CHECK (compensation IS NULL OR jsonb_typeof(compensation) = 'object'),
	depends_on	integer[] NOT NULL DEFAULT '{}',
	state		text NOT NULL DEFAULT 'pending'
				CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
								 'skipped', 'cancelled', 'compensating',
								 'compensated')),
	attempts	integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	lease_until timestamptz,
	http_status integer CHECK (http_status BETWEEN 100 AND 599),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at	timestamptz,
	finished_at timestamptz,
	phase		text NOT NULL DEFAULT 'forward'
				CHECK (phase IN ('forward', 'compensation')),
	UNIQUE (operation_id, ordinal),
	CHECK (NOT (ordinal = ANY (depends_on))),
	CHECK ((state = 'running') = (lease_until IS NOT NULL))
);

-- What the worker's claim query scans: due pending steps, expired leases.
CREATE INDEX steps_due_idx ON tenancy.steps (next_attempt_at)
	WHERE state = 'pending';
CREATE INDEX steps_lease_idx ON tenancy.steps (lease_until)
	WHERE state = 'running';
CREATE INDEX steps_compensating_idx ON tenancy.steps (operation_id)
	WHERE state = 'compensating';

COMMENT ON TABLE tenancy.steps IS
	'Units of work of an operation, run by the background worker after COMMIT';
COMMENT ON COLUMN tenancy.steps.ordinal IS
	'Position of the step in its operation, as planned';
COMMENT ON COLUMN tenancy.steps.target IS
	'Where the step acts: database, remote_database, kubernetes, vault, grafana, helm or airflow';
COMMENT ON COLUMN tenancy.steps.request IS
	'What the step sends (method, path, body); never holds a secret';
COMMENT ON COLUMN tenancy.steps.compensation IS
	'The request that undoes the step when its operation fails, if any';
COMMENT ON COLUMN tenancy.steps.depends_on IS
	'Ordinals of the steps of the same operation that must succeed first';
COMMENT ON COLUMN tenancy.steps.next_attempt_at IS
	'When a pending step becomes due (backoff after a failed attempt)';
COMMENT ON COLUMN tenancy.steps.lease_until IS
	'While running: when the claim expires and the step may run again';
COMMENT ON COLUMN tenancy.steps.http_status IS
	'HTTP status of the last attempt, if the step made a request';
COMMENT ON COLUMN tenancy.steps.last_error IS
	'Error of the last failed attempt';
COMMENT ON COLUMN tenancy.steps.phase IS
	'forward while the step runs its request; compensation once its operation failed and the step is being undone';

-- Keep the catalog in pg_dump output (extension tables are skipped otherwise).
SELECT pg_catalog.pg_extension_config_dump('tenancy.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.operations', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.steps', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.tenants_tenant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.operations_operation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.steps_step_id_seq', '');

GRANT SELECT ON tenancy.tenants, tenancy.operations, tenancy.steps TO tenancy_admin;

/* 01_info.sql: what is installed */

CREATE FUNCTION tenancy.version()
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_version';

COMMENT ON FUNCTION tenancy.version() IS
	'Version of the loaded tenancy library (may differ from the extension version until ALTER EXTENSION UPDATE)';

/*
 * 10_spec.sql: the tenant spec.  parse_spec reads YAML (1.2 core schema) or
 * JSON; validate lists every problem by JSON path; normalize_spec fills the
 * defaults (README, "Tenant spec").  provision and apply call all three.
 */

CREATE FUNCTION tenancy.parse_spec(spec text)
RETURNS jsonb
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_parse_spec';

COMMENT ON FUNCTION tenancy.parse_spec(text) IS
	'Parse a tenant spec written in YAML (1.2 core schema) or JSON into jsonb; errors name the line and column';

CREATE FUNCTION tenancy.validate(spec jsonb)
RETURNS TABLE (path text, message text)
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_validate';

COMMENT ON FUNCTION tenancy.validate(jsonb) IS
	'Every problem of a tenant spec, each with its JSON path; no rows means the spec is valid';

CREATE FUNCTION tenancy.normalize_spec(spec jsonb)
RETURNS jsonb
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_normalize_spec';

COMMENT ON FUNCTION tenancy.normalize_spec(jsonb) IS
	'A valid tenant spec with every default filled in (the form tenancy.tenants stores); raises 22023 for an invalid spec';

/*
 * 20_tenants.sql: the database side of a tenant.  plan/provision/apply/
 * deprovision run in the caller's transaction (src/provision.c); shared
 * tables under row-level security (src/rls.c); views for DBAs.
 *
 * plan/provision/apply/deprovision run with jit = off: their statements
 * are small, but once the catalog holds thousands of tenants some cost
 * estimates pass jit_above_cost, and compiling them took longer than
 * provisioning (tenant #2,000 cost 1.9x tenant #1, 1.0x without JIT).
 */

CREATE FUNCTION tenancy.plan(name text, spec jsonb)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text)
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan';

COMMENT ON FUNCTION tenancy.plan(text, jsonb) IS
	'What provision (new tenant) or apply (existing tenant) would do, in order; nothing is executed';

CREATE FUNCTION tenancy.provision(name text, spec jsonb)
RETURNS bigint
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_provision';

COMMENT ON FUNCTION tenancy.provision(text, jsonb) IS
	'Create a tenant in the caller''s transaction and enqueue its platform steps; returns the operation id';

CREATE FUNCTION tenancy.provision(name text, spec text)
RETURNS bigint
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_provision_text';

COMMENT ON FUNCTION tenancy.provision(text, text) IS
	'provision() with the spec as YAML or JSON text';

CREATE FUNCTION tenancy.apply(name text, spec jsonb)
RETURNS bigint
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_apply';

COMMENT ON FUNCTION tenancy.apply(text, jsonb) IS
	'Create a tenant or converge it to a changed spec, touching only what changed; NULL when nothing changed';

CREATE FUNCTION tenancy.apply(name text, spec text)
RETURNS bigint
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_apply_text';

COMMENT ON FUNCTION tenancy.apply(text, text) IS
	'apply() with the spec as YAML or JSON text';

CREATE FUNCTION tenancy.deprovision(name text, drop_data boolean DEFAULT false)
RETURNS bigint
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_deprovision';

COMMENT ON FUNCTION tenancy.deprovision(text, boolean) IS
	'Disable the tenant''s logins and remove its roles; schemas and data kept unless drop_data; platform deletions enqueued';

CREATE FUNCTION tenancy.current_tenant()
RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_current_tenant';

COMMENT ON FUNCTION tenancy.current_tenant() IS
	'Tenant of the current role, from membership in the tenant''s group roles; NULL when none (never from a setting)';

CREATE FUNCTION tenancy.share_table(tbl regclass, tenant_column name)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_share_table';

COMMENT ON FUNCTION tenancy.share_table(regclass, name) IS
	'Share a table between tenants: FORCE row-level security, one policy on the tenant column, an index on it';

CREATE FUNCTION tenancy.unshare_table(tbl regclass)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_unshare_table';

COMMENT ON FUNCTION tenancy.unshare_table(regclass) IS
	'Undo share_table: drop its policy and index, and row-level security when no other policy remains';

CREATE VIEW tenancy.tenant_summary AS
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
	   t.updated_at
  FROM tenancy.tenants t;

COMMENT ON VIEW tenancy.tenant_summary IS
	'Tenants with their state and a summary of their spec (tier, environment, schema prefix, placement)';

CREATE VIEW tenancy.operation_steps AS
SELECT o.operation_id,
	   t.name AS tenant,
	   o.kind,
	   o.state AS operation_state,
	   s.ordinal,
	   s.target,
	   s.action,
	   s.object,
	   s.state,
	   s.attempts,
	   s.http_status,
	   s.last_error,
	   s.depends_on,
	   s.finished_at
  FROM tenancy.operations o
  JOIN tenancy.tenants t USING (tenant_id)
  JOIN tenancy.steps s USING (operation_id);

COMMENT ON VIEW tenancy.operation_steps IS
	'Operations and their steps, one row per step, with the tenant name';

GRANT SELECT ON tenancy.tenant_summary, tenancy.operation_steps TO tenancy_admin;

/*
 * 30_operations.sql: watching and steering the operations the worker runs.
 *
 * tenancy.status and tenancy.wait show a tenant's latest operation step by
 * step; tenancy.retry and tenancy.cancel are the operator's controls; the
 * views list what is running and what failed.
 */

CREATE FUNCTION tenancy.wake_worker()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_wake_worker';

COMMENT ON FUNCTION tenancy.wake_worker() IS
	'Wake the background worker when the current transaction commits';

CREATE FUNCTION tenancy.status(name text)
RETURNS TABLE (operation_id bigint, kind text, operation_state text,
			   ordinal integer, target text, action text, object text,
			   state text, phase text, attempts integer, http_status integer,
			   last_error text, started_at timestamptz, finished_at timestamptz)
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
		   s.started_at, s.finished_at
	  FROM tenancy.operations o
	  LEFT JOIN tenancy.steps s ON s.operation_id = o.operation_id
	 WHERE o.operation_id = (SELECT max(l.operation_id) FROM tenancy.operations l
							  WHERE l.tenant_id = v_tenant)
	 ORDER BY s.ordinal;
END
$fn$;

COMMENT ON FUNCTION tenancy.status(text) IS
	'Steps of the tenant''s latest operation, with their state, attempts and last error';

CREATE FUNCTION tenancy.wait(name text, timeout interval DEFAULT '5 min')
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
			   o.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())
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
			RETURN v_op_state;
		END IF;
		IF clock_timestamp() >= v_deadline THEN
			RAISE EXCEPTION 'timed out waiting for operation % of tenant "%"', v_op, wait.name
				USING ERRCODE = 'query_canceled',
					  DETAIL = format('The operation is still %s after %s.', v_op_state, timeout),
					  HINT = 'Call tenancy.status to see which step it waits for.';
		END IF;
		PERFORM pg_catalog.pg_sleep(0.05);
	END LOOP;
END
$fn$;

COMMENT ON FUNCTION tenancy.wait(text, interval) IS
	'Block until the tenant''s latest operation ends, with a NOTICE per step state change; returns the final state';

CREATE FUNCTION tenancy.retry(operation bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_op record;
BEGIN
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

	UPDATE tenancy.steps s
	   SET state = 'pending', phase = 'forward', attempts = 0,
		   next_attempt_at = pg_catalog.now(), lease_until = NULL,
		   http_status = NULL, last_error = NULL, finished_at = NULL
	 WHERE s.operation_id = v_op.operation_id
	   AND NOT (s.phase = 'forward' AND s.state IN ('succeeded', 'skipped'));
	UPDATE tenancy.operations o
	   SET state = 'pending', error = NULL, started_at = NULL, finished_at = NULL
	 WHERE o.operation_id = v_op.operation_id;
	UPDATE tenancy.tenants t
	   SET state = CASE v_op.kind WHEN 'provision' THEN 'provisioning'
								  WHEN 'apply' THEN 'updating'
								  ELSE 'deprovisioning' END,
		   updated_at = pg_catalog.now()
	 WHERE t.tenant_id = v_op.tenant_id
	   AND v_op.kind IN ('provision', 'apply', 'deprovision');
	PERFORM tenancy.wake_worker();
	RETURN v_op.operation_id;
END
$fn$;

COMMENT ON FUNCTION tenancy.retry(bigint) IS
	'Run a failed, compensated or cancelled operation again: its unfinished steps start over with fresh attempts';

CREATE FUNCTION tenancy.cancel(operation bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_op record;
BEGIN
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

	UPDATE tenancy.steps s
	   SET state = 'cancelled', finished_at = pg_catalog.now(),
		   last_error = 'cancelled by ' || session_user
	 WHERE s.operation_id = v_op.operation_id
	   AND s.state IN ('pending', 'compensating');
	UPDATE tenancy.operations o
	   SET state = 'cancelled', finished_at = pg_catalog.now(),
		   error = coalesce(o.error || '; ', '') || 'cancelled by ' || session_user
	 WHERE o.operation_id = v_op.operation_id;
	UPDATE tenancy.tenants t
	   SET state = 'failed', updated_at = pg_catalog.now()
	 WHERE t.tenant_id = v_op.tenant_id
	   AND v_op.kind IN ('provision', 'apply', 'deprovision');
	RETURN v_op.operation_id;
END
$fn$;

COMMENT ON FUNCTION tenancy.cancel(bigint) IS
	'Stop an operation: steps not yet started are cancelled, requests in flight finish; nothing is undone';

CREATE VIEW tenancy.running_operations AS
SELECT o.operation_id, t.name AS tenant, o.kind, o.state, o.requested_by,
	   o.created_at, o.started_at,
	   count(s.step_id) FILTER (WHERE s.state IN ('succeeded', 'skipped', 'compensated')) AS steps_done,
	   count(s.step_id) AS steps_total,
	   count(s.step_id) FILTER (WHERE s.attempts > 1 AND s.state IN ('pending', 'running', 'compensating')) AS steps_retrying
  FROM tenancy.operations o
  JOIN tenancy.tenants t ON t.tenant_id = o.tenant_id
  LEFT JOIN tenancy.steps s ON s.operation_id = o.operation_id
 WHERE o.state IN ('pending', 'running', 'compensating')
 GROUP BY o.operation_id, t.name;

COMMENT ON VIEW tenancy.running_operations IS
	'Operations not finished yet, with how many of their steps are done';

CREATE VIEW tenancy.failed_steps AS
SELECT t.name AS tenant, o.operation_id, o.kind, o.state AS operation_state,
	   s.ordinal, s.target, s.action, s.object, s.phase, s.attempts,
	   s.http_status, s.last_error, s.finished_at
  FROM tenancy.steps s
  JOIN tenancy.operations o ON o.operation_id = s.operation_id
  JOIN tenancy.tenants t ON t.tenant_id = o.tenant_id
 WHERE s.state = 'failed';

COMMENT ON VIEW tenancy.failed_steps IS
	'Steps that failed for good (forward or compensation), with their last error';

GRANT SELECT ON tenancy.running_operations, tenancy.failed_steps TO tenancy_admin;

/*
 * 40_servers.sql: placement.  A registry of the PostgreSQL servers that
 * hold tenants' warehouses (src/servers.c), and the view of how many
 * tenants each one holds.  The worker runs the SQL of a tenant placed on a
 * server through libpq (src/remote.c); provision places a tenant whose
 * spec names no host on the accepting server with the fewest tenants.
 */

CREATE TABLE tenancy.servers (
	name		text PRIMARY KEY
				CHECK (name ~ '^[a-z]([-a-z0-9]*[a-z0-9])?$' AND length(name) <= 63),
	conninfo	text NOT NULL
				CHECK (length(conninfo) <= 2048),
	max_connections integer NOT NULL DEFAULT 4
				CHECK (max_connections BETWEEN 1 AND 64),
	accepting_tenants boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE tenancy.servers IS
	'Warehouse servers: PostgreSQL servers the worker reaches through libpq to hold tenants';
COMMENT ON COLUMN tenancy.servers.name IS
	'Name of the server, as tenancy.tenants.server and warehouse.database.host may give it';
COMMENT ON COLUMN tenancy.servers.conninfo IS
	'libpq connection string without a password (passfile, service file or certificates); its dbname is the maintenance database';
COMMENT ON COLUMN tenancy.servers.max_connections IS
	'Most connections the worker keeps open to this server (one per database in use)';
COMMENT ON COLUMN tenancy.servers.accepting_tenants IS
	'Whether provision may place new tenants here; false drains the server';

SELECT pg_catalog.pg_extension_config_dump('tenancy.servers', '');

CREATE INDEX tenants_server_idx ON tenancy.tenants (server) WHERE server IS NOT NULL;

CREATE FUNCTION tenancy.register_server(name text, conninfo text,
										max_connections integer DEFAULT 4,
										accepting_tenants boolean DEFAULT true)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_register_server';

COMMENT ON FUNCTION tenancy.register_server(text, text, integer, boolean) IS
	'Register a warehouse server (or change a registered one): a libpq conninfo without a password';

CREATE FUNCTION tenancy.drop_server(name text)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_drop_server';

COMMENT ON FUNCTION tenancy.drop_server(text) IS
	'Remove a warehouse server from the registry; refused while tenants live on it';

CREATE VIEW tenancy.server_load AS
SELECT s.name AS server, s.conninfo, s.accepting_tenants, s.max_connections,
	   count(t.tenant_id) FILTER (WHERE t.state <> 'deprovisioned') AS tenants,
	   count(t.tenant_id) FILTER (WHERE t.state = 'deprovisioned') AS deprovisioned_tenants,
	   s.created_at
  FROM tenancy.servers s
  LEFT JOIN tenancy.tenants t ON t.server = s.name
 GROUP BY s.name;

COMMENT ON VIEW tenancy.server_load IS
	'Registered warehouse servers with the number of tenants each holds (placement picks the fewest)';

GRANT SELECT ON tenancy.servers, tenancy.server_load TO tenancy_admin;

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
	UNIQUE (tenant_id, sampled_at)
);

COMMENT ON TABLE tenancy.usage_samples IS
	'Metering: per tenant and sample, storage, task runs and compute since the previous sample, and pod requests';
COMMENT ON COLUMN tenancy.usage_samples.storage_bytes IS
	'Bytes of the tenant''s schemas (tables, indexes, TOAST) when sampled; NULL for tenants on another server';
COMMENT ON COLUMN tenancy.usage_samples.task_runs IS
	'Runs of <prefix>audit.pipeline_runs that ended since the tenant''s previous sample';
COMMENT ON COLUMN tenancy.usage_samples.compute_seconds IS
	'Sum of end_time - start_time of those runs';
COMMENT ON COLUMN tenancy.usage_samples.cpu_requested IS
	'CPU cores requested by the running pods of the tenant''s namespace (set by the worker; NULL until then)';
COMMENT ON COLUMN tenancy.usage_samples.memory_requested_bytes IS
	'Memory requested by the running pods of the tenant''s namespace (set by the worker; NULL until then)';

SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_runs', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_findings', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.usage_samples', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.audit_findings_finding_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.usage_samples_sample_id_seq', '');

GRANT SELECT ON tenancy.audit_runs, tenancy.audit_findings, tenancy.usage_samples
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
	'Schemas (purpose: layer), roles (owner, writer, reader, login) and namespace the planner derives for each tenant, or one; local is false for tenants on another server';

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
	v_runs bigint;
	v_seconds numeric;
	v_sample bigint;
	v_operation bigint;
	v_platform boolean := COALESCE(pg_catalog.current_setting('tenancy.kubernetes_url', true), '') <> '';
	v_count integer := 0;
BEGIN
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
		v_since := (SELECT pg_catalog.max(s.sampled_at) FROM tenancy.usage_samples s
					 WHERE s.tenant_id = v_tenant.tenant_id);
		v_storage := NULL;
		v_runs := NULL;
		v_seconds := NULL;
		IF v_tenant.local THEN
			SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_total_relation_size(c.oid)), 0)
			  INTO v_storage
			  FROM pg_catalog.pg_class c
			  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			 WHERE n.nspname = ANY (v_tenant.schemas::name[]) AND c.relkind IN ('r', 'm');
			IF pg_catalog.to_regclass(pg_catalog.format('%I.pipeline_runs', v_tenant.audit_schema)) IS NOT NULL THEN
				EXECUTE pg_catalog.format(
					'SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(GREATEST(0, '
					'EXTRACT(epoch FROM r.end_time - r.start_time))), 0) '
					'FROM %I.pipeline_runs r WHERE r.end_time IS NOT NULL '
					'AND r.end_time <= $2 AND ($1 IS NULL OR r.end_time > $1)',
					v_tenant.audit_schema)
				   INTO v_runs, v_seconds USING v_since, v_now;
			END IF;
		END IF;
		INSERT INTO tenancy.usage_samples (tenant_id, sampled_at, storage_bytes, task_runs, compute_seconds)
		VALUES (v_tenant.tenant_id, v_now, v_storage, v_runs, v_seconds)
		RETURNING sample_id INTO v_sample;

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
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.sample_usage() IS
	'Record a usage sample per tenant: storage of its schemas, pipeline runs and compute since the previous sample; pod requests through the worker';

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
	SELECT t.tenant_id, t.state, t.generation INTO v_tenant
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

	-- the planner's own credentials step, as it last ran for this tenant
	SELECT s.target, s.request INTO v_credentials
	  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
	 WHERE o.tenant_id = v_tenant.tenant_id AND s.phase = 'forward' AND s.state = 'succeeded'
	   AND s.request ->> 'handler' = 'database_credentials'
	 ORDER BY s.finished_at DESC LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" has no database credentials to rotate', rotate_credentials.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'No database_credentials step of the tenant has succeeded: its platform side was never provisioned.',
				  HINT = 'Configure tenancy.vault_url and tenancy.kubernetes_url, then run tenancy.apply with the stored spec.';
	END IF;
	-- and its Airflow release, when Flux manages it
	SELECT s.request ->> 'path' AS path INTO v_release
	  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
	 WHERE o.tenant_id = v_tenant.tenant_id AND s.phase = 'forward' AND s.state = 'succeeded'
	   AND s.request ->> 'method' = 'PATCH' AND s.request ->> 'path' ~ '/helmreleases/[^/]+$'
	 ORDER BY s.finished_at DESC LIMIT 1;

	INSERT INTO tenancy.operations (tenant_id, kind, generation)
	VALUES (v_tenant.tenant_id, 'rotate', v_tenant.generation)
	RETURNING operation_id INTO v_operation;
	-- 1. new passwords: Vault (a new version), the SCRAM verifiers, the Secrets
	INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request)
	VALUES (v_operation, 1, v_credentials.target, 'rotate', 'database credentials',
			v_credentials.request || pg_catalog.jsonb_build_object('rotation', v_operation::text));
	-- 2. a rollout of Airflow's pods, which read the Secrets at start
	IF v_release.path IS NOT NULL THEN
		INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, depends_on)
		VALUES (v_operation, 2, 'kubernetes', 'rollout', 'helmrelease ' || v_release.path,
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
		SELECT t.name FROM tenancy.tenants t
		 WHERE t.state = 'ready'
		   AND (SELECT pg_catalog.max(s.finished_at)
				  FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)
				 WHERE o.tenant_id = t.tenant_id AND s.state = 'succeeded' AND s.phase = 'forward'
				   AND s.request ->> 'handler' = 'database_credentials') < pg_catalog.now() - v_max_age
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

CREATE FUNCTION tenancy.schedule_maintenance(
	audit_schedule text DEFAULT '17 3 * * *',
	usage_schedule text DEFAULT '7 * * * *',
	rotation_schedule text DEFAULT '37 4 * * *',
	purge_schedule text DEFAULT '47 5 * * 0',
	history_retention interval DEFAULT '90 days')
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_job record;
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
	'Register tenancy''s periodic jobs with pg_cron (audit daily, usage hourly, credential rotation check daily, history purge weekly); idempotent, schedules overridable';

CREATE FUNCTION tenancy.unschedule_maintenance()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_count integer := 0;
	v_job text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RETURN 0;
	END IF;
	FOR v_job IN EXECUTE 'SELECT jobname FROM cron.job WHERE jobname = ANY ($1)'
		USING ARRAY['tenancy-audit', 'tenancy-usage', 'tenancy-rotation', 'tenancy-purge']
	LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING v_job;
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$fn$;

COMMENT ON FUNCTION tenancy.unschedule_maintenance() IS
	'Remove the pg_cron jobs tenancy.schedule_maintenance registered; returns how many';

/*
 * 99_grants.sql: who may call what.  Runs last, so it covers every function
 * the fragments before it created: nothing in schema tenancy is executable
 * by PUBLIC; tenancy_admin gets everything.  Functions that tenant roles must
 * reach (the row-level-security helper) are granted explicitly below.
 */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenancy FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tenancy TO tenancy_admin;

-- The registry of warehouse servers is superuser-only: a connection string
-- decides which of the server's files the worker reads (passfile, service,
-- sslkey, sslcert) and where it sends the passwords of its password file
-- (tenancy.remote_passfile), so whoever registers a server could collect
-- them or probe the network from the server.  The functions check it too.
REVOKE EXECUTE ON FUNCTION tenancy.register_server(text, text, integer, boolean),
	tenancy.drop_server(text) FROM tenancy_admin;

-- Row-level security policies of shared tables call it as the tenant's
-- roles (they still have no USAGE on schema tenancy: nothing else is reachable).
GRANT EXECUTE ON FUNCTION tenancy.current_tenant() TO PUBLIC;
