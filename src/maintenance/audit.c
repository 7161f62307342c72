/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  tenancy.audit(name): compare what the catalog says should exist with
 *	  what exists, report each difference as a finding with a severity, and
 *	  record the run (tenancy.audit_runs, tenancy.audit_findings) so that
 *	  runs can be compared.
 *
 * What should exist comes from the planner: the tenant's model is built
 * from its stored spec, and the planner is run against the catalogs as
 * tenancy.apply would run it.  Every SQL action it would take is drift
 * (a dropped schema, a role with BYPASSRLS, a missing membership), and
 * apply with the stored spec is the repair.  The planner does not revoke,
 * so what was granted beyond the plan is found by comparing ACLs with the
 * planned grants (audit_acl.c).  Then: credentials older than
 * tenancy.credential_max_age, data freshness per the spec's freshness
 * checks, storage against resources.database.storage_gb, and shared
 * tables (row-level security, policy, tenant-column index).
 *
 * Catalog data that is per relation (ACLs, sizes, freshness columns) is
 * read once per run for every audited schema, so a run costs about the
 * same per tenant with ten tenants or thousands.  Each tenant is audited
 * in a memory context reset afterwards.
 *
 * Platform checks (namespace, quotas, release, Vault) need the network;
 * they run later as worker steps of an audit operation (handler_audit.c)
 * and add their findings to the same run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fnmatch.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/lmgr.h"
#include "utils/resowner.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "journal.h"
#include "maintenance.h"
#include "servers.h"
#include "tenancy.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(tenancy_audit);

/* As rls.c names the policy of a shared table and marks its index */
#define SHARED_POLICY_NAME "tenancy_tenant_isolation"
#define SHARED_INDEX_COMMENT "tenancy: tenant column index for row-level security"

/* Storage use above which the audit warns, as a fraction of storage_gb */
#define STORAGE_WARNING_FRACTION 0.8

/* Columns that date a row, in order of preference (the source document
 * measures freshness with modified_at) */
#define FRESHNESS_COLUMNS "{modified_at,updated_at,loaded_at,created_at}"

/* A freshness check of a tenant's spec: one table pattern, one age */
typedef struct FreshnessCheck
{
	char	   *pattern;		/* "bronze.*", or a table glob in any layer */
	double		max_age_hours;
} FreshnessCheck;

/* One tenant being audited */
typedef struct AuditTenant
{
	int64		tenant_id;
	char	   *name;
	int64		generation;
	TenantModel *model;
	bool		audited;		/* picked by the name argument */
	double		storage_gb;		/* resources.database.storage_gb, <0: none */
	TimestampTz credentials_set;	/* last password set, 0: never or unknown */
	char	   *credentials_role;	/* set_password's oldest role, or NULL */
	bool		ready;			/* state ready: its platform side ran */
	List	   *freshness;		/* of FreshnessCheck */
} AuditTenant;

/* Relations of one schema, read once per run */
typedef struct SchemaRelations
{
	Oid			nsp;			/* hash key */
	List	   *relations;		/* of AuditRelation */
} SchemaRelations;

/* tenant id -> tenant */
typedef struct TenantById
{
	int64		tenant_id;		/* hash key */
	AuditTenant *tenant;
} TenantById;

/* How planner actions become findings */
typedef struct DriftKind
{
	const char *action;			/* PlanAction.action */
	const char *check_name;		/* NULL: left to the ACL comparison */
	const char *severity;
} DriftKind;

static const DriftKind drift_kinds[] = {
	{"create role", "role_missing", AUDIT_CRITICAL},
	{"alter role", "role_attributes", AUDIT_HIGH},
	{"grant role", "missing_membership", AUDIT_WARNING},
	{"set role setting", "role_settings", AUDIT_WARNING},
	{"reset role setting", "role_settings", AUDIT_WARNING},
	{"create schema", "schema_missing", AUDIT_CRITICAL},
	{"create table", "audit_table_missing", AUDIT_HIGH},
	/* grants and default privileges: compared exactly by audit_acl.c */
	{"grant schema privileges", NULL, NULL},
	{"grant table privileges", NULL, NULL},
	{"alter default privileges", NULL, NULL},
	{"alter table owner", NULL, NULL},
	{"guard audit table", "billing_guard", AUDIT_HIGH},
};

/*
 * audit_query
 *		Run a parameterised statement once (no kept plan: the audit runs
 *		each about once per run, one of them built per table); the caller is
 *		connected.
 */
static void
audit_query(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "tenancy audit statement failed: %s", SPI_result_code_string(rc));
}

/*
 * start_run
 *		Insert the run's row and prepare the finding insert.
 */
static void
start_run(AuditRun *run, const char *name)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[1];
	bool		isnull;

	values[0] = name ? CStringGetTextDatum(name) : (Datum) 0;
	if (SPI_execute_with_args("INSERT INTO tenancy.audit_runs (tenant) VALUES ($1) "
							  "RETURNING run_id",
							  1, types + 1, values, name ? NULL : "n", false, 0)
		!= SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record the audit run");
	run->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	run->insert_finding =
		SPI_prepare("INSERT INTO tenancy.audit_findings "
					"(run_id, tenant, check_name, severity, object, detail) "
					"VALUES ($1, $2, $3, $4, $5, $6)", 6, types);
	if (run->insert_finding == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(run->insert_finding);

	/*
	 * A platform check from a planned action: audit_object for each
	 * Kubernetes object written (POST creates name it in the body),
	 * audit_vault for the database credentials; other actions, and Secrets,
	 * are not checked (0 rows).
	 */
	run->platform = tenancy_kubernetes_url != NULL && tenancy_kubernetes_url[0] != '\0';
	if (run->platform)
	{
		Oid			check_types[3] = {INT8OID, TEXTOID, JSONBOID};

		run->check_request =
			SPI_prepare("SELECT c.target, c.request FROM (SELECT "
						" CASE WHEN $3 ->> 'handler' = 'database_credentials' THEN 'vault' ELSE 'kubernetes' END AS target,"
						" CASE WHEN $3 ->> 'handler' = 'database_credentials' THEN"
						"  pg_catalog.jsonb_build_object('handler', 'audit_vault', 'run_id', $1, 'tenant', $2,"
						"   'vault_path', $3 ->> 'vault_path')"
						" ELSE pg_catalog.jsonb_build_object('handler', 'audit_object', 'run_id', $1, 'tenant', $2,"
						"   'path', CASE WHEN $3 ->> 'method' = 'POST'"
						"    THEN ($3 ->> 'path') || '/' || ($3 #>> '{body,metadata,name}') ELSE $3 ->> 'path' END,"
						"   'expect', $3 -> 'body') END AS request"
						" WHERE $3 ->> 'handler' = 'database_credentials'"
						"  OR ($3 ->> 'method' IN ('PATCH', 'POST') AND $3 #>> '{body,metadata,name}' IS NOT NULL"
						"   AND $3 #>> '{body,kind}' IS DISTINCT FROM 'Secret')) c",
						3, check_types);
		if (run->check_request == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(run->check_request);
	}
}

/*
 * load_tenants
 *		Every registered tenant with its model (for the role map); those
 *		picked by name (all when NULL) are marked audited.  42704 when the
 *		named tenant does not exist, 55000 when it was deprovisioned.
 */
static List *
load_tenants(AuditRun *run, const char *name)
{
	List	   *tenants = NIL;
	bool		found = false;

	AuditRolesInit(run);
	audit_query("SELECT tenant_id, name, spec, state, "
				"(spec #>> '{resources,database,storage_gb}')::float8, generation "
				"FROM tenancy.tenants ORDER BY name", 0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		AuditTenant *t = palloc0(sizeof(AuditTenant));
		char	   *state = SPI_getvalue(tuple, desc, 4);
		bool		isnull;
		Datum		gb;
		bool		live;

		t->tenant_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		t->name = SPI_getvalue(tuple, desc, 2);
		t->model = TenantModelFromSpec(t->name,
									   DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 3, &isnull)));
		gb = SPI_getbinval(tuple, desc, 5, &isnull);
		t->storage_gb = isnull ? -1 : DatumGetFloat8(gb);
		t->generation = DatumGetInt64(SPI_getbinval(tuple, desc, 6, &isnull));
		live = strcmp(state, "deprovisioned") != 0 &&
			strcmp(state, "deprovisioning") != 0;
		t->ready = strcmp(state, "ready") == 0;

		AuditRememberRole(run, t->model->owner_role, t->name);
		AuditRememberRole(run, t->model->writer_role, t->name);
		AuditRememberRole(run, t->model->reader_role, t->name);
		for (int r = 0; r < TENANT_LOGIN_ROLE_COUNT; r++)
			AuditRememberRole(run, t->model->login_roles[r], t->name);

		if (name != NULL && strcmp(name, t->name) == 0)
		{
			found = true;
			if (!live)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("tenant \"%s\" is not audited", name),
						 errdetail("Its state is %s; tenants that are deprovisioned or being deprovisioned are not audited.",
								   state)));
		}
		t->audited = live && (name == NULL || strcmp(name, t->name) == 0);
		tenants = lappend(tenants, t);
	}
	if (name != NULL && !found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", name)));
	return tenants;
}

