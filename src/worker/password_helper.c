/*-------------------------------------------------------------------------
 *
 * password_helper.c
 *	  A background worker that sets tenant login roles' passwords for the
 *	  tenancy worker, so that the worker's one thread does not spend the
 *	  time ALTER ROLE ... PASSWORD takes.  The worker's side, and the slots
 *	  the two share, are in exec/password_slots.c.
 *
 * Why: ALTER ROLE with a SCRAM verifier checks that the verifier is not
 * that of an empty password, by running the verifier's 4,096 PBKDF2
 * iterations on "" (plain_crypt_verify), each through pg_hmac_init, which
 * under OpenSSL 3 looks SHA-256 up again: about 2.5 ms of CPU per role,
 * three roles per tenant, plus the transaction around each.  Done by the
 * worker, that was a quarter of its CPU time during a burst of provisions
 * (test/bench/README.md), time during which no other step's request was
 * driven, recorded or claimed.  Done here, it runs on another core while
 * the worker goes on.
 *
 * The helper attaches the worker's segment, connects as the worker does
 * (WorkerSessionSettings), and serves every ASKED slot: RoleSetVerifierQuietly
 * (the same checks, quiet settings, row lock and ALTER ROLE the worker ran
 * itself) in a transaction of its own, then the answer.  Its commits are
 * asynchronous like the worker's; the worker records the step's outcome
 * only after the answer, and WAL is flushed in order, so an outcome that
 * survives a crash has its password with it.  The helper exits when the
 * worker that launched it has.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "password_helper.h"
#include "platform.h"
#include "tenancy.h"
#include "worker.h"

/* How often the helper looks whether the worker that launched it is gone. */
#define HELPER_PARENT_CHECK_MS 1000

static HelperShared *shared = NULL;

static void copy_cut(char *dest, const char *src, size_t size);
static void serve(PasswordSlot *slot);

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
	dsm_segment *segment;

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
