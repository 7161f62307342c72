/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The tenancy background worker: registration and main loop.
 *
 * One worker, started by the postmaster when the library is preloaded,
 * connected to tenancy.database.  Each pass of its loop:
 *	 1. claims due steps (journal.c: one short transaction, committed), as
 *		many as there are free request slots;
 *	 2. starts them (step_exec.c): HTTP requests go to libcurl's multi
 *		handle, other steps run to completion at once;
 *	 3. waits on the requests' sockets and on its latch (http.c), with no
 *		transaction open;
 *	 4. records each completed request's outcome in a transaction of its
 *		own; dependent steps become due, and the next pass claims them.
 * When nothing is in flight it sleeps on its latch until a commit that
 * enqueued steps wakes it (worker_wake.c), a retry comes due, or
 * tenancy.poll_interval passes.
 *
 * Errors: one step's decoding or handler errors fail that step alone
 * (step_exec.c).  An error while claiming or recording is logged and the
 * transaction aborted; the loop goes on, and leases bring any step whose
 * result was lost back.  Steps left running by a previous incarnation of
 * the worker (kill -9, crash) are requeued at startup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "endpoint.h"
#include "http.h"
#include "journal.h"
#include "step_exec.h"
#include "tenancy.h"
#include "worker.h"

/* After an unexpected error, wait this long before the next claim. */
#define ERROR_PAUSE_MS 1000

typedef struct Engine
{
	HttpClient *client;
	MemoryContext pass_cxt;		/* reset at every pass */
	MemoryContext steps_cxt;	/* parent of each running step's context */
	List	   *running;		/* RunningStep * with a request in flight */
	bool		requeued_at_start;
	bool		claim_wanted;
	TimestampTz next_claim_at;	/* poll, retry or lease expiry */
	TimestampTz next_lease_check;
	TimestampTz paused_until;	/* after an error */
} Engine;

PG_FUNCTION_INFO_V1(tenancy_wake_worker);

static void worker_loop(Engine *engine);
static void claim_and_start(Engine *engine, int room);
static void start_step(Engine *engine, ClaimedStep *claimed);
static void finish_completed(Engine *engine);
static void record_outcome(const ClaimedStep *step, const StepOutcome *outcome);
static void requeue_expired(Engine *engine, bool all_running);
static bool run_guarded(const char *what, void (*fn) (Engine *, int),
						Engine *engine, int arg);
static void guarded_claim(Engine *engine, int room);
static void guarded_requeue(Engine *engine, int all_running);
static ClaimedStep *copy_claimed_step(const ClaimedStep *step);
static long ms_until(TimestampTz when, TimestampTz now);

/*
 * RegisterTenancyWorker
 *		Register the worker with the postmaster; from _PG_init, preloaded.
 */
void
RegisterTenancyWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "tenancy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "TenancyWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "tenancy worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "tenancy worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * TenancyWorkerMain
 *		Entry point of the worker process.
 */