/*
 * load_credentials_and_checks
 *		When each tenant's database password was last set
 *		(tenancy.tenants.credentials_set_at, which every database_credentials
 *		step that succeeds moves), and its freshness checks.
 */
static void
load_credentials_and_checks(List *tenants)
{
	HTAB	   *by_id;
	HASHCTL		ctl;
	ListCell   *lc;

	/* index the tenants by id: one pass over each result, whatever its size */
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TenantById);
	ctl.hcxt = CurrentMemoryContext;
	by_id = hash_create("tenancy audit tenants", list_length(tenants) + 1, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, tenants)
	{
		AuditTenant *t = lfirst(lc);
		TenantById *entry = hash_search(by_id, &t->tenant_id, HASH_ENTER, NULL);

		entry->tenant = t;
	}

	/*
	 * Kept on the tenant: purge_history does not make the audit forget it.
	 * Each login role's password was last set by the worker
	 * (credentials_set_at, all roles at once) or by set_password
	 * (passwords_set_at, per role), whichever is later; the tenant's age is
	 * that of its least recently set role.  A role set by neither has no
	 * password to age.
	 */
	audit_query("SELECT t.tenant_id, c.at, c.role FROM tenancy.tenants t, "
				"LATERAL (SELECT GREATEST(t.credentials_set_at, "
				"(t.passwords_set_at OPERATOR(pg_catalog.->>) r)::pg_catalog.timestamptz) AS at, "
				"CASE WHEN t.passwords_set_at OPERATOR(pg_catalog.?) r "
				"AND (t.credentials_set_at IS NULL OR (t.passwords_set_at OPERATOR(pg_catalog.->>) r)::pg_catalog.timestamptz "
				"OPERATOR(pg_catalog.>) t.credentials_set_at) THEN r END AS role "
				"FROM pg_catalog.unnest(ARRAY['etl_' OPERATOR(pg_catalog.||) t.slug, "
				"'airflow_' OPERATOR(pg_catalog.||) t.slug]) AS r "
				"ORDER BY 1 NULLS LAST LIMIT 1) c "
				"WHERE c.at IS NOT NULL", 0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		TenantById *entry = hash_search(by_id, &id, HASH_FIND, NULL);
		Datum		at = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									   2, &isnull);

		if (entry && !isnull)
		{
			char	   *role = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

			entry->tenant->credentials_set = DatumGetTimestampTz(at);
			entry->tenant->credentials_role = role ? pstrdup(role) : NULL;
		}
	}

	audit_query("SELECT t.tenant_id, p.pattern, (c.value ->> 'max_age_hours')::float8 "
				"FROM tenancy.tenants t, "
				"pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof("
				"t.spec #> '{warehouse,data_quality,checks}') = 'array' "
				"AND COALESCE(t.spec #>> '{warehouse,data_quality,enabled}', 'true') = 'true' "
				"THEN t.spec #> '{warehouse,data_quality,checks}' ELSE '[]' END) c, "
				"pg_catalog.jsonb_array_elements_text(c.value -> 'tables') p(pattern) "
				"WHERE c.value ->> 'type' = 'freshness' "
				"AND pg_catalog.jsonb_typeof(c.value -> 'max_age_hours') = 'number'",
				0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		TenantById *entry = hash_search(by_id, &id, HASH_FIND, NULL);
		FreshnessCheck *check;

		if (entry == NULL)
			continue;
		check = palloc(sizeof(FreshnessCheck));
		check->pattern = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		check->max_age_hours = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc,
															3, &isnull));
		entry->tenant->freshness = lappend(entry->tenant->freshness, check);
	}
}

/*
 * load_relations
 *		The relations of every audited tenant's schemas, in one query: ACL,
 *		owner, size and the column that dates their rows.
 */
static HTAB *
load_relations(List *tenants)
{
	List	   *nsps = NIL;
	ListCell   *lc;
	HTAB	   *by_nsp;
	HASHCTL		ctl;
	Datum	   *elems;
	int			n = 0;
	Oid			types[1] = {OIDARRAYOID};
	Datum		values[1];

	foreach(lc, tenants)
	{
		AuditTenant *t = lfirst(lc);

		if (!t->audited || !t->model->local)
			continue;
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		{
			Oid			nsp = get_namespace_oid(t->model->schemas[i], true);

			if (OidIsValid(nsp))
				nsps = lappend_oid(nsps, nsp);
		}
	}

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SchemaRelations);
	ctl.hcxt = CurrentMemoryContext;
	by_nsp = hash_create("tenancy audit relations", list_length(nsps) + 1, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (nsps == NIL)
		return by_nsp;

	elems = palloc(sizeof(Datum) * list_length(nsps));
	foreach(lc, nsps)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	/* sizes are read per tenant once its relations are locked (lock_tenant) */
	audit_query("SELECT c.relnamespace, c.oid, c.relname, c.relkind, c.relowner, c.relacl, "
				"0::pg_catalog.int8, "
				"(SELECT a.attname FROM pg_catalog.pg_attribute a "
				" WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
				" AND a.attname = ANY ('" FRESHNESS_COLUMNS "'::name[]) "
				" AND a.atttypid IN ('pg_catalog.timestamptz'::pg_catalog.regtype, "
				"  'pg_catalog.timestamp'::pg_catalog.regtype, 'pg_catalog.date'::pg_catalog.regtype) "
				" ORDER BY pg_catalog.array_position('" FRESHNESS_COLUMNS "'::name[], a.attname) "
				" LIMIT 1) "
				"FROM pg_catalog.pg_class c "
				"WHERE c.relnamespace = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
				"ORDER BY c.relname",
				1, types, values, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		AuditRelation *rel = palloc0(sizeof(AuditRelation));
		bool		isnull;
		Oid			nsp = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		bool		found;
		SchemaRelations *entry = hash_search(by_nsp, &nsp, HASH_ENTER, &found);
		Datum		acl;

		if (!found)
			entry->relations = NIL;
		rel->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
		rel->relname = SPI_getvalue(tuple, desc, 3);
		rel->relkind = DatumGetChar(SPI_getbinval(tuple, desc, 4, &isnull));
		rel->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 5, &isnull));
		acl = SPI_getbinval(tuple, desc, 6, &isnull);
		rel->acl = isnull ? NULL : DatumGetAclPCopy(acl);
		rel->bytes = DatumGetInt64(SPI_getbinval(tuple, desc, 7, &isnull));
		rel->freshness_column = SPI_getvalue(tuple, desc, 8);
		entry->relations = lappend(entry->relations, rel);
	}
	return by_nsp;
}

/*
 * role_attributes_text
 *		The attributes of a role that the plan never gives a tenant role.
 */
static char *
role_attributes_text(const char *rolname)
{
	HeapTuple	tuple = SearchSysCache1(AUTHNAME, CStringGetDatum(rolname));
	Form_pg_authid role;
	StringInfoData buf;

	initStringInfo(&buf);
	if (!HeapTupleIsValid(tuple))
		return buf.data;
	role = (Form_pg_authid) GETSTRUCT(tuple);
	if (role->rolsuper)
		appendStringInfoString(&buf, " SUPERUSER");
	if (role->rolcreatedb)
		appendStringInfoString(&buf, " CREATEDB");
	if (role->rolcreaterole)
		appendStringInfoString(&buf, " CREATEROLE");
	if (role->rolreplication)
		appendStringInfoString(&buf, " REPLICATION");
	if (role->rolbypassrls)
		appendStringInfoString(&buf, " BYPASSRLS");
	ReleaseSysCache(tuple);
	return buf.data;
}

/*
 * role_state_of
 *		The state the planner read for one of the tenant's roles.
 */
static const RoleState *
role_state_of(const TenantModel *m, const TenantState *s, const char *rolname)
{
	if (strcmp(rolname, m->owner_role) == 0)
		return &s->owner;
	if (strcmp(rolname, m->writer_role) == 0)
		return &s->writer;
	if (strcmp(rolname, m->reader_role) == 0)
		return &s->reader;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		if (strcmp(rolname, m->login_roles[i]) == 0)
			return &s->logins[i];
	return NULL;
}

/*
 * is_login_role
 *		Whether rolname is one of the tenant's login roles.
 */
static bool
is_login_role(const TenantModel *m, const char *rolname)
{
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		if (strcmp(rolname, m->login_roles[i]) == 0)
			return true;
	return false;
}

/*
 * report_planner_drift
 *		Each SQL action tenancy.apply would take now is a finding.  Actions
 *		on a role the plan (re)creates are part of that one finding.
 */
