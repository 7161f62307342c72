/*-------------------------------------------------------------------------
 *
 * tenancy.h
 *	  Declarations shared by the tenancy extension's source files: settings
 *	  (see guc.c) and the entry points each concern exports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_H
#define TENANCY_H

#include "postgres.h"

#ifndef TENANCY_VERSION
#define TENANCY_VERSION "unknown"
#endif

/* Schema that holds the extension's catalog (fixed: relocatable = false). */
#define TENANCY_SCHEMA "tenancy"

/* guc.c: every tenancy.* setting, defined in one place */
extern char *tenancy_database;
extern int	tenancy_poll_interval_ms;
extern int	tenancy_max_attempts;
extern int	tenancy_max_catalog_relations;
extern int	tenancy_credential_max_age_days;

extern void DefineTenancySettings(void);

#endif							/* TENANCY_H */
