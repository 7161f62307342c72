/*-------------------------------------------------------------------------
 *
 * audit_acl.c
 *	  The access part of tenancy.audit: privileges on the tenant's schemas
 *	  and relations, default privileges, role memberships and role settings,
 *	  compared with what the planner grants.
 *
 * What is planned is not written down a second time here: the audit asks
 * the planner for the plan of a brand-new tenant (every GRANT, ALTER
 * DEFAULT PRIVILEGES and ALTER ROLE ... SET it would run) and reads those
 * statements back with the server's own parser.  A grant added to
 * plan_sql.c is therefore expected by the audit at once.
 *
 * Anything beyond the plan is a finding: a privilege granted to PUBLIC or
 * to another tenant's role is critical, to any other role high; a planned
 * privilege that is missing is a warning (the tenant breaks, nobody else
 * gains access).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_default_acl.h"
#include "catalog/pg_namespace.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "audit.h"

/* What a planned grant is on */
typedef enum PlannedObjectKind
{
	PLANNED_SCHEMA,				/* object: schema name */
	PLANNED_RELATION,			/* object: schema.relation */
	PLANNED_DEFAULT_TABLES,		/* object: role whose defaults these are */
	PLANNED_DEFAULT_SEQUENCES
} PlannedObjectKind;

/* One planned grant: privileges of a grantee on an object */
typedef struct PlannedGrant
{
	PlannedObjectKind kind;
	char	   *object;
	char	   *grantee;
	AclMode		privileges;
} PlannedGrant;

/* One planned membership: member is granted role */
typedef struct PlannedMembership
{
	char	   *role;
	char	   *member;
} PlannedMembership;

/* One planned role setting (ALTER ROLE role SET name) */
typedef struct PlannedSetting
{
	char	   *role;
	char	   *name;
} PlannedSetting;

struct PlannedAccess
{
	List	   *grants;			/* of PlannedGrant */
	List	   *memberships;	/* of PlannedMembership */
	List	   *settings;		/* of PlannedSetting */
};

/* SQL privilege keywords and their ACL bits */
typedef struct PrivilegeName
{
	const char *name;
	AclMode		mode;
} PrivilegeName;

static const PrivilegeName privilege_names[] = {
	{"select", ACL_SELECT},
	{"insert", ACL_INSERT},
	{"update", ACL_UPDATE},
	{"delete", ACL_DELETE},
	{"truncate", ACL_TRUNCATE},
	{"references", ACL_REFERENCES},
	{"trigger", ACL_TRIGGER},
	{"usage", ACL_USAGE},
	{"create", ACL_CREATE},
	{"execute", ACL_EXECUTE},
	{"temporary", ACL_CREATE_TEMP},
	{"connect", ACL_CONNECT},
#if PG_VERSION_NUM >= 170000
	{"maintain", ACL_MAINTAIN},
#endif
};

/*
 * privileges_text
 *		"SELECT, INSERT" for an ACL mask, in the order GRANT lists them.
 */
static char *
privileges_text(AclMode mode)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(privilege_names); i++)
	{
		if ((mode & privilege_names[i].mode) == 0)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		for (const char *c = privilege_names[i].name; *c; c++)
			appendStringInfoChar(&buf, pg_toupper((unsigned char) *c));
	}
	return buf.data;
}

/*
 * privileges_mode
 *		The ACL bits of a parsed privilege list (NIL is ALL PRIVILEGES).
 */
static AclMode
privileges_mode(List *privileges, AclMode all)
{
	AclMode		mode = 0;
	ListCell   *lc;

	if (privileges == NIL)
		return all;
	foreach(lc, privileges)
	{
		AccessPriv *priv = lfirst_node(AccessPriv, lc);
		bool		known = false;

		for (size_t i = 0; i < lengthof(privilege_names); i++)
			if (strcmp(priv->priv_name, privilege_names[i].name) == 0)
			{
				mode |= privilege_names[i].mode;
				known = true;
			}
		if (!known)
			elog(ERROR, "planner grants unknown privilege \"%s\"", priv->priv_name);
	}
	return mode;
}

