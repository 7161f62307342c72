/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  The worker's journal: claim due steps, record results, finish or
 *	  compensate operations.
 *
 * Each entry point runs one short transaction of its own, with parameterised,
 * schema-qualified statements prepared once per worker (the plan cache
 * re-plans them after DROP/CREATE EXTENSION).  No function here performs
 * network I/O.  The worker's pass (JournalRunPass) records the outcomes of
 * every attempt that ended since the last pass and claims the next steps
 * in one transaction, which commits before any of those steps starts; the
 * requests then run with no transaction open.
 *
 * Step life cycle (forward phase):
 *	 pending --claim--> running --outcome--> succeeded | skipped
 *										   | pending (retry, backoff)
 *										   | failed (operation fails)
 * Attempts count what was sent: a claim counts one for a plain request
 * (sent right after the claim commits), JournalStepStarted one for a
 * handler or SQL step when it starts; a poll ("not ready yet") and a
 * request the service could not serve (no answer, 408, 429, 5xx) give
 * theirs back, the latter for up to tenancy.unreachable_timeout.
 * When an operation fails, every step with a compensation whose request
 * may have acted (succeeded; failed without a refusal; waiting to retry;
 * or in flight, when it comes back) moves to phase 'compensation', state
 * compensating, and the other pending steps are cancelled; compensations
 * run one at a time in reverse order of completion and end compensated
 * (or failed).  The operation then ends compensated, or failed if a
 * compensation failed too.  A tenant's provisions, applies and
 * deprovisions run one after another (EARLIER_CONVERGE_DONE).
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "journal.h"
#include "tenancy.h"

/* The statements of the journal, prepared once each. */
typedef enum JournalStatement
{
	CLAIM_FORWARD,
	CLAIM_FORWARD_IN,
	CLAIM_COMPENSATION,
	START_OPERATIONS,
	NEXT_DUE,
	REQUEUE_EXPIRED,
	EXPIRED_EXHAUSTED,
	RENEW_LEASES,
	RECORD_OUTCOMES,
	FAIL_OPERATION,
	FINISH_OPERATIONS,
	STUCK_OPERATIONS,
	FAIL_STUCK_STEPS,
	STEP_STARTED,
	ORPHAN_OPERATIONS,
	SETTLE_ORPHANS,
	EXPIRED_STEPS,
	LOCK_TENANTS_OF_STEPS,
	LOCK_TENANTS_OF_OPERATIONS,
	RECORD_CREATED,
	N_JOURNAL_STATEMENTS
} JournalStatement;

typedef struct JournalSql
{
	const char *sql;
	int			nargs;
	Oid			argtypes[9];
} JournalSql;

/* Columns every claim returns, in ClaimedStep order. */
#define CLAIM_RETURNING \
	"RETURNING s.step_id, s.operation_id, s.ordinal, s.attempts, " \
	"          s.phase = 'compensation', s.target, s.action, s.object, " \
	"          (CASE s.phase WHEN 'compensation' THEN s.compensation " \
	"                        ELSE s.request END)::text, " \
	"          (SELECT pg_catalog.string_agg(u.o::text, ', ') " \
	"             FROM pg_catalog.unnest(s.depends_on) AS u(o) " \
	"            WHERE NOT EXISTS (SELECT FROM tenancy.steps d " \
	"                               WHERE d.operation_id = s.operation_id " \
	"                                 AND d.ordinal = u.o)), " \
	"          " COUNTED_AT_CLAIM("s") ", " \
	"          (pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() " \
	"                                - s.unreachable_since) * 1000)::bigint, " \
	"          " STEP_HANDLER("s") " IS NOT NULL, s.started_at"

/* The handler a step's request (or compensation) names, NULL for none. */
#define STEP_HANDLER(s) \
	"((CASE " s ".phase WHEN 'compensation' THEN " s ".compensation" \
	"        ELSE " s ".request END) OPERATOR(pg_catalog.->>) 'handler')"

/*
 * Whether a claim counts an attempt of the step: a plain request, and the
 * two handlers that do no more than a few requests of their own (k8s_apply,
 * validate), which the worker starts right after the claim commits, before
 * any other step.  The other handlers, local SQL, remote SQL and helm steps
 * may wait behind other steps first; their attempt is counted when they
 * start (JournalStepStarted), so that a worker killed before it got there
 * uses none of their attempts.  k8s_apply and validate are most of a
 * provision's steps (18 and the polls of 22): counting them here saves a
 * transaction, and a synchronous commit, per step (JournalRunPass flushes
 * once for the whole claim instead).
 */
#define COUNTED_AT_CLAIM(s) \
	"(" s ".target NOT IN ('database', 'remote_database', 'helm')" \
	" AND COALESCE(" STEP_HANDLER(s) ", '')" \
	"     IN ('', 'k8s_apply', 'validate'))"

/*
 * The tenant's converge operations (provision, apply, deprovision) run one
 * after another, in the order they were requested: a step of one is not
 * claimed while an earlier one of the same tenant is unfinished, or was
 * cancelled with a request still in flight.  (An apply requested during a
 * provision therefore starts when the provision has ended, and a
 * deprovision once the requests of the operations it cancelled are back.)
 */
#define CONVERGE_KINDS "('provision', 'apply', 'deprovision')"
#define EARLIER_CONVERGE_DONE(o) \
	"(" o ".kind NOT IN " CONVERGE_KINDS \
	" OR NOT EXISTS (SELECT FROM tenancy.operations p" \
	"                 WHERE p.tenant_id = " o ".tenant_id" \
	"                   AND p.operation_id < " o ".operation_id" \
	"                   AND p.kind IN " CONVERGE_KINDS \
	"                   AND (p.state IN ('pending', 'running', 'compensating')" \
	"                        OR (p.state = 'cancelled'" \
	"                            AND EXISTS (SELECT FROM tenancy.steps r" \
	"                                         WHERE r.operation_id = p.operation_id" \
	"                                           AND r.state = 'running')))))"

/*
 * Steps whose failure leaves nothing behind: SQL runs in a transaction of
 * its own (here, or on the tenant's server), rolled back on error.
 */
#define SQL_TARGETS "('database', 'remote_database')"

/*
 * Claim due forward steps whose dependencies are done.  The scan follows
 * steps_due_idx in next_attempt_at order and stops as soon as LIMIT steps
 * are locked: the dependency test is written as a per-row subplan (the OR
 * keeps the planner from turning it into an anti-join that reads every
 * step), so the cost is that of the rows looked at, not of the queue.
 * Steps waiting for their dependencies are still looked at; that is why the
 * worker claims from the whole queue only when something new may be due
 * (a wake-up, a timer), and otherwise only among the operations whose
 * steps just finished (CLAIM_FORWARD_IN).  That claim goes through the
 * operations in order (the (operation_id, ordinal) index), so that when it
 * fills its limit, every operation before the last one it claimed from has
 * nothing more to give and leaves the set.
 */
