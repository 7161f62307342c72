/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  The tenant planner: builds the tenant model (derived names, per-tier
 *	  settings, placement) from a name and a normalized spec, reads what
 *	  exists of the tenant now, and orders the actions that plan_sql.c and
 *	  plan_platform.c describe.
 *
 * The planner converges: it compares the model with the current state and
 * plans only what differs, so a provision creates everything, an apply of
 * a changed spec touches only what changed and an apply of the same spec
 * plans nothing.  For a tenant in this database the current state comes
 * from the catalogs (and a role or schema that exists but is not one that
 * tenancy.created_objects records as created for the tenant, by OID, is
 * refused: tenancy never adopts an object that merely has the name); for a
 * tenant on another server, which the planner cannot see, it is inferred
 * from the spec last applied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_default_acl.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "pg_compat.h"
#include "plan.h"
#include "spec.h"
#include "tenancy.h"

const char *const TenantSchemaSuffixes[TENANT_SCHEMA_COUNT] = {
	"bronze", "silver", "gold_mart", "gold_reporting", "staging", "audit"
};

/* Longest tenant name: every derived name must fit (doc/design.md, "Derived names") */
#define TENANT_NAME_MAX 40

/*
 * Per-tier settings of the login roles.  Documented in README.md ("Roles
 * and per-tier settings"); keep both in step.
 */
typedef struct TierSettings
{
	const char *tier;
	const char *values[TENANT_TIER_SETTING_COUNT];
} TierSettings;

static const char *const tier_setting_names[TENANT_TIER_SETTING_COUNT] = {
	"statement_timeout", "work_mem", "temp_file_limit",
	"idle_in_transaction_session_timeout"
};

static const TierSettings tier_settings[] = {
	{"basic", {"5min", "16MB", "1GB", "5min"}},
	{"standard", {"15min", "64MB", "10GB", "10min"}},
	{"enterprise", {"1h", "256MB", "100GB", "30min"}},
};

static const char *const environments[] = {"dev", "staging", "production"};

/*
 * invalid_spec
 *		Report a spec value the planner cannot use (22023), naming its path.
 */
static void
invalid_spec(const char *path, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid tenant spec"),
			 errdetail("The value at %s %s.", path, problem),
			 errhint("Run tenancy.validate() on the spec to see every problem at once.")));
}

/*
 * TenantCheckName
 *		Refuse a tenant name that is not a DNS-1123 label of at most 40
 *		characters starting with a letter (22023).
 *
 * Every derived name (roles, schemas, namespace) is built from the name, so
 * this check is what keeps hostile input out of identifiers in the first
 * place; quote_identifier is applied regardless.
 */
void
TenantCheckName(const char *name)
{
	if (!SpecIsName(name, TENANT_NAME_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant name \"%s\"", name),
				 errdetail("A tenant name is 1 to %d characters: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen.",
						   TENANT_NAME_MAX)));
}

/*
 * check_schema_prefix
 *		Refuse a schema prefix that would not give plain, fitting schema names
 *		(stored specs are checked again: the catalog is writable by superusers).
 */
static void
check_schema_prefix(const char *prefix)
{
	const char *problem = SpecSchemaPrefixProblem(prefix);

	if (problem)
		invalid_spec("warehouse.database.schema_prefix", problem);
}

/*
 * spec_lookup
 *		Find the value at a dotted path ("tenant.tier") of the spec; false if
 *		absent or JSON null.  A non-object on the way is an invalid spec.
 */
static bool
spec_lookup(Jsonb *spec, const char *path, JsonbValue *out)
{
	int			blocked_len;

	switch (SpecLookup(spec, path, out, &blocked_len))
	{
		case SPEC_PATH_FOUND:
			return true;
		case SPEC_PATH_BLOCKED:
			invalid_spec(pnstrdup(path, blocked_len), "must be an object");
			break;
		case SPEC_PATH_ABSENT:
			break;
	}
	return false;
}

/*
 * spec_string
 *		The string at path, or dflt when absent.
 */
static char *
spec_string(Jsonb *spec, const char *path, const char *dflt)
{
	JsonbValue	v;

	if (!spec_lookup(spec, path, &v))
		return dflt ? pstrdup(dflt) : NULL;
	if (v.type != jbvString)
		invalid_spec(path, "must be a string");
	if (memchr(v.val.string.val, '\0', v.val.string.len) != NULL)
		invalid_spec(path, "must not contain a NUL character");
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/*
 * spec_int
 *		The integer at path within [min, max], or dflt when absent.
 */
static int
spec_int(Jsonb *spec, const char *path, int dflt, int min, int max)
{
	JsonbValue	v;
	char	   *text;
	char	   *end;
	long		value;

	if (!spec_lookup(spec, path, &v))
		return dflt;
	if (v.type != jbvNumeric)
		invalid_spec(path, "must be a number");
	text = DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v.val.numeric)));

	errno = 0;
	value = strtol(text, &end, 10);
	if (*end != '\0' || errno != 0)
		invalid_spec(path, "must be a whole number");
	if (value < min || value > max)
		invalid_spec(path, psprintf("must be between %d and %d", min, max));
	return (int) value;
}

/*
 * spec_bool
 *		The boolean at path, or dflt when absent.
 */
static bool
spec_bool(Jsonb *spec, const char *path, bool dflt)
{
	JsonbValue	v;

	if (!spec_lookup(spec, path, &v))
		return dflt;
	if (v.type != jbvBool)
		invalid_spec(path, "must be true or false");
	return v.val.boolean;
}

