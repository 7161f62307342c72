/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The tenancy background worker: registration and main loop.
 *
 * One worker, started by the postmaster when the library is preloaded,
 * connected to tenancy.database.  Each pass of its loop:
 *	 1. in one short transaction (journal.c), records the outcomes of the
 *		attempts that ended since the last pass, and claims due steps, up
 *		to twice as many as it may have requests in flight (engine_room);
 *		commits;
 *	 2. starts the claimed steps (step_exec.c): HTTP requests go to
 *		libcurl's multi handle; handlers run in tasks (step_task.c) until
 *		they wait for a request of their own, which goes to the same
 *		handle; local SQL runs to completion at once;
 *	 3. waits on the requests' sockets and on its latch (http.c), with no
 *		transaction open, resuming the tasks whose requests completed (or
 *		whose passwords its password helper set, password_helper.c); what
 *		ended is recorded by the next pass.
 * Recording many outcomes in one transaction, and claiming in the same one,
 * is what makes the worker fast: a transaction per pass, not two per step.
 * Every state change is still committed before it is acted on: a step runs
 * only once its claim committed, and its dependents only once its outcome
 * did.
 *
 * Claims look first at the operations whose steps just finished (their
 * dependents are the steps that became due), and at the whole queue only
 * when something else may have made steps due: a commit that enqueued
 * steps or tenancy.retry woke the worker (worker_wake.c), a retry or a lease
 * came due, tenancy.poll_interval passed, or the last such claim was full.
 * Every pass that records a retry moves the next wake-up to its due time
 * (JournalPass.next_due), so a retry runs on time whichever pass recorded
 * it.  When nothing is in flight the worker sleeps on its latch.
 *
 * Leases: the worker renews the leases of every step it holds once half of
 * the oldest has passed (renew_leases_if_due), between handlers too, so a
 * step it still holds never looks abandoned.  Its transactions share-lock
 * the extension before touching its tables (WorkerLockExtension): DROP
 * EXTENSION and the worker queue on that lock instead of deadlocking.
 *
 * Versions: the worker touches the extension's tables only when the version
 * installed in the database is the library's own (TENANCY_VERSION).  After
 * a new library is installed and the server restarted, and until ALTER
 * EXTENSION tenancy UPDATE, the catalog is the previous version's: the
 * worker waits (wait_for_catalog), logging once, instead of running its
 * statements against tables they were not written for.
 *
 * Errors: one step's decoding or handler errors fail that step alone
 * (step_exec.c).  An error while recording or claiming is logged and the
 * transaction aborted; the outcomes are then recorded one transaction each,
 * claims pause for a second, and leases bring back any step whose result
 * was lost.  Steps left running by a previous incarnation of the worker
 * (kill -9, crash) are requeued at startup.
 *
 * Settings: the worker's session takes a few settings of its own over those
 * of its database, whose owner need not be a superuser
 * (override_database_settings): it acts as the superuser it connected as,
 * in read-write transactions that no timeout of theirs cuts short.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
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
#include "password_helper.h"
#include "step_exec.h"
#include "step_task.h"
#include "tenancy.h"
#include "worker.h"

/* After an unexpected error, wait this long before the next claim. */
#define ERROR_PAUSE_MS 1000

/* While the catalog is of another version, look again this often. */
#define CATALOG_WAIT_MS 1000

/* The worker's deadlock_timeout: well below the default of 1 s. */
#define WORKER_DEADLOCK_TIMEOUT "100ms"

/* Steps held per request the worker may keep in flight (engine_room). */
#define STEPS_HELD_PER_REQUEST 2

typedef struct Engine
{
	HttpClient *client;
	MemoryContext pass_cxt;		/* reset at every pass */
	MemoryContext steps_cxt;	/* parent of each running step's context */
	List	   *running;		/* RunningStep * with a request in flight */
	List	   *waiting;		/* RunningStep * whose task waits */
	List	   *finished;		/* FinishedStep * not yet recorded */
	bool		requeued_at_start;
	bool		claim_all;		/* look at every due step at the next pass */
	uint64		wakeups_seen;	/* WorkerWakeups() when last looked at */
	TimestampTz next_claim_at;	/* poll, retry or lease expiry */
	TimestampTz next_lease_check;
	TimestampTz paused_until;	/* after an error */
	TimestampTz renew_leases_at;	/* half of the oldest lease we hold is
									 * gone; 0 when we hold none */
	bool		catalog_checked;	/* the installed version is ours */
	bool		catalog_was_ours;	/* it was, at some pass: a change since
									 * then was made under the running worker */
} Engine;

