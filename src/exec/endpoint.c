/*-------------------------------------------------------------------------
 *
 * endpoint.c
 *	  Turn the tenancy.* endpoint settings into connection parameters, one
 *	  set per target (Kubernetes, Vault, Grafana).
 *
 * Bearer tokens are read from files and re-read when the file changes
 * (modification time, size or inode): Kubernetes rotates projected service
 * account tokens, and Vault agents rewrite their sink.  Tokens live in the
 * worker's memory only, and are wiped when replaced.
 *
 * In a pod, with tenancy.kubernetes_url empty, the in-cluster defaults
 * apply: the API server from KUBERNETES_SERVICE_HOST/PORT, the service
 * account's token and CA from /var/run/secrets/kubernetes.io/serviceaccount.
 *
 * Vault: with tenancy.vault_token_file empty and tenancy.vault_auth_role
 * set, the worker logs in at auth/kubernetes/login with its service account
 * token (tenancy.kubernetes_token_file, or the in-cluster one) and keeps the
 * client token in memory until 80% of its lease has passed; a 403 answered
 * to that token (revoked, or expired early) makes it log in again once.
 * Neither the service account token nor the client token is ever logged or
 * recorded: errors name the role and Vault's error text only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "endpoint.h"
#include "http.h"
#include "step_task.h"
#include "tenancy.h"

#define SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN_BYTES 65536

/* Vault Kubernetes auth: where to log in, how soon to try again. */
#define VAULT_LOGIN_PATH "/v1/auth/kubernetes/login"
#define VAULT_LOGIN_RETRY_MS 1000

typedef struct TokenFileState
{
	struct stat seen;			/* of the file when last read */
	bool		read_once;
} TokenFileState;

/* A token obtained by logging in (Vault Kubernetes auth). */
typedef struct LoginState
{
	bool		enabled;		/* the endpoint's token comes from a login */
	TimestampTz renew_at;		/* log in again from then on (0: never) */
	TimestampTz expires_at;		/* the token is no good from then on (0:
								 * never) */
	TimestampTz not_before;		/* after a failed login, not before then */
	bool		after_denial;	/* the token replaced one that was denied */
} LoginState;

typedef struct EndpointSlot
{
	const char *target;
	bool		built;
	Endpoint	endpoint;
	TokenFileState token_state;
	LoginState	login;
	bool		login_in_flight;	/* a task is logging in (kept across
									 * EndpointsReset: that task clears it) */
} EndpointSlot;

/* Serial of the last token set on any endpoint (0 stands for none). */
static uint64 last_token_serial = 0;

static EndpointSlot endpoint_slots[] = {
	{.target = "kubernetes"},
	{.target = "vault"},
	{.target = "grafana"},
};

static char *setting_or_null(const char *value);
static void build_endpoint(EndpointSlot *slot);
static void refresh_token(EndpointSlot *slot);
static void wipe_string(char **s);
static void set_token(Endpoint *e, char *token);
static void set_token_error(Endpoint *e, char *error);
static EndpointSlot *slot_of(const Endpoint *endpoint);
static const char *service_account_jwt(void);
static void refresh_login(EndpointSlot *slot);
static void vault_login(EndpointSlot *slot);
static void read_login_response(EndpointSlot *slot, HttpRequest *request);

/*
 * setting_or_null
 *		A copy of a string setting in TopMemoryContext, NULL when empty.
 */
static char *
setting_or_null(const char *value)
{
	if (value == NULL || value[0] == '\0')
		return NULL;
	return MemoryContextStrdup(TopMemoryContext, value);
}

/*
 * wipe_string
 *		Overwrite and free a string that may hold a credential.
 */
static void
wipe_string(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	pfree(*s);
	*s = NULL;
}

/*
 * build_endpoint
 *		Connection parameters of one target from the current settings.
 */
