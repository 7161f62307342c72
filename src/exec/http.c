/*-------------------------------------------------------------------------
 *
 * http.c
 *	  Concurrent HTTP requests for the worker, over libcurl's multi
 *	  interface.
 *
 * The multi handle keeps a connection cache, so requests to the same host
 * reuse connections (and HTTP/2 multiplexes them on one).  libcurl tells us
 * which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); HttpWait waits on those sockets and on the
 * worker's latch at once, with a WaitEventSet, so that SIGTERM, SIGHUP and
 * commit wake-ups are handled while requests are in flight.
 *
 * libcurl allocates with malloc.  A request's easy handle, header list and
 * response buffer are freed when it completes or is aborted; the response
 * is copied into palloc'd memory first.  Header lists and bodies that may
 * hold credentials are wiped before they are freed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <jansson.h>

#include "access/xact.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "http.h"
#include "step_task.h"
#include "tenancy.h"

/* Responses larger than this are refused (Kubernetes lists can be big). */
#define MAX_RESPONSE_BYTES (8 * 1024 * 1024)

/* How often HttpPerform looks at the background client's sockets. */
#define SYNC_POLL_MS 20

/* Longest account of an error response (HttpResponseSummary). */
#define MAX_ERROR_SNIPPET 300

struct HttpTransfer
{
	dlist_node	node;			/* in HttpClient.transfers */
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *buf;			/* response so far, malloc'd */
	size_t		len;
	size_t		cap;
	bool		too_large;
	char		errbuf[CURL_ERROR_SIZE];
	HttpRequest *request;
};

typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT, _INOUT */
} WatchedSocket;

struct HttpClient
{
	CURLM	   *multi;
	MemoryContext cxt;
	dlist_head	transfers;		/* started, not yet completed */
	int			in_flight;
	List	   *completed;		/* HttpRequest *, not yet taken */
	WatchedSocket *sockets;		/* malloc'd: filled from curl callbacks */
	int			n_sockets;
	int			max_sockets;
	long		timer_ms;		/* curl's requested timeout, -1: none */
	TimestampTz timer_set_at;
};

static bool curl_initialized = false;

/* The worker's client, driven by HttpPerform while it waits (or NULL). */
static HttpClient *background_client = NULL;

static size_t write_response(char *ptr, size_t size, size_t nmemb, void *userdata);
static int	watch_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
						 void *socketp);
static int	set_timer(CURLM *multi, long timeout_ms, void *userp);
static void configure_multi(HttpClient *client);
static void socket_action(HttpClient *client, curl_socket_t fd, int mask);
static void collect_completed(HttpClient *client);
static int	wait_for_events(HttpClient *client, long wait_ms, WaitEvent *events);
static void release_transfer(HttpClient *client, HttpTransfer *t);
static void wipe_headers(struct curl_slist *headers);
static void perform_in_task(HttpRequest *request);
static struct curl_slist *append_header(struct curl_slist *list, const char *header);

/*
 * HttpResponseSummary
 *		A short, printable account of an error response: the message of a
 *		Kubernetes Status or Grafana error, Vault's errors, or the start of
 *		the body.  Never more than a few hundred bytes.
 */
char *
HttpResponseSummary(const HttpRequest *request)
{
	json_error_t jerr;
	json_t	   *root;
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	if (request->response_len == 0)
		return pstrdup("empty response");

	root = json_loadb(request->response, request->response_len, 0, &jerr);
	if (root != NULL)
	{
		json_t	   *message = json_object_get(root, "message");
		json_t	   *errors = json_object_get(root, "errors");
		json_t	   *item;

		if (json_is_string(message))
			appendStringInfoString(&buf, json_string_value(message));
		else if (json_is_array(errors))
		{
			json_array_foreach(errors, i, item)
			{
				if (json_is_string(item))
					appendStringInfo(&buf, "%s%s", i > 0 ? "; " : "",
									 json_string_value(item));
			}
		}
		json_decref(root);
	}
	if (buf.len == 0)
	{
		if (root == NULL)
			appendStringInfo(&buf, "(response is not JSON: %s) ", jerr.text);
		appendBinaryStringInfo(&buf, request->response,
							   Min(request->response_len, MAX_ERROR_SNIPPET));
	}

	/* printable ASCII only, and short */
	for (i = 0; i < (size_t) buf.len; i++)
		if ((unsigned char) buf.data[i] < 0x20 || (unsigned char) buf.data[i] > 0x7e)
			buf.data[i] = ' ';
	if (buf.len > MAX_ERROR_SNIPPET)
	{
		buf.data[MAX_ERROR_SNIPPET] = '\0';
		strcpy(buf.data + MAX_ERROR_SNIPPET - 3, "...");
	}
	return buf.data;
}