#define CLAIM_FORWARD_SQL(restriction, order) \
	"WITH due AS (" \
	"  SELECT s.step_id FROM tenancy.steps s" \
	"    JOIN tenancy.operations o ON o.operation_id = s.operation_id" \
	"   WHERE s.state = 'pending'" \
	"     AND s.next_attempt_at <= pg_catalog.clock_timestamp()" \
	"     AND o.state IN ('pending', 'running')" \
	restriction \
	"     AND " EARLIER_CONVERGE_DONE("o") \
	"     AND (s.depends_on = '{}'" \
	"          OR NOT EXISTS (SELECT FROM tenancy.steps d" \
	"                          WHERE d.operation_id = s.operation_id" \
	"                            AND d.ordinal = ANY (s.depends_on)" \
	"                            AND d.state NOT IN ('succeeded', 'skipped')))" \
	"   ORDER BY " order \
	"   LIMIT $1" \
	"   FOR NO KEY UPDATE OF o SKIP LOCKED" \
	"   FOR UPDATE OF s SKIP LOCKED)" \
	" UPDATE tenancy.steps s" \
	"    SET state = 'running'," \
	"        attempts = s.attempts + CASE WHEN " COUNTED_AT_CLAIM("s") \
	"                                     THEN 1 ELSE 0 END," \
	"        lease_until = pg_catalog.clock_timestamp()" \
	"                      + pg_catalog.make_interval(secs => $2)," \
	"        started_at = coalesce(s.started_at, pg_catalog.clock_timestamp())" \
	"   FROM due WHERE s.step_id = due.step_id " \
	CLAIM_RETURNING

/* A step that waits for a dependency which is not done (yet, or ever). */
#define STEP_WAITS(s) \
	"EXISTS (SELECT FROM tenancy.steps d" \
	"         WHERE d.operation_id = " s ".operation_id" \
	"           AND d.ordinal = ANY (" s ".depends_on)" \
	"           AND d.state NOT IN ('succeeded', 'skipped'))"

/*
 * A step left pending (or compensating) by an operation that ended or
 * stopped running forward (or stopped compensating).
 */
#define STEP_ORPHANED(s, o) \
	"((" s ".state = 'pending' AND " o ".state NOT IN ('pending', 'running'))" \
	" OR (" s ".state = 'compensating' AND " o ".state <> 'compensating'))"