/*
 * TenantModelFromSpec
 *		Derive the tenant model from its name and normalized spec.
 *
 * Defaults are those of the normalized spec (tier standard, environment
 * production, schema prefix <slug>_, features off, 10 connections), so that
 * a spec that omits a field plans as its normalized form does.
 */
TenantModel *
TenantModelFromSpec(const char *name, Jsonb *spec)
{
	TenantModel *m = palloc0(sizeof(TenantModel));
	const TierSettings *tier = NULL;
	char	   *spec_name;
	char	   *host;
	char	   *database;
	bool		known = false;

	TenantCheckName(name);
	if (!JB_ROOT_IS_OBJECT(spec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant spec"),
				 errdetail("A tenant spec is a JSON object.")));

	m->name = pstrdup(name);
	m->slug = pstrdup(name);
	for (char *c = m->slug; *c; c++)
		if (*c == '-')
			*c = '_';

	spec_name = spec_string(spec, "tenant.name", name);
	if (strcmp(spec_name, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant name \"%s\" does not match the spec's tenant.name \"%s\"",
						name, spec_name),
				 errdetail("The first argument names the tenant, and the spec at $.tenant.name names another one."),
				 errhint("Call it with the spec's tenant.name \"%s\", or change tenant.name in the spec to \"%s\".",
						 spec_name, name)));

	m->tier = spec_string(spec, "tenant.tier", "standard");
	for (size_t i = 0; i < lengthof(tier_settings); i++)
		if (strcmp(m->tier, tier_settings[i].tier) == 0)
			tier = &tier_settings[i];
	if (tier == NULL)
		invalid_spec("tenant.tier", "must be basic, standard or enterprise");
	for (int i = 0; i < TENANT_TIER_SETTING_COUNT; i++)
	{
		m->setting_names[i] = tier_setting_names[i];
		m->setting_values[i] = tier->values[i];
	}

	m->environment = spec_string(spec, "tenant.environment", "production");
	for (size_t i = 0; i < lengthof(environments); i++)
		known |= strcmp(m->environment, environments[i]) == 0;
	if (!known)
		invalid_spec("tenant.environment", "must be dev, staging or production");

	m->display_name = spec_string(spec, "tenant.display_name", name);
	if (strlen(m->display_name) > 256)
		invalid_spec("tenant.display_name", "must be at most 256 bytes long");

	m->schema_prefix = spec_string(spec, "warehouse.database.schema_prefix",
								   psprintf("%s_", m->slug));
	check_schema_prefix(m->schema_prefix);

	m->connection_limit = spec_int(spec, "resources.database.connections.max",
								   10, 1, 10000);
	m->audit_logging = spec_bool(spec, "features.audit_logging", false);
	m->backup_enabled = spec_bool(spec, "resources.database.backup.enabled", true);

	/* placement: here unless the spec names another server or database */
	host = spec_string(spec, "warehouse.database.host", "");
	database = spec_string(spec, "warehouse.database.name", NULL);
	m->local = host[0] == '\0' &&
		(database == NULL || strcmp(database, get_database_name(MyDatabaseId)) == 0);
	if (!m->local)
	{
		m->remote_host = host;
		m->remote_port = spec_int(spec, "warehouse.database.port", 5432, 1, 65535);
		m->remote_database = database ? database : get_database_name(MyDatabaseId);
		if (SpecDatabaseProblem(m->remote_database, false))
			invalid_spec("warehouse.database.name",
						 SpecDatabaseProblem(m->remote_database, false));
	}

	m->owner_role = psprintf("tenant_%s_owner", m->slug);
	m->writer_role = psprintf("tenant_%s_writer", m->slug);
	m->reader_role = psprintf("tenant_%s_reader", m->slug);
	m->login_roles[0] = psprintf("etl_%s", m->slug);
	m->login_roles[1] = psprintf("airflow_%s", m->slug);
	m->backup_role = psprintf("backup_%s", m->slug);
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		m->schemas[i] = psprintf("%s%s", m->schema_prefix, TenantSchemaSuffixes[i]);
	m->namespace = spec_string(spec, "resources.kubernetes.namespace",
							   psprintf("airflow-%s", m->name));
	if (!SpecIsDnsLabel(m->namespace, 63))
		invalid_spec("resources.kubernetes.namespace",
					 "must be a DNS-1123 label (lower-case letters, digits and \"-\", at most 63 characters)");
	if (SpecNamespaceReserved(m->namespace))
		invalid_spec("resources.kubernetes.namespace",
					 psprintf("\"%s\" is reserved by Kubernetes (default and kube-*)",
							  m->namespace));
	m->spec = spec;

	return m;
}

/*
 * read_role_settings
 *		The "name=value" settings of ALTER ROLE ... SET (in every database).
 */
static List *
read_role_settings(Oid roleid)
{
	List	   *settings = NIL;
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(InvalidOid));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(roleid));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true,
							  NULL, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
										  RelationGetDescr(rel), &isnull);
		Datum	   *elems;
		int			nelems;

		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, NULL, &nelems);
		for (int i = 0; i < nelems; i++)
			settings = lappend(settings, TextDatumGetCString(elems[i]));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return settings;
}

/*
 * A role or schema tenancy.created_objects records for the tenant being read
 */
typedef struct RecordedObject
{
	char	   *kind;			/* role or schema */
	char	   *name;
	Oid			oid;
} RecordedObject;

