/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The worker's view of tenancy.steps and tenancy.operations: claim due
 *	  steps, record each result, finish or compensate operations.
 *
 * Every function here runs its own short transaction; none may be called
 * with a transaction open, and none performs network I/O.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_JOURNAL_H
#define TENANCY_JOURNAL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* A step the worker claimed: what it must run, in this attempt. */
typedef struct ClaimedStep
{
	int64		step_id;
	int64		operation_id;
	int32		ordinal;
	int32		attempt;		/* 1-based number of this attempt */
	bool		compensation;	/* running the step's compensation */
	char	   *target;
	char	   *action;
	char	   *object;
	char	   *request;		/* request (or compensation) jsonb, as text */
	char	   *malformed;		/* why the row cannot run, or NULL */
	bool		counted;		/* the attempt is counted (by the claim, or by
								 * JournalStepStarted) */
	bool		handler;		/* the request names a handler */
	List	   *created;		/* CreatedObject *: what this attempt created,
								 * recorded with its outcome */
	int64		unreachable_ms; /* how long the platform has not answered this
								 * step, -1 if it did last time */
	TimestampTz started_at;		/* when its first attempt started (its
								 * started_at), 0 if unknown */
} ClaimedStep;

/*
 * A Kubernetes object an attempt created in the tenant's namespace
 * (StepRecordCreated): its uid is recorded in tenancy.platform_objects in
 * the transaction that records the attempt's outcome.
 */
typedef struct CreatedObject
{
	char	   *path;
	char	   *uid;
} CreatedObject;

/* How an attempt ended. */
typedef enum StepOutcomeKind
{
	STEP_OUTCOME_SUCCEEDED,		/* done */
	STEP_OUTCOME_SKIPPED,		/* nothing to do here (no endpoint): done */
	STEP_OUTCOME_RETRY,			/* transient failure: try again later */
	STEP_OUTCOME_FAILED			/* permanent failure: the operation fails */
} StepOutcomeKind;

typedef struct StepOutcome
{
	StepOutcomeKind kind;
	int			http_status;	/* status of the last response, 0 if none */
	int64		retry_after_ms; /* delay the server asked for, 0 if none */
	char	   *message;		/* error or skip reason; never a secret */
	bool		poll;			/* RETRY: a readiness poll found "not ready
								 * yet"; not an attempt (the handler keeps a
								 * deadline of its own) */
	bool		may_have_acted; /* FAILED, yet the step may have changed
								 * something (the worker stopped before it
								 * recorded a result) */
	bool		unreachable;	/* RETRY: the service cannot serve it now: no
								 * answer (refused, reset, timed out), or 408,
								 * 429, 5xx; not an attempt until that has
								 * lasted tenancy.unreachable_timeout */
} StepOutcome;

/* An attempt that ended, with its outcome, waiting to be recorded. */
typedef struct FinishedStep
{
	ClaimedStep *step;
	StepOutcome outcome;
	MemoryContext cxt;			/* the step's memory, the caller's to delete */
} FinishedStep;

/*
 * One pass of the worker over the journal: what to record, how much to
 * claim; and what came of it.
 */
typedef struct JournalPass
{
	/* set by the caller */
	List	   *finished;		/* FinishedStep *, outcomes to record */
	int			max_claim;		/* claim at most this many steps (0: none) */
	bool		claim_all;		/* look at every due step, not only at the
								 * operations whose steps just finished */
	MemoryContext result_cxt;	/* where claimed steps are allocated */

	/* set by JournalRunPass */
	bool		ready;			/* the extension is installed */
	List	   *claimed;		/* ClaimedStep *, running under a lease */
	bool		more_due;		/* the claim filled max_claim: more may be due */
	TimestampTz next_due;		/* earliest due time of a retry recorded by
								 * this pass, and with claim_all of any step
								 * or lease expiry; 0 if none */
	bool		converge_ended; /* a provision, apply or deprovision ended:
								 * the tenant's next one may be due */
} JournalPass;

/*
 * Record outcomes and claim due steps in one short transaction, committed
 * before it returns: forward steps of the operations whose steps just
 * finished first, then (claim_all) any due forward step whose dependencies
 * are done, then compensations in reverse completion order.  Claimed steps
 * are marked running under a lease, their operations running.
 */
extern void JournalRunPass(JournalPass *pass);

/* Have steps finished whose operations may have further steps due? */
extern bool JournalHasDueOperations(void);

/* Forget those operations (after an error; claim_all finds them again). */
extern void JournalForgetDueOperations(void);

/*
 * Put back steps left running by a dead worker (all of them at startup, or
 * those whose lease expired and that are not in the given in-flight list),
 * failing those that used up their attempts; fail operations whose steps
 * can never run (a dependency cycle).  Returns how many steps came back.
 */
extern int	JournalMaintain(bool all_running, const int64 *in_flight,
							int n_in_flight);

/*
 * Extend the leases of steps the worker holds, from now (steps claimed and
 * not started yet while handlers run, requests in flight, outcomes not
 * recorded yet).
 */
extern void JournalRenewLeases(const int64 *step_ids, int n_steps);

/* Delay before retry number attempt (1-based), with jitter. */
extern int64 JournalRetryDelayMs(int attempt, int64 retry_after_ms);

/* Delay before trying a platform that has not answered for down_ms. */
extern int64 JournalUnreachableDelayMs(int64 down_ms);

/*
 * Count the attempt of a claimed step that the claim did not count, just
 * before it starts (committed synchronously); false if it is not ours.
 */
extern bool JournalStepStarted(ClaimedStep *step);

/*
 * The journal's writers in the caller's transaction (journal_write.c): with
 * the worker's functions above, the only code that inserts or changes
 * operations and steps.  Callers lock the tenant's row first.
 */

/* The tenant's state while an operation of this kind runs, or NULL. */
extern const char *JournalTenantStateRunning(const char *kind);

/*
 * A new operation, pending (succeeded at once when done); started: its
 * first steps ran in the caller's transaction.  Returns its id.
 */
extern int64 JournalAddOperation(int64 tenant_id, const char *kind,
								 int64 generation, bool started, bool done);

/* The planned steps (PlanStep *) of a new operation. */
extern void JournalAddPlanSteps(int64 operation_id, List *steps);

/*
 * One pending maintenance step; depends_on an int4[] datum or 0; acts_on
 * the planned action whose object it acts on (object_* columns), or NULL.
 */
struct PlanAction;
extern void JournalAddStep(int64 operation_id, int32 ordinal,
						   const char *target, const char *action,
						   const char *object, Datum request,
						   Datum depends_on, const struct PlanAction *acts_on);

/* Cancel every unfinished operation of the tenant, saying why. */
extern void JournalSupersede(int64 tenant_id, const char *reason);

/* Set an operation's error text. */
extern void JournalSetError(int64 operation_id, const char *error);

/* tenancy.retry's and tenancy.cancel's changes. */
extern void JournalRestart(int64 operation_id, bool undone);
extern void JournalCancel(int64 operation_id, const char *reason);

/* A one-dimensional array datum of a built-in type, NULLs allowed. */
extern Datum JournalArrayDatum(Datum *values, bool *nulls, int n,
							   Oid elemtype);

#endif							/* TENANCY_JOURNAL_H */
