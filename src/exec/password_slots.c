/*-------------------------------------------------------------------------
 *
 * password_slots.c
 *	  The worker's side of its password helper (worker/password_helper.c
 *	  says why there is one): launching it, asking it to set a role's
 *	  password from a step's task, and waking the task when it answered.
 *
 * The worker launches the helper at its start (PasswordHelperLaunch), with
 * a dynamic shared memory segment of its own: HELPER_SLOTS slots, each
 * holding one request, a role and the SCRAM verifier the worker computed
 * (ScramVerifier: the password itself never leaves the worker), and then
 * its answer.  A slot goes FREE -> ASKED (a step's task fills it and sets
 * the helper's latch) -> ANSWERED (the helper set the password, or failed
 * to; it wipes the verifier and sets the worker's latch) -> FREE (the task
 * read the answer).  Each transition is made by one side only, with a
 * barrier before the state is written, so the slots need no lock.  The
 * worker's loop wakes the tasks whose slots are answered
 * (PasswordHelperCollect).
 *
 * An error of the helper's transaction is the answer (SQLSTATE, message,
 * detail, hint), raised again in the step's task: the step fails as it did
 * when the worker set the password itself.  When the helper cannot be
 * started (no background worker slot) or has exited, the worker sets
 * passwords itself (PasswordHelperSet returns false), and launches a new
 * helper at most every HELPER_RELAUNCH_MS; the slots the helper left ASKED
 * are answered "gone", and their tasks set their passwords themselves
 * (setting the same password twice is harmless).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "password_helper.h"
#include "step_task.h"

/* After the helper could not be started or exited, try again this late. */
#define HELPER_RELAUNCH_MS 10000

static dsm_segment *segment = NULL;
static HelperShared *shared = NULL;
static BackgroundWorkerHandle *helper_handle = NULL;
static TimestampTz relaunch_after = 0;
static int	slots_asked = 0;	/* ASKED or ANSWERED, not yet freed */
static char slot_freed;			/* the key tasks wait on for a free slot */
static bool no_helper_reported = false;

static void report_no_helper(const char *why);
static bool helper_usable(void);
static PasswordSlot *ask_helper(const char *role, const char *verifier);
static void answer_all_gone(void);
static void wipe_slot(PasswordSlot *slot);

/*
 * PasswordHelperLaunch
 *		Launch the helper (the worker, at its start, and again after the
 *		helper exited).  Logs and leaves the worker to set passwords itself
 *		when it cannot.
 */
void
PasswordHelperLaunch(void)
{
	BackgroundWorker worker;
	MemoryContext old_cxt;
	bool		registered;

	relaunch_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 HELPER_RELAUNCH_MS);
	if (segment == NULL)
	{
		segment = dsm_create(sizeof(HelperShared), DSM_CREATE_NULL_IF_MAXSEGMENTS);
		if (segment == NULL)
		{
			report_no_helper("no dynamic shared memory segment was left for it");
			return;
		}
		dsm_pin_mapping(segment);
		shared = dsm_segment_address(segment);
		memset(shared, 0, sizeof(HelperShared));
		shared->worker_pid = MyProcPid;
		shared->worker_latch = MyLatch;
		SpinLockInit(&shared->mutex);
		for (int i = 0; i < HELPER_SLOTS; i++)
			pg_atomic_init_u32(&shared->slots[i].state, SLOT_FREE);
	}
	SpinLockAcquire(&shared->mutex);
	shared->helper_latch = NULL;
	SpinLockRelease(&shared->mutex);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "tenancy");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "TenancyPasswordHelperMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "tenancy password helper");
	snprintf(worker.bgw_type, BGW_MAXLEN, "tenancy password helper");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(segment));
	worker.bgw_notify_pid = MyProcPid;	/* its start and exit set our latch */

	if (helper_handle != NULL)
		pfree(helper_handle);
	helper_handle = NULL;
	/* the handle lives as long as the worker, not its pass */
	old_cxt = MemoryContextSwitchTo(TopMemoryContext);
	registered = RegisterDynamicBackgroundWorker(&worker, &helper_handle);
	MemoryContextSwitchTo(old_cxt);
	if (!registered)
	{
		helper_handle = NULL;
		report_no_helper("no background worker slot was free");
	}
	else
		no_helper_reported = false;
}

/*
 * report_no_helper
 *		Log, once until a helper starts again, why there is none.
 */
static void
report_no_helper(const char *why)
{
	if (no_helper_reported)
		return;
	ereport(LOG,
			(errmsg("tenancy worker could not start its password helper; it sets passwords itself"),
			 errdetail("%s", why),
			 errhint("Raise max_worker_processes: the helper needs one background worker besides the tenancy worker.")));
	no_helper_reported = true;
}

/*
 * helper_usable
 *		Is there a helper, started or starting, to send a request to?
 */
static bool
helper_usable(void)
{
	pid_t		pid;

	if (helper_handle == NULL)
		return false;
	return GetBackgroundWorkerPid(helper_handle, &pid) != BGWH_STOPPED;
}

