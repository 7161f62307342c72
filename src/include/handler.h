/*-------------------------------------------------------------------------
 *
 * handler.h
 *	  What the platform steps' handlers share: reading handler arguments,
 *	  Vault KV v2 reads and writes, and server-side apply of a Kubernetes
 *	  Secret.  Their requests go through StepHttpCall (step_exec.h).
 *
 * Handlers run in the worker with no transaction open (step_exec.h).  The
 * secrets they handle live only in local variables and jansson objects that
 * are wiped before they are freed; never in an outcome message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_HANDLER_H
#define TENANCY_HANDLER_H

#include "postgres.h"

#include <jansson.h>

#include "step_exec.h"

/* handler_http.c (requests: StepHttpCall, outcomes: StepSetOutcome, step_exec.h) */
extern const char *HandlerArgString(const StepContext *context, const char *key);
extern bool HandlerValidName(const char *name);
extern json_t *HandlerResponseJson(const HttpRequest *request);
extern char *HandlerVaultDataPath(const char *path);
extern json_t *HandlerVaultRead(const StepContext *context, const char *path,
								int *version, StepOutcome *outcome);
extern void HandlerApplySecret(const StepContext *context, const char *ns,
							   const char *name, json_t *string_data,
							   StepOutcome *outcome);
extern const char *HandlerTenantLabel(const StepContext *context);
extern void HandlerWipeJson(json_t *value);
extern int64 HandlerStepAgeMs(const StepContext *context);
extern int64 HandlerPollDelayMs(int64 age_ms, int64 remaining_ms);

/* handler_credentials.c, handler_helm.c, handler_validate.c */
extern void HandleDatabaseCredentials(const StepContext *context, StepOutcome *outcome);
extern void HandleVaultSecret(const StepContext *context, StepOutcome *outcome);
extern void HandleHelmRelease(const StepContext *context, StepOutcome *outcome);
extern void HelmReapChildren(void);
extern void HandleValidate(const StepContext *context, StepOutcome *outcome);
extern void HandleWaitAbsent(const StepContext *context, StepOutcome *outcome);

/* handler_owned.c: act only on what tenancy created for the tenant */
extern void HandleK8sNamespace(const StepContext *context, StepOutcome *outcome);
extern void HandleK8sApply(const StepContext *context, StepOutcome *outcome);
extern void HandlerApplyOwned(const StepContext *context, const char *path,
							  json_t *body, bool planned, const char *planned_uid,
							  StepOutcome *outcome);
extern void HandleK8sDelete(const StepContext *context, StepOutcome *outcome);
extern void HandleDashboard(const StepContext *context, StepOutcome *outcome);
extern char *OwnershipProblem(json_t *obj, const char *tenant, const char *recorded_uid);
extern bool HandlerNamespaceGoneForTenant(const StepContext *context, json_t *obj);
extern void HandlerDeleteOwned(const StepContext *context, const char *path,
							   bool namespace_uid, StepOutcome *outcome);

/* handler_audit.c: maintenance (platform audit checks, pod requests) */
extern void HandleAuditObject(const StepContext *context, StepOutcome *outcome);
extern void HandleAuditVault(const StepContext *context, StepOutcome *outcome);
extern void HandlePodRequests(const StepContext *context, StepOutcome *outcome);

/* audit_remote.c */
extern void HandleAuditRemote(const StepContext *context, StepOutcome *outcome);

#endif							/* TENANCY_HANDLER_H */
