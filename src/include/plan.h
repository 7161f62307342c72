/*-------------------------------------------------------------------------
 *
 * plan.h
 *	  The one planner: (tenant, normalized spec, current state) to an ordered
 *	  list of actions.  tenancy.plan() shows the list, provision/apply/
 *	  deprovision execute its SQL part in the caller's transaction and record
 *	  the rest as steps for the worker.  No action is described twice.
 *
 *	  plan.c         the tenant model (names, settings, placement) built from
 *	                 a spec, the current state read from the catalogs, and
 *	                 the order of the actions
 *	  plan_sql.c     SQL actions: roles, schemas, grants, default
 *	                 privileges, the audit table, per-tier settings
 *	  plan_platform.c external actions enqueued for the worker
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PLAN_H
#define TENANCY_PLAN_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Step targets, exactly as tenancy.steps.target spells them */
#define PLAN_TARGET_DATABASE		"database"
#define PLAN_TARGET_REMOTE_DATABASE "remote_database"
#define PLAN_TARGET_KUBERNETES		"kubernetes"

/* The six schemas of a tenant, as suffixes of its schema prefix */
#define TENANT_SCHEMA_COUNT 6
extern const char *const TenantSchemaSuffixes[TENANT_SCHEMA_COUNT];
#define TENANT_AUDIT_SCHEMA_INDEX 5

/* Login roles of a tenant: etl_<slug> and airflow_<slug> */
#define TENANT_LOGIN_ROLE_COUNT 2

/* Connection limit of the backup role (pg_dump uses one connection) */
#define TENANT_BACKUP_CONNECTION_LIMIT 2

/*
 * Phases of the SQL actions: the actions of one phase are one step (see
 * PlanStep), i.e. one transaction on a warehouse server.
 */
#define PLAN_PHASE_CREATE_DATABASE	"create database"
#define PLAN_PHASE_ROLES			"roles"
#define PLAN_PHASE_DEFAULT_PRIVILEGES "default privileges"
#define PLAN_PHASE_SCHEMAS			"schemas"
#define PLAN_PHASE_AUDIT_TABLE		"audit table"
#define PLAN_PHASE_DISABLE_LOGIN	"disable login"
#define PLAN_PHASE_DROP_SCHEMAS		"drop schemas"
#define PLAN_PHASE_DROP_ROLES		"drop roles"

/* Per-tier role settings (statement_timeout, work_mem, ...) */
#define TENANT_TIER_SETTING_COUNT 4

/* pgaudit.log of the login roles of tenants with features.audit_logging */
#define TENANT_PGAUDIT_LOG "write,ddl,role"

/* Relations one tenant adds to pg_class (the audit table and its parts) */
#define TENANT_RELATIONS_PER_TENANT 5

/*
 * TenantModel: everything the planner derives from a tenant's name and
 * normalized spec.  Every name here is already validated: it is a plain
 * lower-case identifier that fits NAMEDATALEN, but it is still quoted with
 * quote_identifier wherever it is put into SQL.
 */
typedef struct TenantModel
{
	char	   *name;			/* DNS-1123 label, e.g. acme-corp */
	char	   *slug;			/* name with - as _, e.g. acme_corp */
	char	   *tier;			/* basic, standard or enterprise */
	char	   *environment;	/* dev, staging or production */
	char	   *display_name;	/* for the namespace annotation */
	char	   *schema_prefix;	/* e.g. acme_ */
	int			connection_limit;	/* per login role */
	bool		audit_logging;	/* features.audit_logging */
	bool		backup_enabled; /* resources.database.backup.enabled */

	/* where the SQL actions run */
	bool		local;			/* in this database, in the caller's txn */
	char	   *remote_host;	/* else: warehouse.database.host (or "") */
	int			remote_port;
	char	   *remote_database;	/* and warehouse.database.name */
	bool		existing_database;	/* a database tenancy did not create,
									 * allowed by a superuser (the server's
									 * existing_databases): no CREATE
									 * DATABASE, no database-level grants */

	/* derived names */
	char	   *owner_role;		/* tenant_<slug>_owner, owns the schemas */
	char	   *writer_role;	/* tenant_<slug>_writer */
	char	   *reader_role;	/* tenant_<slug>_reader */
	char	   *login_roles[TENANT_LOGIN_ROLE_COUNT];	/* etl_, airflow_ */
	char	   *backup_role;	/* backup_<slug>: login, reader member only */
	char	   *schemas[TENANT_SCHEMA_COUNT];
	char	   *namespace;		/* Kubernetes namespace airflow-<name> */
	Jsonb	   *spec;			/* the spec it was built from */
	Jsonb	   *platform_spec;	/* spec with its defaults, as the platform
								 * objects read it: see PlatformSpec */

	/* per-tier settings of the login roles */
	const char *setting_names[TENANT_TIER_SETTING_COUNT];
	const char *setting_values[TENANT_TIER_SETTING_COUNT];

	/*
	 * The registered server the tenant is placed on, "" for this server's
	 * Unix socket, NULL when not placed (local, or a dry run's unregistered
	 * host): see servers.h.
	 */
	char	   *server;
} TenantModel;

