/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  What differs between the PostgreSQL major versions tenancy builds
 *	  against (15 to 18), in one place, so that the code keeps one spelling.
 *
 * PostgreSQL 16 replaced the pg_<object>_ownercheck functions by
 * object_ownercheck(classid, objectid, roleid): the old names are kept here
 * as macros over it.  PostgreSQL 16 also keys pg_auth_members by grantor
 * (one row per grantor of a membership): role_is_granted() asks whether any
 * grant of a role to a member exists.  Include after postgres.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PG_COMPAT_H
#define TENANCY_PG_COMPAT_H

#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "utils/acl.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM >= 160000
#define pg_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define pg_namespace_ownercheck(nspid, roleid) \
	object_ownercheck(NamespaceRelationId, (nspid), (roleid))
#endif

/*
 * role_is_granted
 *		Whether role roleid is granted to member (a row of pg_auth_members,
 *		by any grantor).
 */
static inline bool
role_is_granted(Oid roleid, Oid member)
{
#if PG_VERSION_NUM >= 160000
	CatCList   *grants;
	bool		found;

	/* the cache's keys are (roleid, member, grantor): a list on two */
	grants = SearchSysCacheList2(AUTHMEMROLEMEM, ObjectIdGetDatum(roleid),
								 ObjectIdGetDatum(member));
	found = grants->n_members > 0;
	ReleaseSysCacheList(grants);
	return found;
#else
	return SearchSysCacheExists2(AUTHMEMROLEMEM, ObjectIdGetDatum(roleid),
								 ObjectIdGetDatum(member));
#endif
}

#endif							/* TENANCY_PG_COMPAT_H */