static const JournalSql journal_sql[N_JOURNAL_STATEMENTS] = {
	[CLAIM_FORWARD] = {
		CLAIM_FORWARD_SQL("", "s.next_attempt_at"),
		2, {INT4OID, INT4OID}
	},
	[CLAIM_FORWARD_IN] = {
		CLAIM_FORWARD_SQL("     AND s.operation_id = ANY ($3)",
						  "s.operation_id, s.ordinal"),
		3, {INT4OID, INT4OID, INT8ARRAYOID}
	},
	[CLAIM_COMPENSATION] = {
		"WITH due AS ("
		"  SELECT s.step_id FROM tenancy.steps s"
		"    JOIN tenancy.operations o ON o.operation_id = s.operation_id"
		"   WHERE s.state = 'compensating'"
		"     AND s.next_attempt_at <= pg_catalog.clock_timestamp()"
		"     AND o.state = 'compensating'"
		"     AND NOT EXISTS (SELECT FROM tenancy.steps l"
		"                      WHERE l.operation_id = s.operation_id"
		"                        AND (l.state = 'running'"
		"                             OR (l.state = 'compensating'"
		"                                 AND (coalesce(l.finished_at, l.created_at), l.ordinal)"
		"                                   > (coalesce(s.finished_at, s.created_at), s.ordinal))))"
		"   ORDER BY s.next_attempt_at, s.step_id"
		"   LIMIT $1"
		"   FOR NO KEY UPDATE OF o SKIP LOCKED"
		"   FOR UPDATE OF s SKIP LOCKED)"
		" UPDATE tenancy.steps s"
		"    SET state = 'running',"
		"        attempts = s.attempts + CASE WHEN " COUNTED_AT_CLAIM("s")
		"                                     THEN 1 ELSE 0 END,"
		"        lease_until = pg_catalog.clock_timestamp()"
		"                      + pg_catalog.make_interval(secs => $2)"
		"   FROM due WHERE s.step_id = due.step_id "
		CLAIM_RETURNING,
		2, {INT4OID, INT4OID}
	},
	[START_OPERATIONS] = {
		"UPDATE tenancy.operations"
		"   SET state = 'running',"
		"       started_at = coalesce(started_at, pg_catalog.clock_timestamp())"
		" WHERE operation_id = ANY ($1) AND state = 'pending'",
		1, {INT8ARRAYOID}
	},
	[NEXT_DUE] = {
		"SELECT LEAST("
		"  (SELECT pg_catalog.min(next_attempt_at) FROM tenancy.steps"
		"    WHERE state = 'pending'"
		"      AND next_attempt_at > pg_catalog.clock_timestamp()),"
		"  (SELECT pg_catalog.min(next_attempt_at) FROM tenancy.steps"
		"    WHERE state = 'compensating'"
		"      AND next_attempt_at > pg_catalog.clock_timestamp()),"
		"  (SELECT pg_catalog.min(lease_until) FROM tenancy.steps"
		"    WHERE state = 'running'"
		"      AND lease_until > pg_catalog.clock_timestamp()))",
		0, {0}
	},
	[REQUEUE_EXPIRED] = {
		"UPDATE tenancy.steps s"
		"   SET state = CASE s.phase WHEN 'forward' THEN 'pending'"
		"                            ELSE 'compensating' END,"
		"       lease_until = NULL,"
		"       next_attempt_at = pg_catalog.clock_timestamp(),"
		"       last_error = 'the worker stopped before recording the result of attempt '"
		"                    || s.attempts || ' (lease expired)'"
		" WHERE s.state = 'running'"
		"   AND ($1 OR s.lease_until < pg_catalog.clock_timestamp())"
		"   AND s.step_id <> ALL ($2)"
		"   AND s.attempts < $3"
		"   AND s.step_id = ANY ($4)",
		4, {BOOLOID, INT8ARRAYOID, INT4OID, INT8ARRAYOID}
	},
	[RENEW_LEASES] = {
		"UPDATE tenancy.steps"
		"   SET lease_until = pg_catalog.clock_timestamp()"
		"                     + pg_catalog.make_interval(secs => $2)"
		" WHERE step_id = ANY ($1) AND state = 'running'",
		2, {INT8ARRAYOID, INT4OID}
	},
	[EXPIRED_EXHAUSTED] = {
		"SELECT s.step_id, s.operation_id, s.ordinal, s.attempts,"
		"       s.phase = 'compensation', s.target, s.action, s.object,"
		"       NULL::text, NULL::text, true, NULL::bigint, false, s.started_at"
		"  FROM tenancy.steps s"
		" WHERE s.state = 'running'"
		"   AND ($1 OR s.lease_until < pg_catalog.clock_timestamp())"
		"   AND s.step_id <> ALL ($2)"
		"   AND s.attempts >= $3"
		"   AND s.step_id = ANY ($4)",
		4, {BOOLOID, INT8ARRAYOID, INT4OID, INT8ARRAYOID}
	},

	/*
	 * The outcomes of many attempts at once, one array element each: step,
	 * attempt, new state, HTTP status, error, retry delay (NULL when the step
	 * is done), whether the attempt is given back (a readiness poll that
	 * found "not ready yet", or a platform that did not answer: neither uses
	 * one of tenancy.max_attempts), and whether the platform did not answer
	 * (unreachable_since starts, or goes on).
	 *
	 * The operation may have failed while the attempt ran.  Then a forward
	 * request or handler step with a compensation whose attempt may have
	 * acted (outcome_may_have_acted) is compensated like a succeeded one; any
	 * other forward step that would be retried is cancelled: no pass claims
	 * pending steps of a compensating operation.  A retry of a step whose
	 * operation was cancelled ends the step.  A step that is no longer
	 * running under that attempt (its lease expired and it was requeued) is
	 * left alone: it is missing from what the statement returns.
	 */
	[RECORD_OUTCOMES] = {
		"WITH r AS ("
		"  SELECT r.*, o.state = 'compensating' AND s.phase = 'forward'"
		"              AND s.compensation IS NOT NULL"
		"              AND s.target NOT IN " SQL_TARGETS
		"              AND r.acted AND r.new_state IN ('succeeded', 'pending', 'failed') AS undo,"
		"         o.state AS op_state"
		"    FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"                    pg_catalog.unnest($3), pg_catalog.unnest($4),"
		"                    pg_catalog.unnest($5), pg_catalog.unnest($6),"
		"                    pg_catalog.unnest($7), pg_catalog.unnest($8),"
		"                    pg_catalog.unnest($9))"
		"           AS r(step_id, attempt, new_state, http_status, error, retry_ms,"
		"                given_back, unreachable, acted)"
		"    JOIN tenancy.steps s ON s.step_id = r.step_id"
		"    JOIN tenancy.operations o ON o.operation_id = s.operation_id)"
		" UPDATE tenancy.steps s"
		"   SET state = CASE"
		"         WHEN r.undo THEN 'compensating'"
		"         WHEN r.new_state = 'pending' AND r.op_state = 'compensating' THEN 'cancelled'"
		"         WHEN r.new_state IN ('pending', 'compensating')"
		"              AND r.op_state = 'cancelled' THEN 'cancelled'"
		"         ELSE r.new_state END,"
		"       phase = CASE WHEN r.undo THEN 'compensation' ELSE s.phase END,"
		"       attempts = CASE WHEN r.undo THEN 0"
		"                       WHEN r.given_back THEN pg_catalog.int4larger(s.attempts - 1, 0)"
		"                       ELSE s.attempts END,"
		"       unreachable_since = CASE WHEN r.unreachable AND NOT r.undo"
		"         THEN coalesce(s.unreachable_since, pg_catalog.clock_timestamp()) END,"
		"       lease_until = NULL,"
		"       http_status = r.http_status,"
		"       last_error = r.error,"
		"       next_attempt_at = CASE"
		"         WHEN r.undo THEN pg_catalog.clock_timestamp()"
		"         WHEN r.retry_ms IS NULL THEN s.next_attempt_at"
		"         ELSE pg_catalog.clock_timestamp()"
		"              + pg_catalog.make_interval(secs => r.retry_ms / 1000.0) END,"
		"       finished_at = CASE"
		"         WHEN r.undo THEN pg_catalog.clock_timestamp()"
		"         WHEN r.retry_ms IS NULL OR r.op_state IN ('cancelled', 'compensating')"
		"         THEN pg_catalog.clock_timestamp() ELSE s.finished_at END"
		"  FROM r"
		" WHERE s.step_id = r.step_id AND s.state = 'running' AND s.attempts = r.attempt"
		" RETURNING s.step_id, s.operation_id, s.state",
		9, {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		INT8ARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID}
	},

	/*
	 * An operation fails: its steps not run yet are cancelled, and every step
	 * with a compensation whose request may have acted is undone: those that
	 * succeeded, the failed step $3 when its failure was no refusal (no
	 * answer, a transient error, or the worker stopping each time: the object
	 * may exist), and requests waiting to retry an attempt that was sent. SQL
	 * steps roll back when they fail: only their successes are undone.
	 */
	[FAIL_OPERATION] = {
		"WITH op AS ("
		"  UPDATE tenancy.operations SET state = 'compensating', error = $2"
		"   WHERE operation_id = $1 AND state IN ('pending', 'running')"
		"  RETURNING operation_id),"
		" undo AS ("
		"  SELECT s.step_id FROM tenancy.steps s, op"
		"   WHERE s.operation_id = op.operation_id AND s.phase = 'forward'"
		"     AND s.compensation IS NOT NULL"
		"     AND (s.state = 'succeeded'"
		"          OR (s.target NOT IN " SQL_TARGETS
		"              AND (s.step_id = $3"
		"                   OR (s.state = 'pending'"
		"                       AND (s.attempts > 0 OR s.unreachable_since IS NOT NULL)))))),"
		" cancelled AS ("
		"  UPDATE tenancy.steps s SET state = 'cancelled',"
		"         finished_at = pg_catalog.clock_timestamp(),"
		"         last_error = 'not run: the operation failed'"
		"    FROM op WHERE s.operation_id = op.operation_id"
		"     AND s.state = 'pending'"
		"     AND s.step_id NOT IN (SELECT step_id FROM undo))"
		" UPDATE tenancy.steps s"
		"    SET state = 'compensating', phase = 'compensation', attempts = 0,"
		"        next_attempt_at = pg_catalog.clock_timestamp(),"
		"        finished_at = coalesce(s.finished_at, pg_catalog.clock_timestamp()),"
		"        unreachable_since = NULL, http_status = NULL, last_error = NULL"
		"   FROM undo WHERE s.step_id = undo.step_id",
		3, {INT8OID, TEXTOID, INT8OID}
	},

	/*
	 * End the given operations that have nothing left to run; their tenants
	 * follow the latest of them, unless a later provision, apply or
	 * deprovision of the tenant exists (it decides the tenant's state when it
	 * ends).
	 */
	[FINISH_OPERATIONS] = {
		"WITH op AS ("
		"  UPDATE tenancy.operations o"
		"     SET state = CASE o.state"
		"           WHEN 'compensating' THEN"
		"             CASE WHEN EXISTS (SELECT FROM tenancy.steps f"
		"                                WHERE f.operation_id = o.operation_id"
		"                                  AND f.phase = 'compensation'"
		"                                  AND f.state = 'failed')"
		"                  THEN 'failed' ELSE 'compensated' END"
		"           ELSE 'succeeded' END,"
		"         finished_at = pg_catalog.clock_timestamp()"
		"   WHERE o.operation_id = ANY ($1)"
		"     AND o.state IN ('pending', 'running', 'compensating')"
		"     AND NOT EXISTS (SELECT FROM tenancy.steps s"
		"                      WHERE s.operation_id = o.operation_id"
		"                        AND (s.state IN ('pending', 'running', 'compensating')"
		"                             OR (o.state <> 'compensating'"
		"                                 AND s.state NOT IN ('succeeded', 'skipped'))))"
		"  RETURNING o.operation_id, o.tenant_id, o.kind, o.state),"
		" latest AS ("
		"  SELECT DISTINCT ON (op.tenant_id) op.* FROM op"
		"   ORDER BY op.tenant_id, op.operation_id DESC),"
		" tenant AS ("
		"  UPDATE tenancy.tenants t"
		"     SET state = CASE WHEN latest.state <> 'succeeded' THEN 'failed'"
		"                      WHEN latest.kind = 'deprovision' THEN 'deprovisioned'"
		"                      ELSE 'ready' END,"
		"         updated_at = pg_catalog.now()"
		"    FROM latest"
		"   WHERE t.tenant_id = latest.tenant_id"
		"     AND latest.kind IN " CONVERGE_KINDS
		"     AND NOT EXISTS (SELECT FROM tenancy.operations n"
		"                      WHERE n.tenant_id = latest.tenant_id"
		"                        AND n.operation_id > latest.operation_id"
		"                        AND n.kind IN " CONVERGE_KINDS "))"
		" SELECT op.operation_id, op.kind, op.state,"
		"        (SELECT n.name FROM tenancy.tenants n WHERE n.tenant_id = op.tenant_id)"
		"   FROM op ORDER BY op.operation_id",
		1, {INT8ARRAYOID}
	},

	/*
	 * A step that waited for its turn starts: count its attempt (the claim
	 * did not, COUNTED_AT_CLAIM) and renew its lease.
	 */
	[STEP_STARTED] = {
		"UPDATE tenancy.steps"
		"   SET attempts = attempts + 1,"
		"       lease_until = pg_catalog.clock_timestamp()"
		"                     + pg_catalog.make_interval(secs => $2)"
		" WHERE step_id = $1 AND state = 'running' AND attempts = $3"
		" RETURNING attempts",
		3, {INT8OID, INT4OID, INT4OID}
	},

	/*
	 * Steps left pending (or compensating) by operations that ended or
	 * stopped running forward (by a writer other than the journal, or by an
	 * earlier version): cancelled, so that every operation reaches a final
	 * state; their operations are then finished.
	 */
	[ORPHAN_OPERATIONS] = {
		"SELECT DISTINCT s.operation_id FROM tenancy.steps s"
		"  JOIN tenancy.operations o ON o.operation_id = s.operation_id"
		" WHERE " STEP_ORPHANED("s", "o"),
		0, {0}
	},
	[SETTLE_ORPHANS] = {
		"UPDATE tenancy.steps s"
		"   SET state = 'cancelled', finished_at = pg_catalog.clock_timestamp(),"
		"       last_error = coalesce(s.last_error || '; ', '')"
		"                    || 'not run: the operation is ' || o.state"
		"  FROM tenancy.operations o"
		" WHERE o.operation_id = s.operation_id AND o.operation_id = ANY ($1)"
		"   AND " STEP_ORPHANED("s", "o")
		" RETURNING s.operation_id",
		1, {INT8ARRAYOID}
	},

	/* Steps left running whose lease expired (or all, at startup). */
	[EXPIRED_STEPS] = {
		"SELECT s.step_id FROM tenancy.steps s"
		" WHERE s.state = 'running'"
		"   AND ($1 OR s.lease_until < pg_catalog.clock_timestamp())"
		"   AND s.step_id <> ALL ($2)",
		2, {BOOLOID, INT8ARRAYOID}
	},

	/*
	 * The lock order (doc/architecture.md, "The journal"): a transaction that
	 * changes a tenant's operations or steps locks the tenant's row first.
	 * provision, apply, deprovision, retry, cancel and rotation do; the
	 * worker does it with these two statements before it records outcomes or
	 * settles steps, in tenant_id order.  (The claims take no tenant lock:
	 * they skip the operations and steps others hold.)
	 */
	[LOCK_TENANTS_OF_STEPS] = {
		"SELECT t.tenant_id FROM tenancy.tenants t"
		" WHERE t.tenant_id IN (SELECT o.tenant_id FROM tenancy.steps s"
		"                         JOIN tenancy.operations o ON o.operation_id = s.operation_id"
		"                        WHERE s.step_id = ANY ($1))"
		" ORDER BY t.tenant_id"
		"   FOR NO KEY UPDATE OF t",
		1, {INT8ARRAYOID}
	},
	[LOCK_TENANTS_OF_OPERATIONS] = {
		"SELECT t.tenant_id FROM tenancy.tenants t"
		" WHERE t.tenant_id IN (SELECT o.tenant_id FROM tenancy.operations o"
		"                        WHERE o.operation_id = ANY ($1))"
		" ORDER BY t.tenant_id"
		"   FOR NO KEY UPDATE OF t",
		1, {INT8ARRAYOID}
	},

	/*
	 * Operations that can never finish: steps are pending, none is running,
	 * and every pending step waits for a step that is not done.  Nothing the
	 * worker does will change that, so their dependencies form a cycle (or
	 * wait for a step that ended without succeeding).
	 */
	[STUCK_OPERATIONS] = {
		"SELECT o.operation_id,"
		"       (SELECT pg_catalog.string_agg(p.ordinal::text, ', ' ORDER BY p.ordinal)"
		"          FROM tenancy.steps p"
		"         WHERE p.operation_id = o.operation_id AND p.state = 'pending')"
		"  FROM tenancy.operations o"
		" WHERE o.state IN ('pending', 'running')"
		"   AND EXISTS (SELECT FROM tenancy.steps p"
		"                WHERE p.operation_id = o.operation_id AND p.state = 'pending')"
		"   AND NOT EXISTS (SELECT FROM tenancy.steps r"
		"                    WHERE r.operation_id = o.operation_id"
		"                      AND (r.state = 'running'"
		"                           OR (r.state = 'pending' AND NOT " STEP_WAITS("r") ")))",
		0, {0}
	},
	[FAIL_STUCK_STEPS] = {
		"UPDATE tenancy.steps s"
		"   SET state = 'failed', finished_at = pg_catalog.clock_timestamp(),"
		"       last_error = $2"
		" WHERE s.operation_id = $1 AND s.state = 'pending'",
		2, {INT8OID, TEXTOID}
	},

	/*
	 * The uids of the objects attempts created (StepRecordCreated), for the
	 * tenants of their operations; the last one of a path wins.
	 */
	[RECORD_CREATED] = {
		"INSERT INTO tenancy.platform_objects (tenant_id, path, uid)"
		" SELECT DISTINCT ON (o.tenant_id, c.path) o.tenant_id, c.path, c.uid"
		"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"                   pg_catalog.unnest($3)) WITH ORDINALITY"
		"        AS c(operation_id, path, uid, n)"
		"   JOIN tenancy.operations o ON o.operation_id = c.operation_id"
		"  ORDER BY o.tenant_id, c.path, c.n DESC"
		" ON CONFLICT (tenant_id, path) DO UPDATE"
		"   SET uid = EXCLUDED.uid, created_at = pg_catalog.now()",
		3, {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID}
	},
};