static void
report_planner_drift(AuditRun *run, const TenantModel *m, const TenantState *s)
{
	List	   *actions = PlanTenant(m, s, PLAN_PROVISION);
	List	   *created = NIL;
	ListCell   *lc;

	foreach(lc, actions)
	{
		PlanAction *a = lfirst(lc);
		const DriftKind *kind = NULL;
		const char *severity;

		if (a->sql == NULL)
			continue;			/* platform actions: checked by the worker */
		for (size_t i = 0; i < lengthof(drift_kinds); i++)
			if (strcmp(drift_kinds[i].action, a->action) == 0)
				kind = &drift_kinds[i];
		if (kind != NULL && kind->check_name == NULL)
			continue;
		if (list_member(created, makeString(a->object)))
			continue;
		if (kind == NULL)
		{
			AuditReport(run, m->name, "drift", AUDIT_WARNING, a->object,
						"tenancy.apply would run: %s", a->sql);
			continue;
		}
		if (strcmp(a->action, "create role") == 0 ||
			strcmp(a->action, "create schema") == 0)
			created = lappend(created, makeString(a->object));

		severity = kind->severity;
		if (strcmp(a->action, "alter role") == 0)
		{
			const RoleState *rs = role_state_of(m, s, a->object);

			if (rs && rs->privileged)
			{
				AuditReport(run, m->name, kind->check_name, AUDIT_CRITICAL, a->object,
							"Role %s has%s, which no tenant role may have; tenancy.apply would run: %s",
							a->object, role_attributes_text(a->object), a->sql);
				continue;
			}
			if (rs && rs->can_login != is_login_role(m, a->object))
				severity = AUDIT_HIGH;	/* a group role that can log in */
			else
				severity = AUDIT_WARNING;	/* the connection limit */
		}
		AuditReport(run, m->name, kind->check_name, severity, a->object,
					"tenancy.apply would run: %s", a->sql);
	}
}

/*
 * schema_owner
 *		Owner of a schema.
 */
static Oid
schema_owner(Oid nsp)
{
	HeapTuple	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * pgaudit_is_loaded
 *		Whether pgaudit.log is a real setting here (not a placeholder).
 */
static bool
pgaudit_is_loaded(void)
{
	int			flags = GetConfigOptionFlags("pgaudit.log", true);

	return flags != 0 && (flags & GUC_CUSTOM_PLACEHOLDER) == 0;
}

/*
 * audit_credentials
 *		The database password is older than tenancy.credential_max_age.
 */
static void
audit_credentials(AuditRun *run, const AuditTenant *t)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64		age_days;

	if (t->credentials_set == 0)
	{
		/*
		 * Unknown: a ready tenant's credentials are set by its provision when
		 * Vault is configured; without Vault they never are (the platform
		 * checks report that).
		 */
		if (t->ready && tenancy_vault_url != NULL && tenancy_vault_url[0] != '\0')
			AuditReport(run, t->name, "credential_age", AUDIT_WARNING, "database credentials",
						"When the database password was last set is unknown (tenancy.tenants.credentials_set_at is empty): it may be older than tenancy.credential_max_age (%d days). Run tenancy.rotate_credentials('%s').",
						tenancy_credential_max_age_days, t->name);
		return;
	}
	age_days = (now - t->credentials_set) / USECS_PER_DAY;
	if (age_days > tenancy_credential_max_age_days && t->credentials_role != NULL)
		AuditReport(run, t->name, "credential_age", AUDIT_WARNING, t->credentials_role,
					"The password of login role %s was last set by tenancy.set_password on %s, %lld days ago; tenancy.credential_max_age is %d days. Run tenancy.set_password('%s') and hand the new password over.",
					t->credentials_role, timestamptz_to_str(t->credentials_set),
					(long long) age_days, tenancy_credential_max_age_days,
					t->credentials_role);
	else if (age_days > tenancy_credential_max_age_days)
		AuditReport(run, t->name, "credential_age", AUDIT_WARNING, "database credentials",
					"The database password was last set on %s, %lld days ago; tenancy.credential_max_age is %d days. Run tenancy.rotate_credentials('%s').",
					timestamptz_to_str(t->credentials_set), (long long) age_days,
					tenancy_credential_max_age_days, t->name);
}

/*
 * audit_estimated_usage
 *		usage_estimated: the tenant's last ESTIMATED_SAMPLES usage samples
 *		all read its storage from its files because one of its tables was
 *		locked each time (sample_usage's fallback): a tenant that keeps a
 *		table locked is metered from estimates only.
 */
#define ESTIMATED_SAMPLES 3
static void
audit_estimated_usage(AuditRun *run, const AuditTenant *t)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(t->tenant_id)};
	bool		isnull;
	int64		estimated;

	audit_query("SELECT pg_catalog.count(*) FILTER (WHERE s.storage_estimated)"
				" FROM (SELECT u.storage_estimated FROM tenancy.usage_samples u"
				"  WHERE u.tenant_id = $1 ORDER BY u.sampled_at DESC"
				"  LIMIT " CppAsString2(ESTIMATED_SAMPLES) ") s",
				1, types, values, SPI_OK_SELECT);
	estimated = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	SPI_freetuptable(SPI_tuptable);
	if (estimated >= ESTIMATED_SAMPLES)
		AuditReport(run, t->name, "usage_estimated", AUDIT_WARNING, "usage samples",
					"The tenant's last %d usage samples estimated its storage from the sizes of its files: each time a session held a lock on one of its tables for longer than tenancy.lock_timeout. Look for its sessions idle in a transaction.",
					ESTIMATED_SAMPLES);
}

/*
 * large_object_bytes
 *		Bytes of the large objects the roles of a tenant of this server
 *		own: pg_largeobject is in none of its schemas, and lo_from_bytea()
 *		is open to every role.  sample_usage counts them the same way.
 */
static double
large_object_bytes(const TenantModel *m)
{
	Datum		roles[4 + TENANT_LOGIN_ROLE_COUNT];
	int			n = 0;
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	bool		isnull;
	double		bytes;

	roles[n++] = CStringGetTextDatum(m->owner_role);
	roles[n++] = CStringGetTextDatum(m->writer_role);
	roles[n++] = CStringGetTextDatum(m->reader_role);
	roles[n++] = CStringGetTextDatum(m->backup_role);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		roles[n++] = CStringGetTextDatum(m->login_roles[i]);
	values[0] = PointerGetDatum(construct_array(roles, n, TEXTOID, -1, false, TYPALIGN_INT));
	audit_query("SELECT COALESCE(pg_catalog.sum(pg_catalog.octet_length(l.data)), 0)::pg_catalog.float8"
				" FROM pg_catalog.pg_largeobject_metadata m"
				" JOIN pg_catalog.pg_largeobject l ON l.loid = m.oid"
				" WHERE m.lomowner IN (SELECT r.oid FROM pg_catalog.pg_roles r"
				"  WHERE r.rolname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]))",
				1, types, values, SPI_OK_SELECT);
	bytes = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &isnull));
	SPI_freetuptable(SPI_tuptable);
	return bytes;
}

/*
 * report_storage
 *		Bytes of the tenant's schemas (estimated: read from the sizes of
 *		their files), and of the large objects its roles own, against
 *		resources.database.storage_gb.
 */
static void
report_storage(AuditRun *run, const AuditTenant *t, double bytes, bool estimated)
{
	double		limit;
	const char *how = "";

	if (estimated)
		how = " (its tables' size read from their files: one was locked)";
	if (t->model->local)
		bytes += large_object_bytes(t->model);
	limit = t->storage_gb * 1024.0 * 1024.0 * 1024.0;
	if (bytes > limit)
		AuditReport(run, t->name, "storage", AUDIT_HIGH, "schemas",
					"The tenant's schemas and large objects hold %.0f bytes%s, more than resources.database.storage_gb (%g GB).",
					bytes, how, t->storage_gb);
	else if (bytes > limit * STORAGE_WARNING_FRACTION)
		AuditReport(run, t->name, "storage", AUDIT_WARNING, "schemas",
					"The tenant's schemas and large objects hold %.0f bytes%s, %.0f%% of resources.database.storage_gb (%g GB).",
					bytes, how, 100.0 * bytes / limit, t->storage_gb);
}

/*
 * audit_storage
 *		report_storage with the sizes lock_tenant read.
 */
static void
audit_storage(AuditRun *run, const AuditTenant *t, List *const *relations)
{
	double		bytes = 0;

	if (t->storage_gb <= 0)
		return;
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		ListCell   *lc;

		foreach(lc, relations[i])
			bytes += ((AuditRelation *) lfirst(lc))->bytes;
	}
	report_storage(run, t, bytes, false);
}

/*
 * audit_storage_estimated
 *		When a table of the tenant could not be locked: its storage from the
 *		sizes of the files of its tables, TOAST tables and their indexes,
 *		read without a lock (as tenancy.sample_usage does), so that a tenant
 *		cannot keep its storage finding away by holding a lock at audit
 *		time.  Only for a tenant of this database (the files are this
 *		server's).
 */
