-- tenancy 0.1.0 -> 0.2.0
--
-- Every catalog change of 0.2.0, in the order of sql/install/: a database
-- upgraded with ALTER EXTENSION tenancy UPDATE ends with the same catalog as
-- a fresh CREATE EXTENSION tenancy VERSION '0.2.0'.

\echo Use "ALTER EXTENSION tenancy UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 16: operations always converge --------------------------------------

ALTER TABLE tenancy.steps ADD COLUMN unreachable_since timestamptz;

COMMENT ON COLUMN tenancy.steps.unreachable_since IS
	'Since when the step''s requests get no answer (refused, reset, timed out); the worker waits that out without using attempts, up to tenancy.unreachable_timeout';

CREATE OR REPLACE FUNCTION tenancy.retry(operation bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_op record;
	v_undone boolean;
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

	-- Compensation undid what the operation made (deleting a namespace
	-- deletes what was in it, whatever its steps say): every step the
	-- worker runs starts over, each idempotent against what exists now
	-- (server-side apply; credentials read back from Vault).  SQL that
	-- ran in the caller's transaction is never undone, and stays done.
	v_undone := v_op.state IN ('compensated', 'failed')
		OR EXISTS (SELECT FROM tenancy.steps c
					WHERE c.operation_id = v_op.operation_id
					  AND c.phase = 'compensation' AND c.state = 'compensated');
	UPDATE tenancy.steps s
	   SET state = 'pending', phase = 'forward', attempts = 0,
		   next_attempt_at = pg_catalog.now(), lease_until = NULL,
		   unreachable_since = NULL,
		   http_status = NULL, last_error = NULL, finished_at = NULL
	 WHERE s.operation_id = v_op.operation_id
	   AND s.state <> 'running'
	   AND NOT (s.phase = 'forward' AND s.state IN ('succeeded', 'skipped')
				AND (NOT v_undone OR s.target IN ('database', 'remote_database')));
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
	'Run a failed, compensated or cancelled operation again: its unfinished steps start over with fresh attempts, and after a compensation every step the worker runs';

