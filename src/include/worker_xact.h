/*-------------------------------------------------------------------------
 *
 * worker_xact.h
 *	  The worker's short transactions (worker/worker_xact_util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_WORKER_XACT_H
#define TENANCY_WORKER_XACT_H

#include "postgres.h"

/* Begin: transaction, SPI connected, snapshot; activity shown if not NULL */
extern void WorkerXactBegin(const char *activity);

/* Commit what WorkerXactBegin started */
extern void WorkerXactCommit(void);

/*
 * In a worker transaction, before touching the extension's tables: lock
 * the extension (DROP EXTENSION and the worker queue on it, never a
 * deadlock between them); false when it is not installed, or installed
 * at another version than the library's (the worker then waits).
 */
extern bool WorkerLockExtension(void);

/* The version of tenancy installed in this database (NULL: none) */
extern char *WorkerInstalledVersion(void);

#endif							/* TENANCY_WORKER_XACT_H */