static void
audit_storage_estimated(AuditRun *run, const AuditTenant *t)
{
	Datum		schemas[TENANT_SCHEMA_COUNT];
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	bool		isnull;
	double		bytes;

	if (t->storage_gb <= 0 || !t->model->local)
		return;
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		schemas[i] = CStringGetTextDatum(t->model->schemas[i]);
	values[0] = PointerGetDatum(construct_array(schemas, TENANT_SCHEMA_COUNT, TEXTOID, -1,
												false, TYPALIGN_INT));
	audit_query("WITH t AS ("
				" SELECT c.oid, c.reltoastrelid FROM pg_catalog.pg_class c"
				"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				"  WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[])"
				"   AND c.relkind IN ('r', 'm')),"
				" rels AS (SELECT t.oid FROM t"
				"  UNION ALL SELECT t.reltoastrelid FROM t WHERE t.reltoastrelid <> 0),"
				" paths AS (SELECT pg_catalog.pg_relation_filepath(r.oid) AS path"
				"  FROM (SELECT rels.oid FROM rels UNION ALL SELECT i.indexrelid"
				"   FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT rels.oid FROM rels)) r),"
				" nodes AS (SELECT pg_catalog.regexp_replace(p.path, '/[^/]*$', '') AS dir,"
				"  pg_catalog.regexp_replace(p.path, '^.*/', '') AS node"
				"  FROM paths p WHERE p.path IS NOT NULL),"
				" files AS (SELECT d.dir, f.name,"
				"  pg_catalog.regexp_replace(f.name, '(_[a-z]+)?([.][0-9]+)?$', '') AS node"
				"  FROM (SELECT DISTINCT nodes.dir FROM nodes) d,"
				"   pg_catalog.pg_ls_dir(d.dir, true, false) AS f(name))"
				" SELECT COALESCE(pg_catalog.sum((pg_catalog.pg_stat_file(f.dir OPERATOR(pg_catalog.||) '/'"
				"   OPERATOR(pg_catalog.||) f.name, true)).size), 0)::pg_catalog.float8"
				" FROM nodes JOIN files f ON f.dir OPERATOR(pg_catalog.=) nodes.dir"
				"  AND f.node OPERATOR(pg_catalog.=) nodes.node",
				1, types, values, SPI_OK_SELECT);
	bytes = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &isnull));
	SPI_freetuptable(SPI_tuptable);
	report_storage(run, t, bytes, true);
}

/*
 * audit_table_freshness
 *		The newest row of one table against a freshness check.
 */
static void
audit_table_freshness(AuditRun *run, const AuditTenant *t, const char *schema,
					  const AuditRelation *rel, const FreshnessCheck *check)
{
	char	   *object = psprintf("%s.%s", schema, rel->relname);
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum(check->max_age_hours)};
	bool		isnull;
	bool		stale;
	char	   *newest;

	if (rel->freshness_column == NULL)
	{
		AuditReport(run, t->name, "data_freshness", AUDIT_INFO, object,
					"Freshness check \"%s\" cannot date the rows of this table: it has no modified_at, updated_at, loaded_at or created_at column.",
					check->pattern);
		return;
	}
	audit_query(psprintf("SELECT pg_catalog.max(%s)::pg_catalog.timestamptz < "
						 "pg_catalog.now() - pg_catalog.make_interval(secs => $1 * 3600), "
						 "pg_catalog.max(%s)::pg_catalog.text FROM %s",
						 quote_identifier(rel->freshness_column),
						 quote_identifier(rel->freshness_column),
						 quote_qualified_identifier(schema, rel->relname)),
				1, types, values, SPI_OK_SELECT);
	stale = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   1, &isnull));
	newest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (isnull)
		AuditReport(run, t->name, "data_freshness", AUDIT_WARNING, object,
					"The table holds no rows; freshness check \"%s\" allows data at most %g hours old.",
					check->pattern, check->max_age_hours);
	else if (stale)
		AuditReport(run, t->name, "data_freshness", AUDIT_WARNING, object,
					"The newest %s is %s, older than the %g hours freshness check \"%s\" allows.",
					rel->freshness_column, newest, check->max_age_hours, check->pattern);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * audit_freshness
 *		Each freshness check of the spec on the tables its pattern matches:
 *		"layer.glob" in that layer's schema, a bare glob in every schema.
 */
static void
audit_freshness(AuditRun *run, const AuditTenant *t, List *const *relations)
{
	ListCell   *lc;

	foreach(lc, t->freshness)
	{
		FreshnessCheck *check = lfirst(lc);
		const char *dot = strchr(check->pattern, '.');
		const char *glob = dot ? dot + 1 : check->pattern;
		char	   *layer = dot ? pnstrdup(check->pattern, dot - check->pattern) : NULL;
		bool		layer_known = layer == NULL;

		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		{
			ListCell   *lr;

			if (layer != NULL && strcmp(layer, TenantSchemaSuffixes[i]) != 0)
				continue;
			layer_known = true;
			foreach(lr, relations[i])
			{
				AuditRelation *rel = lfirst(lr);

				if ((rel->relkind == 'r' || rel->relkind == 'p') &&
					fnmatch(glob, rel->relname, 0) == 0)
					audit_table_freshness(run, t, t->model->schemas[i], rel, check);
			}
		}
		if (!layer_known)
			AuditReport(run, t->name, "data_freshness", AUDIT_INFO, check->pattern,
						"Freshness check \"%s\" names no layer of the tenant (bronze, silver, gold_mart, gold_reporting, staging, audit).",
						check->pattern);
	}
}

/*
 * enqueue_platform_checks
 *		An audit operation for the tenant whose steps check, through the
 *		worker, what the planner applies on the platform: each Kubernetes
 *		object it writes (Secrets excepted: their values are not read) and
 *		the credentials in Vault.  The objects and bodies come from the plan
 *		of a new tenant, so the checks follow the planner.
 */
static void
enqueue_platform_checks(AuditRun *run, const AuditTenant *t, List *new_tenant_plan)
{
	int64		operation_id = 0;
	int			ordinal = 0;
	ListCell   *lc;

	foreach(lc, new_tenant_plan)
	{
		PlanAction *a = lfirst(lc);
		Datum		values[3];
		bool		isnull;
		char	   *target;
		Jsonb	   *request;

		if (a->sql != NULL || a->request == NULL)
			continue;
		values[0] = Int64GetDatum(run->run_id);
		values[1] = CStringGetTextDatum(t->name);
		values[2] = JsonbPGetDatum(a->request);
		if (SPI_execute_plan(run->check_request, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not plan a platform check");
		if (SPI_processed == 0)
			continue;			/* nothing to check for this action */
		target = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		request = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2,
												   &isnull));
		/* the operation is recorded with its first check: none is left empty */
		if (operation_id == 0)
		{
			operation_id = JournalAddOperation(t->tenant_id, "audit",
											   t->generation, false, false);
			run->operations++;
		}
		JournalAddStep(operation_id, ++ordinal, target, "audit", a->object,
					   JsonbPGetDatum(request), (Datum) 0, a);
	}
}

/*
 * lock_tenant
 *		Lock (ACCESS SHARE) the tables and materialized views of a tenant
 *		that the audit reads, each within lock_timeout, in a subtransaction:
 *		a tenant holding a lock on one of its tables (LOCK TABLE, ALTER
 *		TABLE in an open transaction) must not stall the audit of every
 *		tenant.  When one cannot be locked in time, nothing stays locked,
 *		the finding says which, and false is returned: the checks that read
 *		the tenant's tables are skipped.  Then their sizes are read.
 */
static bool
lock_tenant(AuditRun *run, const AuditTenant *t, List *const *relations)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	const char *volatile schema = NULL;
	AuditRelation *volatile current = NULL;
	bool		locked = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		{
			ListCell   *lc;

			schema = t->model->schemas[i];
			foreach(lc, relations[i])
			{
				current = lfirst(lc);
				if (current->relkind == RELKIND_RELATION ||
					current->relkind == RELKIND_MATVIEW ||
					current->relkind == RELKIND_PARTITIONED_TABLE)
					LockRelationOid(current->relid, AccessShareLock);
			}
		}
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;

		/*
		 * A deadlock too: a tenant's session that locks one of its tables
		 * while the audit waits for another it holds can pick the audit as
		 * the victim.  Rolling back the subtransaction gives up every lock
		 * taken for this tenant, so the others are audited.
		 */
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
			edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
			ReThrowError(edata);
		locked = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	if (!locked)
	{
		AuditReport(run, t->name, "locked_objects", AUDIT_WARNING,
					psprintf("%s.%s", schema, current->relname),
					"Table %s.%s could not be locked within tenancy.lock_timeout (%d ms), or waiting for it deadlocked: a session holds a conflicting lock on it. The freshness check of the tenant was skipped and its storage read from the sizes of its files; the other tenants were audited.",
					quote_identifier(schema), quote_identifier(current->relname),
					tenancy_lock_timeout_ms);
		return false;
	}
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		ListCell   *lc;

		foreach(lc, relations[i])
		{
			AuditRelation *rel = lfirst(lc);

			if (rel->relkind == RELKIND_RELATION || rel->relkind == RELKIND_MATVIEW)
				rel->bytes = DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
															   ObjectIdGetDatum(rel->relid)));
		}
	}
	return true;
}

/*
 * append_json_names
 *		,"key":["a","b"] of names.
 */