/*
 * add_grant
 *		Record planned privileges, merging grants of the same object and
 *		grantee.
 */
static void
add_grant(PlannedAccess *planned, PlannedObjectKind kind, const char *object,
		  const char *grantee, AclMode privileges)
{
	ListCell   *lc;
	PlannedGrant *g;

	foreach(lc, planned->grants)
	{
		g = lfirst(lc);
		if (g->kind == kind && strcmp(g->object, object) == 0 &&
			strcmp(g->grantee, grantee) == 0)
		{
			g->privileges |= privileges;
			return;
		}
	}
	g = palloc(sizeof(PlannedGrant));
	g->kind = kind;
	g->object = pstrdup(object);
	g->grantee = pstrdup(grantee);
	g->privileges = privileges;
	planned->grants = lappend(planned->grants, g);
}

/*
 * read_grant
 *		The grants of one parsed GRANT statement; defaults_of is the role of
 *		an ALTER DEFAULT PRIVILEGES, NULL for a plain GRANT.
 */
static void
read_grant(PlannedAccess *planned, GrantStmt *grant, const char *defaults_of)
{
	ListCell   *lg;

	foreach(lg, grant->grantees)
	{
		RoleSpec   *grantee = lfirst_node(RoleSpec, lg);
		ListCell   *lo;

		if (grantee->roletype != ROLESPEC_CSTRING)
			elog(ERROR, "planner grants to a role that is not named");
		if (defaults_of != NULL)
		{
			if (grant->objtype == OBJECT_TABLE)
				add_grant(planned, PLANNED_DEFAULT_TABLES, defaults_of,
						  grantee->rolename,
						  privileges_mode(grant->privileges, ACL_ALL_RIGHTS_RELATION));
			else if (grant->objtype == OBJECT_SEQUENCE)
				add_grant(planned, PLANNED_DEFAULT_SEQUENCES, defaults_of,
						  grantee->rolename,
						  privileges_mode(grant->privileges, ACL_ALL_RIGHTS_SEQUENCE));
			continue;
		}
		foreach(lo, grant->objects)
		{
			Node	   *object = lfirst(lo);

			if (grant->objtype == OBJECT_SCHEMA)
				add_grant(planned, PLANNED_SCHEMA, strVal(object),
						  grantee->rolename,
						  privileges_mode(grant->privileges, ACL_ALL_RIGHTS_SCHEMA));
			else if (grant->objtype == OBJECT_TABLE && IsA(object, RangeVar))
			{
				RangeVar   *rv = (RangeVar *) object;

				add_grant(planned, PLANNED_RELATION,
						  psprintf("%s.%s", rv->schemaname, rv->relname),
						  grantee->rolename,
						  privileges_mode(grant->privileges, ACL_ALL_RIGHTS_RELATION));
			}
		}
	}
}

/*
 * read_planned_statement
 *		What one planned statement grants, if anything.
 */