/*
 * wipe_slot
 *		Zero what a slot held of a request and its answer.
 */
static void
wipe_slot(PasswordSlot *slot)
{
	explicit_bzero(slot->verifier, sizeof(slot->verifier));
	memset(slot->role, 0, sizeof(slot->role));
	slot->sqlerrcode = 0;
	slot->message[0] = slot->detail[0] = slot->hint[0] = '\0';
}

/*
 * ask_helper
 *		In a step task: put a request in a free slot (waiting for one) and
 *		wait for its answer.  NULL when there is no helper to ask.
 */
static PasswordSlot *
ask_helper(const char *role, const char *verifier)
{
	PasswordSlot *slot = NULL;
	Latch	   *helper_latch;

	while (slot == NULL && helper_usable())
	{
		for (int i = 0; i < HELPER_SLOTS && slot == NULL; i++)
			if (pg_atomic_read_u32(&shared->slots[i].state) == SLOT_FREE)
				slot = &shared->slots[i];
		if (slot == NULL)
			StepTaskWaitFor(&slot_freed);
	}
	if (slot == NULL)
		return NULL;

	strlcpy(slot->role, role, sizeof(slot->role));
	strlcpy(slot->verifier, verifier, sizeof(slot->verifier));
	pg_write_barrier();
	pg_atomic_write_u32(&slot->state, SLOT_ASKED);
	slots_asked++;
	SpinLockAcquire(&shared->mutex);
	helper_latch = shared->helper_latch;
	SpinLockRelease(&shared->mutex);
	/* not attached yet: it looks at every slot once it has */
	if (helper_latch != NULL)
		SetLatch(helper_latch);
	while (pg_atomic_read_u32(&slot->state) != SLOT_ANSWERED)
		StepTaskWaitFor(slot);
	pg_read_barrier();
	return slot;
}

/*
 * PasswordHelperSet
 *		In a step task: have the helper set role's password to verifier,
 *		waiting for its answer; raise the helper's error, if any.  False
 *		when there is no helper to do it (outside a task, none could be
 *		started, or it exited): the caller sets the password itself.
 */
bool
PasswordHelperSet(const char *role, const char *verifier)
{
	PasswordSlot *slot;
	int			sqlerrcode;
	char	   *message = NULL;
	char	   *detail = NULL;
	char	   *hint = NULL;

	if (!StepTaskActive() || shared == NULL)
		return false;
	if (strlen(role) >= NAMEDATALEN || strlen(verifier) >= HELPER_VERIFIER_SIZE)
		return false;
	slot = ask_helper(role, verifier);
	if (slot == NULL)
		return false;

	sqlerrcode = slot->sqlerrcode;
	if (sqlerrcode != 0 && sqlerrcode != ANSWER_GONE)
	{
		message = pstrdup(slot->message);
		detail = slot->detail[0] ? pstrdup(slot->detail) : NULL;
		hint = slot->hint[0] ? pstrdup(slot->hint) : NULL;
	}
	wipe_slot(slot);
	pg_atomic_write_u32(&slot->state, SLOT_FREE);
	slots_asked--;
	StepTaskWake(&slot_freed);

	if (message != NULL)
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg_internal("%s", message),
				 detail ? errdetail_internal("%s", detail) : 0,
				 hint ? errhint("%s", hint) : 0));
	return sqlerrcode == 0;
}

/*
 * answer_all_gone
 *		The helper is gone: answer every slot it left ASKED with "gone".
 */
static void
answer_all_gone(void)
{
	for (int i = 0; i < HELPER_SLOTS; i++)
	{
		PasswordSlot *slot = &shared->slots[i];

		if (pg_atomic_read_u32(&slot->state) != SLOT_ASKED)
			continue;
		explicit_bzero(slot->verifier, sizeof(slot->verifier));
		slot->sqlerrcode = ANSWER_GONE;
		pg_write_barrier();
		pg_atomic_write_u32(&slot->state, SLOT_ANSWERED);
	}
}

/*
 * PasswordHelperCollect
 *		In the worker's loop: wake the tasks whose requests were answered,
 *		and notice a helper
 *		that exited (answering its requests "gone", and launching another
 *		once HELPER_RELAUNCH_MS have passed).
 */
void
PasswordHelperCollect(void)
{
	if (helper_handle != NULL && !helper_usable())
	{
		ereport(LOG,
				(errmsg("tenancy password helper exited; the worker sets passwords itself until it starts another")));
		pfree(helper_handle);
		helper_handle = NULL;
		relaunch_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 HELPER_RELAUNCH_MS);
	}
	if (helper_handle == NULL)
	{
		if (slots_asked > 0)
			answer_all_gone();
		if (GetCurrentTimestamp() >= relaunch_after)
			PasswordHelperLaunch();
	}
	if (slots_asked == 0)
		return;

	for (int i = 0; i < HELPER_SLOTS; i++)
	{
		PasswordSlot *slot = &shared->slots[i];

		if (pg_atomic_read_u32(&slot->state) == SLOT_ANSWERED)
			StepTaskWake(slot);
	}
}