static void
build_endpoint(EndpointSlot *slot)
{
	Endpoint   *e = &slot->endpoint;
	const char *url = NULL;

	memset(e, 0, sizeof(Endpoint));
	memset(&slot->token_state, 0, sizeof(TokenFileState));
	memset(&slot->login, 0, sizeof(LoginState));
	e->target = slot->target;
	e->token_header = "Authorization: Bearer ";

	if (strcmp(slot->target, "kubernetes") == 0)
	{
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		bool		in_cluster = access(SERVICE_ACCOUNT_DIR "/token", R_OK) == 0;

		url = tenancy_kubernetes_url;
		if ((url == NULL || url[0] == '\0') && host != NULL && in_cluster)
			e->base_url = MemoryContextStrdup(TopMemoryContext,
											  psprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
													   host, port ? port : "443"));
		e->ca_file = setting_or_null(tenancy_kubernetes_ca_file);
		if (e->ca_file == NULL && in_cluster &&
			access(SERVICE_ACCOUNT_DIR "/ca.crt", R_OK) == 0)
			e->ca_file = MemoryContextStrdup(TopMemoryContext, SERVICE_ACCOUNT_DIR "/ca.crt");
		e->token_file = setting_or_null(tenancy_kubernetes_token_file);
		if (e->token_file == NULL && in_cluster)
			e->token_file = MemoryContextStrdup(TopMemoryContext, SERVICE_ACCOUNT_DIR "/token");
		e->client_cert = setting_or_null(tenancy_kubernetes_client_cert);
		e->client_key = setting_or_null(tenancy_kubernetes_client_key);
	}
	else if (strcmp(slot->target, "vault") == 0)
	{
		url = tenancy_vault_url;
		e->ca_file = setting_or_null(tenancy_vault_ca_file);
		e->token_file = setting_or_null(tenancy_vault_token_file);
		e->token_header = "X-Vault-Token: ";
		slot->login.enabled = e->token_file == NULL &&
			tenancy_vault_auth_role != NULL && tenancy_vault_auth_role[0] != '\0';
	}
	else if (strcmp(slot->target, "grafana") == 0)
	{
		url = tenancy_grafana_url;
		e->token_file = setting_or_null(tenancy_grafana_token_file);
	}

	e->needs_token = e->token_file != NULL || slot->login.enabled;
	if (e->base_url == NULL)
		e->base_url = setting_or_null(url);
	if (e->base_url != NULL)
	{
		size_t		len = strlen(e->base_url);

		while (len > 0 && e->base_url[len - 1] == '/')
			e->base_url[--len] = '\0';
	}
	else
		e->not_configured = MemoryContextStrdup(TopMemoryContext,
												psprintf("no endpoint configured for %s (set tenancy.%s_url)",
														 slot->target, slot->target));
	slot->built = true;
}

/*
 * refresh_token
 *		Read the token file if it changed since last read.  A file that
 *		cannot be read keeps the last good token and records why, so that a
 *		rotation caught mid-write does not fail steps.
 */
static void
refresh_token(EndpointSlot *slot)
{
	Endpoint   *e = &slot->endpoint;
	struct stat st;
	FILE	   *f;
	char	   *buf;
	size_t		len;

	if (e->token_file == NULL)
		return;

	if (stat(e->token_file, &st) != 0)
	{
		set_token_error(e, psprintf("could not stat token file \"%s\": %m",
									e->token_file));
		return;
	}
	if (slot->token_state.read_once &&
		st.st_mtim.tv_sec == slot->token_state.seen.st_mtim.tv_sec &&
		st.st_mtim.tv_nsec == slot->token_state.seen.st_mtim.tv_nsec &&
		st.st_size == slot->token_state.seen.st_size &&
		st.st_ino == slot->token_state.seen.st_ino)
		return;

	f = AllocateFile(e->token_file, "r");
	if (f == NULL)
	{
		set_token_error(e, psprintf("could not open token file \"%s\": %m",
									e->token_file));
		return;
	}
	buf = MemoryContextAllocZero(TopMemoryContext, MAX_TOKEN_BYTES + 1);
	len = fread(buf, 1, MAX_TOKEN_BYTES, f);
	FreeFile(f);

	/* a token is one line: strip trailing white space and newlines */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (len == 0 || strpbrk(buf, "\r\n") != NULL)
	{
		wipe_string(&buf);
		set_token_error(e, psprintf("token file \"%s\" is empty or holds more than one line",
									e->token_file));
		return;
	}

	set_token(e, buf);
	set_token_error(e, NULL);
	slot->token_state.seen = st;
	slot->token_state.read_once = true;
}

/*
 * set_token
 *		Replace an endpoint's token (the old one is wiped); token is a
 *		TopMemoryContext string, or NULL.
 */
static void
set_token(Endpoint *e, char *token)
{
	wipe_string(&e->token);
	e->token = token;
	e->token_serial = token ? ++last_token_serial : 0;
}

/*
 * set_token_error
 *		Replace why the endpoint has no usable token (NULL: it has one);
 *		error is copied.
 */
static void
set_token_error(Endpoint *e, char *error)
{
	if (e->token_error)
		pfree(e->token_error);
	e->token_error = error ? MemoryContextStrdup(TopMemoryContext, error) : NULL;
}

/*
 * slot_of
 *		The slot holding an endpoint, or NULL.
 */
static EndpointSlot *
slot_of(const Endpoint *endpoint)
{
	size_t		i;

	for (i = 0; i < lengthof(endpoint_slots); i++)
		if (&endpoint_slots[i].endpoint == endpoint)
			return &endpoint_slots[i];
	return NULL;
}