static void
read_planned_statement(PlannedAccess *planned, Node *stmt)
{
	ListCell   *lc;

	if (IsA(stmt, GrantStmt) && ((GrantStmt *) stmt)->is_grant)
		read_grant(planned, (GrantStmt *) stmt, NULL);
	else if (IsA(stmt, AlterDefaultPrivilegesStmt))
	{
		AlterDefaultPrivilegesStmt *adp = (AlterDefaultPrivilegesStmt *) stmt;

		foreach(lc, adp->options)
		{
			DefElem    *opt = lfirst_node(DefElem, lc);
			ListCell   *lr;

			if (strcmp(opt->defname, "roles") != 0)
				continue;
			foreach(lr, (List *) opt->arg)
				read_grant(planned, adp->action,
						   lfirst_node(RoleSpec, lr)->rolename);
		}
	}
	else if (IsA(stmt, GrantRoleStmt) && ((GrantRoleStmt *) stmt)->is_grant)
	{
		GrantRoleStmt *grs = (GrantRoleStmt *) stmt;

		foreach(lc, grs->granted_roles)
		{
			ListCell   *lm;

			foreach(lm, grs->grantee_roles)
			{
				PlannedMembership *m = palloc(sizeof(PlannedMembership));

				m->role = pstrdup(lfirst_node(AccessPriv, lc)->priv_name);
				m->member = pstrdup(lfirst_node(RoleSpec, lm)->rolename);
				planned->memberships = lappend(planned->memberships, m);
			}
		}
	}
	else if (IsA(stmt, AlterRoleSetStmt))
	{
		AlterRoleSetStmt *ars = (AlterRoleSetStmt *) stmt;

		if (ars->setstmt->kind == VAR_SET_VALUE && ars->role != NULL)
		{
			PlannedSetting *s = palloc(sizeof(PlannedSetting));

			s->role = pstrdup(ars->role->rolename);
			s->name = pstrdup(ars->setstmt->name);
			planned->settings = lappend(planned->settings, s);
		}
	}
}

/*
 * AuditPlannedAccess
 *		Every grant, membership and role setting the planner gives a new
 *		tenant, read back from the statements of its plan (PlanTenant for a
 *		tenant of which nothing exists yet).
 */
PlannedAccess *
AuditPlannedAccess(List *new_tenant_plan)
{
	PlannedAccess *planned = palloc0(sizeof(PlannedAccess));
	ListCell   *lc;

	foreach(lc, new_tenant_plan)
	{
		PlanAction *a = lfirst(lc);
		ListCell   *ls;

		if (a->sql == NULL)
			continue;
		foreach(ls, raw_parser(a->sql, RAW_PARSE_DEFAULT))
			read_planned_statement(planned, lfirst_node(RawStmt, ls)->stmt);
	}
	return planned;
}

/*
 * planned_privileges
 *		What the plan grants grantee on an object (0: nothing).
 */
static AclMode
planned_privileges(const PlannedAccess *planned, PlannedObjectKind kind,
				   const char *object, const char *grantee)
{
	ListCell   *lc;

	foreach(lc, planned->grants)
	{
		PlannedGrant *g = lfirst(lc);

		if (g->kind == kind && strcmp(g->object, object) == 0 &&
			strcmp(g->grantee, grantee) == 0)
			return g->privileges;
	}
	return 0;
}

/*
 * is_tenant_role
 *		Whether rolname is one of the tenant's own roles.
 */
static bool
is_tenant_role(const TenantModel *model, const char *rolname)
{
	if (strcmp(rolname, model->owner_role) == 0 ||
		strcmp(rolname, model->writer_role) == 0 ||
		strcmp(rolname, model->reader_role) == 0)
		return true;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		if (strcmp(rolname, model->login_roles[i]) == 0)
			return true;
	return false;
}

/*
 * compare_acl
 *		Report what an ACL grants beyond the plan, and what it misses.
 *
 * skip is the object's owner (or the role whose default privileges these
 * are), whose own privileges are implicit.  exact: every grantee must be
 * planned; otherwise (relations created later by the tenant) the tenant's
 * own roles may hold privileges the plan does not name.
 */
