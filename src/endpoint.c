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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "endpoint.h"
#include "tenancy.h"

#define SERVICE_ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN_BYTES 65536

typedef struct TokenFileState
{
	struct stat seen;			/* of the file when last read */
	bool		read_once;
} TokenFileState;

typedef struct EndpointSlot
{
	const char *target;
	bool		built;
	Endpoint	endpoint;
	TokenFileState token_state;
} EndpointSlot;

static EndpointSlot endpoint_slots[] = {
	{.target = "kubernetes"},
	{.target = "vault"},
	{.target = "grafana"},
};

static char *setting_or_null(const char *value);
static void build_endpoint(EndpointSlot *slot);
static void refresh_token(EndpointSlot *slot);
static void wipe_string(char **s);

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
	}
	else if (strcmp(slot->target, "grafana") == 0)
	{
		url = tenancy_grafana_url;
		e->token_file = setting_or_null(tenancy_grafana_token_file);
	}

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
		if (e->token_error)
			pfree(e->token_error);
		e->token_error = MemoryContextStrdup(TopMemoryContext,
											 psprintf("could not stat token file \"%s\": %m",
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
		if (e->token_error)
			pfree(e->token_error);
		e->token_error = MemoryContextStrdup(TopMemoryContext,
											 psprintf("could not open token file \"%s\": %m",
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
		if (e->token_error)
			pfree(e->token_error);
		e->token_error = MemoryContextStrdup(TopMemoryContext,
											 psprintf("token file \"%s\" is empty or holds more than one line",
													  e->token_file));
		return;
	}

	wipe_string(&e->token);
	e->token = buf;
	if (e->token_error)
		pfree(e->token_error);
	e->token_error = NULL;
	slot->token_state.seen = st;
	slot->token_state.read_once = true;
}

/*
 * EndpointFor
 *		The connection parameters of a target, token refreshed.
 */
Endpoint *
EndpointFor(const char *target)
{
	size_t		i;

	for (i = 0; i < lengthof(endpoint_slots); i++)
	{
		EndpointSlot *slot = &endpoint_slots[i];

		if (strcmp(slot->target, target) != 0)
			continue;
		if (!slot->built)
			build_endpoint(slot);
		if (slot->endpoint.base_url != NULL)
			refresh_token(slot);
		return &slot->endpoint;
	}
	return NULL;
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
		wipe_string(&e->token);
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
