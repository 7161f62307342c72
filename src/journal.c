/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  The worker's journal: claim due steps, record results, finish or
 *	  compensate operations.
 *
 * Each entry point runs one short transaction of its own, with parameterised,
 * schema-qualified statements prepared once per worker (the plan cache
 * re-plans them after DROP/CREATE EXTENSION).  No function here performs
 * network I/O: the worker claims, commits, runs the requests with no
 * transaction open, then records each result in a transaction of its own.
 *
 * Step life cycle (forward phase):
 *	 pending --claim--> running --outcome--> succeeded | skipped
 *										   | pending (retry, backoff)
 *										   | failed (operation fails)
 * When an operation fails, its pending steps are cancelled and every
 * succeeded step with a compensation moves to phase 'compensation', state
 * compensating; those run one at a time in reverse order of completion and
 * end compensated (or failed).  The operation then ends compensated, or
 * failed if a compensation failed too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "journal.h"
#include "tenancy.h"

/* The statements of the journal, prepared once each. */
typedef enum JournalStatement
{
	CLAIM_FORWARD,
	CLAIM_COMPENSATION,
	START_OPERATIONS,
	NEXT_DUE,
	REQUEUE_EXPIRED,
	EXPIRED_EXHAUSTED,
	RECORD_OUTCOME,
	FAIL_OPERATION,
	FINISH_OPERATION,
	N_JOURNAL_STATEMENTS
} JournalStatement;