static SPIPlanPtr journal_plans[N_JOURNAL_STATEMENTS];

/*
 * Operations whose forward steps may have become due because one of their
 * steps finished: the next claims look there first (CLAIM_FORWARD_IN).  A
 * superset is harmless; an operation leaves the set once a claim among the
 * set came back short of its limit.
 */
static int64 *due_operations = NULL;
static int	n_due_operations = 0;
static int	max_due_operations = 0;

static void journal_begin(const char *activity);
static void journal_commit(void);
static int	journal_execute(JournalStatement which, Datum *values,
							const char *nulls, long count);
static Datum int8_array_datum(const int64 *values, int n);

static void add_due_operation(int64 operation_id);
static void forget_due_operations_before(List *claimed);
static ClaimedStep *claimed_step_from_tuple(HeapTuple tuple, TupleDesc desc);
static int	claim_into(JournalStatement which, int max_steps,
					   MemoryContext result_cxt, List **claimed);
static void claim_steps(JournalPass *pass);
static const char *outcome_state(const ClaimedStep *step,
								 const StepOutcome *outcome,
								 int64 *retry_ms, char **message,
								 bool *given_back);
static bool outcome_may_have_acted(const StepOutcome *outcome);
static void record_outcomes(List *finished, int64 *min_retry_ms);
static void record_created(List *finished);
static void fail_stuck_operations(void);
static void finish_operations(const int64 *ops, int n_ops);
static void log_attempt(const ClaimedStep *step, const StepOutcome *outcome,
						const char *state, const char *message);
static void settle_orphans(void);
static int64 *first_column_int64(int *n);
static void lock_tenants(JournalStatement which, const int64 *ids, int n);

/*
 * Set when a provision, apply or deprovision ended since the last pass:
 * the next operation of its tenant may be due (EARLIER_CONVERGE_DONE).
 */
static bool converge_ended = false;

/*
 * journal_begin
 *		Start a short transaction of the worker, with SPI and a snapshot.
 */
static void
journal_begin(const char *activity)
{
	WorkerXactBegin(activity);
}

/*
 * journal_commit
 *		Commit the transaction journal_begin started and report statistics.
 */
static void
journal_commit(void)
{
	WorkerXactCommit();
}