PG_FUNCTION_INFO_V1(tenancy_wake_worker);

static void override_database_settings(void);
static void worker_loop(Engine *engine);
static int	engine_busy(Engine *engine);
static int	engine_room(Engine *engine);
static bool pass_wanted(Engine *engine, int room, TimestampTz now);
static void run_pass(Engine *engine, int room);
static void record_one_by_one(Engine *engine);
static void forget_finished(Engine *engine);
static void start_step(Engine *engine, ClaimedStep *claimed);
static void file_step(Engine *engine, RunningStep *running,
					  StepProgress progress, const StepOutcome *outcome);
static void resume_ready(Engine *engine);
static bool step_started(Engine *engine, ClaimedStep *step);
static void finish_completed(Engine *engine);
static void renew_leases_if_due(Engine *engine, List *claimed, int next);
static void maintain(Engine *engine, bool all_running);
static void maintain_guarded(Engine *engine, bool all_running,
							 const int64 *in_flight, int n_in_flight);
static void pause_after_error(Engine *engine, const char *what);
static ClaimedStep *copy_claimed_step(const ClaimedStep *step);
static void wait_for_catalog(Engine *engine);
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
 * Settings of the worker's session that the settings of its database may
 * not change.  ALTER DATABASE ... SET applies to every session of the database, the
 * worker's too, and the database's owner may run it without being a
 * superuser: with role set there, the worker ran every statement as that
 * role (and failed, silently, on tenancy's tables); read-only or
 * serializable transactions, timeouts or non-standard string literals would
 * fail or change what its SQL means.  search_path is pinned below.
 */
static const struct
{
	const char *name;
	const char *value;
}			worker_settings[] = {
	{"role", "none"},			/* act as the superuser it connected as */
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},		/* SQL steps set their own, per transaction */
	{"idle_in_transaction_session_timeout", "0"},
	{"transaction_timeout", "0"},	/* PostgreSQL 17 and later */
	{"standard_conforming_strings", "on"},
};

/*
 * override_database_settings
 *		The worker's settings over those of its database (and of its role
 *		in it).  Set as the session's own (PGC_S_SESSION), which comes
 *		before the database's, and not as an override, which would also
 *		silently ignore the worker's own SET LOCAL (lock_timeout).
 */
static void
override_database_settings(void)
{
	for (size_t i = 0; i < lengthof(worker_settings); i++)
	{
		if (GetConfigOption(worker_settings[i].name, true, false) != NULL)
			SetConfigOption(worker_settings[i].name, worker_settings[i].value,
							PGC_SUSET, PGC_S_SESSION);
	}
	if (GetUserId() != GetSessionUserId())
		elog(ERROR, "tenancy worker is not running as the superuser it connected as");
}

/*
 * WorkerSessionSettings
 *		The settings of the worker's session, and of its password helper's
 *		(password_helper.c), once connected.
 */