/*
 * service_account_jwt
 *		The worker's Kubernetes service account token (the Kubernetes
 *		endpoint's token file, re-read when it changes), or NULL.
 */
static const char *
service_account_jwt(void)
{
	EndpointSlot *k8s = &endpoint_slots[0];

	Assert(strcmp(k8s->target, "kubernetes") == 0);
	if (!k8s->built)
		build_endpoint(k8s);
	refresh_token(k8s);
	return k8s->endpoint.token;
}

/*
 * refresh_login
 *		Log in when there is no token, or when most of its lease has
 *		passed; a token past its lease is dropped even if the login fails.
 */
static void
refresh_login(EndpointSlot *slot)
{
	Endpoint   *e = &slot->endpoint;
	TimestampTz now = GetCurrentTimestamp();

	if (e->token != NULL && (slot->login.renew_at == 0 || now < slot->login.renew_at))
		return;
	if (e->token != NULL && slot->login.expires_at != 0 && now >= slot->login.expires_at)
		set_token(e, NULL);
	if (now < slot->login.not_before)
		return;

	/*
	 * One login at a time: steps that need the token while a task logs in
	 * wait for that login (the worker runs other steps meanwhile), then use
	 * its token or its error; while a renewal is in flight they use the token
	 * it renews.  Outside a task there is nothing to wait with: the caller
	 * goes on without a token and retries.
	 */
	if (slot->login_in_flight)
	{
		while (slot->login_in_flight && e->token == NULL && StepTaskActive())
			StepTaskWaitFor(slot);
		return;
	}
	slot->login_in_flight = true;
	PG_TRY();
	{
		vault_login(slot);
	}
	PG_FINALLY();
	{
		slot->login_in_flight = false;
		StepTaskWake(slot);
	}
	PG_END_TRY();
	if (e->token == NULL || e->token_error != NULL)
		slot->login.not_before = TimestampTzPlusMilliseconds(now, VAULT_LOGIN_RETRY_MS);
}

/*
 * vault_login
 *		Log in to Vault with the service account token (Kubernetes auth).
 *		On success the endpoint holds the client token; on failure
 *		token_error says why (never with the token, never with the body).
 */
static void
vault_login(EndpointSlot *slot)
{
	Endpoint   *e = &slot->endpoint;
	const char *jwt = service_account_jwt();
	Endpoint	anonymous;
	HttpRequest request;
	json_t	   *body;
	char	   *dumped;

	if (jwt == NULL)
	{
		set_token_error(e, psprintf("cannot log in to Vault as role \"%s\": no service account token (%s)",
									tenancy_vault_auth_role,
									endpoint_slots[0].endpoint.token_error
									? endpoint_slots[0].endpoint.token_error
									: "set tenancy.kubernetes_token_file"));
		return;
	}

	/* the login request carries no Vault token */
	anonymous = *e;
	anonymous.token = NULL;
	memset(&request, 0, sizeof(request));
	request.endpoint = &anonymous;
	request.method = "POST";
	request.url = psprintf("%s%s", e->base_url, VAULT_LOGIN_PATH);
	request.content_type = "application/json";

	body = json_pack("{s:s, s:s}", "role", tenancy_vault_auth_role, "jwt", jwt);
	if (body == NULL)
		elog(ERROR, "out of memory building the Vault login request");
	dumped = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (dumped == NULL)
		elog(ERROR, "out of memory building the Vault login request");
	request.body_len = strlen(dumped);
	request.body = palloc(request.body_len + 1);
	memcpy(request.body, dumped, request.body_len + 1);
	explicit_bzero(dumped, request.body_len);
	free(dumped);

	PG_TRY();
	{
		HttpPerform(&request);
		read_login_response(slot, &request);
	}
	PG_FINALLY();
	{
		explicit_bzero(request.body, request.body_len);
		if (request.response != NULL)
			explicit_bzero(request.response, request.response_len);
	}
	PG_END_TRY();
}

/*
 * read_login_response
 *		Take the client token and its lease from a login response, or
 *		record why the login failed.
 */