/* What exists of one role, as far as the planner cares */
typedef struct RoleState
{
	bool		exists;
	bool		can_login;
	bool		privileged;		/* SUPERUSER, CREATEDB, CREATEROLE,
								 * REPLICATION or BYPASSRLS */
	int			connection_limit;
	bool		is_member;		/* login roles: member of the writer role (the
								 * backup role: of the reader role) */
	List	   *settings;		/* "name=value" strings of ALTER ROLE SET */
	bool		default_privileges_missing; /* a default privilege the plan
											 * gives the groups on what this
											 * role creates is gone */
} RoleState;

/* Triggers that keep a local tenant's pipeline_runs append-only (billing) */
#define AUDIT_TABLE_GUARD_TRIGGER "tenancy_append_only"
#define AUDIT_TABLE_TRUNCATE_TRIGGER "tenancy_append_only_truncate"
#define AUDIT_TABLE_GUARD_FUNCTION "pipeline_runs_guard"

/*
 * TenantState: what exists now, read from the catalogs (local tenants) or
 * inferred from the last applied spec (remote tenants, whose server the
 * planner cannot see).
 */
typedef struct TenantState
{
	RoleState	owner;
	RoleState	writer;
	RoleState	reader;
	RoleState	logins[TENANT_LOGIN_ROLE_COUNT];
	RoleState	backup;			/* is_member: of the reader group */
	bool		schema_exists[TENANT_SCHEMA_COUNT];

	/*
	 * an existing schema whose planned grant to the writer / reader is gone.
	 * Here and below, "gone" means the role's own ACL entries lack it, as the
	 * audit counts (audit_acl.c): what it holds through PUBLIC or another
	 * role does not count.
	 */
	bool		schema_writer_grant_missing[TENANT_SCHEMA_COUNT];
	bool		schema_reader_grant_missing[TENANT_SCHEMA_COUNT];
	bool		audit_table_exists;
	bool		audit_table_guarded;	/* its append-only triggers, enabled */
	/* a planned grant on it, or on its identity sequence, is gone */
	bool		audit_table_writer_grant_missing;
	bool		audit_table_reader_grant_missing;
	bool		audit_sequence_grant_missing;
	bool		pgaudit_loaded;
	/* the platform side as last planned, NULL if there is none */
	TenantModel *platform;

	/*
	 * The platform side may differ from platform (the last provision or apply
	 * did not succeed, or has not ended): plan every object again, not only
	 * those whose body changed.
	 */
	bool		platform_unknown;
} TenantState;

/*
 * PlanAction: one planned action.  SQL actions carry the statement; external
 * actions carry the request (never a secret) and its compensation.
 */
typedef struct PlanAction
{
	int			ordinal;		/* 1-based position in the plan */
	const char *target;			/* PLAN_TARGET_* or another steps.target */
	const char *action;			/* e.g. "create role", "apply" */
	char	   *object;			/* what it acts on, e.g. a role name */
	char	   *detail;			/* statement, or method and path */
	char	   *sql;			/* SQL actions: the statement */
	const char *phase;			/* SQL actions: the step they are run in */
	Jsonb	   *request;		/* external actions: the step's request */
	Jsonb	   *compensation;	/* and its compensation, or NULL */
	Jsonb	   *changes;		/* apply: paths of the request that differ
								 * from the previous one, NULL if new */
	List	   *depends_on;		/* ordinals (int list) */
	/* the Kubernetes object it acts on, or NULLs (tenancy.steps.object_*) */
	const char *object_kind;	/* e.g. "helmrelease", "namespace" */
	const char *object_namespace;	/* NULL for a namespace itself */
	const char *object_name;
} PlanAction;