/*
 * journal_execute
 *		Run one of the journal's statements, preparing it on first use.
 *
 * The plans are kept for the life of the worker.  The plan cache checks
 * them before each use and re-plans from the statement's text when a table
 * they use was dropped and created again (DROP/CREATE EXTENSION), or its
 * statistics changed.  Plans are generic: planning a custom plan for each
 * execution would cost more than executing these statements, and their
 * plans do not depend on the values (the claims follow an index either way).
 */
static int
journal_execute(JournalStatement which, Datum *values, const char *nulls,
				long count)
{
	int			rc;

	if (journal_plans[which] == NULL)
	{
		const JournalSql *stmt = &journal_sql[which];
		SPIPlanPtr	plan;

		plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, (Oid *) stmt->argtypes,
								  CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "could not prepare journal statement %d: %s",
				 (int) which, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep journal statement %d", (int) which);
		journal_plans[which] = plan;
	}
	rc = SPI_execute_plan(journal_plans[which], values, nulls, false, count);
	if (rc < 0)
		elog(ERROR, "journal statement %d failed: %s",
			 (int) which, SPI_result_code_string(rc));
	return rc;
}

/*
 * JournalArrayDatum
 *		A one-dimensional array datum of a built-in type, NULLs allowed.
 */
Datum
JournalArrayDatum(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1];
	int			lbs[1];
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = n;
	lbs[0] = 1;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/*
 * int8_array_datum
 *		A bigint[] datum from a C array (possibly empty).
 */
static Datum
int8_array_datum(const int64 *values, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return JournalArrayDatum(elems, NULL, n, INT8OID);
}

/*
 * add_due_operation
 *		Remember that steps of an operation may have become due.
 */
static void
add_due_operation(int64 operation_id)
{
	int			i;

	for (i = 0; i < n_due_operations; i++)
		if (due_operations[i] == operation_id)
			return;
	if (n_due_operations == max_due_operations)
	{
		max_due_operations = Max(64, max_due_operations * 2);
		due_operations = due_operations == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(int64) * max_due_operations)
			: repalloc(due_operations, sizeof(int64) * max_due_operations);
	}
	due_operations[n_due_operations++] = operation_id;
}

/*
 * forget_due_operations_before
 *		After a claim among the due operations filled its limit: the claim
 *		went through them in order, so those before the last operation it
 *		claimed from have no due step left.
 */
static void
forget_due_operations_before(List *claimed)
{
	int64		last = PG_INT64_MIN;
	ListCell   *lc;
	int			i;
	int			kept = 0;

	foreach(lc, claimed)
		last = Max(last, ((ClaimedStep *) lfirst(lc))->operation_id);
	for (i = 0; i < n_due_operations; i++)
		if (due_operations[i] >= last)
			due_operations[kept++] = due_operations[i];
	n_due_operations = kept;
}

/*
 * JournalHasDueOperations
 *		Did steps finish whose operations may have steps due now?
 */
bool
JournalHasDueOperations(void)
{
	return n_due_operations > 0;
}

/*
 * JournalForgetDueOperations
 *		Forget the operations remembered by add_due_operation (after an
 *		error: the next claim looks at every due step instead).
 */
void
JournalForgetDueOperations(void)
{
	n_due_operations = 0;
}

/*
 * claimed_step_from_tuple
 *		Copy one row returned by a claim into a ClaimedStep, in the current
 *		memory context.  The last column names dependencies that do not
 *		exist: such a step is malformed, and the caller fails it.
 */
static ClaimedStep *
claimed_step_from_tuple(HeapTuple tuple, TupleDesc desc)
{
	ClaimedStep *step = palloc0(sizeof(ClaimedStep));
	bool		isnull;
	char	   *missing;
	Datum		d;

	step->step_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	step->operation_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	step->ordinal = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
	step->attempt = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
	step->compensation = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
	step->target = SPI_getvalue(tuple, desc, 6);
	step->action = SPI_getvalue(tuple, desc, 7);
	step->object = SPI_getvalue(tuple, desc, 8);
	step->request = SPI_getvalue(tuple, desc, 9);
	missing = SPI_getvalue(tuple, desc, 10);
	step->counted = DatumGetBool(SPI_getbinval(tuple, desc, 11, &isnull));
	d = SPI_getbinval(tuple, desc, 12, &isnull);
	step->unreachable_ms = isnull ? -1 : DatumGetInt64(d);
	step->handler = DatumGetBool(SPI_getbinval(tuple, desc, 13, &isnull));
	d = SPI_getbinval(tuple, desc, 14, &isnull);
	step->started_at = isnull ? 0 : DatumGetTimestampTz(d);
	if (missing != NULL)
		step->malformed = psprintf("depends on step %s, which the operation does not have",
								   missing);
	return step;
}

/*
 * claim_into
 *		Run one claim statement and append its steps to *claimed.
 */
static int
claim_into(JournalStatement which, int max_steps, MemoryContext result_cxt,
		   List **claimed)
{
	Datum		values[3];
	MemoryContext old;
	uint64		i;

	values[0] = Int32GetDatum(max_steps);
	values[1] = Int32GetDatum(tenancy_lease_duration_s);
	if (which == CLAIM_FORWARD_IN)
		values[2] = int8_array_datum(due_operations, n_due_operations);
	journal_execute(which, values, NULL, 0);

	old = MemoryContextSwitchTo(result_cxt);
	for (i = 0; i < SPI_processed; i++)
		*claimed = lappend(*claimed,
						   claimed_step_from_tuple(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc));
	MemoryContextSwitchTo(old);
	return (int) SPI_processed;
}

/*
 * claim_steps
 *		Claim up to pass->max_claim steps: first among the operations whose
 *		steps just finished, then (when asked) among all due steps, then
 *		compensations.  Marks the operations of new claims running.
 */
static void
claim_steps(JournalPass *pass)
{
	int			budget = pass->max_claim;
	int			n;
	int			before_all;

	if (n_due_operations > 0)
	{
		n = claim_into(CLAIM_FORWARD_IN, budget, pass->result_cxt, &pass->claimed);
		if (n < budget)
			n_due_operations = 0;
		else
			forget_due_operations_before(pass->claimed);
		budget -= n;
	}

	before_all = list_length(pass->claimed);
	if (pass->claim_all && budget > 0)
	{
		n = claim_into(CLAIM_FORWARD, budget, pass->result_cxt, &pass->claimed);
		pass->more_due = (n == budget);
		budget -= n;
	}
	else if (pass->claim_all)
		pass->more_due = true;

	if (budget > 0)
		budget -= claim_into(CLAIM_COMPENSATION, budget, pass->result_cxt,
							 &pass->claimed);
	if (budget == 0)
		pass->more_due = true;

	/* the first step of an operation starts it */
	if (list_length(pass->claimed) > before_all)
	{
		int64	   *ops = palloc(sizeof(int64) * list_length(pass->claimed));
		int			i = 0;
		ListCell   *lc;
		Datum		values[1];

		for_each_from(lc, pass->claimed, before_all)
			ops[i++] = ((ClaimedStep *) lfirst(lc))->operation_id;
		values[0] = int8_array_datum(ops, i);
		journal_execute(START_OPERATIONS, values, NULL, 0);
	}

	if (pass->claim_all && !pass->more_due)
	{
		bool		isnull;
		Datum		d;

		journal_execute(NEXT_DUE, NULL, NULL, 1);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
		if (!isnull)
			pass->next_due = DatumGetTimestampTz(d);
	}
}

/*
 * JournalRunPass
 *		One short transaction: record the outcomes of finished attempts,
 *		claim due steps under a lease, commit.  Nothing is claimed, and
 *		nothing recorded, when the extension is not installed.
 */