/*
 * HttpLibraryVersion
 *		libcurl's version and features, for the log.
 */
const char *
HttpLibraryVersion(void)
{
	return curl_version();
}

/*
 * configure_multi
 *		Apply the concurrency settings to the multi handle (at creation and
 *		after a reload).
 */
static void
configure_multi(HttpClient *client)
{
	curl_multi_setopt(client->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
					  (long) tenancy_max_concurrent_requests);
	curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  (long) tenancy_max_requests_per_host);
	curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS,
					  (long) Max(tenancy_max_concurrent_requests, 4));
	curl_multi_setopt(client->multi, CURLMOPT_PIPELINING,
					  (long) CURLPIPE_MULTIPLEX);
}

/*
 * HttpClientCreate
 *		A client with its own multi handle and connection cache.
 */
HttpClient *
HttpClientCreate(void)
{
	HttpClient *client;

	if (!curl_initialized)
	{
		CURLcode	rc = curl_global_init(CURL_GLOBAL_ALL);

		if (rc != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not initialize libcurl"),
					 errdetail_internal("%s", curl_easy_strerror(rc))));
		curl_initialized = true;
	}

	client = MemoryContextAllocZero(TopMemoryContext, sizeof(HttpClient));
	client->cxt = AllocSetContextCreate(TopMemoryContext, "tenancy HTTP client",
										ALLOCSET_SMALL_SIZES);
	dlist_init(&client->transfers);
	client->timer_ms = -1;
	client->multi = curl_multi_init();
	if (client->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, watch_socket);
	curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, set_timer);
	curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	configure_multi(client);
	return client;
}

/*
 * HttpClientDestroy
 *		Abort what is in flight, close connections, free everything.
 */
void
HttpClientDestroy(HttpClient *client)
{
	HttpAbortAll(client);
	curl_multi_cleanup(client->multi);
	free(client->sockets);
	MemoryContextDelete(client->cxt);
	pfree(client);
}

/*
 * HttpClientReconfigure
 *		Apply changed limits after a reload; connections are kept.
 */
void
HttpClientReconfigure(HttpClient *client)
{
	configure_multi(client);
}

/*
 * write_response
 *		libcurl write callback: append to the transfer's malloc'd buffer.
 *		Returning less than asked aborts the transfer (CURLE_WRITE_ERROR).
 */
static size_t
write_response(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpTransfer *t = (HttpTransfer *) userdata;
	size_t		n = size * nmemb;

	if (t->len + n > MAX_RESPONSE_BYTES)
	{
		t->too_large = true;
		return 0;
	}
	if (t->len + n + 1 > t->cap)
	{
		size_t		cap = Max(Max(t->cap * 2, t->len + n + 1), 4096);
		char	   *grown = realloc(t->buf, cap);

		if (grown == NULL)
			return 0;
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, ptr, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return n;
}

/*
 * watch_socket
 *		libcurl socket callback: remember which sockets to wait on, for
 *		what.  Runs inside libcurl: no palloc, no ereport.
 */
static int
watch_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	HttpClient *client = (HttpClient *) userp;
	int			i;

	(void) easy;
	(void) socketp;
	for (i = 0; i < client->n_sockets; i++)
		if (client->sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < client->n_sockets)
			client->sockets[i] = client->sockets[--client->n_sockets];
		return 0;
	}
	if (i == client->n_sockets)
	{
		if (client->n_sockets == client->max_sockets)
		{
			int			max = Max(16, client->max_sockets * 2);
			WatchedSocket *grown = realloc(client->sockets,
										   sizeof(WatchedSocket) * max);

			if (grown == NULL)
				return -1;
			client->sockets = grown;
			client->max_sockets = max;
		}
		client->n_sockets++;
	}
	client->sockets[i].fd = fd;
	client->sockets[i].what = what;
	return 0;
}

/*
 * set_timer
 *		libcurl timer callback: call us back (CURL_SOCKET_TIMEOUT) after
 *		timeout_ms; -1 cancels.
 */
