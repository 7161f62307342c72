/*-------------------------------------------------------------------------
 *
 * step_exec.h
 *	  Turn a claimed step into work: an HTTP request, a handler call, or
 *	  local SQL; and turn the result into a StepOutcome.
 *
 * Handlers are how steps that are not one plain request get done (generate
 * a password and write it to Vault, set a SCRAM verifier, run helm, wait
 * until Ready).  A step names one with {"handler": "name", ...arguments};
 * the worker calls the function registered under that name with no
 * transaction open.  A handler:
 *	 - reads its arguments from context->request (a jansson object; never
 *	   holds a secret);
 *	 - may make HTTP requests with StepHttpCall (synchronous, interruptible),
 *	   and may open short transactions of its own (never across a request);
 *	 - must be idempotent: it may run again after a crash, with the same
 *	   context->idempotency_key;
 *	 - sets *outcome (SUCCEEDED, SKIPPED, RETRY with a message, FAILED);
 *	   an ERROR it raises fails the step for good, and only that step;
 *	 - never puts a secret in outcome->message (it is stored in
 *	   tenancy.steps.last_error) nor in a log line; wipes (explicit_bzero)
 *	   and frees what jansson or libcurl allocated for a secret, in
 *	   PG_TRY/PG_FINALLY so that an ERROR does not leak it.
 *
 * Handlers run in step tasks (step_task.h) on the worker's only thread:
 * a request of StepHttpCall goes out with the worker's other requests, and
 * while it is in flight the worker starts, resumes and records other
 * steps.  Code between two requests runs alone, so it must be quick:
 *	 - requests are fine, many of them (each waits without blocking; SQL
 *	   transactions of a handler must end before its next request);
 *	 - never wait for something to happen (a release to become Ready, a
 *	   child process to exit, a namespace to be deleted) inside the
 *	   handler: look once, and if it is not there yet return RETRY with
 *	   outcome->poll set and outcome->retry_after_ms set to when to look
 *	   again (HandlerPollDelayMs in handler_http.c).  The step goes back to
 *	   pending and the worker runs other steps meanwhile; a poll uses no
 *	   attempt, so the handler keeps a deadline of its own, from the
 *	   step's first start (HandlerStepAgeMs), not in worker memory: the
 *	   worker may have restarted in between.  A request's RETRY outcome
 *	   (StepHttpCall) is returned as it is: no answer, 408, 429 and 5xx are
 *	   waited out (outcome->unreachable), and never read as "not ready";
 *	 - a process it starts must not be waited for either: keep its pid in
 *	   worker memory under the idempotency key and poll it (handler_helm.c).
 * Register handlers from RegisterBuiltinStepHandlers (step_exec.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_STEP_EXEC_H
#define TENANCY_STEP_EXEC_H

#include "postgres.h"

#include <jansson.h>

#include "http.h"
#include "journal.h"

typedef struct StepContext
{
	const ClaimedStep *step;
	json_t	   *request;		/* the step's request object (borrowed) */
	const char *idempotency_key;	/* stable across attempts of the step */
} StepContext;

typedef void (*StepHandlerFunction) (const StepContext *context,
									 StepOutcome *outcome);

/* Register a handler under a name (at worker start). */
extern void RegisterStepHandler(const char *name, StepHandlerFunction function);

/*
 * Register a function the worker calls at every turn of its loop, for what
 * handlers keep between the steps they run (helm's child processes).
 */
extern void RegisterStepHousekeeping(void (*function) (void));

/* Call those functions (the worker, once a turn). */
extern void StepHousekeeping(void);

/* Register every handler this build has; called once by the worker. */
extern void RegisterBuiltinStepHandlers(void);

/* The platform steps' handlers (handler_http.c). */
extern void RegisterPlatformStepHandlers(void);

/* A claimed step being run; allocate in its own memory context. */
typedef struct RunningStep
{
	ClaimedStep *step;
	MemoryContext cxt;			/* everything of this step; deleted at the end */
	HttpRequest request;		/* when the step is one HTTP request */
	int		   *ok_status;		/* statuses that count as success, too */
	int			n_ok_status;

	/* while the step runs in a task (step_task.h) */
	struct StepTask *task;		/* NULL when none is waiting */
	HttpClient *client;
	StepOutcome outcome;		/* set by the task when it ends */
	bool		in_flight;		/* the task started running->request */
} RunningStep;

/* Where a step is after StepStart or StepResume. */
typedef enum StepProgress
{
	STEP_DONE,					/* *outcome is set */
	STEP_IN_FLIGHT,				/* its request is on the client: finish it
								 * with StepFinishHttp once it completes */
	STEP_WAITING				/* its task waits: StepResume it once
								 * StepTaskNextReady hands it back */
} StepProgress;

/*
 * Start a step.  A step that may wait (a handler, or a request that may need
 * a Vault login) runs in a task, so that it does not hold up the worker.
 */
extern StepProgress StepStart(HttpClient *client, RunningStep *running,
							  StepOutcome *outcome);

/* Resume a step whose task is ready (StepTaskNextReady). */
extern StepProgress StepResume(RunningStep *running, StepOutcome *outcome);

/* The outcome of a step's completed HTTP request. */
extern void StepFinishHttp(RunningStep *running, StepOutcome *outcome);

/*
 * For handlers: one request to a target's endpoint (path relative to its
 * base URL, query encoded without its '?', or NULL), run to completion;
 * *outcome says how it went (SKIPPED when the target has no endpoint, RETRY
 * when it needs a token and has none yet).  The response is in
 * request->response; the body is wiped once sent.
 */
extern void StepHttpCall(const StepContext *context, const char *target,
						 const char *method, const char *path,
						 const char *query, json_t *body,
						 const char *content_type, HttpRequest *request,
						 StepOutcome *outcome);

/*
 * For handlers: the step created the object at path, whose metadata.uid is
 * uid; recorded (tenancy.platform_objects) with the attempt's outcome.
 */
extern void StepRecordCreated(const StepContext *context, const char *path,
							  const char *uid);

/* Set an outcome's kind and formatted message (step_outcome.c). */
extern void StepSetOutcome(StepOutcome *outcome, StepOutcomeKind kind,
						   const char *fmt,...) pg_attribute_printf(3, 4);

/* Classify a completed request (2xx and ok_status succeed). */
extern void StepOutcomeFromResponse(const HttpRequest *request,
									const int *ok_status, int n_ok_status,
									StepOutcome *outcome);

/* A lock conflict (deadlock, serialization failure, lock not available) */
extern bool StepErrorIsTransient(int sqlerrcode);

#endif							/* TENANCY_STEP_EXEC_H */
