/*-------------------------------------------------------------------------
 *
 * handler_credentials.c
 *	  The secrets of a tenant: its database credentials (generated here,
 *	  Vault first, then the login roles, then Kubernetes) and the Secrets
 *	  resolved from the spec's {{ vault.get('path') }} references.
 *
 * database_credentials, in this order, so that a crash anywhere leaves a
 * state the next attempt completes without generating a second password:
 *	 1. read Vault tenants/<name>/database; reuse the passwords found there
 *		(a role that has none yet, such as a backup role added later, gets
 *		one, written as the next version with check-and-set);
 *	 2. otherwise generate them (pg_strong_random) and write them with
 *		check-and-set 0 (create only: of two racing attempts one wins, the
 *		other retries and reads the winner's); a rotation (the request's
 *		"rotation" names the rotate operation) generates new ones unless the
 *		secret already holds that rotation's, and writes them as a new
 *		version with check-and-set on the version read;
 *	 3. set each login role's password as a SCRAM verifier computed here, in
 *		a short transaction with statement logging and pgaudit off, so that
 *		neither the password nor the verifier reaches a log;
 *	 4. apply the Kubernetes Secrets database-credentials (the etl role),
 *		backup-credentials (the backup role, when the request names a third
 *		role: the tenant has backups),
 *		airflow-metadata (the Airflow role's metadata connection) and
 *		airflow-result-backend (the same, as the CeleryExecutor's result
 *		backend: db+postgresql://...).
 * The password exists only in this process's memory (wiped after use), in
 * Vault and in the Secrets: never in a step row, a message or the log.
 *
 * For a tenant on another server the roles are there, not here: step 3 runs
 * on that server through the remote SQL executor (RemoteExecute, quiet:
 * logging and pgaudit off there too, no SQL in its messages), after a check
 * that both roles exist there as login roles that are not superusers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "handler.h"
#include "platform.h"
#include "remote.h"
#include "servers.h"

/* Generated passwords: 32 characters of [A-Za-z0-9], about 190 bits */
#define PASSWORD_LENGTH 32
static const char password_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/*
 * generate_password
 *		A random password from pg_strong_random, without modulo bias.
 */
static void
generate_password(char *out)
{
	int			n = 0;
	const int	alphabet = (int) strlen(password_alphabet);
	const int	limit = 256 - (256 % alphabet);

	while (n < PASSWORD_LENGTH)
	{
		unsigned char bytes[64];

		if (!pg_strong_random(bytes, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random password")));
		for (int i = 0; i < (int) sizeof(bytes) && n < PASSWORD_LENGTH; i++)
			if (bytes[i] < limit)
				out[n++] = password_alphabet[bytes[i] % alphabet];
		explicit_bzero(bytes, sizeof(bytes));
	}
	out[n] = '\0';
}

/*
 * vault_write_created
 *		Write the credentials to Vault with check-and-set: cas 0 creates the
 *		secret, cas N writes the version after N.  A check-and-set conflict
 *		means another attempt wrote first: RETRY, and the next attempt reads
 *		what it wrote.
 */
static void
vault_write_created(const StepContext *context, const char *path,
					json_t *credentials, int cas, StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *body = json_pack("{s:O, s:{s:i}}", "data", credentials,
								 "options", "cas", cas);

	if (body == NULL)
		elog(ERROR, "out of memory building a Vault request");
	PG_TRY();
	{
		StepHttpCall(context, "vault", "POST", HandlerVaultDataPath(path), NULL,
					 body, "application/json", &request, outcome);
	}
	PG_FINALLY();
	{
		json_decref(body);
	}
	PG_END_TRY();
	if (outcome->kind == STEP_OUTCOME_FAILED && request.status == 400)
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "Vault secret %s was created concurrently; reading it again", path);
}

/*
 * role_argument
 *		The i-th login role named by the request.
 */
static const char *
role_argument(const StepContext *context, size_t i)
{
	json_t	   *role = json_array_get(json_object_get(context->request, "roles"), i);

	if (!json_is_string(role) || !HandlerValidName(json_string_value(role)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"roles\" must list the login roles")));
	return json_string_value(role);
}

/*
 * connection_url
 *		postgresql://user:password@host:port/database.  The password is of
 *		[A-Za-z0-9] only; the names come from the planner (validated).
 */
static char *
connection_url(const char *user, const char *password, const char *host,
			   int port, const char *database)
{
	return psprintf("postgresql://%s:%s@%s:%d/%s", user, password, host, port, database);
}

/*
 * apply_credential_secrets
 *		database-credentials and airflow-metadata from the passwords.
 */