static void
compare_acl(AuditRun *run, const TenantModel *model, const PlannedAccess *planned,
			PlannedObjectKind kind, const char *object, const char *label,
			Acl *acl, Oid skip, bool exact)
{
	AclItem    *items = acl ? ACL_DAT(acl) : NULL;
	int			nitems = acl ? ACL_NUM(acl) : 0;
	ListCell   *lc;

	for (int i = 0; i < nitems; i++)
	{
		Oid			grantee = items[i].ai_grantee;
		AclMode		privs = ACLITEM_GET_PRIVS(items[i]);
		AclMode		options = ACLITEM_GET_GOPTIONS(items[i]);
		const char *rolname;
		const char *other_tenant;
		AclMode		extra;

		if (grantee == skip)
			continue;
		if (grantee == ACL_ID_PUBLIC)
		{
			AuditReport(run, model->name, "public_privileges", AUDIT_CRITICAL, object,
						"%s grants %s to PUBLIC, that is to every role of the server.",
						label, privileges_text(privs));
			continue;
		}
		rolname = GetUserNameFromId(grantee, true);
		if (rolname == NULL)
			rolname = psprintf("(dropped role %u)", grantee);
		other_tenant = AuditTenantOfRole(run, rolname);
		if (other_tenant != NULL && strcmp(other_tenant, model->name) == 0)
			other_tenant = NULL;
		if (other_tenant != NULL)
		{
			AuditReport(run, model->name, "foreign_privileges", AUDIT_CRITICAL, object,
						"%s grants %s to %s, a role of tenant \"%s\".",
						label, privileges_text(privs), rolname, other_tenant);
			continue;
		}
		if (!exact && is_tenant_role(model, rolname))
			continue;
		extra = privs & ~planned_privileges(planned, kind, object, rolname);
		if (extra != 0)
			AuditReport(run, model->name, "unplanned_privileges", AUDIT_HIGH, object,
						"%s grants %s to %s, which the plan does not.",
						label, privileges_text(extra), rolname);
		if (options != 0)
			AuditReport(run, model->name, "unplanned_privileges", AUDIT_HIGH, object,
						"%s lets %s grant %s to others (WITH GRANT OPTION), which the plan does not.",
						label, rolname, privileges_text(options));
	}

	/* planned privileges that are missing */
	foreach(lc, planned->grants)
	{
		PlannedGrant *g = lfirst(lc);
		Oid			grantee;
		AclMode		held = 0;
		AclMode		missing;

		if (g->kind != kind || strcmp(g->object, object) != 0)
			continue;
		grantee = get_role_oid(g->grantee, true);
		for (int i = 0; i < nitems; i++)
			if (items[i].ai_grantee == grantee)
				held |= ACLITEM_GET_PRIVS(items[i]);
		missing = g->privileges & ~held;
		if (missing != 0 && OidIsValid(grantee))
			AuditReport(run, model->name, "missing_privileges", AUDIT_WARNING, object,
						"%s lacks the planned %s for %s.", label,
						privileges_text(missing), g->grantee);
	}
}

/*
 * namespace_acl
 *		The ACL of a schema and its owner; NULL ACL means the default.
 */
static Acl *
namespace_acl(Oid nsp, Oid *owner)
{
	HeapTuple	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	bool		isnull;
	Datum		acl;
	Acl		   *result = NULL;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", nsp);
	*owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	acl = SysCacheGetAttr(NAMESPACEOID, tuple, Anum_pg_namespace_nspacl, &isnull);
	if (!isnull)
		result = DatumGetAclPCopy(acl);
	ReleaseSysCache(tuple);
	return result;
}

/*
 * AuditSchemaPrivileges
 *		Privileges on the tenant's schemas and on the relations in them.
 *
 * schema_oids[i] is InvalidOid for a schema that does not exist (the
 * planner drift reports it); relations[i] lists what the schema holds.
 * The relations the plan creates (the audit table) must match it exactly;
 * relations the tenant created later may be reached by the tenant's own
 * roles (default privileges) but by nobody else.
 */
