/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The worker's HTTP layer: many requests at once over libcurl's multi
 *	  interface, waiting on their sockets and on the worker's latch.
 *
 * A caller fills an HttpRequest (palloc'd, in a context that lives until the
 * request completes), hands it to HttpStart, then calls HttpWait until the
 * request comes back from HttpTakeCompleted with status, response and
 * error filled in.  Everything libcurl allocates is freed when a request
 * completes or is aborted; responses are copied into palloc'd memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_HTTP_H
#define TENANCY_HTTP_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "endpoint.h"

typedef struct HttpClient HttpClient;
typedef struct HttpTransfer HttpTransfer;

typedef struct HttpRequest
{
	/* set by the caller */
	const Endpoint *endpoint;	/* base URL, CA, client cert, token */
	const char *method;			/* GET, POST, PUT, PATCH, DELETE */
	char	   *url;			/* complete URL */
	const char *content_type;	/* of the body; NULL: no body */
	char	   *body;			/* NULL: none; may hold a secret */
	size_t		body_len;
	const char *idempotency_key;	/* sent as Idempotency-Key, or NULL */
	void	   *caller_data;
	bool		awaited;		/* a task waits on it (HttpPerform): it is
								 * woken, not listed by HttpTakeCompleted */

	/* set when the request completes */
	int			status;			/* HTTP status, 0 if no response */
	char	   *error;			/* transport error (libcurl), or NULL */
	bool		error_permanent;	/* retrying cannot help (bad URL) */
	char	   *response;		/* body, NUL-terminated, palloc'd */
	size_t		response_len;
	int64		retry_after_ms; /* Retry-After, 0 if none */

	uint64		token_serial;	/* of the endpoint's token it was sent with */

	HttpTransfer *transfer;		/* private to http.c */
	MemoryContext cxt;			/* where results are allocated */
} HttpRequest;

/* A client: a multi handle and its connection cache, sized by settings. */
extern HttpClient *HttpClientCreate(void);
extern void HttpClientDestroy(HttpClient *client);
extern void HttpClientReconfigure(HttpClient *client);

/* Start a request (no network I/O happens until HttpWait). */
extern void HttpStart(HttpClient *client, HttpRequest *request);

/* Requests started and not yet taken back. */
extern int	HttpInFlight(HttpClient *client);

/*
 * Move transfers on; wait at most timeout_ms for a socket, a timer or the
 * latch.  Sets *latch_set when the latch woke us (the caller resets it).
 */
extern void HttpWait(HttpClient *client, long timeout_ms, bool *latch_set);

/* Requests that completed since the last call. */
extern List *HttpTakeCompleted(HttpClient *client);

/* Abort every request in flight (error recovery, shutdown). */
extern void HttpAbortAll(HttpClient *client);

/*
 * One request, start to finish.  In a step task (step_task.h) it goes to
 * the background client with the worker's other requests and the task
 * waits for it; elsewhere it runs on a client of its own, waiting on the
 * latch meanwhile and moving the background client's requests on.
 */
extern void HttpPerform(HttpRequest *request);

/* The client HttpPerform drives while it waits (the worker's), or NULL. */
extern void HttpSetBackgroundClient(HttpClient *client);

/*
 * A short, printable account of an error response (the message of a
 * Kubernetes Status, Vault's errors, or the start of the body).
 */
extern char *HttpResponseSummary(const HttpRequest *request);

/* libcurl's version string, for the log. */
extern const char *HttpLibraryVersion(void);

#endif							/* TENANCY_HTTP_H */
