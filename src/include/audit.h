/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  tenancy.audit: compare what the catalog says should exist with what
 *	  exists, and record every finding of a run.
 *
 *	  audit.c      the run: tenants, planner drift, roles, credentials,
 *	               data freshness, storage, shared tables
 *	  audit_run.c  what every part writes to: findings, role -> tenant
 *	  audit_acl.c  the planned grants, memberships and role settings (read
 *	               back from the planner's own statements) against the
 *	               ACLs, default ACLs, memberships and settings that exist
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_AUDIT_H
#define TENANCY_AUDIT_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

#include "plan.h"

/* Severities, from worst to mildest (tenancy.audit_findings.severity) */
#define AUDIT_CRITICAL	"critical"	/* isolation or access broken */
#define AUDIT_HIGH		"high"	/* more access than planned, data at risk */
#define AUDIT_WARNING	"warning"	/* drift that harms the tenant */
#define AUDIT_INFO		"info"	/* could not check, or worth knowing */

/* A run of tenancy.audit in progress */
typedef struct AuditRun
{
	int64		run_id;
	Tuplestorestate *store;		/* the rows tenancy.audit returns */
	TupleDesc	desc;
	SPIPlanPtr	insert_finding; /* INSERT INTO tenancy.audit_findings */
	int			findings;
	HTAB	   *role_tenants;	/* role name -> tenant name, every tenant */
	bool		platform;		/* enqueue platform checks (Kubernetes set) */
	SPIPlanPtr	check_request;	/* the check step of a planned action */
	int			operations;		/* audit operations enqueued */
} AuditRun;

/* A relation in a tenant schema, as the audit reads it once per run */
typedef struct AuditRelation
{
	Oid			relid;
	char	   *relname;
	char		relkind;
	Oid			owner;
	Acl		   *acl;			/* NULL: default privileges */
	int64		bytes;			/* pg_total_relation_size, tables only */
	char	   *freshness_column;	/* timestamp column measuring freshness */
} AuditRelation;

/* audit_run.c: the run's findings and its role -> tenant map */
extern void AuditReport(AuditRun *run, const char *tenant,
						const char *check_name, const char *severity,
						const char *object, const char *fmt,...)
			pg_attribute_printf(6, 7);
extern const char *AuditTenantOfRole(AuditRun *run, const char *rolname);
extern void AuditRolesInit(AuditRun *run);
extern void AuditRememberRole(AuditRun *run, const char *rolname,
							  const char *tenant);

/* audit_setup.c: tenancy's pg_cron jobs that failed or are overdue; who
 * may connect to the platform database */
extern void AuditScheduledJobs(AuditRun *run);
extern void AuditPlatformConnect(AuditRun *run);

/* audit_acl.c */
typedef struct PlannedAccess PlannedAccess;
extern PlannedAccess *AuditPlannedAccess(List *new_tenant_plan);
extern void AuditSchemaPrivileges(AuditRun *run, const TenantModel *model,
								  const PlannedAccess *planned,
								  const Oid *schema_oids,
								  List *const *relations);
extern void AuditDefaultPrivileges(AuditRun *run, const TenantModel *model,
								   const PlannedAccess *planned);
extern void AuditMemberships(AuditRun *run, const TenantModel *model,
							 const PlannedAccess *planned);
extern void AuditRoleSettings(AuditRun *run, const TenantModel *model,
							  const TenantState *state,
							  const PlannedAccess *planned);

#endif							/* TENANCY_AUDIT_H */