void
AuditSchemaPrivileges(AuditRun *run, const TenantModel *model,
					  const PlannedAccess *planned, const Oid *schema_oids,
					  List *const *relations)
{
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
	{
		const char *schema = model->schemas[i];
		Oid			owner;
		Acl		   *acl;
		ListCell   *lc;

		if (!OidIsValid(schema_oids[i]))
			continue;
		acl = namespace_acl(schema_oids[i], &owner);
		compare_acl(run, model, planned, PLANNED_SCHEMA, schema,
					psprintf("Schema %s", quote_identifier(schema)),
					acl, owner, true);

		foreach(lc, relations[i])
		{
			AuditRelation *rel = lfirst(lc);
			char	   *object = psprintf("%s.%s", schema, rel->relname);
			bool		planned_relation = false;
			ListCell   *lg;

			foreach(lg, planned->grants)
			{
				PlannedGrant *g = lfirst(lg);

				planned_relation |= g->kind == PLANNED_RELATION &&
					strcmp(g->object, object) == 0;
			}
			compare_acl(run, model, planned, PLANNED_RELATION, object,
						psprintf("Relation %s",
								 quote_qualified_identifier(schema, rel->relname)),
						rel->acl, rel->owner, planned_relation);
		}
	}
}

/*
 * AuditDefaultPrivileges
 *		The default privileges of each role the plan gives some.
 */
void
AuditDefaultPrivileges(AuditRun *run, const TenantModel *model,
					   const PlannedAccess *planned)
{
	List	   *roles = NIL;
	ListCell   *lc;

	foreach(lc, planned->grants)
	{
		PlannedGrant *g = lfirst(lc);

		if (g->kind == PLANNED_DEFAULT_TABLES || g->kind == PLANNED_DEFAULT_SEQUENCES)
			roles = list_append_unique(roles, makeString(g->object));
	}
	foreach(lc, roles)
	{
		const char *role = strVal(lfirst(lc));
		Oid			roleid = get_role_oid(role, true);

		if (!OidIsValid(roleid))
			continue;			/* the planner drift reports the role */
		for (int k = 0; k < 2; k++)
		{
			char		objtype = k == 0 ? DEFACLOBJ_RELATION : DEFACLOBJ_SEQUENCE;
			HeapTuple	tuple;
			Acl		   *acl = NULL;

			tuple = SearchSysCache3(DEFACLROLENSPOBJ, ObjectIdGetDatum(roleid),
									ObjectIdGetDatum(InvalidOid),
									CharGetDatum(objtype));
			if (HeapTupleIsValid(tuple))
			{
				bool		isnull;
				Datum		d = SysCacheGetAttr(DEFACLROLENSPOBJ, tuple,
												Anum_pg_default_acl_defaclacl,
												&isnull);

				if (!isnull)
					acl = DatumGetAclPCopy(d);
				ReleaseSysCache(tuple);
			}
			compare_acl(run, model, planned,
						k == 0 ? PLANNED_DEFAULT_TABLES : PLANNED_DEFAULT_SEQUENCES,
						role,
						psprintf("The default ACL of %s for new %s",
								 quote_identifier(role), k == 0 ? "tables" : "sequences"),
						acl, roleid, true);
		}
	}
}

/*
 * is_planned_membership
 *		Whether the plan makes member a member of role.
 */
static bool
is_planned_membership(const PlannedAccess *planned, const char *role,
					  const char *member)
{
	ListCell   *lc;

	foreach(lc, planned->memberships)
	{
		PlannedMembership *m = lfirst(lc);

		if (strcmp(m->role, role) == 0 && strcmp(m->member, member) == 0)
			return true;
	}
	return false;
}

/*
 * report_membership
 *		One membership the plan does not have: critical when it joins two
 *		tenants, high otherwise.
 */
static void
report_membership(AuditRun *run, const TenantModel *model, const char *object,
				  const char *role, const char *member)
{
	const char *role_tenant = AuditTenantOfRole(run, role);
	const char *member_tenant = AuditTenantOfRole(run, member);
	const char *foreign = NULL;

	if (role_tenant && strcmp(role_tenant, model->name) != 0)
		foreign = role_tenant;
	else if (member_tenant && strcmp(member_tenant, model->name) != 0)
		foreign = member_tenant;

	if (foreign)
		AuditReport(run, model->name, "foreign_membership", AUDIT_CRITICAL, object,
					"Role %s is a member of role %s, which joins tenant \"%s\" to tenant \"%s\".",
					member, role, model->name, foreign);
	else
		AuditReport(run, model->name, "unplanned_membership", AUDIT_HIGH, object,
					"Role %s is a member of role %s, which the plan does not make it.",
					member, role);
}