typedef struct JournalSql
{
	const char *sql;
	int			nargs;
	Oid			argtypes[6];
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
	"                                 AND d.ordinal = u.o))"

static const JournalSql journal_sql[N_JOURNAL_STATEMENTS] = {
	[CLAIM_FORWARD] = {
		"WITH due AS ("
		"  SELECT s.step_id FROM tenancy.steps s"
		"    JOIN tenancy.operations o ON o.operation_id = s.operation_id"
		"   WHERE s.state = 'pending'"
		"     AND s.next_attempt_at <= pg_catalog.clock_timestamp()"
		"     AND o.state IN ('pending', 'running')"
		"     AND NOT EXISTS (SELECT FROM tenancy.steps d"
		"                      WHERE d.operation_id = s.operation_id"
		"                        AND d.ordinal = ANY (s.depends_on)"
		"                        AND d.state NOT IN ('succeeded', 'skipped'))"
		"   ORDER BY s.next_attempt_at, s.step_id"
		"   LIMIT $1"
		"   FOR UPDATE OF s SKIP LOCKED)"
		" UPDATE tenancy.steps s"
		"    SET state = 'running', attempts = s.attempts + 1,"
		"        lease_until = pg_catalog.clock_timestamp()"
		"                      + pg_catalog.make_interval(secs => $2),"
		"        started_at = coalesce(s.started_at, pg_catalog.clock_timestamp())"
		"   FROM due WHERE s.step_id = due.step_id "
		CLAIM_RETURNING,
		2, {INT4OID, INT4OID}
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
		"   FOR UPDATE OF s SKIP LOCKED)"
		" UPDATE tenancy.steps s"
		"    SET state = 'running', attempts = s.attempts + 1,"
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
		"    WHERE state = 'running'))",
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
		"   AND s.attempts < $3",
		3, {BOOLOID, INT8ARRAYOID, INT4OID}
	},
	[EXPIRED_EXHAUSTED] = {
		"SELECT s.step_id, s.operation_id, s.ordinal, s.attempts,"
		"       s.phase = 'compensation', s.target, s.action, s.object,"
		"       NULL::text, NULL::text"
		"  FROM tenancy.steps s"
		" WHERE s.state = 'running'"
		"   AND ($1 OR s.lease_until < pg_catalog.clock_timestamp())"
		"   AND s.step_id <> ALL ($2)"
		"   AND s.attempts >= $3",
		3, {BOOLOID, INT8ARRAYOID, INT4OID}
	},

	/*
	 * $3 is the new state; a late success of a step whose operation failed
	 * meanwhile must be undone too, and a retry of a step whose operation was
	 * cancelled ends the step.  $6 is the retry delay, NULL when the step is
	 * done.
	 */
	[RECORD_OUTCOME] = {
		"UPDATE tenancy.steps s"
		"   SET state = CASE"
		"         WHEN $3 = 'succeeded' AND o.state = 'compensating'"
		"              AND s.compensation IS NOT NULL THEN 'compensating'"
		"         WHEN $3 IN ('pending', 'compensating')"
		"              AND o.state = 'cancelled' THEN 'cancelled'"
		"         ELSE $3 END,"
		"       phase = CASE"
		"         WHEN $3 = 'succeeded' AND o.state = 'compensating'"
		"              AND s.compensation IS NOT NULL THEN 'compensation'"
		"         ELSE s.phase END,"
		"       lease_until = NULL,"
		"       http_status = $4,"
		"       last_error = $5,"
		"       next_attempt_at = CASE WHEN $6 IS NULL THEN s.next_attempt_at"
		"         ELSE pg_catalog.clock_timestamp()"
		"              + pg_catalog.make_interval(secs => $6 / 1000.0) END,"
		"       finished_at = CASE WHEN $6 IS NULL"
		"         THEN pg_catalog.clock_timestamp() ELSE s.finished_at END"
		"  FROM tenancy.operations o"
		" WHERE s.step_id = $1 AND s.state = 'running' AND s.attempts = $2"
		"   AND o.operation_id = s.operation_id"
		" RETURNING s.operation_id",
		6, {INT8OID, INT4OID, TEXTOID, INT4OID, TEXTOID, INT8OID}
	},
	[FAIL_OPERATION] = {
		"WITH op AS ("
		"  UPDATE tenancy.operations SET state = 'compensating', error = $2"
		"   WHERE operation_id = $1 AND state IN ('pending', 'running')"
		"  RETURNING operation_id),"
		" cancelled AS ("
		"  UPDATE tenancy.steps s SET state = 'cancelled',"
		"         finished_at = pg_catalog.clock_timestamp(),"
		"         last_error = 'not run: the operation failed'"
		"    FROM op WHERE s.operation_id = op.operation_id"
		"     AND s.state = 'pending')"
		" UPDATE tenancy.steps s"
		"    SET state = 'compensating', phase = 'compensation', attempts = 0,"
		"        next_attempt_at = pg_catalog.clock_timestamp(),"
		"        http_status = NULL, last_error = NULL"
		"   FROM op WHERE s.operation_id = op.operation_id"
		"    AND s.state = 'succeeded' AND s.compensation IS NOT NULL",
		2, {INT8OID, TEXTOID}
	},
	[FINISH_OPERATION] = {
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
		"   WHERE o.operation_id = $1"
		"     AND o.state IN ('pending', 'running', 'compensating')"
		"     AND NOT EXISTS (SELECT FROM tenancy.steps s"
		"                      WHERE s.operation_id = o.operation_id"
		"                        AND (s.state IN ('pending', 'running', 'compensating')"
		"                             OR (o.state <> 'compensating'"
		"                                 AND s.state NOT IN ('succeeded', 'skipped'))))"
		"  RETURNING o.tenant_id, o.kind, o.state)"
		" UPDATE tenancy.tenants t"
		"    SET state = CASE WHEN op.state <> 'succeeded' THEN 'failed'"
		"                     WHEN op.kind = 'deprovision' THEN 'deprovisioned'"
		"                     ELSE 'ready' END,"
		"        updated_at = pg_catalog.now()"
		"   FROM op"
		"  WHERE t.tenant_id = op.tenant_id"
		"    AND op.kind IN ('provision', 'apply', 'deprovision')",
		1, {INT8OID}
	},
};

static SPIPlanPtr journal_plans[N_JOURNAL_STATEMENTS];

static void journal_begin(const char *activity);
static void journal_commit(void);
static int	journal_execute(JournalStatement which, Datum *values,
							const char *nulls, long count);
static Datum int8_array_datum(const int64 *values, int n);
static ClaimedStep *claimed_step_from_tuple(HeapTuple tuple, TupleDesc desc);
static int	claim_into(JournalStatement which, int max_steps,
					   MemoryContext result_cxt, List **claimed);
static void record_outcome_in_transaction(const ClaimedStep *step,
										  const StepOutcome *outcome);

/*
 * journal_begin
 *		Start a short transaction of the worker, with SPI and a snapshot.
 */
static void
journal_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * journal_commit
 *		Commit the transaction journal_begin started and report statistics.
 */
static void
journal_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * journal_execute
 *		Run one of the journal's statements, preparing it on first use.
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

		plan = SPI_prepare(stmt->sql, stmt->nargs, (Oid *) stmt->argtypes);
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
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * JournalExtensionReady
 *		Is the extension installed in the worker's database?  Checked at
 *		every pass, since DROP EXTENSION may run at any time.
 */
bool
JournalExtensionReady(void)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ready = OidIsValid(get_extension_oid("tenancy", true));
	CommitTransactionCommand();
	return ready;
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
	Datum		values[2];
	MemoryContext old;
	uint64		i;

	values[0] = Int32GetDatum(max_steps);
	values[1] = Int32GetDatum(tenancy_lease_duration_s);
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
 * JournalClaimSteps
 *		Claim due steps under a lease, mark their operations running, commit.
 */
List *
JournalClaimSteps(int max_steps, MemoryContext result_cxt,
				  TimestampTz *next_due)
{
	List	   *claimed = NIL;
	int			n;

	*next_due = 0;
	journal_begin("tenancy worker: claiming due steps");

	n = claim_into(CLAIM_FORWARD, max_steps, result_cxt, &claimed);
	if (n < max_steps)
		claim_into(CLAIM_COMPENSATION, max_steps - n, result_cxt, &claimed);

	if (claimed != NIL)
	{
		int64	   *ops = palloc(sizeof(int64) * list_length(claimed));
		int			i = 0;
		ListCell   *lc;
		Datum		values[1];

		foreach(lc, claimed)
			ops[i++] = ((ClaimedStep *) lfirst(lc))->operation_id;
		values[0] = int8_array_datum(ops, i);
		journal_execute(START_OPERATIONS, values, NULL, 0);
	}

	if (list_length(claimed) < max_steps)
	{
		bool		isnull;
		Datum		d;

		journal_execute(NEXT_DUE, NULL, NULL, 1);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
		if (!isnull)
			*next_due = DatumGetTimestampTz(d);
	}

	journal_commit();
	return claimed;
}

/*
 * JournalRequeueExpired
 *		Make steps left running by a dead worker due again; fail those that
 *		used up their attempts (a step that kills the worker every time must
 *		not keep it in a crash loop).
 */
int
JournalRequeueExpired(bool all_running, const int64 *in_flight, int n_in_flight)
{
	Datum		values[3];
	int			requeued;
	List	   *exhausted = NIL;
	ListCell   *lc;
	uint64		i;

	journal_begin("tenancy worker: requeueing expired leases");
	values[0] = BoolGetDatum(all_running);
	values[1] = int8_array_datum(in_flight, n_in_flight);
	values[2] = Int32GetDatum(tenancy_max_attempts);
	journal_execute(REQUEUE_EXPIRED, values, NULL, 0);
	requeued = (int) SPI_processed;

	journal_execute(EXPIRED_EXHAUSTED, values, NULL, 0);
	for (i = 0; i < SPI_processed; i++)
		exhausted = lappend(exhausted,
							claimed_step_from_tuple(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc));
	foreach(lc, exhausted)
	{
		ClaimedStep *step = lfirst(lc);
		StepOutcome outcome = {0};

		outcome.kind = STEP_OUTCOME_FAILED;
		outcome.message = psprintf("gave up after %d attempts: the worker stopped before recording a result each time",
								   step->attempt);
		record_outcome_in_transaction(step, &outcome);
	}
	journal_commit();

	if (requeued > 0 || exhausted != NIL)
		ereport(LOG,
				(errmsg("tenancy worker requeued %d steps left running, failed %d that used up their attempts",
						requeued, list_length(exhausted))));
	return requeued;
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
 * record_outcome_in_transaction
 *		Record one attempt's outcome and move its operation on, inside the
 *		caller's transaction (SPI connected).
 */
static void
record_outcome_in_transaction(const ClaimedStep *step, const StepOutcome *outcome)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	const char *new_state;
	char	   *message = outcome->message;
	bool		failed = false;

	switch (outcome->kind)
	{
		case STEP_OUTCOME_SUCCEEDED:
			new_state = step->compensation ? "compensated" : "succeeded";
			nulls[5] = 'n';
			break;
		case STEP_OUTCOME_SKIPPED:
			new_state = step->compensation ? "compensated" : "skipped";
			nulls[5] = 'n';
			break;
		case STEP_OUTCOME_RETRY:
			if (step->attempt < tenancy_max_attempts)
			{
				new_state = step->compensation ? "compensating" : "pending";
				values[5] = Int64GetDatum(JournalRetryDelayMs(step->attempt,
															  outcome->retry_after_ms));
				break;
			}
			message = psprintf("gave up after %d attempts: %s", step->attempt,
							   message ? message : "no error text");
			/* FALLTHROUGH */
		case STEP_OUTCOME_FAILED:
		default:
			new_state = "failed";
			nulls[5] = 'n';
			failed = true;
			break;
	}

	values[0] = Int64GetDatum(step->step_id);
	values[1] = Int32GetDatum(step->attempt);
	values[2] = CStringGetTextDatum(new_state);
	values[3] = Int32GetDatum(outcome->http_status);
	if (outcome->http_status < 100 || outcome->http_status > 599)
		nulls[3] = 'n';
	if (message != NULL)
		values[4] = CStringGetTextDatum(message);
	else
		nulls[4] = 'n';

	journal_execute(RECORD_OUTCOME, values, nulls, 0);
	if (SPI_processed == 0)
	{
		/* the lease expired and the step was requeued: the result is moot */
		ereport(LOG,
				(errmsg("tenancy worker dropped the result of step %d of operation " INT64_FORMAT ": its lease had expired",
						step->ordinal, step->operation_id)));
		return;
	}

	if (failed && !step->compensation)
	{
		Datum		fvalues[2];

		fvalues[0] = Int64GetDatum(step->operation_id);
		fvalues[1] = CStringGetTextDatum(psprintf("step %d (%s %s) failed: %s",
												  step->ordinal, step->action,
												  step->object,
												  message ? message : "no error text"));
		journal_execute(FAIL_OPERATION, fvalues, NULL, 0);
	}

	values[0] = Int64GetDatum(step->operation_id);
	journal_execute(FINISH_OPERATION, values, NULL, 0);
}

/*
 * JournalRecordOutcome
 *		Record one attempt's outcome in a transaction of its own.
 */
void
JournalRecordOutcome(const ClaimedStep *step, const StepOutcome *outcome)
{
	journal_begin("tenancy worker: recording a step result");
	record_outcome_in_transaction(step, outcome);
	journal_commit();
}
