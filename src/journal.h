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
} ClaimedStep;

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
} StepOutcome;

/* Is the extension installed in the worker's database? */
extern bool JournalExtensionReady(void);

/*
 * Put back steps left running by a dead worker (all of them at startup, or
 * those whose lease expired and that are not in the given in-flight list),
 * failing those that used up their attempts.  Returns how many came back.
 */
extern int	JournalRequeueExpired(bool all_running, const int64 *in_flight,
								  int n_in_flight);

/*
 * Claim up to max_steps due steps (forward steps whose dependencies are
 * done, then compensations in reverse completion order), mark them running
 * under a lease, commit.  The steps are allocated in result_cxt.
 * *next_due is set to the earliest future next_attempt_at (0 if none).
 */
extern List *JournalClaimSteps(int max_steps, MemoryContext result_cxt,
							   TimestampTz *next_due);

/* Record the outcome of one attempt and move the operation on. */
extern void JournalRecordOutcome(const ClaimedStep *step,
								 const StepOutcome *outcome);

/* Delay before retry number attempt (1-based), with jitter. */
extern int64 JournalRetryDelayMs(int attempt, int64 retry_after_ms);

#endif							/* TENANCY_JOURNAL_H */
