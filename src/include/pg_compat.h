/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  What differs between the PostgreSQL major versions tenancy builds
 *	  against (15 to 18), in one place, so that the code keeps one spelling.
 *
 * PostgreSQL 16 replaced the pg_<object>_ownercheck functions by
 * object_ownercheck(classid, objectid, roleid): the old names are kept here
 * as macros over it.  Include after postgres.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PG_COMPAT_H
#define TENANCY_PG_COMPAT_H

#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "utils/acl.h"

#if PG_VERSION_NUM >= 160000
#define pg_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define pg_namespace_ownercheck(nspid, roleid) \
	object_ownercheck(NamespaceRelationId, (nspid), (roleid))
#endif

#endif							/* TENANCY_PG_COMPAT_H */