/*
 * read_recorded
 *		The roles and schemas tenancy recorded as created for tenant_id (0:
 *		a tenant not in the catalog: none).
 */
static List *
read_recorded(int64 tenant_id)
{
	MemoryContext caller = CurrentMemoryContext;
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(tenant_id)};
	List	   *recorded = NIL;

	if (tenant_id == 0)
		return NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) SpiExecuteKept(&plan, "SELECT kind, name, object_oid FROM tenancy.created_objects "
						  "WHERE tenant_id = $1", 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);
		RecordedObject *r = palloc(sizeof(RecordedObject));

		r->kind = SPI_getvalue(tuple, desc, 1);
		r->name = SPI_getvalue(tuple, desc, 2);
		r->oid = DatumGetObjectId(SPI_getbinval(tuple, desc, 3, &isnull));
		recorded = lappend(recorded, r);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return recorded;
}

/*
 * recorded_oid
 *		The OID recorded for a role or schema of the tenant, or InvalidOid.
 */
static Oid
recorded_oid(List *recorded, const char *kind, const char *name)
{
	ListCell   *lc;

	foreach(lc, recorded)
	{
		RecordedObject *r = lfirst(lc);

		if (strcmp(r->kind, kind) == 0 && strcmp(r->name, name) == 0)
			return r->oid;
	}
	return InvalidOid;
}

/*
 * foreign_object
 *		Refuse a role or schema that has a name the tenant needs but that
 *		tenancy did not create for it (42710): tenancy never adopts one.
 */
static void
foreign_object(const TenantModel *model, const char *kind, const char *name,
			   Oid oid, Oid recorded, bool registered)
{
	if (!registered)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("%s \"%s\" already exists", kind, name),
				 errdetail("Tenant \"%s\" needs this %s name, and the %s was not created by tenancy for it.",
						   model->name, kind, kind),
				 errhint("Drop or rename the %s, or choose another tenant name%s.", kind,
						 strcmp(kind, "schema") == 0 ? " or warehouse.database.schema_prefix" : "")));
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("%s \"%s\" was not created by tenancy for tenant \"%s\"", kind, name,
					model->name),
			 OidIsValid(recorded) ?
			 errdetail("The %s has the name tenancy derives for the tenant, but its OID is %u and tenancy.created_objects records %u: it was dropped and created again by someone else.",
					   kind, oid, recorded) :
			 errdetail("The %s has the name tenancy derives for the tenant, but tenancy.created_objects does not record it as created for the tenant (OID %u).",
					   kind, oid),
			 errhint("tenancy does not adopt what it did not create.  Find out what the %s is, then drop or rename it and run the operation again: tenancy creates its own.  (After restoring the platform database into another cluster, every OID changed: a superuser runs tenancy.reconcile_created_objects() once.)",
					 kind)));
}

/*
 * read_role
 *		What exists of the role named rolename.  An existing role must be
 *		the one tenancy recorded for the tenant (same OID); otherwise it is
 *		someone else's: refuse (42710).
 */
static void
read_role(RoleState *state, const char *rolename, Oid writer,
		  const TenantModel *model, int64 tenant_id, List *recorded)
{
	Oid			roleid = get_role_oid(rolename, true);
	Oid			expected;
	HeapTuple	tuple;
	Form_pg_authid role;

	memset(state, 0, sizeof(RoleState));
	if (!OidIsValid(roleid))
		return;
	expected = recorded_oid(recorded, "role", rolename);
	if (expected != roleid)
		foreign_object(model, "role", rolename, roleid, expected, tenant_id != 0);

	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for role %u", roleid);
	role = (Form_pg_authid) GETSTRUCT(tuple);
	state->exists = true;
	state->can_login = role->rolcanlogin;
	state->privileged = role->rolsuper || role->rolcreatedb ||
		role->rolcreaterole || role->rolreplication || role->rolbypassrls;
	state->connection_limit = role->rolconnlimit;
	ReleaseSysCache(tuple);

	state->is_member = OidIsValid(writer) && role_is_granted(writer, roleid);
	state->settings = read_role_settings(roleid);
}

/*
 * TenantForeignObjects
 *		The roles and schemas that have a name tenant_id's model needs but
 *		that tenancy did not record as created for it, one description
 *		each ("role x (OID n)"): what the audit reports instead of reading
 *		the tenant's state (TenantStateFromCatalogs would refuse them).
 */
List *
TenantForeignObjects(const TenantModel *model, int64 tenant_id)
{
	List	   *recorded = read_recorded(tenant_id);
	List	   *foreign = NIL;
	const char *roles[4 + TENANT_LOGIN_ROLE_COUNT];

	roles[0] = model->owner_role;
	roles[1] = model->writer_role;
	roles[2] = model->reader_role;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		roles[3 + i] = model->login_roles[i];
	roles[3 + TENANT_LOGIN_ROLE_COUNT] = model->backup_enabled ? model->backup_role : NULL;
	for (int i = 0; i < (int) lengthof(roles); i++)
	{
		Oid			oid = roles[i] ? get_role_oid(roles[i], true) : InvalidOid;

		if (OidIsValid(oid) && oid != recorded_oid(recorded, "role", roles[i]))
			foreign = lappend(foreign, psprintf("role %s (OID %u)", roles[i], oid));
	}
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		Oid			oid = get_namespace_oid(model->schemas[i], true);

		if (OidIsValid(oid) && oid != recorded_oid(recorded, "schema", model->schemas[i]))
			foreign = lappend(foreign, psprintf("schema %s (OID %u)", model->schemas[i], oid));
	}
	return foreign;
}

