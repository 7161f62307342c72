/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  What the worker's maintenance handlers (handler_audit.c) record in the
 *	  catalog.  Kept apart from audit.h so that the handlers, which use
 *	  jansson, need no server header that clashes with it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_MAINTENANCE_H
#define TENANCY_MAINTENANCE_H

#include "postgres.h"

/* maintenance_record.c: one platform finding of an audit run (caller's transaction) */
extern void AuditRecordPlatformFinding(int64 run_id, const char *tenant,
									   const char *check_name,
									   const char *severity,
									   const char *object, const char *detail);

/* maintenance_record.c: one finding of an audit run, source 'database' or 'platform' */
extern void AuditRecordFinding(int64 run_id, const char *tenant,
							   const char *source, const char *check_name,
							   const char *severity, const char *object,
							   const char *detail);

/* maintenance_record.c: the pod requests of a usage sample (caller's transaction) */
extern void MeteringRecordPodRequests(int64 sample_id, double cpu_cores,
									  double memory_bytes, int pods_running);

#endif							/* TENANCY_MAINTENANCE_H */