void
TenancyWorkerMain(Datum main_arg)
{
	Engine		engine;

	(void) main_arg;
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(tenancy_database, NULL, 0);
	pgstat_report_appname("tenancy worker");

	/*
	 * A result lost in a crash is harmless (the lease brings the step back
	 * and steps are idempotent), so the worker need not wait for WAL flushes.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	WorkerAdvertise(MyLatch);
	RegisterBuiltinStepHandlers();

	memset(&engine, 0, sizeof(engine));
	engine.pass_cxt = AllocSetContextCreate(TopMemoryContext,
											"tenancy worker pass",
											ALLOCSET_DEFAULT_SIZES);
	engine.steps_cxt = AllocSetContextCreate(TopMemoryContext,
											 "tenancy worker steps",
											 ALLOCSET_DEFAULT_SIZES);
	engine.client = HttpClientCreate();
	engine.claim_wanted = true;

	ereport(LOG,
			(errmsg("tenancy worker started in database \"%s\"", tenancy_database),
			 errdetail_internal("%s", HttpLibraryVersion())));

	worker_loop(&engine);
}

/*
 * ms_until
 *		Milliseconds from now until when, at least 0.
 */
static long
ms_until(TimestampTz when, TimestampTz now)
{
	if (when <= now)
		return 0;
	return (long) Min((when - now + 999) / 1000, (int64) LONG_MAX);
}

/*
 * worker_loop
 *		Claim, start, wait, record; forever.
 */
static void
worker_loop(Engine *engine)
{
	for (;;)
	{
		TimestampTz now;
		long		timeout;
		bool		latch_set = false;
		int			room;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			EndpointsReset();
			HttpClientReconfigure(engine->client);
			engine->claim_wanted = true;
		}

		MemoryContextReset(engine->pass_cxt);
		MemoryContextSwitchTo(engine->pass_cxt);
		now = GetCurrentTimestamp();

		if (!engine->requeued_at_start || now >= engine->next_lease_check)
			run_guarded("requeueing expired steps", guarded_requeue, engine,
						!engine->requeued_at_start);

		if (now >= engine->next_claim_at)
			engine->claim_wanted = true;
		room = tenancy_max_concurrent_requests - list_length(engine->running);
		if (engine->claim_wanted && room > 0 && now >= engine->paused_until)
		{
			engine->claim_wanted = false;
			run_guarded("claiming due steps", guarded_claim, engine, room);
		}
		/* a full batch (or a step done at once) may leave more due work */
		if (engine->claim_wanted && now >= engine->paused_until &&
			list_length(engine->running) < tenancy_max_concurrent_requests)
			continue;

		now = GetCurrentTimestamp();
		timeout = ms_until(engine->next_claim_at, now);
		timeout = Min(timeout, ms_until(engine->next_lease_check, now));
		if (engine->paused_until > now)
			timeout = Max(timeout, ms_until(engine->paused_until, now));

		if (engine->running != NIL)
		{
			pgstat_report_activity(STATE_IDLE, NULL);
			HttpWait(engine->client, Max(timeout, 1), &latch_set);
			if (latch_set)
				ResetLatch(MyLatch);
			finish_completed(engine);
		}
		else
		{
			pgstat_report_stat(true);
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(timeout, 1),
							 PG_WAIT_EXTENSION);
			latch_set = true;	/* a timeout is a reason to look, too */
			ResetLatch(MyLatch);
		}
		if (latch_set)
			engine->claim_wanted = true;
	}
}

/*
 * run_guarded
 *		Run one unit of journal work; on error, log it, abort the
 *		transaction and pause claims briefly, instead of dying.
 */