static void
append_json_names(StringInfo buf, const char *key, const char *const *names, int n)
{
	appendStringInfo(buf, ",\"%s\":[", key);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, names[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * enqueue_remote_check
 *		An audit operation for a tenant whose database objects live in
 *		another database (of this server or another): one audit_remote step
 *		(audit_remote.c) that the worker runs there through its connections.
 *		Returns the operation's id.
 */
static int64
enqueue_remote_check(AuditRun *run, const AuditTenant *t)
{
	TenantModel *m = t->model;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	char	   *server = NULL;
	const char *groups[2] = {m->writer_role, m->reader_role};
	StringInfoData request;
	int64		operation_id;

	values[0] = Int64GetDatum(t->tenant_id);
	audit_query("SELECT server FROM tenancy.tenants WHERE tenant_id = $1",
				1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 1)
		server = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ServerPlaceTenant(m, server, true, true);

	initStringInfo(&request);
	appendStringInfoString(&request, "{\"handler\":\"audit_remote\",\"run_id\":");
	appendStringInfo(&request, INT64_FORMAT, run->run_id);
	appendStringInfoString(&request, ",\"tenant\":");
	escape_json(&request, t->name);
	appendStringInfoString(&request, ",\"server\":");
	escape_json(&request, m->server ? m->server : SERVER_THIS_SERVER);
	appendStringInfoString(&request, ",\"database\":");
	escape_json(&request, m->remote_database);
	appendStringInfoString(&request, ",\"owner\":");
	escape_json(&request, m->owner_role);
	append_json_names(&request, "groups", groups, 2);
	append_json_names(&request, "logins", (const char *const *) m->login_roles,
					  TENANT_LOGIN_ROLE_COUNT);
	append_json_names(&request, "schemas", (const char *const *) m->schemas,
					  TENANT_SCHEMA_COUNT);
	appendStringInfoChar(&request, '}');

	operation_id = JournalAddOperation(t->tenant_id, "audit", t->generation,
									   false, false);
	JournalAddStep(operation_id, 1, "remote_database", "audit", m->remote_database,
				   DirectFunctionCall1(jsonb_in, CStringGetDatum(request.data)),
				   (Datum) 0, NULL);
	run->operations++;
	return operation_id;
}

/*
 * audit_tenant
 *		Every database check of one tenant.
 */
static void
audit_tenant(AuditRun *run, const AuditTenant *t, HTAB *relations_by_nsp)
{
	const TenantModel *m = t->model;
	Oid			schema_oids[TENANT_SCHEMA_COUNT];
	List	   *relations[TENANT_SCHEMA_COUNT];
	Oid			owner = get_role_oid(m->owner_role, true);
	bool		readable = true;
	TenantState *state = NULL;
	TenantState *nothing;
	List	   *new_tenant_plan;
	PlannedAccess *planned;

	if (!m->local)
	{
		int64		operation = enqueue_remote_check(run, t);

		AuditReport(run, t->name, "placement", AUDIT_INFO, m->remote_database,
					"The tenant's database objects are in database %s on %s (port %d); the worker checks them there (audit operation " INT64_FORMAT "), and its findings join this run.",
					m->remote_database,
					m->server && m->server[0] ? psprintf("server %s", m->server) :
					m->remote_host[0] ? m->remote_host : "this server",
					m->remote_host[0] ? m->remote_port : PostPortNumber,
					operation);
		audit_credentials(run, t);
		if (run->platform)
		{
			nothing = palloc0(sizeof(TenantState));
			enqueue_platform_checks(run, t, PlanTenant(m, nothing, PLAN_PROVISION));
		}
		return;
	}

	/* schemas must be owned by the tenant's owner role, a plain role */
	if (OidIsValid(owner) && superuser_arg(owner))
	{
		AuditReport(run, t->name, "role_attributes", AUDIT_CRITICAL, m->owner_role,
					"Role %s has%s, which no tenant role may have.",
					m->owner_role, role_attributes_text(m->owner_role));
		readable = false;
	}
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		SchemaRelations *entry;

		schema_oids[i] = get_namespace_oid(m->schemas[i], true);
		relations[i] = NIL;
		if (!OidIsValid(schema_oids[i]))
			continue;
		entry = hash_search(relations_by_nsp, &schema_oids[i], HASH_FIND, NULL);
		if (entry)
			relations[i] = entry->relations;
		if (schema_owner(schema_oids[i]) != owner)
		{
			char	   *actual = GetUserNameFromId(schema_owner(schema_oids[i]), true);

			AuditReport(run, t->name, "schema_owner", AUDIT_CRITICAL, m->schemas[i],
						"Schema %s is owned by %s, not by the tenant's owner role %s.",
						quote_identifier(m->schemas[i]), actual ? actual : "a dropped role",
						m->owner_role);
			readable = false;
		}
	}

	/* roles and schemas that merely have the tenant's names (issue 17) */
	if (readable)
	{
		ListCell   *lc;

		foreach(lc, TenantForeignObjects(m, t->tenant_id))
		{
			AuditReport(run, t->name, "foreign_object", AUDIT_CRITICAL, (char *) lfirst(lc),
						"The %s has a name tenancy derives for the tenant but was not created by tenancy for it (tenancy.created_objects); tenancy will not adopt, change or drop it. Find out what it is, then drop or rename it.",
						(char *) lfirst(lc));
			readable = false;
		}
	}

	/* what apply would change: the planner reads the catalogs */
	if (readable)
	{
		state = TenantStateFromCatalogs(m, t->tenant_id);
		report_planner_drift(run, m, state);
	}
	else
		AuditReport(run, t->name, "drift", AUDIT_INFO, m->name,
					"Other checks of roles and schemas were skipped until the ownership findings are resolved.");

	nothing = palloc0(sizeof(TenantState));
	nothing->pgaudit_loaded = state ? state->pgaudit_loaded : pgaudit_is_loaded();
	new_tenant_plan = PlanTenant(m, nothing, PLAN_PROVISION);
	if (run->platform)
		enqueue_platform_checks(run, t, new_tenant_plan);
	planned = AuditPlannedAccess(new_tenant_plan);
	AuditSchemaPrivileges(run, m, planned, schema_oids, relations);
	AuditDefaultPrivileges(run, m, planned);
	AuditMemberships(run, m, planned);
	if (state)
		AuditRoleSettings(run, m, state, planned);
	audit_credentials(run, t);
	audit_estimated_usage(run, t);
	if (lock_tenant(run, t, relations))
	{
		audit_freshness(run, t, relations);
		audit_storage(run, t, relations);
	}
	else
		audit_storage_estimated(run, t);
}

/*
 * audit_shared_tables
 *		Tables shared with tenancy.share_table: row-level security enabled
 *		and forced, the policy as share_table made it, the tenant-column
 *		index.  A table counts as shared while it has the policy or the
 *		index share_table marked.
 */
static void
audit_shared_tables(AuditRun *run)
{
	SPITupleTable *tuptable;
	uint64		n;

	audit_query("WITH shared AS ("
				" SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl,"
				"  c.relrowsecurity, c.relforcerowsecurity, p.oid AS policy, p.polpermissive,"
				"  p.polcmd, p.polroles,"
				"  pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,"
				"  pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck,"
				"  (SELECT a.attname FROM pg_catalog.pg_index i"
				"    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
				"   WHERE i.indrelid = c.oid AND pg_catalog.obj_description(i.indexrelid, 'pg_class') = "
				"'" SHARED_INDEX_COMMENT "' LIMIT 1) AS marked_column"
				" FROM pg_catalog.pg_class c"
				" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				" LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid AND p.polname = '" SHARED_POLICY_NAME "'"
				" WHERE c.relkind IN ('r', 'p') AND (p.oid IS NOT NULL OR EXISTS ("
				"  SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid"
				"   AND pg_catalog.obj_description(i.indexrelid, 'pg_class') = '" SHARED_INDEX_COMMENT "'))"
				"), checked AS ("
				" SELECT s.*, COALESCE(pg_catalog.substring(s.qual,"
				"  '^\\((\\S+) = \\( SELECT tenancy\\.current_tenant\\(\\) AS current_tenant\\)\\)$'),"
				"  s.marked_column) AS col FROM shared s"
				")"
				" SELECT tbl, relrowsecurity, relforcerowsecurity, policy IS NOT NULL,"
				"  COALESCE(polpermissive AND polcmd = '*' AND polroles = '{0}'"
				"   AND qual IS NOT NULL AND withcheck = qual"
				"   AND qual = pg_catalog.format('(%s = ( SELECT tenancy.current_tenant() AS current_tenant))',"
				"    pg_catalog.quote_ident(col)), false),"
				"  col, col IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i"
				"   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
				"   WHERE i.indrelid = checked.oid AND a.attname = checked.col)"
				" FROM checked ORDER BY tbl",
				0, NULL, NULL, SPI_OK_SELECT);

	/* AuditReport runs SPI: keep the result apart */
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tuple = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		bool		isnull;
		char	   *table = SPI_getvalue(tuple, desc, 1);
		bool		enabled = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
		bool		forced = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
		bool		has_policy = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
		bool		policy_ok = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
		char	   *column = SPI_getvalue(tuple, desc, 6);
		bool		indexed = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));

		if (!enabled)
			AuditReport(run, NULL, "shared_table_rls", AUDIT_CRITICAL, table,
						"Row-level security is disabled on shared table %s: every tenant sees every row.",
						table);
		else if (!forced)
			AuditReport(run, NULL, "shared_table_rls", AUDIT_HIGH, table,
						"Row-level security is not forced on shared table %s: its owner bypasses the policy.",
						table);
		if (!has_policy)
			AuditReport(run, NULL, "shared_table_policy", AUDIT_CRITICAL, table,
						"Shared table %s has lost its policy %s. Run tenancy.share_table again.",
						table, SHARED_POLICY_NAME);
		else if (!policy_ok)
			AuditReport(run, NULL, "shared_table_policy", AUDIT_CRITICAL, table,
						"The policy %s of shared table %s was altered: it is no longer the permissive policy for all commands and roles on (%s = (SELECT tenancy.current_tenant())) that tenancy.share_table creates.",
						SHARED_POLICY_NAME, table, column ? column : "the tenant column");
		if (!indexed)
			AuditReport(run, NULL, "shared_table_index", AUDIT_WARNING, table,
						"No index of shared table %s leads with its tenant column%s%s; every query scans the whole table.",
						table, column ? " " : "", column ? column : "");
	}
}