/*
 * PgauditLoadedHere
 *		Whether pgaudit is loaded here, i.e. pgaudit.log is a real setting
 *		rather than a placeholder that anyone could create with SET.  Also
 *		true of a tenant placed in another database of this server
 *		(shared_preload_libraries is the server's).
 */
bool
PgauditLoadedHere(void)
{
	int			flags = GetConfigOptionFlags("pgaudit.log", true);

	return flags != 0 && (flags & GUC_CUSTOM_PLACEHOLDER) == 0;
}

/*
 * The privileges plan_sql.c grants the groups, as ACL bits: on the tables
 * and sequences a tenant's roles create (WRITER_TABLE_PRIVILEGES and
 * WRITER_SEQUENCE_PRIVILEGES there), and on the audit table.
 */
#define WRITER_TABLE_ACL (ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE | \
						  ACL_TRUNCATE | ACL_REFERENCES | ACL_TRIGGER)
#define WRITER_SEQUENCE_ACL (ACL_USAGE | ACL_SELECT | ACL_UPDATE)
#define AUDIT_TABLE_WRITER_ACL (ACL_SELECT | ACL_INSERT | ACL_UPDATE)

/*
 * acl_lacks
 *		Whether acl lacks a privilege of mode granted to role itself (by
 *		any grantor).  Only the role's own entries count, as in the audit
 *		(audit_acl.c compare_acl): a privilege the role holds only through
 *		PUBLIC or a role it belongs to is one the audit reports missing, and
 *		apply grants it again; the next REVOKE from PUBLIC would otherwise
 *		take it away.  A NULL acl is the default, which grants role nothing
 *		(it is never the owner here).
 */
static bool
acl_lacks(const Acl *acl, Oid role, AclMode mode)
{
	AclMode		held = 0;

	if (acl != NULL)
	{
		const AclItem *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl); i++)
			if (items[i].ai_grantee == role)
				held |= ACLITEM_GET_PRIVS(items[i]);
	}
	return (mode & ~held) != 0;
}

/*
 * catalog_acl
 *		The ACL column attnum of the row of cache cacheid with that OID
 *		(NULL: the default, or no such row).
 */
static Acl *
catalog_acl(int cacheid, Oid oid, AttrNumber attnum)
{
	HeapTuple	tuple = SearchSysCache1(cacheid, ObjectIdGetDatum(oid));
	Acl		   *acl = NULL;

	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(cacheid, tuple, attnum, &isnull);

		if (!isnull)
			acl = DatumGetAclPCopy(d);
		ReleaseSysCache(tuple);
	}
	return acl;
}

/*
 * default_acl
 *		The default ACL role set for the objects of objtype it creates in
 *		any schema (ALTER DEFAULT PRIVILEGES FOR ROLE without IN SCHEMA);
 *		NULL when it set none.
 */
static Acl *
default_acl(Oid role, char objtype)
{
	HeapTuple	tuple = SearchSysCache3(DEFACLROLENSPOBJ, ObjectIdGetDatum(role),
										ObjectIdGetDatum(InvalidOid),
										CharGetDatum(objtype));
	Acl		   *acl = NULL;

	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(DEFACLROLENSPOBJ, tuple,
										Anum_pg_default_acl_defaclacl, &isnull);

		if (!isnull)
			acl = DatumGetAclPCopy(d);
		ReleaseSysCache(tuple);
	}
	return acl;
}

/*
 * default_privileges_missing
 *		Whether a default privilege plan_default_privileges gives the groups
 *		on the tables and sequences rolename creates is gone.
 */
static bool
default_privileges_missing(const char *rolename, Oid writer, Oid reader)
{
	Oid			role = get_role_oid(rolename, true);
	Acl		   *tables;
	Acl		   *sequences;

	if (!OidIsValid(role) || !OidIsValid(writer) || !OidIsValid(reader))
		return false;			/* planned anyway: see plan_default_privileges */
	tables = default_acl(role, DEFACLOBJ_RELATION);
	sequences = default_acl(role, DEFACLOBJ_SEQUENCE);
	return acl_lacks(tables, writer, WRITER_TABLE_ACL) ||
		acl_lacks(tables, reader, ACL_SELECT) ||
		acl_lacks(sequences, writer, WRITER_SEQUENCE_ACL) ||
		acl_lacks(sequences, reader, ACL_SELECT);
}

/*
 * trigger_enabled
 *		Whether a table has a trigger of that name that is not disabled.
 */