static int
set_timer(CURLM *multi, long timeout_ms, void *userp)
{
	HttpClient *client = (HttpClient *) userp;

	(void) multi;
	client->timer_ms = timeout_ms;
	client->timer_set_at = GetCurrentTimestamp();
	return 0;
}

/*
 * append_header
 *		curl_slist_append that reports failure properly.
 */
static struct curl_slist *
append_header(struct curl_slist *list, const char *header)
{
	struct curl_slist *grown = curl_slist_append(list, header);

	if (grown == NULL)
	{
		wipe_headers(list);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building HTTP headers")));
	}
	return grown;
}

/*
 * wipe_headers
 *		Overwrite (they may hold a token) and free a header list.
 */
static void
wipe_headers(struct curl_slist *headers)
{
	struct curl_slist *h;

	for (h = headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

/*
 * HttpStart
 *		Prepare a transfer for the request and add it to the multi handle.
 *		Results will be allocated in the current memory context, which must
 *		live until the request is taken back; so must request->body.
 */
void
HttpStart(HttpClient *client, HttpRequest *request)
{
	const Endpoint *e = request->endpoint;
	HttpTransfer *t;
	CURL	   *easy;
	bool		has_body_method;
	CURLMcode	mrc;

	request->cxt = CurrentMemoryContext;
	request->token_serial = (e != NULL && e->token != NULL) ? e->token_serial : 0;
	request->status = 0;
	request->error = NULL;
	request->response = NULL;
	request->response_len = 0;
	request->retry_after_ms = 0;

	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	t = MemoryContextAllocZero(client->cxt, sizeof(HttpTransfer));
	t->easy = easy;
	t->request = request;
	request->transfer = t;
	dlist_push_tail(&client->transfers, &t->node);
	client->in_flight++;

	PG_TRY();
	{
		char		header[256];

		curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
		curl_easy_setopt(easy, CURLOPT_URL, request->url);
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method);
		curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) tenancy_connect_timeout_ms);
		curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) tenancy_request_timeout_ms);
		curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);

		/*
		 * Waiting for a connection that may multiplex pays only where ALPN
		 * says so at the handshake.  Over plain HTTP, libcurl learns that a
		 * connection does not multiplex from its first response: a request
		 * that hangs would hold up every later one to the same host.
		 */
		if (strncmp(request->url, "https:", 6) == 0)
			curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
		curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(easy, CURLOPT_USERAGENT, "tenancy/" TENANCY_VERSION);
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_response);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
		curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
		if (strcmp(request->method, "HEAD") == 0)
			curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);

		has_body_method = strcmp(request->method, "POST") == 0 ||
			strcmp(request->method, "PUT") == 0 ||
			strcmp(request->method, "PATCH") == 0;
		if (request->body != NULL || has_body_method)
		{
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
							 (curl_off_t) (request->body ? request->body_len : 0));
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS,
							 request->body ? request->body : "");
		}

		if (e != NULL)
		{
			if (e->ca_file)
				curl_easy_setopt(easy, CURLOPT_CAINFO, e->ca_file);
			if (e->client_cert)
				curl_easy_setopt(easy, CURLOPT_SSLCERT, e->client_cert);
			if (e->client_key)
				curl_easy_setopt(easy, CURLOPT_SSLKEY, e->client_key);
		}

		t->headers = append_header(t->headers, "Accept: application/json");
		t->headers = append_header(t->headers, "Expect:");
		if (request->content_type)
		{
			snprintf(header, sizeof(header), "Content-Type: %s", request->content_type);
			t->headers = append_header(t->headers, header);
		}
		if (request->idempotency_key)
		{
			snprintf(header, sizeof(header), "Idempotency-Key: %s", request->idempotency_key);
			t->headers = append_header(t->headers, header);
		}
		if (e != NULL && e->token != NULL)
		{
			char	   *auth = psprintf("%s%s", e->token_header, e->token);

			t->headers = append_header(t->headers, auth);
			explicit_bzero(auth, strlen(auth));
			pfree(auth);
		}
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);

		mrc = curl_multi_add_handle(client->multi, easy);
		if (mrc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not start an HTTP request"),
					 errdetail_internal("%s", curl_multi_strerror(mrc))));
	}
	PG_CATCH();
	{
		release_transfer(client, t);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * HttpInFlight
 *		Requests started and not yet completed.
 */
int
HttpInFlight(HttpClient *client)
{
	return client->in_flight;
}

/*
 * release_transfer
 *		Detach and free everything a transfer holds.
 */
static void
release_transfer(HttpClient *client, HttpTransfer *t)
{
	curl_multi_remove_handle(client->multi, t->easy);
	curl_easy_cleanup(t->easy);
	wipe_headers(t->headers);
	free(t->buf);
	if (t->request)
		t->request->transfer = NULL;
	dlist_delete(&t->node);
	client->in_flight--;
	pfree(t);
}

/*
 * socket_action
 *		Let libcurl act on a socket event (or on its timer: CURL_SOCKET_TIMEOUT).
 */
static void
socket_action(HttpClient *client, curl_socket_t fd, int mask)
{
	int			running;

	if (fd == CURL_SOCKET_TIMEOUT)
		client->timer_ms = -1;
	curl_multi_socket_action(client->multi, fd, mask, &running);
}

/*
 * collect_completed
 *		Move finished transfers' results into their requests.
 */
static void
collect_completed(HttpClient *client)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		HttpTransfer *t;
		HttpRequest *req;
		MemoryContext old;
		long		status = 0;
		curl_off_t	retry_after = 0;
		CURLcode	rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		req = t->request;
		rc = msg->data.result;

		old = MemoryContextSwitchTo(req->cxt);
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after);
		req->status = (int) status;
		req->retry_after_ms = (int64) retry_after * 1000;
		if (rc != CURLE_OK)
		{
			if (t->too_large)
				req->error = psprintf("response larger than %d bytes", MAX_RESPONSE_BYTES);
			else
				req->error = psprintf("%s%s%s", curl_easy_strerror(rc),
									  t->errbuf[0] ? ": " : "", t->errbuf);
			req->error_permanent = (rc == CURLE_URL_MALFORMAT ||
									rc == CURLE_UNSUPPORTED_PROTOCOL);
		}
		req->response = palloc(t->len + 1);
		if (t->len > 0)
			memcpy(req->response, t->buf, t->len);
		req->response[t->len] = '\0';
		req->response_len = t->len;
		if (req->body)
			explicit_bzero(req->body, req->body_len);
		if (req->awaited)
		{
			/* a task's request (HttpPerform): the task takes it */
			req->awaited = false;
			StepTaskWake(req);
		}
		else
			client->completed = lappend(client->completed, req);
		MemoryContextSwitchTo(old);

		release_transfer(client, t);
	}
}

