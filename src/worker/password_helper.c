/*-------------------------------------------------------------------------
 *
 * password_helper.c
 *	  A background worker that sets tenant login roles' passwords for the
 *	  tenancy worker, so that the worker's one thread does not spend the
 *	  time ALTER ROLE ... PASSWORD takes.
 *
 * Why: ALTER ROLE with a SCRAM verifier checks that the verifier is not
 * that of an empty password, by running the verifier's 4,096 PBKDF2
 * iterations on "" (plain_crypt_verify), each through pg_hmac_init, which
 * under OpenSSL 3 looks SHA-256 up again: about 2.5 ms of CPU per role,
 * three roles per tenant, plus the transaction around each.  Done by the
 * worker, that was a third of its CPU time during a burst of provisions
 * (test/bench/README.md), time during which no other step's request was
 * driven, recorded or claimed.  Done here, it runs on another core while
 * the worker goes on.
 *
 * The worker launches the helper at its start (PasswordHelperLaunch), with
 * a dynamic shared memory segment of its own: a few slots, each holding
 * one request, a role and the SCRAM verifier the worker computed
 * (ScramVerifier: the password itself never leaves the worker), and then
 * its answer.  A slot goes FREE -> ASKED (the worker's step task fills it
 * and sets the helper's latch) -> ANSWERED (the helper ran
 * RoleSetVerifierQuietly: the same checks, quiet settings and ALTER ROLE
 * the worker ran itself, in a transaction of its own; it wipes the
 * verifier and sets the worker's latch) -> FREE (the task read the answer).
 * Each transition is made by one side only, with a barrier before the
 * state is written, so the slots need no lock.  The worker's loop wakes the
 * tasks whose slots are answered (PasswordHelperCollect).
 *
 * Failure: an error of the helper's transaction is the answer (SQLSTATE,
 * message, detail, hint), raised again in the step's task: the step fails
 * as it did when the worker set the password itself.  When the helper
 * cannot be started (max_worker_processes reached) or has exited, the
 * worker sets passwords itself (PasswordHelperSet returns false), and
 * launches a new helper at most every HELPER_RELAUNCH_MS; the slots the
 * helper left ASKED are answered "gone", and their tasks set their
 * passwords themselves (setting the same password twice is harmless).
 * The helper exits when the worker that launched it has.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "password_helper.h"
#include "platform.h"
#include "step_task.h"
#include "tenancy.h"
#include "worker.h"

/* Requests the helper may have at once; more tasks wait for a free slot. */
#define HELPER_SLOTS 16

/* Longest SCRAM verifier sent: the server's own is about 135 bytes. */
#define HELPER_VERIFIER_SIZE 512

/* Bounds of the error texts an answer carries (longer ones are cut). */
#define HELPER_MESSAGE_SIZE 512

/* After the helper could not be started or exited, try again this late. */
#define HELPER_RELAUNCH_MS 10000

/* How often the helper looks whether the worker that launched it is gone. */
#define HELPER_PARENT_CHECK_MS 1000

typedef enum SlotState
{
	SLOT_FREE,
	SLOT_ASKED,
	SLOT_ANSWERED
} SlotState;

/* The answer "the helper is gone": its task sets the password itself. */
#define ANSWER_GONE (-1)

typedef struct PasswordSlot
{
	pg_atomic_uint32 state;		/* SlotState */
	bool		abandoned;		/* worker side only: its task ended */
	char		role[NAMEDATALEN];
	char		verifier[HELPER_VERIFIER_SIZE];
	int			sqlerrcode;		/* 0: set; ANSWER_GONE; else the error's */
	char		message[HELPER_MESSAGE_SIZE];
	char		detail[HELPER_MESSAGE_SIZE];
	char		hint[HELPER_MESSAGE_SIZE];
} PasswordSlot;

typedef struct HelperShared
{
	pid_t		worker_pid;		/* the worker that launched the helper */
	Latch	   *worker_latch;
	slock_t		mutex;			/* protects helper_latch */
	Latch	   *helper_latch;	/* NULL until the helper has attached */
	PasswordSlot slots[HELPER_SLOTS];
} HelperShared;

/* The worker's side */
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
static void copy_cut(char *dest, const char *src, size_t size);
static void serve(PasswordSlot *slot);
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
 * copy_cut
 *		Copy an error text into a slot's buffer of size bytes, cut at a
 *		character boundary if it is longer (it becomes the step's
 *		last_error, which must stay valid in the server encoding); NULL is
 *		an empty string.
 */
