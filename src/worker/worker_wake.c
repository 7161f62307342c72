/*-------------------------------------------------------------------------
 *
 * worker_wake.c
 *	  Wake the tenancy worker when a transaction that enqueued steps
 *	  commits.
 *
 * A small struct in shared memory holds the worker's latch and pid.  A
 * backend that enqueues steps calls WorkerWakeAtCommit(): the first call in
 * a backend registers a transaction callback (once per backend, never once
 * per call), and every call marks the current transaction.  At
 * XACT_EVENT_COMMIT the callback sets the worker's latch; on abort it only
 * forgets the mark, so a rolled-back provision wakes nobody.
 *
 * The latch lives in the worker's PGPROC, which is in shared memory, so any
 * backend may set it.  A stale pointer (the worker exited and its PGPROC was
 * reused) costs at worst a spurious wake-up of another process, which every
 * latch user tolerates by design.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "worker.h"

/* What the worker shares with every backend. */
typedef struct WorkerSharedState
{
	slock_t		mutex;			/* protects latch and pid */
	Latch	   *latch;			/* the worker's latch, NULL when none runs */
	pid_t		pid;			/* the worker's pid, 0 when none runs */
	pg_atomic_uint64 wakeups;	/* wake-ups requested since startup */
} WorkerSharedState;

static WorkerSharedState *worker_shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Per backend: is the callback registered, must this transaction wake? */
static bool xact_callback_registered = false;
static bool wake_at_commit = false;

static void worker_shmem_request(void);
static void worker_shmem_startup(void);
static void worker_xact_callback(XactEvent event, void *arg);
static void worker_unadvertise(int code, Datum arg);

/*
 * WorkerRequestSharedMemory
 *		Install the hooks that reserve and initialize the shared struct.
 *
 * Called from _PG_init while shared_preload_libraries is processed.
 * PostgreSQL 15 and later want the request made from shmem_request_hook;
 * older servers accept it from _PG_init directly.
 */
void
WorkerRequestSharedMemory(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
#else
	worker_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
}

/*
 * worker_shmem_request
 *		Reserve room for the shared struct.
 */
static void
worker_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerSharedState)));
}

/*
 * worker_shmem_startup
 *		Create or attach to the shared struct (postmaster, and each backend
 *		on EXEC_BACKEND builds).
 */
static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("tenancy worker",
									sizeof(WorkerSharedState),
									&found);
	if (!found)
	{
		SpinLockInit(&worker_shared->mutex);
		worker_shared->latch = NULL;
		worker_shared->pid = 0;
		pg_atomic_init_u64(&worker_shared->wakeups, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * WorkerAdvertise
 *		Publish the worker's latch and pid; cleared when the worker exits.
 */
void
WorkerAdvertise(Latch *latch)
{
	if (worker_shared == NULL)
		return;
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->latch = latch;
	worker_shared->pid = MyProcPid;
	SpinLockRelease(&worker_shared->mutex);
	before_shmem_exit(worker_unadvertise, (Datum) 0);
}

/*
 * worker_unadvertise
 *		Exit callback of the worker: nobody should set its latch any more.
 */
static void
worker_unadvertise(int code, Datum arg)
{
	(void) code;
	(void) arg;
	SpinLockAcquire(&worker_shared->mutex);
	if (worker_shared->pid == MyProcPid)
	{
		worker_shared->latch = NULL;
		worker_shared->pid = 0;
	}
	SpinLockRelease(&worker_shared->mutex);
}

/*
 * WorkerPid
 *		Pid of the running worker, 0 if none (or not preloaded).
 */
pid_t
WorkerPid(void)
{
	pid_t		pid;

	if (worker_shared == NULL)
		return 0;
	SpinLockAcquire(&worker_shared->mutex);
	pid = worker_shared->pid;
	SpinLockRelease(&worker_shared->mutex);
	return pid;
}

/*
 * WorkerWakeups
 *		Number of wake-ups requested since the server started.
 */
uint64
WorkerWakeups(void)
{
	if (worker_shared == NULL)
		return 0;
	return pg_atomic_read_u64(&worker_shared->wakeups);
}

/*
 * WorkerWakeNow
 *		Set the worker's latch, if a worker runs.
 */
void
WorkerWakeNow(void)
{
	Latch	   *latch;

	if (worker_shared == NULL)
		return;
	SpinLockAcquire(&worker_shared->mutex);
	latch = worker_shared->latch;
	SpinLockRelease(&worker_shared->mutex);
	pg_atomic_fetch_add_u64(&worker_shared->wakeups, 1);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * WorkerWakeAtCommit
 *		Wake the worker when the current transaction commits.
 */
void
WorkerWakeAtCommit(void)
{
	if (worker_shared == NULL)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(worker_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * worker_xact_callback
 *		At commit of a transaction that enqueued steps, wake the worker.
 *
 * Only XACT_EVENT_COMMIT wakes: the data is visible to the worker by then.
 * A prepared transaction is committed later by another backend: the worker
 * then finds its steps at the next poll.
 */
static void
worker_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_at_commit)
			{
				wake_at_commit = false;
				WorkerWakeNow();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}