static void
read_login_response(EndpointSlot *slot, HttpRequest *request)
{
	Endpoint   *e = &slot->endpoint;
	json_error_t jerr;
	json_t	   *root;
	json_t	   *token;
	json_t	   *lease;
	TimestampTz now = GetCurrentTimestamp();

	if (request->error != NULL || request->status != 200)
	{
		set_token_error(e, psprintf("Vault login as role \"%s\" at auth/kubernetes/login failed: %s",
									tenancy_vault_auth_role,
									request->error ? request->error
									: psprintf("HTTP %d: %s", request->status,
											   HttpResponseSummary(request))));
		return;
	}
	root = json_loadb(request->response, request->response_len, 0, &jerr);
	token = json_object_get(json_object_get(root, "auth"), "client_token");
	lease = json_object_get(json_object_get(root, "auth"), "lease_duration");
	if (!json_is_string(token) || json_string_length(token) == 0 ||
		json_string_length(token) > MAX_TOKEN_BYTES ||
		strpbrk(json_string_value(token), "\r\n") != NULL)
	{
		json_decref(root);
		set_token_error(e, psprintf("Vault login as role \"%s\" at auth/kubernetes/login returned no usable client token",
									tenancy_vault_auth_role));
		return;
	}

	set_token(e, MemoryContextStrdup(TopMemoryContext, json_string_value(token)));
	set_token_error(e, NULL);
	slot->login.renew_at = 0;
	slot->login.expires_at = 0;
	if (json_is_integer(lease) && json_integer_value(lease) > 0)
	{
		int64		lease_ms = (int64) Min(json_integer_value(lease), (json_int_t) 10 * 365 * 86400) * 1000;

		slot->login.renew_at = TimestampTzPlusMilliseconds(now, lease_ms * 4 / 5);
		slot->login.expires_at = TimestampTzPlusMilliseconds(now, lease_ms);
	}
	json_decref(root);
}

/*
 * EndpointTokenDenied
 *		A 403 answered to a request sent with the token of that serial:
 *		log in again when the token came from a login, unless that token
 *		already replaced a denied one.
 */
const char *
EndpointTokenDenied(const Endpoint *endpoint, uint64 serial)
{
	EndpointSlot *slot = slot_of(endpoint);
	Endpoint   *e;

	if (slot == NULL || !slot->login.enabled)
		return NULL;
	e = &slot->endpoint;
	if (serial == 0 || e->token == NULL)
		return e->token_error ? e->token_error : "no Vault token: the login has not succeeded yet";
	if (serial != e->token_serial)
		return "the Vault token was replaced meanwhile";
	if (slot->login.after_denial)
		return NULL;
	set_token(e, NULL);
	slot->login.after_denial = true;
	slot->login.not_before = 0;
	return "Vault denied the token of the last login (revoked or expired): logging in again";
}

/*
 * EndpointTokenAccepted
 *		A request sent with the token of that serial succeeded: a later
 *		denial may again be the token's fault.
 */
void
EndpointTokenAccepted(const Endpoint *endpoint, uint64 serial)
{
	EndpointSlot *slot = slot_of(endpoint);

	if (slot != NULL && serial == slot->endpoint.token_serial)
		slot->login.after_denial = false;
}

/*
 * built_slot
 *		The slot of a target, its endpoint built from the settings on first
 *		use; NULL for a target that has none.
 */
static EndpointSlot *
built_slot(const char *target)
{
	for (size_t i = 0; i < lengthof(endpoint_slots); i++)
	{
		EndpointSlot *slot = &endpoint_slots[i];

		if (strcmp(slot->target, target) == 0)
		{
			if (!slot->built)
				build_endpoint(slot);
			return slot;
		}
	}
	return NULL;
}

/*
 * EndpointFor
 *		The connection parameters of a target, token refreshed.
 */
Endpoint *
EndpointFor(const char *target)
{
	EndpointSlot *slot = built_slot(target);

	if (slot == NULL)
		return NULL;
	if (slot->endpoint.base_url != NULL)
	{
		if (slot->login.enabled)
			refresh_login(slot);
		else
			refresh_token(slot);
	}
	return &slot->endpoint;
}

/*
 * EndpointUsesLogin
 *		Whether getting the target's token may take a login request.
 */
bool
EndpointUsesLogin(const char *target)
{
	EndpointSlot *slot = built_slot(target);

	return slot != NULL && slot->login.enabled;
}

/*
 * EndpointsReset
 *		Forget the endpoints after a configuration reload; tokens are wiped.
 */
void
EndpointsReset(void)
{
	size_t		i;

	for (i = 0; i < lengthof(endpoint_slots); i++)
	{
		EndpointSlot *slot = &endpoint_slots[i];
		Endpoint   *e = &slot->endpoint;

		if (!slot->built)
			continue;
		set_token(e, NULL);
		if (e->base_url)
			pfree(e->base_url);
		if (e->ca_file)
			pfree(e->ca_file);
		if (e->client_cert)
			pfree(e->client_cert);
		if (e->client_key)
			pfree(e->client_key);
		if (e->token_file)
			pfree(e->token_file);
		if (e->token_error)
			pfree(e->token_error);
		if (e->not_configured)
			pfree(e->not_configured);
		slot->built = false;
	}
}