void
WorkerSessionSettings(void)
{
	override_database_settings();

	/*
	 * The worker's own commits are asynchronous: it does not wait for the WAL
	 * flush of a claim, a recorded outcome or a renewed lease.  A crash of
	 * the server can lose the last few hundred milliseconds of them. That is
	 * safe: a lost claim leaves the step pending (claimed again); a lost
	 * outcome leaves it running, and the worker that starts after the crash
	 * requeues every running step and runs it again, which steps allow
	 * (idempotent, at least once).  Nothing outside the database depends on
	 * one of these commits having survived, and each is still its own short
	 * transaction, committed before the worker acts on it. Commits of the
	 * callers (provision, apply, ...) keep the server's setting.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * When a transaction of the worker closes a deadlock cycle (with DROP
	 * EXTENSION, or any session), the worker detects it first and gives way:
	 * its step retries later (StepStart), a pass records again.  Most cycles
	 * with DROP EXTENSION cannot form at all (WorkerLockExtension); this
	 * covers the transactions of handlers that do not lock the extension.
	 * Keep it below the deadlock_timeout of DBA sessions.
	 */
	SetConfigOption("deadlock_timeout", WORKER_DEADLOCK_TIMEOUT, PGC_SUSET,
					PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The worker's statements are small and kept as generic plans; JIT code
	 * is not kept with a plan, so a cost estimate past jit_above_cost on a
	 * large journal would compile on every execution (provision had that
	 * problem at a few thousand tenants).
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The claims walk steps_due_idx in next_attempt_at order and stop once
	 * they have enough steps.  Planned while the journal's statistics are
	 * stale (a queue that filled since the last ANALYZE, as after a burst of
	 * provisions), the generic plan instead AND-ed a bitmap of the whole due
	 * index with each active operation's steps: 8.5 ms per claim of a queue
	 * of 1,700 steps instead of 2.2 ms (test/bench/README.md).  The worker's
	 * statements are lookups by key and ordered scans that stop early.
	 */
	SetConfigOption("enable_bitmapscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
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
	WorkerSessionSettings();

	WorkerAdvertise(MyLatch);
	RegisterBuiltinStepHandlers();
	PasswordHelperLaunch();

	memset(&engine, 0, sizeof(engine));
	engine.pass_cxt = AllocSetContextCreate(TopMemoryContext,
											"tenancy worker pass",
											ALLOCSET_DEFAULT_SIZES);
	engine.steps_cxt = AllocSetContextCreate(TopMemoryContext,
											 "tenancy worker steps",
											 ALLOCSET_DEFAULT_SIZES);
	engine.client = HttpClientCreate();
	/* requests of handlers (in step tasks) go out on the worker's client */
	HttpSetBackgroundClient(engine.client);
	engine.claim_all = true;

	ereport(LOG,
			(errmsg("tenancy worker started in database \"%s\"", tenancy_database),
			 errdetail_internal("%s", HttpLibraryVersion())));

	worker_loop(&engine);
}

/*
 * wait_for_catalog
 *		Return once the extension installed in the database is of this
 *		library's version, or not installed (nothing to touch then; a pass
 *		that finds it gone brings us back here).  Meanwhile sleep, logging
 *		once, and answer reloads and shutdown.
 *
 * A library newer than the catalog (installed, server restarted, ALTER
 * EXTENSION UPDATE not run yet) would run statements written for columns,
 * states and functions the tables do not have yet; one older than the
 * catalog would not know the newer ones.  Either could leave steps half
 * recorded.  Waiting costs nothing: the steps stay pending and run once
 * the versions match.  The worker comes here at start, and from any pass
 * whose transaction found the extension gone or at another version
 * (WorkerLockExtension checks it in every transaction, so an ALTER
 * EXTENSION UPDATE made while this library runs stops it too: outcomes not
 * recorded yet are dropped, and the steps' leases bring them back).
 */
static void
wait_for_catalog(Engine *engine)
{
	bool		logged = false;

	for (;;)
	{
		char	   *version;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		version = WorkerInstalledVersion();
		if (version == NULL || strcmp(version, TENANCY_VERSION) == 0)
		{
			if (logged)
				ereport(LOG,
						(errmsg("tenancy worker resumes: extension tenancy is at version %s in database \"%s\"",
								TENANCY_VERSION, tenancy_database)));

			/*
			 * Not installed: passes record nothing and claim nothing
			 * (run_pass) until a look finds it installed; the next claim
			 * keeps its own pace (asking for one here would loop).
			 */
			engine->catalog_checked = (version != NULL);
			if (version != NULL)
			{
				engine->claim_all = true;
				engine->catalog_was_ours = true;
			}
			return;
		}
		if (!logged && engine->catalog_was_ours)
		{
			/* changed under the running worker: this library is the old one */
			ereport(LOG,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("tenancy worker is waiting: extension tenancy was changed to version %s in database \"%s\" while the library of version %s runs",
							version, tenancy_database, TENANCY_VERSION),
					 errdetail("The worker runs no step against the catalog of another version; steps stay pending until the versions match."),
					 errhint("Install the library of version %s and restart the server.",
							 version)));
			logged = true;
		}
		else if (!logged)
		{
			ereport(LOG,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("tenancy worker is waiting for extension tenancy to be updated from version %s to %s in database \"%s\"",
							version, TENANCY_VERSION, tenancy_database),
					 errdetail("The library loaded is version %s; it runs no step against the catalog of another version.",
							   TENANCY_VERSION),
					 errhint("Run ALTER EXTENSION tenancy UPDATE in database \"%s\".",
							 tenancy_database)));
			logged = true;
		}
		pfree(version);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 CATALOG_WAIT_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
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
 * engine_busy
 *		How many steps the worker holds: in flight, or in a task that waits.
 */
static int
engine_busy(Engine *engine)
{
	return list_length(engine->running) + list_length(engine->waiting);
}

/*
 * engine_room
 *		How many more steps the worker may claim now.
 *
 * It holds up to STEPS_HELD_PER_REQUEST steps per request it may keep in
 * flight.  A step holds its place from its claim until its outcome is
 * recorded, but has a request in flight for only part of that time: it
 * also waits for the loop to resume its handler between two requests, to
 * set a password, or to record it.  Holding one step per request, 64
 * places kept 23 requests in flight on average in bench_e2e, which was
 * bound by that.  The limits themselves are libcurl's to keep
 * (CURLMOPT_MAX_TOTAL_CONNECTIONS and CURLMOPT_MAX_HOST_CONNECTIONS, from
 * tenancy.max_concurrent_requests and max_requests_per_host): a request
 * beyond them waits in its queue, and that wait counts in its
 * tenancy.request_timeout.  Four steps per request ran no faster than two:
 * more readiness polls, and more steps waiting in that queue.
 */
static int
engine_room(Engine *engine)
{
	return STEPS_HELD_PER_REQUEST * tenancy_max_concurrent_requests - engine_busy(engine);
}

/*
 * worker_loop
 *		Record and claim, start, wait; forever.
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
		uint64		wakeups;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			EndpointsReset();
			HttpClientReconfigure(engine->client);
			engine->claim_all = true;
			/* tests wait for this line instead of sleeping after a reload */
			ereport(LOG,
					(errmsg("tenancy worker reloaded its configuration")));
		}

		MemoryContextReset(engine->pass_cxt);
		MemoryContextSwitchTo(engine->pass_cxt);
		if (!engine->catalog_checked)
			wait_for_catalog(engine);
		/* what handlers keep between steps (helm's children) */
		StepHousekeeping();
		now = GetCurrentTimestamp();

		renew_leases_if_due(engine, NIL, 0);
		if (now >= engine->paused_until &&
			(!engine->requeued_at_start || now >= engine->next_lease_check))
			maintain(engine, !engine->requeued_at_start);

		if (now >= engine->next_claim_at)
			engine->claim_all = true;
		room = engine_room(engine);
		if (pass_wanted(engine, room, now))
		{
			run_pass(engine, room);
			/* steps that ended at once are recorded by the next pass */
			continue;
		}

		/*
		 * Requests that completed while steps started (remote SQL and helm
		 * run to completion in their tasks, driving nothing): record them now
		 * rather than after the next wait.
		 */
		if (engine->running != NIL || engine->waiting != NIL)
		{
			finish_completed(engine);
			if (engine->finished != NIL && GetCurrentTimestamp() >= engine->paused_until)
				continue;
		}

		/*
		 * Sleep until the earliest of: the next due step (retries recorded by
		 * any pass lower next_claim_at, see run_pass), the next lease check
		 * or renewal, the end of a pause; curl's own timers cut the wait
		 * shorter (HttpWait).  A due claim with no free slot waits for a
		 * request to complete instead of spinning.
		 */
		now = GetCurrentTimestamp();
		room = engine_room(engine);
		timeout = room > 0 ? ms_until(engine->next_claim_at, now) : LONG_MAX;
		timeout = Min(timeout, ms_until(engine->next_lease_check, now));
		if (engine->renew_leases_at != 0)
			timeout = Min(timeout, ms_until(engine->renew_leases_at, now));
		if (engine->paused_until > now)
			timeout = Max(timeout, ms_until(engine->paused_until, now));

		if (engine->running != NIL || engine->waiting != NIL)
		{
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
			ResetLatch(MyLatch);
			/* a timeout is a reason to look, too */
			engine->claim_all = true;
			/* the password helper may have exited, or be due to relaunch */
			PasswordHelperCollect();
		}

		/*
		 * A commit that enqueued steps, or tenancy.retry, woke us (read after
		 * ResetLatch: a wake-up counts before it sets the latch); not the
		 * password helper's answers, which set the latch too.
		 */
		wakeups = WorkerWakeups();
		if (latch_set && wakeups != engine->wakeups_seen)
			engine->claim_all = true;
		engine->wakeups_seen = wakeups;
	}
}