static void
copy_cut(char *dest, const char *src, size_t size)
{
	int			len;

	if (src == NULL)
		src = "";
	len = pg_mbcliplen(src, (int) strlen(src), (int) size - 1);
	memcpy(dest, src, len);
	dest[len] = '\0';
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
	PasswordSlot *volatile slot = NULL;

	PG_TRY();
	{
		while (slot == NULL && helper_usable())
		{
			for (int i = 0; i < HELPER_SLOTS && slot == NULL; i++)
				if (pg_atomic_read_u32(&shared->slots[i].state) == SLOT_FREE &&
					!shared->slots[i].abandoned)
					slot = &shared->slots[i];
			if (slot == NULL)
				StepTaskWaitFor(&slot_freed);
		}
		if (slot != NULL)
		{
			Latch	   *helper_latch;

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
		}
	}
	PG_CATCH();
	{
		/* the task is unwound while it waits: the loop frees the slot */
		if (slot != NULL)
			slot->abandoned = true;
		PG_RE_THROW();
	}
	PG_END_TRY();
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
 *		free the slots of tasks that ended meanwhile, and notice a helper
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

		if (pg_atomic_read_u32(&slot->state) != SLOT_ANSWERED)
			continue;
		if (slot->abandoned)
		{
			wipe_slot(slot);
			slot->abandoned = false;
			pg_atomic_write_u32(&slot->state, SLOT_FREE);
			slots_asked--;
			StepTaskWake(&slot_freed);
		}
		else
			StepTaskWake(slot);
	}
}

/*
 * serve
 *		The helper's side of one request: set the password in a transaction
 *		of its own, and answer.
 */
static void
serve(PasswordSlot *slot)
{
	MemoryContext cxt = CurrentMemoryContext;
	char		role[NAMEDATALEN];
	char		verifier[HELPER_VERIFIER_SIZE];

	pg_read_barrier();
	memcpy(role, slot->role, sizeof(role));
	memcpy(verifier, slot->verifier, sizeof(verifier));
	role[NAMEDATALEN - 1] = '\0';
	verifier[HELPER_VERIFIER_SIZE - 1] = '\0';
	explicit_bzero(slot->verifier, sizeof(slot->verifier));
	slot->sqlerrcode = 0;
	slot->message[0] = slot->detail[0] = slot->hint[0] = '\0';

	PG_TRY();
	{
		RoleSetVerifierQuietly(role, verifier);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		slot->sqlerrcode = edata->sqlerrcode ? edata->sqlerrcode : ERRCODE_INTERNAL_ERROR;
		copy_cut(slot->message, edata->message, sizeof(slot->message));
		copy_cut(slot->detail, edata->detail, sizeof(slot->detail));
		copy_cut(slot->hint, edata->hint, sizeof(slot->hint));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	explicit_bzero(verifier, sizeof(verifier));

	pg_write_barrier();
	pg_atomic_write_u32(&slot->state, SLOT_ANSWERED);
	SetLatch(shared->worker_latch);
}

/*
 * TenancyPasswordHelperMain
 *		Entry point of the helper: attach the worker's segment, connect as
 *		the worker does, and answer requests until the worker is gone.
 */
void
TenancyPasswordHelperMain(Datum main_arg)
{
	MemoryContext request_cxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		proc_exit(0);			/* the worker that launched us is gone */
	dsm_pin_mapping(segment);
	shared = dsm_segment_address(segment);

	BackgroundWorkerInitializeConnection(tenancy_database, NULL, 0);
	pgstat_report_appname("tenancy password helper");
	WorkerSessionSettings();

	request_cxt = AllocSetContextCreate(TopMemoryContext,
										"tenancy password helper",
										ALLOCSET_DEFAULT_SIZES);
	SpinLockAcquire(&shared->mutex);
	shared->helper_latch = MyLatch;
	SpinLockRelease(&shared->mutex);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (WorkerPid() != shared->worker_pid)
			proc_exit(0);

		ResetLatch(MyLatch);
		for (int i = 0; i < HELPER_SLOTS; i++)
		{
			if (pg_atomic_read_u32(&shared->slots[i].state) != SLOT_ASKED)
				continue;
			MemoryContextSwitchTo(request_cxt);
			serve(&shared->slots[i]);
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(request_cxt);
		}
		pgstat_report_stat(false);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 HELPER_PARENT_CHECK_MS, PG_WAIT_EXTENSION);
	}
}