static void
apply_credential_secrets(const StepContext *context, json_t *credentials,
						 StepOutcome *outcome)
{
	const char *ns = HandlerArgString(context, "namespace");
	const char *host = HandlerArgString(context, "host");
	const char *database = HandlerArgString(context, "database");
	int			port = (int) json_integer_value(json_object_get(context->request, "port"));
	const char *etl = role_argument(context, 0);
	const char *airflow = role_argument(context, 1);
	const char *etl_password = json_string_value(json_object_get(credentials, etl));
	const char *airflow_password = json_string_value(json_object_get(credentials, airflow));
	json_t	   *volatile data = NULL;

	PG_TRY();
	{
		data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
						 "SOURCE_DB_HOST", host,
						 "SOURCE_DB_PORT", psprintf("%d", port),
						 "SOURCE_DB_NAME", database,
						 "SOURCE_DB_USER", etl,
						 "SOURCE_DB_PASSWORD", etl_password,
						 "WAREHOUSE_DB_URL",
						 connection_url(etl, etl_password, host, port, database));
		if (data == NULL)
			elog(ERROR, "out of memory building a Secret");
		HandlerApplySecret(context, ns, PLATFORM_DB_SECRET, data, outcome);
		HandlerWipeJson(data);
		json_decref(data);
		data = NULL;
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
		{
			data = json_pack("{s:s}", "connection",
							 connection_url(airflow, airflow_password, host, port, database));
			if (data == NULL)
				elog(ERROR, "out of memory building a Secret");
			HandlerApplySecret(context, ns, PLATFORM_METADATA_SECRET, data, outcome);
			HandlerWipeJson(data);
			json_decref(data);
			data = NULL;
		}
		/* the backup role's, for the backup CronJob (libpq's variables) */
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED &&
			json_array_size(json_object_get(context->request, "roles")) > 2)
		{
			const char *backup = role_argument(context, 2);

			data = json_pack("{s:s, s:s, s:s, s:s, s:s}",
							 "PGHOST", host,
							 "PGPORT", psprintf("%d", port),
							 "PGDATABASE", database,
							 "PGUSER", backup,
							 "PGPASSWORD",
							 json_string_value(json_object_get(credentials, backup)));
			if (data == NULL)
				elog(ERROR, "out of memory building a Secret");
			HandlerApplySecret(context, ns, PLATFORM_BACKUP_SECRET, data, outcome);
			HandlerWipeJson(data);
			json_decref(data);
			data = NULL;
		}
		/* the CeleryExecutor's result backend: the same database, db+ */
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
		{
			data = json_pack("{s:s}", "connection",
							 psprintf("db+%s", connection_url(airflow, airflow_password,
															  host, port, database)));
			if (data == NULL)
				elog(ERROR, "out of memory building a Secret");
			HandlerApplySecret(context, ns, PLATFORM_RESULT_BACKEND_SECRET, data, outcome);
		}
	}
	PG_FINALLY();
	{
		if (data != NULL)
		{
			HandlerWipeJson(data);
			json_decref(data);
		}
	}
	PG_END_TRY();
}

/*
 * set_remote_passwords
 *		Step 3 for a tenant on another server (see RemoteSetPasswords).
 */
static void
set_remote_passwords(const StepContext *context, json_t *credentials,
					 StepOutcome *outcome)
{
	const char *tenant = HandlerArgString(context, "tenant");
	const char *database = HandlerArgString(context, "database");
	int			n = (int) json_array_size(json_object_get(context->request, "roles"));
	const char **roles = palloc(sizeof(char *) * Max(n, 1));
	const char **passwords = palloc(sizeof(char *) * Max(n, 1));
	char	   *server;

	if (!ServerOfTenant(tenant, &server))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "tenant \"%s\" is not in tenancy.tenants", tenant);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		roles[i] = role_argument(context, i);
		passwords[i] = json_string_value(json_object_get(credentials, roles[i]));
	}
	RemoteSetPasswords(server, database, n, roles, passwords, outcome);
}

/*
 * credentials_complete
 *		Whether Vault's credentials hold a password for every role.
 */
static bool
credentials_complete(const StepContext *context, json_t *credentials)
{
	size_t		n = json_array_size(json_object_get(context->request, "roles"));

	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_object_get(credentials, role_argument(context, i))))
			return false;
	return n > 0;
}

/*
 * new_credentials
 *		A fresh password for every login role the request names, and the
 *		rotation they belong to (NULL: the first credentials).
 */
static json_t *
new_credentials(const StepContext *context, const char *rotation)
{
	size_t		n = json_array_size(json_object_get(context->request, "roles"));
	json_t	   *credentials = json_pack("{}");	/* not json_object(): the
												 * server exports a function
												 * of that name */

	if (credentials == NULL)
		elog(ERROR, "out of memory building credentials");
	for (size_t i = 0; i < n; i++)
	{
		char		password[PASSWORD_LENGTH + 1];

		generate_password(password);
		json_object_set_new(credentials, role_argument(context, i),
							json_string(password));
		explicit_bzero(password, sizeof(password));
	}
	if (rotation != NULL)
		json_object_set_new(credentials, "rotation", json_string(rotation));
	return credentials;
}

/*
 * add_missing_passwords
 *		A fresh password for each role the request names that the
 *		credentials read from Vault have none for.
 */