/*
 * pass_wanted
 *		Is there anything to record, or a reason to claim and room for it?
 */
static bool
pass_wanted(Engine *engine, int room, TimestampTz now)
{
	if (now < engine->paused_until)
		return false;
	if (engine->finished != NIL)
		return true;
	return room > 0 && (engine->claim_all || JournalHasDueOperations());
}

/*
 * pause_after_error
 *		Log the error being handled, abort its transaction and hold claims
 *		back for a moment, instead of dying; the next claim looks at every
 *		due step.
 */
static void
pause_after_error(Engine *engine, const char *what)
{
	errcontext("tenancy worker %s", what);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	JournalForgetDueOperations();
	engine->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   ERROR_PAUSE_MS);
	engine->claim_all = true;
}

/*
 * run_pass
 *		Record what finished and claim up to room steps in one transaction,
 *		then start the claimed steps with that transaction committed.
 *
 * If the pass fails, the outcomes are recorded one transaction each, so
 * that one outcome that cannot be recorded does not hold back the others;
 * an outcome that lost a lock conflict is kept for the next pass, one that
 * still cannot be recorded otherwise is dropped (its lease brings the step
 * back).
 */
static void
run_pass(Engine *engine, int room)
{
	MemoryContext cxt = CurrentMemoryContext;
	JournalPass pass;
	volatile bool ok = true;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	memset(&pass, 0, sizeof(pass));
	pass.finished = engine->finished;
	/* no claim before the installed version was seen to be ours */
	pass.max_claim = engine->catalog_checked ? Max(room, 0) : 0;
	pass.claim_all = engine->claim_all && room > 0;
	pass.result_cxt = engine->pass_cxt;
	if (pass.claim_all)
	{
		engine->claim_all = false;
		engine->next_claim_at = TimestampTzPlusMilliseconds(now, tenancy_poll_interval_ms);
	}

	PG_TRY();
	{
		JournalRunPass(&pass);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		pause_after_error(engine, "recording results and claiming due steps");
		ok = false;
	}
	PG_END_TRY();

	if (!ok)
	{
		record_one_by_one(engine);
		return;
	}
	forget_finished(engine);
	/* dropped: a CREATE EXTENSION may install another version */
	if (!pass.ready)
		engine->catalog_checked = false;

	if (pass.next_due != 0 && pass.next_due < engine->next_claim_at)
		engine->next_claim_at = pass.next_due;
	/* a full claim means more may be due right now */
	if (pass.more_due && pass.claim_all)
		engine->claim_all = true;

	/* the new leases run from the claim: renew them at their half at most */
	if (pass.claimed != NIL)
	{
		TimestampTz half = TimestampTzPlusMilliseconds(now,
													   (int64) tenancy_lease_duration_s * 500);

		if (engine->renew_leases_at == 0 || half < engine->renew_leases_at)
			engine->renew_leases_at = half;
	}

	if (pass.converge_ended)
		engine->claim_all = true;

	/*
	 * First the steps whose attempts the claim counted: plain requests, and
	 * the k8s_apply and validate handlers, which go out now, before any other
	 * step could keep them waiting.  Then the other handlers, each in a task
	 * that runs until it waits for a request and is resumed when the request
	 * completed (resume_ready); local and remote SQL run to completion here.
	 * Each of those counts its attempt only when it starts; the leases of the
	 * steps after a slow one are renewed if the wait grows long.
	 */
	foreach(lc, pass.claimed)
	{
		ClaimedStep *step = (ClaimedStep *) lfirst(lc);

		if (step->counted)
			start_step(engine, step);
	}
	foreach(lc, pass.claimed)
	{
		ClaimedStep *step = (ClaimedStep *) lfirst(lc);

		if (step->counted)
			continue;
		renew_leases_if_due(engine, pass.claimed, foreach_current_index(lc));
		if (step_started(engine, step))
			start_step(engine, step);
	}
}