/*
 * audit_shared_table_neighbours
 *		What one tenant could do to the others through a shared table (or
 *		any partition of one, at any depth):
 *		- shared_table_partition (critical): a partition without row-level
 *		  security enabled and forced, or without the policy: querying it
 *		  directly shows every tenant's rows;
 *		- shared_table_extra_policy (critical): another permissive policy,
 *		  which widens what the generic one allows (policies are ORed);
 *		- shared_table_trigger (critical when its function belongs to a
 *		  tenant role, high otherwise): a trigger whose function is not the
 *		  table owner's or a superuser's sees every tenant's rows;
 *		- shared_table_privilege (high): TRIGGER, TRUNCATE, REFERENCES or
 *		  MAINTAIN (PostgreSQL 17 and later) granted to a tenant role or
 *		  PUBLIC;
 *		- shared_table_foreign_key (high): a foreign key of a table a
 *		  tenant role owns referencing a shared table: its checks tell
 *		  which keys other tenants hold, and they lock the referenced rows;
 *		- shared_table_unique_key (warning): a unique key or an exclusion
 *		  constraint without the tenant column, on the table or a partition
 *		  of its own, which reveals other tenants' keys.
 */
static void
audit_shared_table_neighbours(AuditRun *run)
{
	audit_query("WITH RECURSIVE shared AS ("
				" SELECT p.polrelid AS root, p.polrelid AS relid,"
				"  (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = p.polrelid"
				"    AND pg_catalog.quote_ident(a.attname) = pg_catalog.substring(pg_catalog.pg_get_expr(p.polqual, p.polrelid),"
				"     '^\\((.+) = \\( SELECT')) AS tenant_attnum"
				" FROM pg_catalog.pg_policy p WHERE p.polname = '" SHARED_POLICY_NAME "'"
				"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_policy q"
				"   ON q.polrelid = h.inhparent AND q.polname = p.polname WHERE h.inhrelid = p.polrelid)"
				" UNION"
				" SELECT s.root, h.inhrelid, s.tenant_attnum FROM shared s"
				"  JOIN pg_catalog.pg_inherits h ON h.inhparent = s.relid"
				"), tables AS ("
				" SELECT s.*, c.relname, c.relowner, c.relacl, c.relrowsecurity, c.relforcerowsecurity,"
				"  pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl,"
				"  (SELECT pg_catalog.format('%I.%I', rn.nspname, r.relname) FROM pg_catalog.pg_class r"
				"    JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = s.root) AS root_tbl,"
				"  (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = s.root"
				"    AND a.attnum = s.tenant_attnum) AS tenant_column"
				" FROM shared s JOIN pg_catalog.pg_class c ON c.oid = s.relid"
				" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				")"
				" SELECT 'shared_table_partition', 'critical', t.tbl,"
				"  pg_catalog.format('Partition %s of shared table %s %s: querying it directly shows every tenant''s rows. Run tenancy.share_table(%L, %L) again.',"
				"   t.tbl, t.root_tbl, CASE WHEN NOT t.relrowsecurity THEN 'has row-level security disabled'"
				"    WHEN NOT t.relforcerowsecurity THEN 'does not force row-level security'"
				"    ELSE 'has no policy " SHARED_POLICY_NAME "' END, t.root_tbl, t.tenant_column)"
				" FROM tables t WHERE t.relid <> t.root AND (NOT t.relrowsecurity OR NOT t.relforcerowsecurity"
				"  OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = t.relid"
				"   AND p.polname = '" SHARED_POLICY_NAME "'))"
				" UNION ALL"
				" SELECT 'shared_table_extra_policy', 'critical', t.tbl,"
				"  pg_catalog.format('Permissive policy %I on %s widens what tenants see and write: permissive policies are combined with OR, so rows it allows are visible to every tenant it applies to.',"
				"   p.polname, t.tbl)"
				" FROM tables t JOIN pg_catalog.pg_policy p ON p.polrelid = t.relid"
				" WHERE p.polpermissive AND p.polname <> '" SHARED_POLICY_NAME "'"
				" UNION ALL"
				" SELECT 'shared_table_trigger',"
				"  CASE WHEN tenancy.tenant_of_role(f.proowner) IS NOT NULL THEN 'critical' ELSE 'high' END, t.tbl,"
				"  pg_catalog.format('Trigger %I on %s runs function %s of role %s on every tenant''s rows%s.',"
				"   g.tgname, t.tbl, f.oid::pg_catalog.regprocedure, pg_catalog.pg_get_userbyid(f.proowner),"
				"   CASE WHEN tenancy.tenant_of_role(f.proowner) IS NOT NULL"
				"    THEN pg_catalog.format(', a role of tenant %s%s', tenancy.tenant_of_role(f.proowner),"
				"     CASE WHEN f.prosecdef THEN ' (SECURITY DEFINER: it can copy them where that tenant reads them)' ELSE '' END)"
				"    ELSE '' END)"
				" FROM tables t JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.relid AND NOT g.tgisinternal"
				" JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid"
				" JOIN pg_catalog.pg_roles o ON o.oid = f.proowner"
				" WHERE f.proowner <> t.relowner AND NOT o.rolsuper"
				" UNION ALL"
				" SELECT 'shared_table_privilege', 'high', t.tbl,"
				"  pg_catalog.format('%s holds %s on shared table %s: %s.',"
				"   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.format('Role %I of tenant %s',"
				"    pg_catalog.pg_get_userbyid(a.grantee), tenancy.tenant_of_role(a.grantee)) END,"
				"   a.privilege_type, t.tbl, CASE a.privilege_type"
				"    WHEN 'TRUNCATE' THEN 'TRUNCATE ignores row-level security and empties every tenant''s rows'"
				"    WHEN 'TRIGGER' THEN 'a trigger sees every tenant''s rows'"
				"    WHEN 'MAINTAIN' THEN 'VACUUM FULL, CLUSTER and REINDEX lock every tenant out of the table'"
				"    ELSE 'a foreign key on the table tells which keys other tenants hold' END)"
				" FROM tables t, pg_catalog.aclexplode(t.relacl) a"
				" WHERE a.privilege_type IN ('TRIGGER', 'TRUNCATE', 'REFERENCES', 'MAINTAIN')"
				"  AND (a.grantee = 0 OR tenancy.tenant_of_role(a.grantee) IS NOT NULL)"
				" UNION ALL"
				" SELECT 'shared_table_foreign_key', 'high', t.tbl,"
				"  pg_catalog.format('Foreign key %I of table %s, owned by role %I of tenant %s, references shared table %s: its checks tell which keys other tenants hold.',"
				"   k.conname, k.conrelid::pg_catalog.regclass, pg_catalog.pg_get_userbyid(r.relowner),"
				"   tenancy.tenant_of_role(r.relowner), t.tbl)"
				" FROM tables t JOIN pg_catalog.pg_constraint k ON k.confrelid = t.relid AND k.contype = 'f'"
				" JOIN pg_catalog.pg_class r ON r.oid = k.conrelid"
				" WHERE tenancy.tenant_of_role(r.relowner) IS NOT NULL"
				"  AND k.conparentid = 0"
				" UNION ALL"
				" SELECT 'shared_table_unique_key', 'warning', t.tbl,"
				"  pg_catalog.format('%s %I of %s does not include the tenant column %I: %s.',"
				"   CASE WHEN i.indisexclusion THEN 'Exclusion constraint index' ELSE 'Unique index' END,"
				"   c.relname, CASE WHEN t.relid = t.root THEN 'shared table ' OPERATOR(pg_catalog.||) t.tbl"
				"    ELSE pg_catalog.format('partition %s of shared table %s', t.tbl, t.root_tbl) END,"
				"   t.tenant_column, CASE WHEN i.indisexclusion"
				"    THEN 'a tenant inserting a row that conflicts with another tenant''s learns that it exists (a conflict error)'"
				"    ELSE 'a tenant inserting a key another tenant holds learns that it exists (a duplicate-key error, or nothing inserted with ON CONFLICT DO NOTHING)' END)"
				" FROM tables t JOIN pg_catalog.pg_index i ON i.indrelid = t.relid"
				"  AND (i.indisunique OR i.indisexclusion)"
				" JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
				" WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid)"
				"  AND NOT (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = t.relid"
				"   AND a.attname OPERATOR(pg_catalog.=) t.tenant_column) = ANY (i.indkey::pg_catalog.int2[])"
				" ORDER BY 1, 3, 4",
				0, NULL, NULL, SPI_OK_SELECT);

	/* AuditReport runs SPI: keep the result apart */
	{
		SPITupleTable *tuptable = SPI_tuptable;
		uint64		n = SPI_processed;

		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tuple = tuptable->vals[i];
			TupleDesc	desc = tuptable->tupdesc;
			char	   *severity = SPI_getvalue(tuple, desc, 2);

			AuditReport(run, NULL, SPI_getvalue(tuple, desc, 1),
						strcmp(severity, "critical") == 0 ? AUDIT_CRITICAL :
						strcmp(severity, "high") == 0 ? AUDIT_HIGH : AUDIT_WARNING,
						SPI_getvalue(tuple, desc, 3), "%s", SPI_getvalue(tuple, desc, 4));
		}
	}
}

