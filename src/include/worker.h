/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The tenancy background worker: registration, shared state and the
 *	  commit-time wake-up that callers of provision/apply/deprovision use.
 *
 * The worker carries out, after COMMIT, the steps that an operation
 * recorded in tenancy.steps.  A transaction that enqueued steps calls
 * WorkerWakeAtCommit(); when (and only when) it commits, the worker's latch
 * is set so that the steps start at once instead of at the next poll.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_WORKER_H
#define TENANCY_WORKER_H

#include "postgres.h"

#include "storage/latch.h"

/*
 * worker_wake.c: shared memory holding the worker's latch, and the wake-up.
 */

/* Ask for the shared memory; call from _PG_init when preloaded. */
extern void WorkerRequestSharedMemory(void);

/*
 * Wake the worker when the current transaction commits.  Cheap enough to call
 * once per enqueued step; does nothing when the library was not preloaded
 * (there is no worker then) and nothing if the transaction aborts.
 */
extern void WorkerWakeAtCommit(void);

/* Wake the worker now (e.g. tenancy.retry after its own commit). */
extern void WorkerWakeNow(void);

/* The worker advertises its latch and pid; cleared again at its exit. */
extern void WorkerAdvertise(Latch *latch);

/* Pid of the running worker, or 0. */
extern pid_t WorkerPid(void);

/* Count of wake-ups requested since startup (for tests and benchmarks). */
extern uint64 WorkerWakeups(void);

/*
 * worker.c: registration and the main loop.
 */
extern void WorkerSessionSettings(void);

extern void RegisterTenancyWorker(void);
extern PGDLLEXPORT void TenancyWorkerMain(Datum main_arg);

#endif							/* TENANCY_WORKER_H */