static bool
run_guarded(const char *what, void (*fn) (Engine *, int), Engine *engine, int arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(engine, arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		errcontext("tenancy worker %s", what);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		pgstat_report_activity(STATE_IDLE, NULL);
		engine->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   ERROR_PAUSE_MS);
		engine->claim_wanted = true;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * guarded_requeue, guarded_claim
 *		Adapters for run_guarded.
 */
static void
guarded_requeue(Engine *engine, int all_running)
{
	requeue_expired(engine, all_running != 0);
}

static void
guarded_claim(Engine *engine, int room)
{
	claim_and_start(engine, room);
}

/*
 * requeue_expired
 *		Bring back steps a dead worker left running: all of them at startup
 *		(there is one worker, so they cannot be anyone else's), later those
 *		whose lease expired and that are not ours in flight.
 */
static void
requeue_expired(Engine *engine, bool all_running)
{
	int64	   *in_flight;
	int			n = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	engine->next_lease_check =
		TimestampTzPlusMilliseconds(now, Min((int64) tenancy_lease_duration_s * 500,
											 (int64) tenancy_poll_interval_ms));
	if (!JournalExtensionReady())
		return;

	in_flight = palloc(sizeof(int64) * Max(list_length(engine->running), 1));
	foreach(lc, engine->running)
		in_flight[n++] = ((RunningStep *) lfirst(lc))->step->step_id;
	if (JournalRequeueExpired(all_running, in_flight, n) > 0)
		engine->claim_wanted = true;
	engine->requeued_at_start = true;
}

/*
 * claim_and_start
 *		Claim up to room due steps and start each.
 */
static void
claim_and_start(Engine *engine, int room)
{
	List	   *claimed;
	ListCell   *lc;
	TimestampTz next_due = 0;
	TimestampTz now = GetCurrentTimestamp();

	engine->next_claim_at = TimestampTzPlusMilliseconds(now, tenancy_poll_interval_ms);
	if (!JournalExtensionReady())
		return;

	claimed = JournalClaimSteps(room, engine->pass_cxt, &next_due);
	if (next_due != 0 && next_due < engine->next_claim_at)
		engine->next_claim_at = next_due;

	/* a full batch means more may be due right now */
	if (list_length(claimed) == room)
		engine->claim_wanted = true;

	foreach(lc, claimed)
		start_step(engine, (ClaimedStep *) lfirst(lc));
}

/*
 * copy_claimed_step
 *		A copy of a claimed step in the current memory context.
 */
static ClaimedStep *
copy_claimed_step(const ClaimedStep *step)
{
	ClaimedStep *copy = palloc(sizeof(ClaimedStep));

	*copy = *step;
	copy->target = step->target ? pstrdup(step->target) : NULL;
	copy->action = step->action ? pstrdup(step->action) : NULL;
	copy->object = step->object ? pstrdup(step->object) : NULL;
	copy->request = step->request ? pstrdup(step->request) : NULL;
	copy->malformed = step->malformed ? pstrdup(step->malformed) : NULL;
	return copy;
}

/*
 * start_step
 *		Start one claimed step in a memory context of its own; record its
 *		outcome at once unless it made a request.
 */
static void
start_step(Engine *engine, ClaimedStep *claimed)
{
	MemoryContext cxt;
	MemoryContext old;
	RunningStep *running;
	StepOutcome outcome;

	cxt = AllocSetContextCreate(engine->steps_cxt, "tenancy step",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	running = palloc0(sizeof(RunningStep));
	running->cxt = cxt;
	running->step = copy_claimed_step(claimed);

	if (StepStart(engine->client, running, &outcome))
	{
		MemoryContextSwitchTo(engine->steps_cxt);
		engine->running = lappend(engine->running, running);
		MemoryContextSwitchTo(old);
		return;
	}

	MemoryContextSwitchTo(old);
	record_outcome(running->step, &outcome);
	MemoryContextDelete(cxt);
	/* the step is done: steps depending on it may be due */
	engine->claim_wanted = true;
}

/*
 * record_outcome
 *		Record a step's outcome; an error doing so is logged and swallowed
 *		(the lease brings the step back later).
 */
static void
record_outcome(const ClaimedStep *step, const StepOutcome *outcome)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		JournalRecordOutcome(step, outcome);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		errcontext("tenancy worker recording step %d of operation " INT64_FORMAT,
				   step->ordinal, step->operation_id);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
	}
	PG_END_TRY();
}

/*
 * finish_completed
 *		Record the outcome of every request that completed.
 */
static void
finish_completed(Engine *engine)
{
	List	   *done = HttpTakeCompleted(engine->client);
	ListCell   *lc;

	foreach(lc, done)
	{
		HttpRequest *req = (HttpRequest *) lfirst(lc);
		RunningStep *running = (RunningStep *) req->caller_data;
		StepOutcome outcome;
		MemoryContext old = MemoryContextSwitchTo(running->cxt);

		StepFinishHttp(running, &outcome);
		record_outcome(running->step, &outcome);
		MemoryContextSwitchTo(old);

		engine->running = list_delete_ptr(engine->running, running);
		MemoryContextDelete(running->cxt);
		engine->claim_wanted = true;
	}
	list_free(done);
}

/*
 * tenancy_wake_worker
 *		SQL: tenancy.wake_worker() wakes the worker when the calling
 *		transaction commits (used by tenancy.retry).
 */
Datum
tenancy_wake_worker(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	WorkerWakeAtCommit();
	PG_RETURN_VOID();
}
