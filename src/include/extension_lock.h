/*-------------------------------------------------------------------------
 *
 * extension_lock.h
 *	  WorkerLockExtension (worker/extension_lock_util.c): in a transaction
 *	  of the worker, lock the extension before touching its tables, and say
 *	  whether it is installed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_EXTENSION_LOCK_H
#define TENANCY_EXTENSION_LOCK_H

#include "postgres.h"

extern bool WorkerLockExtension(void);

#endif							/* TENANCY_EXTENSION_LOCK_H */