/*
 * scan_memberships
 *		Report the memberships of pg_auth_members whose key column (member
 *		or roleid, by the index given) is roleid and that the plan does not
 *		have.
 *
 * An index scan rather than a syscache list: in PostgreSQL 15 the lists of
 * a catalog cache are searched one by one, so that looking up the
 * memberships of every tenant would cost time quadratic in the tenants.
 */
static void
scan_memberships(AuditRun *run, const TenantModel *model,
				 const PlannedAccess *planned, const char *role, Oid roleid,
				 bool of_member)
{
	Relation	rel = table_open(AuthMemRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key,
				of_member ? Anum_pg_auth_members_member : Anum_pg_auth_members_roleid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(roleid));
	scan = systable_beginscan(rel,
							  of_member ? AuthMemMemRoleIndexId : AuthMemRoleMemIndexId,
							  true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_auth_members m = (Form_pg_auth_members) GETSTRUCT(tuple);
		char	   *granted = GetUserNameFromId(m->roleid, true);
		char	   *member = GetUserNameFromId(m->member, true);

		if (granted && member && !is_planned_membership(planned, granted, member))
			report_membership(run, model, role, granted, member);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * audit_role_memberships
 *		The roles one tenant role belongs to, and its members, against the
 *		planned memberships.
 */
static void
audit_role_memberships(AuditRun *run, const TenantModel *model,
					   const PlannedAccess *planned, const char *role)
{
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		return;
	scan_memberships(run, model, planned, role, roleid, true);
	scan_memberships(run, model, planned, role, roleid, false);
}

/*
 * AuditMemberships
 *		Memberships of and in every role of the tenant.
 */
void
AuditMemberships(AuditRun *run, const TenantModel *model,
				 const PlannedAccess *planned)
{
	audit_role_memberships(run, model, planned, model->owner_role);
	audit_role_memberships(run, model, planned, model->writer_role);
	audit_role_memberships(run, model, planned, model->reader_role);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		audit_role_memberships(run, model, planned, model->login_roles[i]);
}

/*
 * audit_settings_of
 *		Settings of one role that the plan does not set.  (Planned settings
 *		with another value are planner drift, reported by audit.c.)
 */
static void
audit_settings_of(AuditRun *run, const TenantModel *model,
				  const PlannedAccess *planned, const char *role,
				  const RoleState *state)
{
	ListCell   *lc;

	foreach(lc, state->settings)
	{
		const char *setting = lfirst(lc);
		const char *eq = strchr(setting, '=');
		char	   *name = eq ? pnstrdup(setting, eq - setting) : pstrdup(setting);
		bool		known = false;
		ListCell   *lp;

		foreach(lp, planned->settings)
		{
			PlannedSetting *s = lfirst(lp);

			known |= strcmp(s->role, role) == 0 && pg_strcasecmp(s->name, name) == 0;
		}
		if (!known)
			AuditReport(run, model->name, "role_settings", AUDIT_WARNING, role,
						"Role %s has the setting %s, which the plan does not set.",
						role, setting);
	}
}

/*
 * AuditRoleSettings
 *		Role settings (ALTER ROLE ... SET) beyond the planned ones.
 */
void
AuditRoleSettings(AuditRun *run, const TenantModel *model,
				  const TenantState *state, const PlannedAccess *planned)
{
	audit_settings_of(run, model, planned, model->owner_role, &state->owner);
	audit_settings_of(run, model, planned, model->writer_role, &state->writer);
	audit_settings_of(run, model, planned, model->reader_role, &state->reader);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		audit_settings_of(run, model, planned, model->login_roles[i],
						  &state->logins[i]);
}
