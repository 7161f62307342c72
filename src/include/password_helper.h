/*-------------------------------------------------------------------------
 *
 * password_helper.h
 *	  The worker's password helper: a background worker of its own that
 *	  sets tenant login roles' passwords for the worker's steps (see
 *	  password_helper.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PASSWORD_HELPER_H
#define TENANCY_PASSWORD_HELPER_H

#include "postgres.h"

extern void PasswordHelperLaunch(void);

extern bool PasswordHelperSet(const char *role, const char *verifier);

extern void PasswordHelperCollect(void);

extern PGDLLEXPORT void TenancyPasswordHelperMain(Datum main_arg);

#endif							/* TENANCY_PASSWORD_HELPER_H */