static void
add_missing_passwords(const StepContext *context, json_t *credentials)
{
	size_t		n = json_array_size(json_object_get(context->request, "roles"));

	for (size_t i = 0; i < n; i++)
	{
		const char *role = role_argument(context, i);
		char		password[PASSWORD_LENGTH + 1];

		if (json_is_string(json_object_get(credentials, role)))
			continue;
		generate_password(password);
		json_object_set_new(credentials, role, json_string(password));
		explicit_bzero(password, sizeof(password));
	}
}

/*
 * rotated_by
 *		Whether the credentials read from Vault were written by this
 *		rotation already (an earlier attempt of the same step).
 */
static bool
rotated_by(json_t *credentials, const char *rotation)
{
	const char *done = json_string_value(json_object_get(credentials, "rotation"));

	return done != NULL && strcmp(done, rotation) == 0;
}

/*
 * HandleDatabaseCredentials
 *		The database_credentials handler (see the file header).
 */
void
HandleDatabaseCredentials(const StepContext *context, StepOutcome *outcome)
{
	const char *path = HandlerArgString(context, "vault_path");
	bool		local = json_is_true(json_object_get(context->request, "local"));
	const char *rotation = json_string_value(json_object_get(context->request, "rotation"));
	json_t	   *volatile credentials = NULL;
	int			version = 0;

	PG_TRY();
	{
		credentials = HandlerVaultRead(context, path, &version, outcome);
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED &&
			(credentials == NULL ||
			 (rotation != NULL && !rotated_by(credentials, rotation))))
		{
			if (credentials != NULL)
			{
				HandlerWipeJson(credentials);
				json_decref(credentials);
			}
			credentials = new_credentials(context, rotation);
			vault_write_created(context, path, credentials,
								rotation ? version : 0, outcome);
		}
		else if (credentials != NULL && !credentials_complete(context, credentials))
		{
			/*
			 * A login role added since the credentials were written (the
			 * backup role of a tenant that turned backups on): a password for
			 * it, written as the next version; the others are kept.
			 */
			add_missing_passwords(context, credentials);
			vault_write_created(context, path, credentials, version, outcome);
		}

		if (outcome->kind == STEP_OUTCOME_SUCCEEDED && local)
		{
			size_t		n = json_array_size(json_object_get(context->request, "roles"));

			for (size_t i = 0; i < n; i++)
			{
				const char *role = role_argument(context, i);

				RoleSetPasswordQuietly(role, json_string_value(json_object_get(credentials, role)));
			}
		}
		else if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
			set_remote_passwords(context, credentials, outcome);
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
			apply_credential_secrets(context, credentials, outcome);
	}
	PG_FINALLY();
	{
		if (credentials != NULL)
		{
			HandlerWipeJson(credentials);
			json_decref(credentials);
		}
	}
	PG_END_TRY();
}

/*
 * HandleVaultSecret
 *		The vault_secret handler: a Secret whose keys are Vault values
 *		({"vault": "path"}: the "value" field of that KV v2 secret) or plain
 *		values ({"value": "..."}).  A missing Vault secret fails the step
 *		and names the path.
 */
void
HandleVaultSecret(const StepContext *context, StepOutcome *outcome)
{
	const char *ns = HandlerArgString(context, "namespace");
	const char *name = HandlerArgString(context, "secret");
	json_t	   *spec_data = json_object_get(context->request, "data");
	json_t	   *volatile data = json_pack("{}");	/* not json_object(): the
													 * server exports a
													 * function of that name */
	const char *key;
	json_t	   *item;

	memset(outcome, 0, sizeof(StepOutcome));
	outcome->kind = STEP_OUTCOME_SUCCEEDED;
	PG_TRY();
	{
		if (!json_is_object(spec_data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed step request: \"data\" must be an object")));
		json_object_foreach(spec_data, key, item)
		{
			json_t	   *vault = json_object_get(item, "vault");
			json_t	   *value = json_object_get(item, "value");

			if (json_is_string(value))
				json_object_set(data, key, value);
			else if (json_is_string(vault))
			{
				json_t	   *secret = HandlerVaultRead(context, json_string_value(vault),
													  NULL, outcome);
				json_t	   *field = json_object_get(secret, "value");

				if (outcome->kind == STEP_OUTCOME_SUCCEEDED && !json_is_string(field))
					StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
								   "Vault secret %.200s %s; store it with a \"value\" field",
								   json_string_value(vault),
								   secret ? "has no \"value\" field" : "does not exist");
				else if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
					json_object_set(data, key, field);
				if (secret)
				{
					if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
						HandlerWipeJson(secret);
					json_decref(secret);
				}
			}
			if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
				break;
		}
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
			HandlerApplySecret(context, ns, name, data, outcome);
	}
	PG_FINALLY();
	{
		HandlerWipeJson(data);
		json_decref(data);
	}
	PG_END_TRY();
}