/*
 * wait_for_events
 *		Wait on the latch and curl's sockets; returns the events that fired.
 *		The wait event set is freed even if an error interrupts us.
 */
static int
wait_for_events(HttpClient *client, long wait_ms, WaitEvent *events)
{
	WaitEventSet *set;
	volatile int nevents = 0;
	int			i;

#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(NULL, client->n_sockets + 2);
#else
	set = CreateWaitEventSet(CurrentMemoryContext, client->n_sockets + 2);
#endif
	PG_TRY();
	{
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (i = 0; i < client->n_sockets; i++)
		{
			int			ev = 0;

			if (client->sockets[i].what & CURL_POLL_IN)
				ev |= WL_SOCKET_READABLE;
			if (client->sockets[i].what & CURL_POLL_OUT)
				ev |= WL_SOCKET_WRITEABLE;
			if (ev != 0)
				AddWaitEventToSet(set, ev, client->sockets[i].fd, NULL, NULL);
		}
		nevents = WaitEventSetWait(set, wait_ms, events, client->n_sockets + 2,
								   PG_WAIT_EXTENSION);
	}
	PG_FINALLY();
	{
		FreeWaitEventSet(set);
	}
	PG_END_TRY();
	return nevents;
}

/*
 * HttpWait
 *		Wait for socket activity, curl's timer, the latch or timeout_ms,
 *		whichever comes first, and let libcurl act on it.
 */