/*
 * PlanStep: one row of tenancy.steps.  An external action is one step; the
 * SQL actions of one phase (roles, default privileges, schemas, the audit
 * table; and to deprovision: logins, schemas, roles) are one step that
 * runs them in order in one transaction.  A step takes the ordinal of its
 * last action, so that a dependency on that action is one on the step.
 */
typedef struct PlanStep
{
	int			ordinal;
	const char *target;
	const char *action;			/* the action's, or the phase of several */
	char	   *object;			/* the action's, or the objects of several */
	Jsonb	   *request;		/* SQL: {"sql": the statements} (+ placement) */
	Jsonb	   *compensation;
	List	   *depends_on;		/* step ordinals (int list) */
	bool		is_sql;			/* its statements ran here or go to a server */
	const char *object_kind;	/* PlanAction's, NULL for a SQL phase */
	const char *object_namespace;
	const char *object_name;
} PlanStep;

/* Which operation is being planned */
typedef enum PlanKind
{
	PLAN_PROVISION,				/* create or converge (provision, apply) */
	PLAN_DEPROVISION,			/* keep the data */
	PLAN_DEPROVISION_DROP_DATA	/* and drop it */
} PlanKind;

/* The plan being built, passed to the plan_*.c builders */
typedef struct PlanContext
{
	const TenantModel *model;
	const TenantState *state;
	const char *phase;			/* of the SQL actions being added */
	List	   *actions;		/* of PlanAction */
} PlanContext;

/* plan.c */
extern void TenantCheckName(const char *name);
extern TenantModel *TenantModelFromSpec(const char *name, Jsonb *spec);
extern TenantState *TenantStateFromCatalogs(const TenantModel *model,
											int64 tenant_id);
extern List *TenantForeignObjects(const TenantModel *model, int64 tenant_id);
extern TenantState *TenantStateFromModel(const TenantModel *previous);
extern bool PgauditLoadedHere(void);
extern List *PlanTenant(const TenantModel *model, const TenantState *state,
						PlanKind kind);
extern PlanAction *PlanAddSql(PlanContext *ctx, const char *action,
							  const char *object, char *sql);
extern PlanAction *PlanAddExternal(PlanContext *ctx, const char *target,
								   const char *action, const char *object,
								   char *detail, Jsonb *request,
								   Jsonb *compensation);
extern Jsonb *PlanJsonbFromText(const char *json);
extern int	PlanCountExternal(List *actions);
extern List *PlanSteps(const TenantModel *model, List *actions);

/* plan_sql.c */
extern void PlanSqlProvision(PlanContext *ctx);
extern void PlanSqlDeprovision(PlanContext *ctx, bool drop_data);
extern char *PlanSqlPasswords(int nroles, const char *const *roles,
							  const char *const *verifiers);

/* plan_ledger.c */
extern void PlanLedgerNames(const TenantModel *m, List **roles, List **schemas,
							const char **optional_role);
extern char *PlanLedgerGuard(const char *tenant, List *roles, List *schemas,
							 const char *optional_role);
extern char *PlanLedgerRecord(const TenantModel *m, const char *kind,
							  const char *name);
extern char *PlanLedgerForget(const TenantModel *m);

/* plan_platform.c */
extern void PlanPlatformCheckSteps(const TenantModel *model, List *actions);
extern void PlanPlatformProvision(PlanContext *ctx);
extern void PlanPlatformDeprovision(PlanContext *ctx);

/* sql_exec.c */
extern List *ExecutePlanSql(List *actions);
extern int	SpiExecuteKept(SPIPlanPtr *plan, const char *sql, int nargs,
						   Oid *types, Datum *values, const char *nulls,
						   int expected);

/*
 * SPI_EXEC_KEPT: SpiExecuteKept with a plan kept per call site, for the
 * life of the backend (a catalog statement is parsed and planned once); the
 * caller is connected to SPI.
 */
#define SPI_EXEC_KEPT(sql, nargs, types, values, nulls, expected) \
	do { \
		static SPIPlanPtr plan_ = NULL; \
		\
		(void) SpiExecuteKept(&plan_, (sql), (nargs), (types), (values), \
							  (nulls), (expected)); \
	} while (0)

#endif							/* TENANCY_PLAN_H */