/*
 * step_started
 *		Count the attempt of a step the claim did not count, just before it
 *		starts (JournalStepStarted).  False when that failed: the step is
 *		not started, and its lease brings it back.
 */
static bool
step_started(Engine *engine, ClaimedStep *step)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = false;

	PG_TRY();
	{
		ok = JournalStepStarted(step);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		pause_after_error(engine, "starting a step");
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * record_one_by_one
 *		Record each finished step in a transaction of its own (after a pass
 *		failed); an outcome that cannot be recorded is logged, and kept for
 *		the next pass when it lost a lock conflict, else dropped.
 */
static void
record_one_by_one(Engine *engine)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile kept = NIL;
	ListCell   *lc;

	foreach(lc, engine->finished)
	{
		FinishedStep *done = lfirst(lc);
		JournalPass pass;
		volatile bool keep = false;

		memset(&pass, 0, sizeof(pass));
		pass.finished = list_make1(done);
		pass.result_cxt = cxt;
		PG_TRY();
		{
			JournalRunPass(&pass);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			errcontext("tenancy worker recording step %d of operation " INT64_FORMAT,
					   done->step->ordinal, done->step->operation_id);
			edata = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();

			/*
			 * A lock conflict (a deprovision or cancel changing the same
			 * operation and tenant rows) says nothing about the outcome: keep
			 * it for the next pass.  Dropping it would leave the step running
			 * until its lease expires, and its operation, and every later
			 * operation of the tenant, waiting that long.
			 */
			keep = StepErrorIsTransient(edata->sqlerrcode);
			FreeErrorData(edata);
		}
		PG_END_TRY();
		if (keep)
			kept = lappend(kept, done);
		else
			MemoryContextDelete(done->cxt);
	}
	list_free(engine->finished);
	engine->finished = kept;
}