static bool
trigger_enabled(Oid relid, const char *name)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		enabled = false;

	ScanKeyInit(&keys[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		enabled = ((Form_pg_trigger) GETSTRUCT(tuple))->tgenabled != TRIGGER_DISABLED;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return enabled;
}

/*
 * TenantStateFromCatalogs
 *		Read what exists of a tenant placed in this database.
 *
 * tenant_id is the tenant's id in tenancy.tenants (0: not registered):
 * every existing derived role and schema must be one tenancy.created_objects
 * records as created for it (same OID), else it is refused (42710), and a
 * schema must also be owned by the tenant's owner role.
 */
TenantState *
TenantStateFromCatalogs(const TenantModel *model, int64 tenant_id)
{
	TenantState *state = palloc0(sizeof(TenantState));
	List	   *recorded = read_recorded(tenant_id);
	Oid			owner;
	Oid			writer;
	Oid			reader;

	read_role(&state->owner, model->owner_role, InvalidOid, model, tenant_id, recorded);
	read_role(&state->writer, model->writer_role, InvalidOid, model, tenant_id, recorded);
	read_role(&state->reader, model->reader_role, InvalidOid, model, tenant_id, recorded);
	writer = get_role_oid(model->writer_role, true);
	reader = get_role_oid(model->reader_role, true);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		read_role(&state->logins[i], model->login_roles[i], writer, model,
				  tenant_id, recorded);

	/*
	 * The backup role: read when the spec wants it, or when tenancy recorded
	 * it for the tenant (an apply turning backups off drops it: see
	 * PlanSqlProvision).  A tenant that does not want it does not care
	 * whether a role of that name that is not its own exists.
	 */
	if (model->backup_enabled ||
		OidIsValid(recorded_oid(recorded, "role", model->backup_role)))
		read_role(&state->backup, model->backup_role,
				  get_role_oid(model->reader_role, true), model, tenant_id, recorded);

	owner = get_role_oid(model->owner_role, true);
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		Oid			nsp = get_namespace_oid(model->schemas[i], true);
		Oid			expected;

		if (!OidIsValid(nsp))
			continue;
		expected = recorded_oid(recorded, "schema", model->schemas[i]);
		if (!OidIsValid(owner) || !pg_namespace_ownercheck(nsp, owner) ||
			superuser_arg(owner))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_SCHEMA),
					 errmsg("schema \"%s\" already exists", model->schemas[i]),
					 errdetail("Tenant \"%s\" needs this schema name, and the schema is not owned by its role \"%s\".",
							   model->name, model->owner_role),
					 errhint("Choose another warehouse.database.schema_prefix, or drop or rename the schema.")));
		if (expected != nsp)
			foreign_object(model, "schema", model->schemas[i], nsp, expected,
						   tenant_id != 0);
		state->schema_exists[i] = true;
		if (i == TENANT_AUDIT_SCHEMA_INDEX)
		{
			Oid			table = get_relname_relid("pipeline_runs", nsp);
			Oid			sequence = get_relname_relid("pipeline_runs_run_id_seq", nsp);

			state->audit_table_exists = OidIsValid(table);
			state->audit_table_guarded = OidIsValid(table) &&
				trigger_enabled(table, AUDIT_TABLE_GUARD_TRIGGER) &&
				trigger_enabled(table, AUDIT_TABLE_TRUNCATE_TRIGGER);
			if (OidIsValid(table))
			{
				Acl		   *acl = catalog_acl(RELOID, table, Anum_pg_class_relacl);

				state->audit_table_writer_grant_missing = OidIsValid(writer) &&
					acl_lacks(acl, writer, AUDIT_TABLE_WRITER_ACL);
				state->audit_table_reader_grant_missing = OidIsValid(reader) &&
					acl_lacks(acl, reader, ACL_SELECT);
			}
			state->audit_sequence_grant_missing = OidIsValid(sequence) &&
				OidIsValid(reader) &&
				acl_lacks(catalog_acl(RELOID, sequence, Anum_pg_class_relacl),
						  reader, ACL_SELECT);
		}
		{
			Acl		   *acl = catalog_acl(NAMESPACEOID, nsp, Anum_pg_namespace_nspacl);

			state->schema_writer_grant_missing[i] = OidIsValid(writer) &&
				acl_lacks(acl, writer,
						  i == TENANT_AUDIT_SCHEMA_INDEX ? ACL_USAGE : ACL_USAGE | ACL_CREATE);
			state->schema_reader_grant_missing[i] = OidIsValid(reader) &&
				acl_lacks(acl, reader, ACL_USAGE);
		}
	}
	state->owner.default_privileges_missing =
		default_privileges_missing(model->owner_role, writer, reader);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		state->logins[i].default_privileges_missing =
			default_privileges_missing(model->login_roles[i], writer, reader);
	state->pgaudit_loaded = PgauditLoadedHere();
	return state;
}

/*
 * model_role_state
 *		The state a role would be in had the previous model been applied.
 */
static void
model_role_state(RoleState *state, const TenantModel *previous, bool login)
{
	memset(state, 0, sizeof(RoleState));
	state->exists = true;
	state->can_login = login;
	state->connection_limit = login ? previous->connection_limit : -1;
	state->is_member = login;
	if (login)
	{
		for (int i = 0; i < TENANT_TIER_SETTING_COUNT; i++)
			state->settings = lappend(state->settings,
									  psprintf("%s=%s", previous->setting_names[i],
											   previous->setting_values[i]));
		if (previous->audit_logging)
			state->settings = lappend(state->settings,
									  pstrdup("pgaudit.log=" TENANT_PGAUDIT_LOG));
	}
}

/*
 * TenantStateFromModel
 *		The state of a tenant on another server, inferred from the model of
 *		the spec last applied there (NULL: nothing was applied).
 *
 * The planner cannot see another server; the worker's statements are
 * idempotent enough that a drift there shows up as a failed step.
 */
