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
	char	   *token_file;		/* NULL: no bearer token */
	char	   *token;			/* current token; worker memory only */
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

#endif							/* TENANCY_ENDPOINT_H */