/*
 * forget_finished
 *		Free the steps whose outcomes were recorded (or dropped).
 */
static void
forget_finished(Engine *engine)
{
	ListCell   *lc;

	foreach(lc, engine->finished)
		MemoryContextDelete(((FinishedStep *) lfirst(lc))->cxt);
	list_free(engine->finished);
	engine->finished = NIL;
}

/*
 * renew_leases_if_due
 *		Once half of the oldest lease this worker holds has passed, extend
 *		every lease it holds: the claimed steps not started yet (claimed,
 *		from position next on), the requests in flight and the outcomes not
 *		recorded yet.
 *
 * Handlers, and requests slower than a lease, can keep a step with the
 * worker for longer than tenancy.lease_duration.  Such a step is still the
 * worker's (maintain() never requeues it), but an expired lease would say
 * otherwise to whoever reads tenancy.steps, and would be the next due time
 * of the claims.  One short transaction renews them all; an error is
 * logged and the renewal tried again a moment later.
 */
static void
renew_leases_if_due(Engine *engine, List *claimed, int next)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	int64	   *ids;
	int			n = 0;
	ListCell   *lc;

	if (engine->renew_leases_at == 0 || now < engine->renew_leases_at)
		return;

	ids = palloc(sizeof(int64) * (list_length(claimed) + engine_busy(engine) +
								  list_length(engine->finished) + 1));
	for_each_from(lc, claimed, next)
		ids[n++] = ((ClaimedStep *) lfirst(lc))->step_id;
	foreach(lc, engine->running)
		ids[n++] = ((RunningStep *) lfirst(lc))->step->step_id;
	foreach(lc, engine->waiting)
		ids[n++] = ((RunningStep *) lfirst(lc))->step->step_id;
	foreach(lc, engine->finished)
		ids[n++] = ((FinishedStep *) lfirst(lc))->step->step_id;
	if (n == 0)
	{
		engine->renew_leases_at = 0;
		pfree(ids);
		return;
	}

	PG_TRY();
	{
		JournalRenewLeases(ids, n);
		engine->renew_leases_at =
			TimestampTzPlusMilliseconds(now, (int64) tenancy_lease_duration_s * 500);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		pause_after_error(engine, "renewing leases");
		engine->renew_leases_at = TimestampTzPlusMilliseconds(now, ERROR_PAUSE_MS);
	}
	PG_END_TRY();
	pfree(ids);
}

/*
 * maintain
 *		Bring back steps a dead worker left running: all of them at startup
 *		(there is one worker, so they cannot be anyone else's), later those
 *		whose lease expired and that are not ours (in flight, or finished
 *		and not recorded yet); fail operations that can never finish.
 */