TenantState *
TenantStateFromModel(const TenantModel *previous)
{
	TenantState *state = palloc0(sizeof(TenantState));

	/*
	 * Not known here: a tenant in another database of this server is checked
	 * by the caller (PgauditLoadedHere), one on a registered server by the
	 * remote step itself (plan_pgaudit_check).
	 */
	state->pgaudit_loaded = true;
	if (previous == NULL)
		return state;

	model_role_state(&state->owner, previous, false);
	model_role_state(&state->writer, previous, false);
	model_role_state(&state->reader, previous, false);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		model_role_state(&state->logins[i], previous, true);
	if (previous->backup_enabled)
	{
		model_role_state(&state->backup, previous, false);
		state->backup.can_login = true;
		state->backup.is_member = true;
		state->backup.connection_limit = TENANT_BACKUP_CONNECTION_LIMIT;
		for (int i = 0; i < TENANT_TIER_SETTING_COUNT; i++)
			state->backup.settings = lappend(state->backup.settings,
											 psprintf("%s=%s", previous->setting_names[i],
													  previous->setting_values[i]));
	}
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		state->schema_exists[i] = true;
	state->audit_table_exists = true;
	state->audit_table_guarded = true;	/* not planned on other servers */
	return state;
}

/*
 * PlanJsonbFromText
 *		Parse JSON built by the planner (with escape_json) into jsonb.
 */
Jsonb *
PlanJsonbFromText(const char *json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/*
 * plan_append
 *		Number a new action and append it to the plan.
 */
static PlanAction *
plan_append(PlanContext *ctx, const char *target, const char *action,
			const char *object)
{
	PlanAction *a = palloc0(sizeof(PlanAction));

	a->ordinal = list_length(ctx->actions) + 1;
	a->target = target;
	a->action = action;
	a->object = pstrdup(object);
	ctx->actions = lappend(ctx->actions, a);
	return a;
}

/*
 * remote_undo_sql
 *		The compensation of a SQL action run on another server, where no
 *		ROLLBACK of the caller's transaction undoes it: what the action
 *		created is removed, data kept.  Roles other than the owner hand
 *		what they own to the owner first; the owner role and the schemas
 *		go only while they hold nothing; the audit table only while empty.
 *		NULL for actions whose undo comes with another's (grants, settings
 *		and default privileges go with their role or schema).
 */
static char *
remote_undo_sql(const TenantModel *m, const char *action, const char *object)
{
	const char *owner = quote_identifier(m->owner_role);

	/*
	 * Every operator and function qualified: the warehouse database's owner
	 * may have set its search_path (the worker's sessions pin it as well).
	 */
	if (strcmp(action, "create role") == 0 && strcmp(object, m->owner_role) == 0)
		return psprintf("DO $tenancy$ BEGIN "
						"IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) %s) "
						"AND NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n "
						"JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner "
						"WHERE r.rolname OPERATOR(pg_catalog.=) %s) "
						"THEN DROP OWNED BY %s; DROP ROLE %s; END IF; END $tenancy$",
						quote_literal_cstr(object), quote_literal_cstr(object),
						owner, owner);
	if (strcmp(action, "create role") == 0)
		return psprintf("DO $tenancy$ BEGIN "
						"IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) %s) THEN "
						"IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) %s) THEN "
						"REASSIGN OWNED BY %s TO %s; END IF; "
						"DROP OWNED BY %s; DROP ROLE %s; END IF; END $tenancy$",
						quote_literal_cstr(object), quote_literal_cstr(m->owner_role),
						quote_identifier(object), owner,
						quote_identifier(object), quote_identifier(object));
	if (strcmp(action, "create schema") == 0)
		return psprintf("DO $tenancy$ BEGIN "
						"IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) %s) "
						"AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c "
						"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
						"WHERE n.nspname OPERATOR(pg_catalog.=) %s) "
						"THEN DROP SCHEMA %s; END IF; END $tenancy$",
						quote_literal_cstr(object), quote_literal_cstr(object),
						quote_identifier(object));
	if (strcmp(action, "create table") == 0)
		return psprintf("DO $tenancy$ BEGIN "
						"IF pg_catalog.to_regclass(%s) IS NOT NULL THEN "
						"IF NOT EXISTS (SELECT FROM %s) THEN DROP TABLE %s; END IF; "
						"END IF; END $tenancy$",
						quote_literal_cstr(object), object, object);
	return NULL;
}

/*
 * remote_request
 *		The request of a SQL action on another server: {"server",
 *		"database", "sql"} (see remote.h), plus extra members.
 */
static Jsonb *
remote_request(const TenantModel *m, const char *sql, const char *extra)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"server\": ");
	escape_json(&json, m->server ? m->server :
				psprintf("%s:%d", m->remote_host, m->remote_port));
	appendStringInfoString(&json, ", \"database\": ");
	escape_json(&json, m->remote_database);
	appendStringInfoString(&json, ", \"sql\": ");
	escape_json(&json, sql);
	if (extra)
		appendStringInfoString(&json, extra);
	appendStringInfoChar(&json, '}');
	return PlanJsonbFromText(json.data);
}

/*
 * remote_detail
 *		How tenancy.plan shows a SQL action on another server.
 */
static char *
remote_detail(const TenantModel *m, const char *sql)
{
	if (m->server && m->server[0])
		return psprintf("on server %s/%s through the worker: %s", m->server,
						m->remote_database, sql);
	if (m->remote_host[0] == '\0')
		return psprintf("on this server (port %d, Unix socket)/%s through the worker: %s",
						PostPortNumber, m->remote_database, sql);
	return psprintf("on %s:%d/%s through the worker: %s", m->remote_host,
					m->remote_port, m->remote_database, sql);
}