/*
 * local_tenant_names
 *		text[] of the audited tenants in this database, those with a
 *		relation budget only when with_budget; NULL when there is none.
 */
static Datum
local_tenant_names(List *tenants, bool with_budget)
{
	Datum	   *names = palloc(sizeof(Datum) * (list_length(tenants) + 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, tenants)
	{
		AuditTenant *t = lfirst(lc);

		if (t->audited && t->model->local &&
			(!with_budget || TenantRelationBudget(t->model->tier) >= 0))
			names[n++] = CStringGetTextDatum(t->name);
	}
	if (n == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * audit_relation_budgets
 *		relation_budget: an audited tenant holds more live relations than
 *		its tier's tenancy.max_relations_per_tenant (created while tenancy
 *		was not loaded, or before the budget was lowered).  Counted as the
 *		hook counts them, for every tenant in one scan of pg_class.
 */
static void
audit_relation_budgets(AuditRun *run, List *tenants)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {local_tenant_names(tenants, true)};
	SPITupleTable *tuptable;
	uint64		rows;

	if (values[0] == (Datum) 0)
		return;
	audit_query("WITH o AS (SELECT * FROM tenancy.tenant_objects() o WHERE o.tenant = ANY ($1)),"
				" nsp AS (SELECT o.tenant, n.oid FROM o JOIN pg_catalog.pg_namespace n"
				"  ON n.nspname = o.object_name WHERE o.object_type = 'schema'),"
				" rol AS (SELECT o.tenant, r.oid FROM o JOIN pg_catalog.pg_roles r"
				"  ON r.rolname = o.object_name WHERE o.object_type = 'role'),"
				" c AS (SELECT c.relnamespace, c.relowner, pg_catalog.count(*) AS n"
				"  FROM pg_catalog.pg_class c GROUP BY 1, 2)"
				" SELECT g.tenant, pg_catalog.sum(g.n)::pg_catalog.int8 FROM ("
				"  SELECT nsp.tenant, c.relnamespace, c.relowner, c.n FROM c JOIN nsp ON nsp.oid = c.relnamespace"
				"  UNION"
				"  SELECT rol.tenant, c.relnamespace, c.relowner, c.n FROM c JOIN rol ON rol.oid = c.relowner) g"
				" GROUP BY g.tenant ORDER BY 1",
				1, types, values, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	rows = SPI_processed;
	for (uint64 i = 0; i < rows; i++)
	{
		char	   *tenant = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
		bool		isnull;
		int64		live = DatumGetInt64(SPI_getbinval(tuptable->vals[i], tuptable->tupdesc,
													   2, &isnull));
		const char *tier = NULL;
		int			budget;
		ListCell   *lc;

		foreach(lc, tenants)
		{
			if (strcmp(((AuditTenant *) lfirst(lc))->name, tenant) == 0)
				tier = ((AuditTenant *) lfirst(lc))->model->tier;
		}
		budget = tier ? TenantRelationBudget(tier) : -1;
		if (budget >= 0 && live > budget)
			AuditReport(run, tenant, "relation_budget", AUDIT_HIGH, "relations",
						"The tenant holds %lld live relations, more than the budget of %d that tenancy.max_relations_per_tenant gives tier %s; its roles can create no relation until it is under it.",
						(long long) live, budget, tier);
	}
}

/*
 * audit_long_transactions
 *		long_transaction: a session of an audited tenant's role (its login
 *		roles and backup_<slug>, which may switch its timeouts off as
 *		pg_dump does) has had a transaction open longer than
 *		tenancy.max_tenant_transaction.  Its snapshot holds back VACUUM's
 *		cleanup horizon in its database: dead rows of every tenant's tables
 *		there stay, and grow.  High: neighbours pay for it.
 */
static void
audit_long_transactions(AuditRun *run, List *tenants)
{
	Oid			types[2] = {TEXTARRAYOID, INT4OID};
	Datum		values[2] = {local_tenant_names(tenants, false),
	Int32GetDatum(tenancy_max_tenant_transaction_s)};
	SPITupleTable *tuptable;
	uint64		rows;

	if (values[0] == (Datum) 0)
		return;
	audit_query("SELECT x.tenant, x.usename, x.pid,"
				"  pg_catalog.date_trunc('second', x.open_for)::pg_catalog.text,"
				"  COALESCE(pg_catalog.age(x.backend_xmin)::pg_catalog.text, 'no snapshot'),"
				"  COALESCE(x.datname::pg_catalog.text, '')"
				" FROM (SELECT tenancy.tenant_of_role(a.usesysid) AS tenant, a.usename::pg_catalog.text,"
				"   a.pid, a.backend_xmin, a.datname,"
				"   pg_catalog.clock_timestamp() - a.xact_start AS open_for"
				"  FROM pg_catalog.pg_stat_activity a"
				"  WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()"
				"   AND a.xact_start IS NOT NULL) x"
				" WHERE x.tenant = ANY ($1)"
				"  AND x.open_for > pg_catalog.make_interval(secs => $2)"
				" ORDER BY 1, 3",
				2, types, values, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	rows = SPI_processed;
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tuple = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;

		AuditReport(run, SPI_getvalue(tuple, desc, 1), "long_transaction", AUDIT_HIGH,
					SPI_getvalue(tuple, desc, 2),
					"Session %s of role %s in database %s has had a transaction open for %s (its snapshot is %s transactions old), longer than tenancy.max_tenant_transaction (%d s): it holds back the cleanup of dead rows in every table of that database, other tenants' included. End it with SELECT pg_terminate_backend(%s) unless it is a backup that must finish.",
					SPI_getvalue(tuple, desc, 3), SPI_getvalue(tuple, desc, 2),
					SPI_getvalue(tuple, desc, 6), SPI_getvalue(tuple, desc, 4),
					SPI_getvalue(tuple, desc, 5), tenancy_max_tenant_transaction_s,
					SPI_getvalue(tuple, desc, 3));
	}
}

/*
 * audit_sessions
 *		session_ceiling: a session of an audited tenant's role has run one
 *		statement longer than its statement_timeout ceiling, or sat idle in
 *		a transaction longer than its idle_in_transaction_session_timeout
 *		ceiling (the role's settings, which tenant_guard.c enforces at
 *		statement boundaries): a setting raised within a statement, or a
 *		ceiling changed.  The transaction start is also shown.
 *		Also a session running with more parallel workers than its
 *		max_parallel_workers_per_gather ceiling (the role's setting, else
 *		tenancy.session_ceilings): a setting raised within a statement, a
 *		lowered ceiling, or a plan with several Gather nodes.  The memory
 *		settings' ceilings (hash_mem_multiplier, maintenance_work_mem,
 *		temp_buffers) cannot be seen from another session.
 */
static void
audit_sessions(AuditRun *run, List *tenants)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {local_tenant_names(tenants, false)};
	SPITupleTable *tuptable;
	uint64		rows;

	if (values[0] == (Datum) 0)
		return;
	audit_query("SELECT x.tenant, x.usename, x.pid, x.setting, s.ceiling,"
				"  pg_catalog.date_trunc('second', x.elapsed)::pg_catalog.text"
				" FROM (SELECT tenancy.tenant_of_role(a.usesysid) AS tenant, a.usename::pg_catalog.text,"
				"   a.pid, a.state, a.datid, a.usesysid,"
				"   CASE WHEN a.state = 'active' THEN 'statement_timeout'"
				"    ELSE 'idle_in_transaction_session_timeout' END AS setting,"
				"   pg_catalog.clock_timestamp() - CASE WHEN a.state = 'active' THEN a.query_start"
				"    ELSE a.state_change END AS elapsed"
				"  FROM pg_catalog.pg_stat_activity a"
				"  WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()"
				"   AND a.state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')) x"
				" CROSS JOIN LATERAL (SELECT pg_catalog.split_part(c, '=', 2) AS ceiling"
				"  FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) c"
				"  WHERE d.setrole = x.usesysid AND d.setdatabase IN (0, x.datid)"
				"   AND pg_catalog.split_part(c, '=', 1) = x.setting"
				"  ORDER BY d.setdatabase DESC LIMIT 1) s"
				" WHERE x.tenant = ANY ($1) AND s.ceiling !~ '^0+$'"
				"  AND x.elapsed > CASE WHEN s.ceiling ~ '^[0-9]+$'"
				"   THEN pg_catalog.make_interval(secs => s.ceiling::pg_catalog.float8 / 1000)"
				"   ELSE s.ceiling::pg_catalog.interval END"
				" ORDER BY 1, 3",
				1, types, values, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	rows = SPI_processed;
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tuple = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;
		char	   *setting = SPI_getvalue(tuple, desc, 4);

		AuditReport(run, SPI_getvalue(tuple, desc, 1), "session_ceiling", AUDIT_WARNING,
					SPI_getvalue(tuple, desc, 2),
					"Session %s of role %s has %s for %s, longer than the ceiling of its tier's %s (%s): a setting was raised within a statement, or the ceiling changed.",
					SPI_getvalue(tuple, desc, 3), SPI_getvalue(tuple, desc, 2),
					strcmp(setting, "statement_timeout") == 0 ? "run its statement" :
					"been idle in a transaction",
					SPI_getvalue(tuple, desc, 6), setting, SPI_getvalue(tuple, desc, 5));
	}

	audit_query("SELECT x.tenant, x.usename, x.pid, x.workers, c.ceiling"
				" FROM (SELECT tenancy.tenant_of_role(l.usesysid) AS tenant, l.usename::pg_catalog.text,"
				"   l.pid, l.usesysid, l.datid,"
				"   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity w"
				"     WHERE w.leader_pid = l.pid AND w.pid <> l.pid) AS workers"
				"  FROM pg_catalog.pg_stat_activity l"
				"  WHERE l.backend_type = 'client backend' AND l.pid <> pg_catalog.pg_backend_pid()"
				"   AND l.state = 'active') x"
				" CROSS JOIN LATERAL (SELECT COALESCE("
				"   (SELECT pg_catalog.split_part(c, '=', 2)"
				"     FROM pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) c"
				"     WHERE d.setrole = x.usesysid AND d.setdatabase IN (0, x.datid)"
				"      AND pg_catalog.split_part(c, '=', 1) = 'max_parallel_workers_per_gather'"
				"     ORDER BY d.setdatabase DESC LIMIT 1),"
				"   pg_catalog.substring(pg_catalog.current_setting('tenancy.session_ceilings'),"
				"    'max_parallel_workers_per_gather=([0-9]+)'))::pg_catalog.int4 AS ceiling) c"
				" WHERE x.tenant = ANY ($1) AND x.workers > 0 AND x.workers > c.ceiling"
				" ORDER BY 1, 3",
				1, types, values, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	rows = SPI_processed;
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tuple = tuptable->vals[i];
		TupleDesc	desc = tuptable->tupdesc;

		AuditReport(run, SPI_getvalue(tuple, desc, 1), "session_ceiling", AUDIT_WARNING,
					SPI_getvalue(tuple, desc, 2),
					"Session %s of role %s runs with %s parallel workers, more than its ceiling of %s per Gather (max_parallel_workers_per_gather): a setting raised within a statement, a ceiling lowered since, or a plan with several Gather nodes.",
					SPI_getvalue(tuple, desc, 3), SPI_getvalue(tuple, desc, 2),
					SPI_getvalue(tuple, desc, 4), SPI_getvalue(tuple, desc, 5));
	}
}

/*
 * audit_schema_exposure
 *		Schema tenancy is usable by every role (so that tenants can call
 *		tenancy.current_tenant()); nothing else in it may be: a function
 *		other than current_tenant executable by PUBLIC, a table, view or
 *		sequence with a privilege of PUBLIC, or an object outside the
 *		extension using one of its row types or functions (it blocks DROP
 *		EXTENSION and upgrades; tenant roles are refused that, other roles
 *		are not; share_table's policies and column defaults are expected).
 *		schema_exposure, high.
 */
static void
audit_schema_exposure(AuditRun *run)
{
	SPITupleTable *tuptable;
	uint64		n;

	audit_query("SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure)"
				" FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'tenancy'::pg_catalog.regnamespace"
				"  AND p.oid <> 'tenancy.current_tenant()'::pg_catalog.regprocedure"
				"  AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')"
				" UNION ALL"
				" SELECT pg_catalog.format('relation %s', c.oid::pg_catalog.regclass)"
				" FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a"
				" WHERE c.relnamespace = 'tenancy'::pg_catalog.regnamespace AND a.grantee = 0"
				" UNION ALL"
				" SELECT pg_catalog.format('type %s, used by %s', d.refobjid::pg_catalog.regtype,"
				"  pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid))"
				" FROM pg_catalog.pg_depend d"
				" JOIN pg_catalog.pg_type t ON t.oid = d.refobjid"
				"  AND t.typnamespace = 'tenancy'::pg_catalog.regnamespace"
				" LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
				"  AND r.oid = d.objid"
				" WHERE d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.deptype = 'n'"
				"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
				"   WHERE e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
				"    AND ((e.classid = d.classid AND e.objid = d.objid)"
				"     OR (e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND e.objid = r.ev_class)))"
				" UNION ALL"
				" SELECT pg_catalog.format('function %s, used by %s', d.refobjid::pg_catalog.regprocedure,"
				"  pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid))"
				" FROM pg_catalog.pg_depend d"
				" JOIN pg_catalog.pg_depend m ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
				"  AND m.objid = d.refobjid AND m.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
				"  AND m.refobjid = (SELECT x.oid FROM pg_catalog.pg_extension x WHERE x.extname = 'tenancy')"
				" WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.deptype = 'n'"
				"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
				"   WHERE e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
				"    AND e.classid = d.classid AND e.objid = d.objid)"
	/* share_table's policies and defaults, and tenancy's own tables' */
				"  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend o"
				"   JOIN pg_catalog.pg_class c ON c.oid = o.refobjid"
				"   WHERE o.classid = d.classid AND o.objid = d.objid"
				"    AND o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.deptype IN ('a', 'i')"
				"    AND (c.relnamespace = 'tenancy'::pg_catalog.regnamespace"
				"     OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p"
				"      WHERE p.polrelid = c.oid AND p.polname = '" SHARED_POLICY_NAME "')"
				"     OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid"
				"      AND pg_catalog.obj_description(i.indexrelid, 'pg_class') = '" SHARED_INDEX_COMMENT "')))"
				" ORDER BY 1",
				0, NULL, NULL, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *object = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);

		AuditReport(run, NULL, "schema_exposure", AUDIT_HIGH, object,
					strncmp(object, "type ", 5) == 0 || strstr(object, ", used by ") != NULL ?
					"Every role has USAGE on schema tenancy (to call tenancy.current_tenant()); %s, which blocks DROP EXTENSION tenancy and upgrades of its tables. Drop or change that object." :
					"Every role has USAGE on schema tenancy (to call tenancy.current_tenant()), and PUBLIC may use %s: every tenant role can reach it. Revoke it from PUBLIC.",
					object);
	}
}