void
JournalRunPass(JournalPass *pass)
{
	ListCell   *lc;

	pass->claimed = NIL;
	pass->next_due = 0;
	pass->more_due = false;

	journal_begin(pass->max_claim > 0
				  ? "tenancy worker: recording results and claiming due steps"
				  : "tenancy worker: recording results");
	pass->ready = WorkerLockExtension();
	if (pass->ready)
	{
		int64		min_retry_ms = -1;

		if (pass->finished != NIL)
			record_outcomes(pass->finished, &min_retry_ms);
		if (pass->max_claim > 0)
			claim_steps(pass);

		/*
		 * A retry recorded here is due at its own time, whatever kind of pass
		 * comes next: the worker's timer must know it (else it would wait for
		 * tenancy.poll_interval).
		 */
		if (min_retry_ms >= 0)
		{
			TimestampTz retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   min_retry_ms);

			if (pass->next_due == 0 || retry_at < pass->next_due)
				pass->next_due = retry_at;
		}
	}
	else
		n_due_operations = 0;
	journal_commit();
	pass->converge_ended = converge_ended;
	converge_ended = false;

	/*
	 * The worker's commits are asynchronous; a handler whose attempt this
	 * claim counted must not start before that count is on disk, or a handler
	 * that kills the worker would be retried without end (see
	 * JournalStepStarted).  One flush for all of them.
	 */
	foreach(lc, pass->claimed)
	{
		ClaimedStep *step = (ClaimedStep *) lfirst(lc);

		if (step->counted && step->handler)
		{
			XLogFlush(XactLastCommitEnd);
			break;
		}
	}
}

/*
 * JournalStepStarted
 *		A claimed step whose attempt the claim did not count (a handler
 *		other than k8s_apply and validate, local or remote SQL: it may have
 *		waited behind other steps, COUNTED_AT_CLAIM) is
 *		about to start: count the attempt and renew the lease, committed
 *		(synchronously: a step that kills the worker must use its attempts
 *		up even when the server restarts) before the step does anything.
 *		Updates step->attempt; false when the step is no longer ours.
 */
bool
JournalStepStarted(ClaimedStep *step)
{
	Datum		values[3];
	bool		ours = false;

	journal_begin("tenancy worker: starting a step");
	if (WorkerLockExtension())
	{
		bool		isnull;

		values[0] = Int64GetDatum(step->step_id);
		values[1] = Int32GetDatum(tenancy_lease_duration_s);
		values[2] = Int32GetDatum(step->attempt);
		journal_execute(STEP_STARTED, values, NULL, 0);
		if (SPI_processed == 1)
		{
			step->attempt = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc,
														1, &isnull));
			step->counted = true;
			ours = true;
		}
	}
	journal_commit();
	/* the worker's commits are asynchronous: wait for this one's WAL */
	if (ours)
		XLogFlush(XactLastCommitEnd);
	return ours;
}

/*
 * settle_orphans
 *		SETTLE_ORPHANS, and finish the operations it touched.
 */
static void
settle_orphans(void)
{
	int64	   *candidates;
	int64	   *ops;
	int			n_candidates;
	int			n = 0;
	uint64		i;

	journal_execute(ORPHAN_OPERATIONS, NULL, NULL, 0);
	candidates = first_column_int64(&n_candidates);
	if (n_candidates == 0)
		return;
	lock_tenants(LOCK_TENANTS_OF_OPERATIONS, candidates, n_candidates);
	{
		Datum		values[1] = {int8_array_datum(candidates, n_candidates)};

		journal_execute(SETTLE_ORPHANS, values, NULL, 0);
	}
	if (SPI_processed == 0)
		return;
	ops = palloc(sizeof(int64) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		op = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1,
													 &isnull));
		int			j;

		for (j = 0; j < n && ops[j] != op; j++)
			;
		if (j == n)
			ops[n++] = op;
	}
	ereport(LOG,
			(errmsg("tenancy worker cancelled " UINT64_FORMAT " steps left pending by %d operations that had stopped running",
					SPI_processed, n)));
	finish_operations(ops, n);
}

/*
 * first_column_int64
 *		The bigint first column of the rows the last statement returned.
 */
static int64 *
first_column_int64(int *n)
{
	int64	   *values = palloc(sizeof(int64) * Max(SPI_processed, 1));
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		values[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	}
	*n = (int) SPI_processed;
	return values;
}

/*
 * lock_tenants
 *		Lock the rows of the tenants of the given steps or operations
 *		(LOCK_TENANTS_OF_STEPS, LOCK_TENANTS_OF_OPERATIONS), in tenant_id
 *		order, before changing their steps or operations: the one lock
 *		order every writer of the journal follows.  A deprovision, cancel
 *		or retry holding a tenant is waited for here, before the worker
 *		holds any row of that tenant's, so neither can be the other's
 *		deadlock victim.
 */
static void
lock_tenants(JournalStatement which, const int64 *ids, int n)
{
	Datum		values[1];

	if (n == 0)
		return;
	values[0] = int8_array_datum(ids, n);
	journal_execute(which, values, NULL, 0);
}

/*
 * JournalMaintain
 *		Make steps left running by a dead worker due again, failing those
 *		that used up their attempts (a step that kills the worker every time
 *		must not keep it in a crash loop); fail operations that can never
 *		finish.  Returns how many steps became due.
 */
int
JournalMaintain(bool all_running, const int64 *in_flight, int n_in_flight)
{
	Datum		values[4];
	int			requeued = 0;
	int64	   *expired;
	int			n_expired;
	List	   *exhausted = NIL;
	ListCell   *lc;
	uint64		i;

	journal_begin("tenancy worker: requeueing expired leases");
	if (!WorkerLockExtension())
	{
		journal_commit();
		return 0;
	}
	values[0] = BoolGetDatum(all_running);
	values[1] = int8_array_datum(in_flight, n_in_flight);
	journal_execute(EXPIRED_STEPS, values, NULL, 0);
	expired = first_column_int64(&n_expired);
	if (n_expired > 0)
	{
		lock_tenants(LOCK_TENANTS_OF_STEPS, expired, n_expired);
		values[2] = Int32GetDatum(tenancy_max_attempts);
		values[3] = int8_array_datum(expired, n_expired);
		journal_execute(REQUEUE_EXPIRED, values, NULL, 0);
		requeued = (int) SPI_processed;

		journal_execute(EXPIRED_EXHAUSTED, values, NULL, 0);
		for (i = 0; i < SPI_processed; i++)
			exhausted = lappend(exhausted,
								claimed_step_from_tuple(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc));
	}
	if (exhausted != NIL)
	{
		List	   *finished = NIL;
		int64		no_retry_ms = -1;	/* failures: nothing to retry */

		foreach(lc, exhausted)
		{
			ClaimedStep *step = lfirst(lc);
			FinishedStep *done = palloc0(sizeof(FinishedStep));

			done->step = step;
			done->outcome.kind = STEP_OUTCOME_FAILED;
			done->outcome.may_have_acted = true;
			done->outcome.message = psprintf("gave up after %d attempts: the worker stopped before recording a result each time",
											 step->attempt);
			finished = lappend(finished, done);
		}
		record_outcomes(finished, &no_retry_ms);
	}

	fail_stuck_operations();
	settle_orphans();
	journal_commit();

	if (requeued > 0 || exhausted != NIL)
		ereport(LOG,
				(errmsg("tenancy worker requeued %d steps left running, failed %d that used up their attempts",
						requeued, list_length(exhausted))));
	return requeued;
}

/*
 * JournalRenewLeases
 *		Extend the leases of steps this worker holds (claimed and not
 *		started yet, in flight, or finished and not recorded yet) by
 *		tenancy.lease_duration from now, in a short transaction.
 */
