/*-------------------------------------------------------------------------
 *
 * endpoint.h
 *	  Per-target connection parameters of the worker (base URL, CA file,
 *	  client certificate, bearer token), from the tenancy.* settings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_ENDPOINT_H
#define TENANCY_ENDPOINT_H

#include "postgres.h"

typedef struct Endpoint
{
	const char *target;			/* "kubernetes", "vault", "grafana" */
	char	   *base_url;		/* without trailing slash; NULL: none */
	char	   *ca_file;		/* NULL: system CAs */
	char	   *client_cert;	/* NULL: none */
	char	   *client_key;		/* NULL: none */
	char	   *token_file;		/* NULL: no bearer token from a file */
	bool		needs_token;	/* requests must carry a token (from the file,
								 * or from a Vault login) */
	char	   *token;			/* current token; worker memory only */
	uint64		token_serial;	/* changes whenever token does */
	char	   *token_error;	/* why the token could not be read, or NULL */
	const char *token_header;	/* "Authorization: Bearer" or "X-Vault-Token:" */
	char	   *not_configured; /* why steps of this target are skipped */
} Endpoint;

/*
 * The endpoint of a target, with its token re-read if the token file
 * changed; NULL for a target that is not an HTTP service.
 */
extern Endpoint *EndpointFor(const char *target);

/* Forget every endpoint (after SIGHUP): rebuilt from settings on next use. */
extern void EndpointsReset(void);

/* Does the target's token come from a login (a request, which may wait)? */
extern bool EndpointUsesLogin(const char *target);

/*
 * A request to the endpoint, sent with the token of the given serial (0:
 * none), was answered 403.  When the token came from a Vault login (it may
 * have expired or been revoked), or the login failed, returns why, and the
 * next use of the endpoint logs in again: the caller should retry.  NULL
 * when the denial is the server's answer to the request itself: a token
 * that was just obtained, after a denial, and is denied again is not
 * replaced a second time.
 */
extern const char *EndpointTokenDenied(const Endpoint *endpoint, uint64 serial);

/* A request sent with the token of that serial succeeded. */
extern void EndpointTokenAccepted(const Endpoint *endpoint, uint64 serial);

#endif							/* TENANCY_ENDPOINT_H */