/*
 * PlanAddSql
 *		Append a SQL action of the current phase.  Here it runs in the
 *		caller's transaction; on another server the worker runs it through
 *		libpq, with the other actions of its phase (see PlanSteps).
 */
PlanAction *
PlanAddSql(PlanContext *ctx, const char *action, const char *object, char *sql)
{
	const TenantModel *m = ctx->model;
	PlanAction *a;

	Assert(ctx->phase != NULL);
	a = plan_append(ctx, m->local ? PLAN_TARGET_DATABASE : PLAN_TARGET_REMOTE_DATABASE,
					action, object);
	a->detail = m->local ? sql : remote_detail(m, sql);
	a->sql = sql;
	a->phase = ctx->phase;
	return a;
}

/*
 * plan_create_database
 *		The first action of a tenant new on another server: its database,
 *		unless pg_database lists it (CREATE DATABASE cannot run in a
 *		transaction block, so the worker checks first); one that exists and
 *		that the worker did not create is refused (see remote.c).  Not
 *		planned in a database a superuser allowed (existing_database).
 *		Never undone: the database may hold other tenants.
 */
static void
plan_create_database(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	char	   *sql = psprintf("CREATE DATABASE %s", quote_identifier(m->remote_database));
	PlanAction *a = plan_append(ctx, PLAN_TARGET_REMOTE_DATABASE, "create database",
								m->remote_database);

	a->detail = remote_detail(m, psprintf("%s (unless it exists)", sql));
	a->sql = sql;
	a->phase = PLAN_PHASE_CREATE_DATABASE;
}

/*
 * append_statement
 *		Append one statement to a step's SQL, after a ";\n" unless first.
 */
static void
append_statement(StringInfo sql, const char *statement)
{
	appendStringInfo(sql, "%s%s", sql->len > 0 ? ";\n" : "", statement);
}

/*
 * ledger_guard
 *		The check a step on another server starts with (see plan_ledger.c).
 *		A step checks every role and schema name of the tenant: it may
 *		grant to, set or drop any of them.  A compensation checks only
 *		what it removes (the roles and schemas its step created, and the
 *		owner role that takes their objects), so that a foreign object
 *		elsewhere does not keep it from removing the tenant's own.
 */
static char *
ledger_guard(const TenantModel *m, List *actions, int first, int last,
			 bool compensation)
{
	List	   *roles = NIL;
	List	   *schemas = NIL;
	const char *optional = NULL;

	if (!compensation)
	{
		PlanLedgerNames(m, &roles, &schemas, &optional);
		return PlanLedgerGuard(m->name, roles, schemas, optional);
	}
	for (int i = first; i <= last; i++)
	{
		PlanAction *a = list_nth(actions, i);

		if (strcmp(a->action, "create role") == 0)
			roles = lappend(roles, a->object);
		else if (strcmp(a->action, "create schema") == 0)
			schemas = lappend(schemas, a->object);
		else if (strcmp(a->action, "create table") == 0)
			schemas = lappend(schemas, m->schemas[TENANT_AUDIT_SCHEMA_INDEX]);
	}
	/* the owner takes the objects of the roles dropped (REASSIGN OWNED) */
	if (roles != NIL && strcmp(llast(roles), m->owner_role) != 0 &&
		strcmp(linitial(roles), m->owner_role) != 0)
		roles = lappend(roles, m->owner_role);
	return PlanLedgerGuard(m->name, roles, schemas, NULL);
}

/*
 * sql_step
 *		The step of the SQL actions first..last (one phase, one target):
 *		their statements in order, in one transaction; on another server
 *		with the compensation of each, in reverse order, and both between
 *		the ledger's guard and its clean-up, each CREATE ROLE or CREATE
 *		SCHEMA followed by its record (plan_ledger.c).  A lone action
 *		keeps its own name; several are named by their phase and objects.
 */
static PlanStep *
sql_step(const TenantModel *m, List *actions, int first, int last)
{
	PlanStep   *step = palloc0(sizeof(PlanStep));
	PlanAction *head = list_nth(actions, first);
	StringInfoData sql;
	StringInfoData undo;
	StringInfoData objects;
	StringInfoData json;
	bool		remote = strcmp(head->target, PLAN_TARGET_REMOTE_DATABASE) == 0;
	bool		ledger = remote &&
	strcmp(head->phase, PLAN_PHASE_CREATE_DATABASE) != 0;

	initStringInfo(&sql);
	initStringInfo(&undo);
	initStringInfo(&objects);
	if (ledger)
		append_statement(&sql, ledger_guard(m, actions, first, last, false));
	for (int i = first; i <= last; i++)
	{
		PlanAction *a = list_nth(actions, i);

		append_statement(&sql, a->sql);
		if (ledger && strcmp(a->action, "create role") == 0)
			append_statement(&sql, PlanLedgerRecord(m, "role", a->object));
		else if (ledger && strcmp(a->action, "create schema") == 0)
			append_statement(&sql, PlanLedgerRecord(m, "schema", a->object));
		/* each object once: a role's statements follow one another */
		if (i == first || strcmp(a->object, ((PlanAction *) list_nth(actions, i - 1))->object) != 0)
			appendStringInfo(&objects, "%s%s", i > first ? ", " : "", a->object);
	}
	if (ledger)
		append_statement(&sql, PlanLedgerForget(m));
	for (int i = last; remote && i >= first; i--)
	{
		PlanAction *a = list_nth(actions, i);
		char	   *u = remote_undo_sql(m, a->action, a->object);

		if (u)
			append_statement(&undo, u);
	}
	if (ledger && undo.len > 0)
	{
		char	   *body = undo.data;

		initStringInfo(&undo);
		append_statement(&undo, ledger_guard(m, actions, first, last, true));
		append_statement(&undo, body);
		append_statement(&undo, PlanLedgerForget(m));
	}

	step->ordinal = ((PlanAction *) list_nth(actions, last))->ordinal;
	step->target = head->target;
	step->action = first == last ? head->action : head->phase;
	step->object = first == last ? head->object : objects.data;
	step->is_sql = true;
	if (remote)
	{
		bool		create = strcmp(head->phase, PLAN_PHASE_CREATE_DATABASE) == 0;

		step->request = remote_request(m, sql.data, create ? ", \"create_database\": true" : NULL);
		if (undo.len > 0)
			step->compensation = remote_request(m, undo.data, NULL);
	}
	else
	{
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"sql\": ");
		escape_json(&json, sql.data);
		appendStringInfoChar(&json, '}');
		step->request = PlanJsonbFromText(json.data);
	}
	return step;
}

