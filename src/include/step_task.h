/*-------------------------------------------------------------------------
 *
 * step_task.h
 *	  Tasks: a step's work run on a stack of its own, so that it can wait
 *	  for a request (or a Vault login) and let the worker run other steps
 *	  meanwhile.
 *
 * A handler is written as straight-line code: StepHttpCall, then look at
 * the answer, then the next call.  Run in a task, each of those calls
 * starts its request on the worker's one curl multi handle and gives
 * control back to the worker loop (StepTaskWaitFor); the loop starts other
 * steps, drives every request, and resumes the task when its request
 * completed (StepTaskWake).  Outside a task (a backend, or the worker
 * before any task runs) the same calls run the request to completion.
 *
 * A task gives control back only inside StepTaskWaitFor, never with a
 * transaction open: the worker's own transactions run in between.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_STEP_TASK_H
#define TENANCY_STEP_TASK_H

#include "postgres.h"

typedef struct StepTask StepTask;
typedef void (*StepTaskFunction) (void *arg);

/*
 * Run function(arg) in a new task until it ends or waits.  Returns NULL
 * when it ended, else the task (resume it with StepTaskResume once
 * StepTaskNextReady hands it back).
 */
extern StepTask *StepTaskStart(StepTaskFunction function, void *arg);

/* Resume a ready task until it ends or waits again; true when it ended. */
extern bool StepTaskResume(StepTask *task);

/* A task whose wait ended, and the arg it was started with; NULL if none. */
extern StepTask *StepTaskNextReady(void **arg);

/* Inside a task? */
extern bool StepTaskActive(void);

/*
 * Inside a task: give control back until StepTaskWake(key).  key is any
 * address standing for what is awaited (a request, an endpoint's login).
 */
extern void StepTaskWaitFor(const void *key);

/* Make every task waiting on key ready to resume. */
extern void StepTaskWake(const void *key);

#endif							/* TENANCY_STEP_TASK_H */