void
HttpWait(HttpClient *client, long timeout_ms, bool *latch_set)
{
	WaitEvent  *events;
	int			nevents;
	int			i;
	long		wait_ms = timeout_ms;

	if (client->timer_ms >= 0)
	{
		long		elapsed = (long) ((GetCurrentTimestamp() - client->timer_set_at) / 1000);
		long		remaining = Max(client->timer_ms - elapsed, 0);

		wait_ms = Min(wait_ms, remaining);
		if (remaining == 0)
		{
			socket_action(client, CURL_SOCKET_TIMEOUT, 0);
			collect_completed(client);
			return;
		}
	}

	events = palloc(sizeof(WaitEvent) * (client->n_sockets + 2));
	nevents = wait_for_events(client, wait_ms, events);

	for (i = 0; i < nevents; i++)
	{
		int			mask = 0;

		if (events[i].events & WL_LATCH_SET)
		{
			*latch_set = true;
			continue;
		}
		if (events[i].events & WL_SOCKET_READABLE)
			mask |= CURL_CSELECT_IN;
		if (events[i].events & WL_SOCKET_WRITEABLE)
			mask |= CURL_CSELECT_OUT;
		if (mask != 0)
			socket_action(client, events[i].fd, mask);
	}
	pfree(events);

	/* curl's timer may have run out while we waited */
	if (client->timer_ms >= 0 &&
		(GetCurrentTimestamp() - client->timer_set_at) / 1000 >= client->timer_ms)
		socket_action(client, CURL_SOCKET_TIMEOUT, 0);

	collect_completed(client);
}

/*
 * HttpTakeCompleted
 *		Hand back the requests that completed; the list is the caller's.
 */
List *
HttpTakeCompleted(HttpClient *client)
{
	List	   *done = NIL;
	ListCell   *lc;

	foreach(lc, client->completed)
		done = lappend(done, lfirst(lc));
	list_free(client->completed);
	client->completed = NIL;
	return done;
}

/*
 * HttpAbortAll
 *		Abort every request in flight and forget completed ones (after an
 *		error, or at exit): nothing libcurl allocated survives.
 */
void
HttpAbortAll(HttpClient *client)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &client->transfers)
	{
		HttpTransfer *t = dlist_container(HttpTransfer, node, iter.cur);

		release_transfer(client, t);
	}
	list_free(client->completed);
	client->completed = NIL;
}

/*
 * HttpSetBackgroundClient
 *		The client whose requests HttpPerform drives while it waits (the
 *		worker's), or NULL.
 */
void
HttpSetBackgroundClient(HttpClient *client)
{
	background_client = client;
}

/*
 * perform_in_task
 *		HttpPerform in a step task: the request joins the worker's others on
 *		the background client (its limits hold for it too), and the task
 *		waits until collect_completed wakes it.  The loop drives it meanwhile.
 *		If the wait fails, the transfer is released: the request's memory
 *		goes with the task's step.
 */
static void
perform_in_task(HttpRequest *request)
{
	if (IsTransactionOrTransactionBlock())
		elog(ERROR, "a step handler made a request with a transaction open");
	request->awaited = true;
	HttpStart(background_client, request);
	PG_TRY();
	{
		while (request->awaited)
			StepTaskWaitFor(request);
	}
	PG_CATCH();
	{
		if (request->awaited && request->transfer != NULL)
			release_transfer(background_client, request->transfer);
		request->awaited = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * HttpPerform
 *		Run one request to completion (for step handlers that make several
 *		requests in sequence), on a client of its own, still answering
 *		interrupts.  A latch set meanwhile is set again at the end so that
 *		the worker's main loop sees the wake-up too.
 */
void
HttpPerform(HttpRequest *request)
{
	static HttpClient *sync_client = NULL;
	volatile bool woken = false;

	Assert(sync_client == NULL || sync_client != background_client);

	if (StepTaskActive() && background_client != NULL)
	{
		perform_in_task(request);
		return;
	}

	if (sync_client == NULL)
		sync_client = HttpClientCreate();
	else
		HttpClientReconfigure(sync_client);

	HttpStart(sync_client, request);
	PG_TRY();
	{
		List	   *done = NIL;

		while (done == NIL)
		{
			bool		latch_set = false;

			/*
			 * The worker's own requests are driven meanwhile (a look at their
			 * sockets every SYNC_POLL_MS at most), so that one slow or hung
			 * request of a handler does not hold up the requests already in
			 * flight.
			 */
			if (background_client != NULL && background_client->in_flight > 0)
			{
				HttpWait(sync_client, SYNC_POLL_MS, &latch_set);
				HttpWait(background_client, 0, &latch_set);
			}
			else
				HttpWait(sync_client, 1000, &latch_set);
			if (latch_set)
			{
				ResetLatch(MyLatch);
				woken = true;
				CHECK_FOR_INTERRUPTS();
			}
			done = HttpTakeCompleted(sync_client);
		}
		list_free(done);
	}
	PG_CATCH();
	{
		HttpAbortAll(sync_client);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (woken)
		SetLatch(MyLatch);
}