void
JournalRenewLeases(const int64 *step_ids, int n_steps)
{
	Datum		values[2];

	if (n_steps == 0)
		return;
	journal_begin("tenancy worker: renewing leases");
	if (WorkerLockExtension())
	{
		values[0] = int8_array_datum(step_ids, n_steps);
		values[1] = Int32GetDatum(tenancy_lease_duration_s);
		journal_execute(RENEW_LEASES, values, NULL, 0);
	}
	journal_commit();
}

/*
 * fail_stuck_operations
 *		Fail the operations whose pending steps can never become due (a
 *		dependency cycle such as 2 -> 3 -> 2): their steps fail with a
 *		message naming them, and compensation starts.
 */
static void
fail_stuck_operations(void)
{
	int64	   *ops;
	char	  **ordinals;
	int			n;
	int			i;

	journal_execute(STUCK_OPERATIONS, NULL, NULL, 0);
	n = (int) SPI_processed;
	if (n == 0)
		return;
	ops = palloc(sizeof(int64) * n);
	ordinals = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		ops[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
		ordinals[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}

	lock_tenants(LOCK_TENANTS_OF_OPERATIONS, ops, n);
	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		char	   *why;

		why = psprintf("steps %s can never run: their dependencies form a cycle or wait for a step that did not succeed",
					   ordinals[i]);
		values[0] = Int64GetDatum(ops[i]);
		values[1] = CStringGetTextDatum(why);
		values[2] = Int64GetDatum(0);
		journal_execute(FAIL_STUCK_STEPS, values, NULL, 0);
		journal_execute(FAIL_OPERATION, values, NULL, 0);
		finish_operations(&ops[i], 1);
		ereport(LOG,
				(errmsg("tenancy worker failed operation " INT64_FORMAT ": %s",
						ops[i], why)));
	}
}

/*
 * JournalRetryDelayMs
 *		Exponential backoff with jitter: the n-th retry waits a random time
 *		between half and all of base * 2^(n-1), capped; never less than what
 *		the server asked for with Retry-After (capped the same way).
 */
int64
JournalRetryDelayMs(int attempt, int64 retry_after_ms)
{
	double		delay = tenancy_retry_base_delay_ms;
	int			i;

	for (i = 1; i < attempt && delay < tenancy_retry_max_delay_ms; i++)
		delay *= 2;
	delay = Min(delay, (double) tenancy_retry_max_delay_ms);
	delay = delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2;
	if (retry_after_ms > delay)
		delay = (double) retry_after_ms;
	return (int64) Min(delay, (double) tenancy_retry_max_delay_ms);
}

/*
 * outcome_state
 *		The state an attempt's outcome moves its step to; *retry_ms is set to
 *		the delay before the next attempt, or -1 when the step is done;
 *		*message to the error to record.
 */
static const char *
outcome_state(const ClaimedStep *step, const StepOutcome *outcome,
			  int64 *retry_ms, char **message, bool *given_back)
{
	*retry_ms = -1;
	*given_back = false;
	*message = outcome->message;
	switch (outcome->kind)
	{
		case STEP_OUTCOME_SUCCEEDED:
			return step->compensation ? "compensated" : "succeeded";
		case STEP_OUTCOME_SKIPPED:
			return step->compensation ? "compensated" : "skipped";
		case STEP_OUTCOME_RETRY:
			if (outcome->poll)
			{
				/*
				 * "not ready yet": the handler keeps its own deadline and
				 * paces its polls (HandlerPollDelayMs, from 100 ms)
				 */
				*given_back = true;
				*retry_ms = outcome->retry_after_ms > 0 ? outcome->retry_after_ms
					: (int64) tenancy_retry_base_delay_ms;
				return step->compensation ? "compensating" : "pending";
			}
			if (outcome->unreachable)
			{
				int64		down_ms = Max(step->unreachable_ms, 0);

				if (down_ms < (int64) tenancy_unreachable_timeout_s * 1000)
				{
					*given_back = true;
					*retry_ms = Max(JournalUnreachableDelayMs(down_ms),
									Min(outcome->retry_after_ms,
										(int64) tenancy_retry_max_delay_ms));
					return step->compensation ? "compensating" : "pending";
				}
				*message = psprintf("gave up after %d s of no answer or transient errors (tenancy.unreachable_timeout): %s",
									(int) (down_ms / 1000),
									*message ? *message : "no error text");
				return "failed";
			}
			if (step->attempt < tenancy_max_attempts)
			{
				*retry_ms = JournalRetryDelayMs(step->attempt,
												outcome->retry_after_ms);
				return step->compensation ? "compensating" : "pending";
			}
			*message = psprintf("gave up after %d attempts: %s", step->attempt,
								*message ? *message : "no error text");
			return "failed";
		case STEP_OUTCOME_FAILED:
			break;
	}
	return "failed";
}

/*
 * JournalUnreachableDelayMs
 *		When to try a platform that has not answered for down_ms again:
 *		half of that time (so the tries thin out as an outage goes on),
 *		between tenancy.retry_base_delay and tenancy.retry_max_delay, with
 *		jitter.
 */
int64
JournalUnreachableDelayMs(int64 down_ms)
{
	double		delay = Max((double) down_ms / 2, (double) tenancy_retry_base_delay_ms);

	delay = Min(delay, (double) tenancy_retry_max_delay_ms);
	delay = delay / 2 + pg_prng_double(&pg_global_prng_state) * delay / 2;
	return (int64) delay;
}

/*
 * outcome_may_have_acted
 *		Whether an attempt with this outcome may have changed something: it
 *		succeeded, or it ended without a refusal (no answer, a transient
 *		error, the worker stopping before it recorded a result).  A
 *		permanent failure (a 4xx, a handler's refusal, a malformed step)
 *		changed nothing; a skipped step did nothing.
 */
static bool
outcome_may_have_acted(const StepOutcome *outcome)
{
	return outcome->kind == STEP_OUTCOME_SUCCEEDED ||
		outcome->kind == STEP_OUTCOME_RETRY || outcome->may_have_acted;
}

/*
 * record_outcomes
 *		Record the outcomes of finished attempts (FinishedStep *) with one
 *		statement, inside the caller's transaction (SPI connected), and move
 *		their operations on: a forward step that failed fails its operation;
 *		an operation with nothing left to run ends.
 */