static void
maintain(Engine *engine, bool all_running)
{
	int64	   *in_flight;
	int			n_in_flight = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	engine->next_lease_check =
		TimestampTzPlusMilliseconds(now, Min((int64) tenancy_lease_duration_s * 500,
											 (int64) tenancy_poll_interval_ms));

	in_flight = palloc(sizeof(int64) * Max(engine_busy(engine) +
										   list_length(engine->finished), 1));
	foreach(lc, engine->running)
		in_flight[n_in_flight++] = ((RunningStep *) lfirst(lc))->step->step_id;
	foreach(lc, engine->waiting)
		in_flight[n_in_flight++] = ((RunningStep *) lfirst(lc))->step->step_id;
	/* outcomes not recorded yet (after an error) are ours too */
	foreach(lc, engine->finished)
		in_flight[n_in_flight++] = ((FinishedStep *) lfirst(lc))->step->step_id;
	maintain_guarded(engine, all_running, in_flight, n_in_flight);
}

/*
 * maintain_guarded
 *		JournalMaintain, its errors logged rather than raised.
 */
static void
maintain_guarded(Engine *engine, bool all_running, const int64 *in_flight,
				 int n_in_flight)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		if (JournalMaintain(all_running, in_flight, n_in_flight) > 0)
			engine->claim_all = true;
		engine->requeued_at_start = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		pause_after_error(engine, "requeueing expired steps");
	}
	PG_END_TRY();
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
 *		Start one claimed step in a memory context of its own.
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
	file_step(engine, running, StepStart(engine->client, running, &outcome),
			  &outcome);
	MemoryContextSwitchTo(old);
}

/*
 * file_step
 *		Put a step where its progress says: a step whose request is in
 *		flight joins the running list, one whose task waits the waiting
 *		list; one that is done (handler, local SQL, skipped, malformed)
 *		joins the finished list, recorded by the next pass.
 */
static void
file_step(Engine *engine, RunningStep *running, StepProgress progress,
		  const StepOutcome *outcome)
{
	MemoryContext old = MemoryContextSwitchTo(engine->steps_cxt);
	FinishedStep *done;

	switch (progress)
	{
		case STEP_IN_FLIGHT:
			engine->running = lappend(engine->running, running);
			break;
		case STEP_WAITING:
			engine->waiting = lappend(engine->waiting, running);
			break;
		case STEP_DONE:
			MemoryContextSwitchTo(running->cxt);
			done = palloc0(sizeof(FinishedStep));
			done->step = running->step;
			done->cxt = running->cxt;
			done->outcome = *outcome;
			MemoryContextSwitchTo(engine->steps_cxt);
			engine->finished = lappend(engine->finished, done);
			break;
	}
	MemoryContextSwitchTo(old);
}

/*
 * resume_ready
 *		Resume every step whose task waits no more (its request completed,
 *		or the Vault login it waited for ended), until each waits again or
 *		is done.
 */
static void
resume_ready(Engine *engine)
{
	void	   *arg;

	while (StepTaskNextReady(&arg) != NULL)
	{
		RunningStep *running = (RunningStep *) arg;
		StepOutcome outcome;
		StepProgress progress = StepResume(running, &outcome);

		if (progress == STEP_WAITING)
			continue;
		engine->waiting = list_delete_ptr(engine->waiting, running);
		file_step(engine, running, progress, &outcome);
	}
}

/*
 * finish_completed
 *		Move every step whose request completed to the finished list, and
 *		resume the tasks whose requests (or passwords, password_helper.c)
 *		completed.
 */
static void
finish_completed(Engine *engine)
{
	List	   *completed = HttpTakeCompleted(engine->client);
	ListCell   *lc;

	PasswordHelperCollect();
	resume_ready(engine);

	foreach(lc, completed)
	{
		HttpRequest *req = (HttpRequest *) lfirst(lc);
		RunningStep *running = (RunningStep *) req->caller_data;
		MemoryContext old = MemoryContextSwitchTo(running->cxt);
		FinishedStep *done = palloc0(sizeof(FinishedStep));

		done->step = running->step;
		done->cxt = running->cxt;
		StepFinishHttp(running, &done->outcome);
		MemoryContextSwitchTo(engine->steps_cxt);
		engine->finished = lappend(engine->finished, done);
		engine->running = list_delete_ptr(engine->running, running);
		MemoryContextSwitchTo(old);
	}
	list_free(completed);
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