/*
 * finish_run
 *		Record how the run ended.
 */
static void
finish_run(AuditRun *run, int audited)
{
	Oid			types[4] = {INT8OID, INT4OID, INT4OID, INT4OID};
	Datum		values[4];

	values[0] = Int64GetDatum(run->run_id);
	values[1] = Int32GetDatum(audited);
	values[2] = Int32GetDatum(run->findings);
	values[3] = Int32GetDatum(run->operations);
	audit_query("UPDATE tenancy.audit_runs SET finished_at = pg_catalog.clock_timestamp(), "
				"tenants_audited = $2, findings = $3, platform_operations = $4 WHERE run_id = $1",
				4, types, values, SPI_OK_UPDATE);
	if (run->operations > 0)
		WorkerWakeAtCommit();
}

/*
 * tenancy_audit
 *		SQL: tenancy.audit(name text DEFAULT NULL) returns table(tenant,
 *		check_name, severity, object, detail).  Audits one tenant, or all
 *		of them (and the shared tables) when name is NULL.
 */
Datum
tenancy_audit(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	AuditRun	run = {0};
	List	   *tenants;
	HTAB	   *relations;
	MemoryContext tenant_cxt;
	MemoryContext outer;
	ListCell   *lc;
	int			audited = 0;
	int			nest;

	if (name != NULL)
		TenantCheckName(name);
	InitMaterializedSRF(fcinfo, 0);
	run.store = rsinfo->setResult;
	run.desc = rsinfo->setDesc;

	/* no tenant's lock stalls the run: see lock_tenant */
	nest = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", psprintf("%d", tenancy_lock_timeout_ms),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	SPI_connect();
	start_run(&run, name);
	tenants = load_tenants(&run, name);
	load_credentials_and_checks(tenants);
	relations = load_relations(tenants);

	tenant_cxt = AllocSetContextCreate(CurrentMemoryContext, "tenancy audit tenant",
									   ALLOCSET_DEFAULT_SIZES);
	foreach(lc, tenants)
	{
		AuditTenant *t = lfirst(lc);

		if (!t->audited)
			continue;
		outer = MemoryContextSwitchTo(tenant_cxt);
		audit_tenant(&run, t, relations);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(tenant_cxt);
		audited++;
		CHECK_FOR_INTERRUPTS();
	}
	audit_sessions(&run, tenants);
	audit_long_transactions(&run, tenants);
	audit_relation_budgets(&run, tenants);
	if (name == NULL)
	{
		audit_shared_tables(&run);
		AuditScheduledJobs(&run);
		AuditPlatformConnect(&run);
		audit_shared_table_neighbours(&run);
		audit_schema_exposure(&run);
	}
	finish_run(&run, audited);
	SPI_freeplan(run.insert_finding);
	if (run.check_request)
		SPI_freeplan(run.check_request);
	SPI_finish();
	AtEOXact_GUC(true, nest);
	PG_RETURN_VOID();
}