static void
record_outcomes(List *finished, int64 *min_retry_ms)
{
	int			n = list_length(finished);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *attempts = palloc(sizeof(Datum) * n);
	Datum	   *states = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	bool	   *status_nulls = palloc(sizeof(bool) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *error_nulls = palloc(sizeof(bool) * n);
	Datum	   *delays = palloc(sizeof(Datum) * n);
	bool	   *delay_nulls = palloc(sizeof(bool) * n);
	Datum	   *given_back = palloc(sizeof(Datum) * n);
	Datum	   *unreachable = palloc(sizeof(Datum) * n);
	Datum	   *acted = palloc(sizeof(Datum) * n);
	char	  **messages = palloc(sizeof(char *) * n);
	int64	   *ops;
	int			n_ops = 0;
	Datum		values[9];
	int			i = 0;
	uint64		r;
	ListCell   *lc;

	foreach(lc, finished)
	{
		FinishedStep *done = lfirst(lc);
		const StepOutcome *outcome = &done->outcome;
		int64		retry_ms;
		bool		back;

		ids[i] = Int64GetDatum(done->step->step_id);
		attempts[i] = Int32GetDatum(done->step->attempt);
		states[i] = CStringGetTextDatum(outcome_state(done->step, outcome,
													  &retry_ms, &messages[i],
													  &back));
		given_back[i] = BoolGetDatum(back);
		unreachable[i] = BoolGetDatum(outcome->kind == STEP_OUTCOME_RETRY &&
									  outcome->unreachable && retry_ms >= 0);
		acted[i] = BoolGetDatum(outcome_may_have_acted(outcome));
		statuses[i] = Int32GetDatum(outcome->http_status);
		status_nulls[i] = outcome->http_status < 100 || outcome->http_status > 599;
		error_nulls[i] = messages[i] == NULL;
		errors[i] = error_nulls[i] ? (Datum) 0 : CStringGetTextDatum(messages[i]);
		delays[i] = Int64GetDatum(retry_ms);
		delay_nulls[i] = retry_ms < 0;
		if (retry_ms >= 0 && (*min_retry_ms < 0 || retry_ms < *min_retry_ms))
			*min_retry_ms = retry_ms;
		i++;
	}
	{
		int64	   *step_ids = palloc(sizeof(int64) * n);

		for (i = 0; i < n; i++)
			step_ids[i] = DatumGetInt64(ids[i]);
		lock_tenants(LOCK_TENANTS_OF_STEPS, step_ids, n);
	}
	values[0] = JournalArrayDatum(ids, NULL, n, INT8OID);
	values[1] = JournalArrayDatum(attempts, NULL, n, INT4OID);
	values[2] = JournalArrayDatum(states, NULL, n, TEXTOID);
	values[3] = JournalArrayDatum(statuses, status_nulls, n, INT4OID);
	values[4] = JournalArrayDatum(errors, error_nulls, n, TEXTOID);
	values[5] = JournalArrayDatum(delays, delay_nulls, n, INT8OID);
	values[6] = JournalArrayDatum(given_back, NULL, n, BOOLOID);
	values[7] = JournalArrayDatum(unreachable, NULL, n, BOOLOID);
	values[8] = JournalArrayDatum(acted, NULL, n, BOOLOID);
	journal_execute(RECORD_OUTCOMES, values, NULL, 0);

	/* what each recorded step became, by position in the finished list */
	ops = palloc(sizeof(int64) * n);
	{
		char	  **new_states = palloc0(sizeof(char *) * n);

		for (r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		step_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
															  SPI_tuptable->tupdesc,
															  1, &isnull));

			for (i = 0; i < n; i++)
				if (DatumGetInt64(ids[i]) == step_id)
					new_states[i] = SPI_getvalue(SPI_tuptable->vals[r],
												 SPI_tuptable->tupdesc, 3);
		}

		i = 0;
		foreach(lc, finished)
		{
			FinishedStep *done = lfirst(lc);
			const ClaimedStep *step = done->step;
			const char *state = new_states[i];
			int			j;

			if (state == NULL)
			{
				/*
				 * the lease expired and the step was requeued: the result is
				 * moot
				 */
				ereport(LOG,
						(errmsg("tenancy worker dropped the result of step %d of operation " INT64_FORMAT ": its lease had expired",
								step->ordinal, step->operation_id)));
				i++;
				continue;
			}
			log_attempt(step, &done->outcome, state, messages[i]);
			if (!step->compensation &&
				(strcmp(state, "succeeded") == 0 || strcmp(state, "skipped") == 0))
				add_due_operation(step->operation_id);
			if (!step->compensation && strcmp(state, "failed") == 0)
			{
				Datum		fvalues[3];

				fvalues[0] = Int64GetDatum(step->operation_id);
				fvalues[1] = CStringGetTextDatum(psprintf("step %d (%s %s) failed: %s",
														  step->ordinal, step->action,
														  step->object,
														  messages[i] ? messages[i] : "no error text"));
				fvalues[2] = Int64GetDatum(DatumGetBool(acted[i]) ? step->step_id : 0);
				journal_execute(FAIL_OPERATION, fvalues, NULL, 0);
			}
			for (j = 0; j < n_ops; j++)
				if (ops[j] == step->operation_id)
					break;
			if (j == n_ops)
				ops[n_ops++] = step->operation_id;
			i++;
		}
	}

	record_created(finished);
	if (n_ops > 0)
		finish_operations(ops, n_ops);
}

/*
 * record_created
 *		RECORD_CREATED for the objects the finished attempts created, whatever
 *		their outcomes (an object exists once created; even the outcome of a
 *		step whose lease expired is about an object tenancy made).
 */
static void
record_created(List *finished)
{
	int			n = 0;
	Datum	   *ops;
	Datum	   *paths;
	Datum	   *uids;
	Datum		values[3];
	ListCell   *lc;
	ListCell   *lc2;

	foreach(lc, finished)
		n += list_length(((FinishedStep *) lfirst(lc))->step->created);
	if (n == 0)
		return;
	ops = palloc(sizeof(Datum) * n);
	paths = palloc(sizeof(Datum) * n);
	uids = palloc(sizeof(Datum) * n);
	n = 0;
	foreach(lc, finished)
	{
		const ClaimedStep *step = ((FinishedStep *) lfirst(lc))->step;

		foreach(lc2, step->created)
		{
			CreatedObject *created = (CreatedObject *) lfirst(lc2);

			ops[n] = Int64GetDatum(step->operation_id);
			paths[n] = CStringGetTextDatum(created->path);
			uids[n] = CStringGetTextDatum(created->uid);
			n++;
		}
	}
	values[0] = JournalArrayDatum(ops, NULL, n, INT8OID);
	values[1] = JournalArrayDatum(paths, NULL, n, TEXTOID);
	values[2] = JournalArrayDatum(uids, NULL, n, TEXTOID);
	journal_execute(RECORD_CREATED, values, NULL, 0);
}

/*
 * finish_operations
 *		FINISH_OPERATIONS of the given operations; when a provision, apply
 *		or deprovision ended, a later one of its tenant may start now, so
 *		the next claim looks at every due step.
 */
static void
finish_operations(const int64 *ops, int n_ops)
{
	Datum		values[1];

	values[0] = int8_array_datum(ops, n_ops);
	journal_execute(FINISH_OPERATIONS, values, NULL, 0);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *operation = SPI_getvalue(tuple, desc, 1);
		char	   *kind = SPI_getvalue(tuple, desc, 2);
		char	   *state = SPI_getvalue(tuple, desc, 3);
		char	   *tenant = SPI_getvalue(tuple, desc, 4);

		if (strcmp(kind, "provision") == 0 || strcmp(kind, "apply") == 0 ||
			strcmp(kind, "deprovision") == 0)
			converge_ended = true;
		/* one line per ended operation: LOG when it succeeded, else WARNING */
		ereport(strcmp(state, "succeeded") == 0 ? LOG : WARNING,
				(errmsg("tenancy operation %s (%s of tenant \"%s\") %s",
						operation, kind, tenant ? tenant : "?", state)));
	}
}

/*
 * log_attempt
 *		Say in the server log what a failed attempt did: LOG for one that
 *		will be retried, WARNING for one that failed for good.  The message
 *		is the step's last_error, which never holds a secret.
 */
static void
log_attempt(const ClaimedStep *step, const StepOutcome *outcome,
			const char *state, const char *message)
{
	if (strcmp(state, "failed") == 0)
		ereport(WARNING,
				(errmsg("tenancy step %d of operation " INT64_FORMAT " (%s %s %s) failed%s at attempt %d: %s",
						step->ordinal, step->operation_id, step->target,
						step->action, step->object,
						step->compensation ? " to compensate" : "",
						step->attempt, message ? message : "no error text")));
	else if (outcome->kind == STEP_OUTCOME_RETRY)
		ereport(LOG,
				(errmsg("tenancy step %d of operation " INT64_FORMAT " (%s %s %s) will be retried after attempt %d: %s",
						step->ordinal, step->operation_id, step->target,
						step->action, step->object, step->attempt,
						message ? message : "no error text")));
}