/*
 * PlanSteps
 *		The steps that record (and, for the worker, carry out) a plan: one
 *		per external action, one per phase of consecutive SQL actions (see
 *		PlanStep).  The SQL steps of a server run one after the other, and
 *		a dependency on an action becomes one on the step that runs it.
 */
List *
PlanSteps(const TenantModel *model, List *actions)
{
	List	   *steps = NIL;
	int			n = list_length(actions);
	int		   *step_of = palloc0(sizeof(int) * (n + 1));
	int			previous_remote = 0;
	ListCell   *lc;

	PlanPlatformCheckSteps(model, actions);
	for (int i = 0; i < n; i++)
	{
		PlanAction *a = list_nth(actions, i);
		PlanStep   *step;
		int			last = i;

		if (a->sql == NULL)
		{
			step = palloc0(sizeof(PlanStep));
			step->ordinal = a->ordinal;
			step->target = a->target;
			step->action = a->action;
			step->object = a->object;
			step->request = a->request;
			step->compensation = a->compensation;
			step->depends_on = a->depends_on;
			step->object_kind = a->object_kind;
			step->object_namespace = a->object_namespace;
			step->object_name = a->object_name;
		}
		else
		{
			while (last + 1 < n)
			{
				PlanAction *next = list_nth(actions, last + 1);

				if (next->sql == NULL || strcmp(next->phase, a->phase) != 0 ||
					strcmp(next->target, a->target) != 0)
					break;
				last++;
			}
			step = sql_step(model, actions, i, last);
			if (strcmp(step->target, PLAN_TARGET_REMOTE_DATABASE) == 0)
			{
				if (previous_remote > 0)
					step->depends_on = list_make1_int(previous_remote);
				previous_remote = step->ordinal;
			}
		}
		for (int j = i; j <= last; j++)
			step_of[((PlanAction *) list_nth(actions, j))->ordinal] = step->ordinal;
		steps = lappend(steps, step);
		i = last;
	}

	/* dependencies on an action inside a step are on that step */
	foreach(lc, steps)
	{
		PlanStep   *step = lfirst(lc);
		List	   *depends_on = NIL;
		ListCell   *ld;

		foreach(ld, step->depends_on)
		{
			int			ordinal = lfirst_int(ld);

			if (ordinal >= 1 && ordinal <= n)
				ordinal = step_of[ordinal];
			depends_on = list_append_unique_int(depends_on, ordinal);
		}
		step->depends_on = depends_on;
	}
	return steps;
}

/*
 * PlanAddExternal
 *		Append an action the worker carries out after COMMIT.
 */
PlanAction *
PlanAddExternal(PlanContext *ctx, const char *target, const char *action,
				const char *object, char *detail, Jsonb *request,
				Jsonb *compensation)
{
	PlanAction *a = plan_append(ctx, target, action, object);

	a->detail = detail;
	a->request = request;
	a->compensation = compensation;
	return a;
}

/*
 * PlanCountExternal
 *		How many actions of a plan are left to the worker.
 */
int
PlanCountExternal(List *actions)
{
	ListCell   *lc;
	int			count = 0;

	foreach(lc, actions)
	{
		PlanAction *a = lfirst(lc);

		if (strcmp(a->target, PLAN_TARGET_DATABASE) != 0)
			count++;
	}
	return count;
}

/*
 * PlanTenant
 *		The ordered actions that take the tenant from state to the model
 *		(PLAN_PROVISION) or remove it (PLAN_DEPROVISION*): SQL first, since
 *		it runs at once, then the external actions.
 */
List *
PlanTenant(const TenantModel *model, const TenantState *state, PlanKind kind)
{
	PlanContext ctx;

	ctx.model = model;
	ctx.state = state;
	ctx.phase = NULL;
	ctx.actions = NIL;
	if (kind == PLAN_PROVISION)
	{
		if (!model->local && !state->owner.exists && !model->existing_database)
			plan_create_database(&ctx);
		PlanSqlProvision(&ctx);
		PlanPlatformProvision(&ctx);
	}
	else
	{
		PlanSqlDeprovision(&ctx, kind == PLAN_DEPROVISION_DROP_DATA);
		PlanPlatformDeprovision(&ctx);
	}
	return ctx.actions;
}
