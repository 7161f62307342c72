
/*
 * 30_operations.sql: watching and steering the operations the worker runs.
 *
 * tenancy.status and tenancy.wait show a tenant's latest operation step by
 * step; tenancy.retry and tenancy.cancel are the operator's controls; the
 * views list what is running and what failed.
 */

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

CREATE FUNCTION tenancy.wake_worker()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_wake_worker';

COMMENT ON FUNCTION tenancy.wake_worker() IS
	'Wake the background worker when the current transaction commits';

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

CREATE FUNCTION tenancy.retry(operation bigint)
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

CREATE FUNCTION tenancy.cancel(operation bigint)
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
 * Trust boundary (issue 17): when each tenant's database credentials were
 * last set, kept on the tenant itself so that purge_history cannot make
 * rotation and the audit forget it.  A trigger on steps keeps it: every
 * database_credentials step that succeeds (provision, apply, rotate).
 */
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
