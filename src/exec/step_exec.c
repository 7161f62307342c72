/*-------------------------------------------------------------------------
 *
 * step_exec.c
 *	  Execute one claimed step: decode its request, dispatch on its target
 *	  or handler, and classify the result.
 *
 * The request of an HTTP step (targets kubernetes, vault, grafana, airflow):
 *	 {"method": "PATCH", "path": "/api/v1/namespaces/x",
 *	  "query": {"fieldManager": "tenancy"},
 *	  "content_type": "application/apply-patch+yaml",
 *	  "body": {...}, "ok_status": [409]}
 * A step of target database runs request.sql locally in a transaction of
 * its own (compensations of the caller's SQL); other steps name a handler.
 *
 * Decoding is strict: a malformed request fails its step (and only it) with
 * a message saying what is wrong.  Error texts never include request bodies,
 * and response bodies are cut to a few hundred bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "endpoint.h"
#include "handler.h"
#include "remote.h"
#include "step_exec.h"
#include "step_task.h"
#include "tenancy.h"

#define MAX_HANDLERS 64
#define MAX_PATH_BYTES 4096

typedef struct RegisteredHandler
{
	const char *name;
	StepHandlerFunction function;
} RegisteredHandler;

static RegisteredHandler handlers[MAX_HANDLERS];
static int	n_handlers = 0;

#define MAX_HOUSEKEEPING 8
static void (*housekeeping[MAX_HOUSEKEEPING]) (void);
static int	n_housekeeping = 0;

static bool start_step_here(HttpClient *client, RunningStep *running,
							StepOutcome *outcome);
static void step_task_main(void *arg);
static bool runs_in_task(const ClaimedStep *step);
static bool dispatch_step(HttpClient *client, RunningStep *running,
						  json_t *root, StepOutcome *outcome);
static bool build_http_request(RunningStep *running, json_t *root,
							   const Endpoint *endpoint, StepOutcome *outcome);
static void run_local_sql(const char *sql);
static StepHandlerFunction find_handler(const char *name);
static char *idempotency_key(const ClaimedStep *step);
static bool valid_path(const char *path);
static bool valid_query(const char *query);
static void set_request_body(HttpRequest *request, json_t *body);
static bool valid_token_text(const char *s, size_t max_len);

/*
 * RegisterStepHandler
 *		Make a handler callable by name from step requests.
 */
void
RegisterStepHandler(const char *name, StepHandlerFunction function)
{
	if (find_handler(name) != NULL)
		elog(ERROR, "step handler \"%s\" registered twice", name);
	if (n_handlers >= MAX_HANDLERS)
		elog(ERROR, "too many step handlers");
	handlers[n_handlers].name = name;
	handlers[n_handlers].function = function;
	n_handlers++;
}

/*
 * RegisterStepHousekeeping
 *		Have the worker call function at every turn of its loop.
 */
void
RegisterStepHousekeeping(void (*function) (void))
{
	if (n_housekeeping >= MAX_HOUSEKEEPING)
		elog(ERROR, "too many step housekeeping functions");
	housekeeping[n_housekeeping++] = function;
}

/*
 * StepHousekeeping
 *		Call the functions handlers registered for the worker's every turn.
 */
void
StepHousekeeping(void)
{
	int			i;

	for (i = 0; i < n_housekeeping; i++)
		housekeeping[i] ();
}

/*
 * RegisterBuiltinStepHandlers
 *		Every handler of this build.  The Platform steps add theirs here.
 */
void
RegisterBuiltinStepHandlers(void)
{
	RegisterPlatformStepHandlers();
	RegisterRemoteStepHandlers();
}

/*
 * find_handler
 *		The handler registered under name, or NULL.
 */
static StepHandlerFunction
find_handler(const char *name)
{
	int			i;

	for (i = 0; i < n_handlers; i++)
		if (strcmp(handlers[i].name, name) == 0)
			return handlers[i].function;
	return NULL;
}

/*
 * idempotency_key
 *		The stable key of a step: (operation, ordinal), plus the phase.
 */
static char *
idempotency_key(const ClaimedStep *step)
{
	return psprintf("tenancy-" INT64_FORMAT "-%d%s", step->operation_id,
					step->ordinal, step->compensation ? "-undo" : "");
}

/*
 * StepErrorIsTransient
 *		Errors that say nothing about the step, only about the moment: the
 *		transaction lost a lock conflict (a deadlock, which the worker's
 *		short deadlock_timeout makes it the one to detect, or a
 *		serialization failure) and is worth another try.
 */
bool
StepErrorIsTransient(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * StepStart
 *		Start a claimed step: here and now when it cannot wait
 *		(runs_in_task), else in a task of its own, which ends at once
 *		unless it has a request or a Vault login to wait for.
 */
StepProgress
StepStart(HttpClient *client, RunningStep *running, StepOutcome *outcome)
{
	running->client = client;
	if (!runs_in_task(running->step))
		return start_step_here(client, running, outcome) ? STEP_IN_FLIGHT : STEP_DONE;

	running->task = StepTaskStart(step_task_main, running);
	if (running->task != NULL)
		return STEP_WAITING;
	*outcome = running->outcome;
	return running->in_flight ? STEP_IN_FLIGHT : STEP_DONE;
}

/*
 * runs_in_task
 *		Whether a step may have to wait: a handler (or the helm and remote
 *		SQL executors), or a request whose token comes from a login.  Local
 *		SQL and a plain request to another endpoint never wait: they start
 *		in the loop, without a task's context switches.  The look for a
 *		"handler" key in the request's text may also find one in a body:
 *		that costs a task, nothing more.
 */
static bool
runs_in_task(const ClaimedStep *step)
{
	const char *target = step->target;

	if (target == NULL || step->request == NULL || step->malformed != NULL)
		return step->malformed == NULL;
	if (strcmp(target, "database") == 0)
		return false;
	if (strcmp(target, "kubernetes") != 0 && strcmp(target, "grafana") != 0 &&
		strcmp(target, "vault") != 0)
		return true;
	return EndpointUsesLogin(target) || strstr(step->request, "\"handler\"") != NULL;
}

/*
 * StepResume
 *		Continue a step whose task is ready, until it waits again or ends.
 */
StepProgress
StepResume(RunningStep *running, StepOutcome *outcome)
{
	Assert(running->task != NULL);
	if (!StepTaskResume(running->task))
		return STEP_WAITING;
	running->task = NULL;
	*outcome = running->outcome;
	return running->in_flight ? STEP_IN_FLIGHT : STEP_DONE;
}

/*
 * step_task_main
 *		What a step's task runs.
 */
static void
step_task_main(void *arg)
{
	RunningStep *running = (RunningStep *) arg;

	running->in_flight = start_step_here(running->client, running,
										 &running->outcome);
}

/*
 * start_step_here
 *		Decode and start a claimed step.  Any error raised while doing so
 *		fails this step alone: it is caught here, never reaching the worker
 *		loop, so one bad row cannot make the worker crash-loop.  A lost lock
 *		conflict (error_is_transient) is retried instead.  True when the
 *		step's own request (running->request) was started on client.
 */
static bool
start_step_here(HttpClient *client, RunningStep *running, StepOutcome *outcome)
{
	ClaimedStep *step = running->step;
	json_t	   *volatile root = NULL;
	volatile bool started = false;

	memset(outcome, 0, sizeof(StepOutcome));
	if (step->malformed != NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED, "malformed step: %s",
					   step->malformed);
		return false;
	}

	PG_TRY();
	{
		json_error_t jerr;

		root = json_loads(step->request ? step->request : "", 0, &jerr);
		if (root == NULL)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: %s", jerr.text);
		else if (!json_is_object(root))
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: not a JSON object");
		else
			started = dispatch_step(client, running, root, outcome);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(running->cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (IsTransactionOrTransactionBlock())
			AbortCurrentTransaction();
		MemoryContextSwitchTo(running->cxt);
		memset(outcome, 0, sizeof(StepOutcome));
		StepSetOutcome(outcome,
					   StepErrorIsTransient(edata->sqlerrcode)
					   ? STEP_OUTCOME_RETRY : STEP_OUTCOME_FAILED,
					   "%s", edata->message);
		started = false;
	}
	PG_END_TRY();

	if (root != NULL)
		json_decref(root);
	return started;
}

/*
 * dispatch_step
 *		Run a decoded step by handler or target.
 */
static bool
dispatch_step(HttpClient *client, RunningStep *running, json_t *root,
			  StepOutcome *outcome)
{
	ClaimedStep *step = running->step;
	json_t	   *handler = json_object_get(root, "handler");
	Endpoint   *endpoint;

	if (handler != NULL)
	{
		StepHandlerFunction function;
		StepContext context;

		if (!json_is_string(handler))
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: \"handler\" must be a string");
			return false;
		}
		function = find_handler(json_string_value(handler));
		if (function == NULL)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "unknown step handler \"%.64s\"", json_string_value(handler));
			return false;
		}
		context.step = step;
		context.request = root;
		context.idempotency_key = idempotency_key(step);
		function(&context, outcome);
		return false;
	}

	if (strcmp(step->target, "database") == 0)
	{
		json_t	   *sql = json_object_get(root, "sql");

		if (!json_is_string(sql))
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: a database step needs \"sql\", a string");
			return false;
		}
		run_local_sql(json_string_value(sql));
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		return false;
	}

	if (strcmp(step->target, "remote_database") == 0 ||
		strcmp(step->target, "helm") == 0)
	{
		StepHandlerFunction function = find_handler(step->target);
		StepContext context;

		if (function == NULL)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "no executor for %s steps in this build: the step must name a handler",
						   step->target);
			return false;
		}
		context.step = step;
		context.request = root;
		context.idempotency_key = idempotency_key(step);
		function(&context, outcome);
		return false;
	}

	endpoint = EndpointFor(step->target);
	if (endpoint == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED,
					   "no endpoint configured for %s", step->target);
		return false;
	}
	if (endpoint->not_configured != NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED, "%s", endpoint->not_configured);
		return false;
	}
	if (endpoint->needs_token && endpoint->token == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "%s",
					   endpoint->token_error ? endpoint->token_error : "no token");
		return false;
	}
	if (!build_http_request(running, root, endpoint, outcome))
		return false;
	HttpStart(client, &running->request);
	return true;
}

/*
 * valid_path
 *		A path of a request: absolute, characters RFC 3986 allows in a path,
 *		no dot segments (no escaping the API prefix).
 */
static bool
valid_path(const char *path)
{
	const char *p;

	if (path[0] != '/' || strlen(path) > MAX_PATH_BYTES)
		return false;
	for (p = path; *p; p++)
	{
		if (!(isalnum((unsigned char) *p) || strchr("-._~!$&'()*+,;=:@/%", *p)))
			return false;
	}
	if (strstr(path, "/../") || strstr(path, "/./") ||
		(strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0) ||
		(strlen(path) >= 2 && strcmp(path + strlen(path) - 2, "/.") == 0))
		return false;
	return true;
}

/*
 * valid_query
 *		An encoded query string: characters RFC 3986 allows in a query, no
 *		fragment.
 */
static bool
valid_query(const char *query)
{
	size_t		len = strlen(query);

	if (len == 0 || len > MAX_PATH_BYTES)
		return false;
	for (const char *p = query; *p; p++)
	{
		if (!(isalnum((unsigned char) *p) || strchr("-._~!$&'()*+,;=:@/?%", *p)))
			return false;
	}
	return true;
}

/*
 * valid_token_text
 *		Printable ASCII without CR/LF, short: safe inside an HTTP header.
 */
static bool
valid_token_text(const char *s, size_t max_len)
{
	const char *p;

	if (s[0] == '\0' || strlen(s) > max_len)
		return false;
	for (p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	return true;
}

/*
 * build_http_request
 *		Fill running->request from the step's request object.  False, with
 *		*outcome set, when the object is malformed.
 */
static bool
build_http_request(RunningStep *running, json_t *root, const Endpoint *endpoint,
				   StepOutcome *outcome)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
	static const char *const known_keys[] = {"method", "path", "query",
	"content_type", "body", "ok_status"};
	HttpRequest *req = &running->request;
	const char *key;
	json_t	   *value;
	json_t	   *method = json_object_get(root, "method");
	json_t	   *path = json_object_get(root, "path");
	json_t	   *query = json_object_get(root, "query");
	json_t	   *content_type = json_object_get(root, "content_type");
	json_t	   *body = json_object_get(root, "body");
	json_t	   *ok_status = json_object_get(root, "ok_status");
	StringInfoData url;
	size_t		i;

	json_object_foreach(root, key, value)
	{
		bool		known = false;

		for (i = 0; i < lengthof(known_keys); i++)
			known |= strcmp(key, known_keys[i]) == 0;
		if (!known)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: unknown key \"%.64s\"", key);
			return false;
		}
	}

	memset(req, 0, sizeof(HttpRequest));
	if (!json_is_string(method))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "malformed step request: \"method\" must be a string");
		return false;
	}
	for (i = 0; i < lengthof(methods); i++)
		if (strcmp(json_string_value(method), methods[i]) == 0)
			req->method = methods[i];
	if (req->method == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "malformed step request: unsupported method \"%.16s\"",
					   json_string_value(method));
		return false;
	}
	if (!json_is_string(path) || !valid_path(json_string_value(path)))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "malformed step request: \"path\" must be an absolute URL path without dot segments, query or fragment");
		return false;
	}

	initStringInfo(&url);
	appendStringInfo(&url, "%s%s", endpoint->base_url, json_string_value(path));
	if (query != NULL)
	{
		char		sep = '?';

		if (!json_is_object(query))
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: \"query\" must be an object");
			return false;
		}
		json_object_foreach(query, key, value)
		{
			char	   *text;
			char	   *escaped;

			if (json_is_string(value))
				text = pstrdup(json_string_value(value));

			else if (json_is_integer(value))
				text = psprintf("%" JSON_INTEGER_FORMAT, json_integer_value(value));

			else if (json_is_boolean(value))
				text = pstrdup(json_is_true(value) ? "true" : "false");

			else
			{
				StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
							   "malformed step request: query parameter \"%.64s\" must be a string, integer or boolean",
							   key);
				return false;
			}
			escaped = curl_easy_escape(NULL, key, 0);
			if (escaped == NULL)
				elog(ERROR, "out of memory escaping a query parameter");
			appendStringInfo(&url, "%c%s=", sep, escaped);
			curl_free(escaped);
			escaped = curl_easy_escape(NULL, text, 0);
			if (escaped == NULL)
				elog(ERROR, "out of memory escaping a query parameter");
			appendStringInfoString(&url, escaped);
			curl_free(escaped);
			sep = '&';
		}
	}
	req->url = url.data;

	if (content_type != NULL)
	{
		if (!json_is_string(content_type) ||
			!valid_token_text(json_string_value(content_type), 100))
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: \"content_type\" must be a short printable string");
			return false;
		}
		req->content_type = pstrdup(json_string_value(content_type));
	}
	if (body != NULL && !json_is_null(body))
	{
		set_request_body(req, body);
		if (req->content_type == NULL)
			req->content_type = "application/json";
	}
	if (ok_status != NULL)
	{
		if (!json_is_array(ok_status))
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: \"ok_status\" must be an array of HTTP statuses");
			return false;
		}
		running->n_ok_status = json_array_size(ok_status);
		running->ok_status = palloc0(sizeof(int) * Max(running->n_ok_status, 1));
		json_array_foreach(ok_status, i, value)
		{
			if (!json_is_integer(value) || json_integer_value(value) < 100 ||
				json_integer_value(value) > 599)
			{
				StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
							   "malformed step request: \"ok_status\" must be an array of HTTP statuses");
				return false;
			}
			running->ok_status[i] = (int) json_integer_value(value);
		}
	}

	req->endpoint = endpoint;
	req->idempotency_key = idempotency_key(running->step);
	req->caller_data = running;
	return true;
}

/*
 * set_request_body
 *		Serialize a JSON body into palloc'd memory; jansson's malloc'd copy
 *		is wiped (a handler's body may hold a secret) and freed.
 */
static void
set_request_body(HttpRequest *request, json_t *body)
{
	char	   *dumped = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

	if (dumped == NULL)
		elog(ERROR, "could not serialize a request body");
	request->body_len = strlen(dumped);
	request->body = palloc(request->body_len + 1);
	memcpy(request->body, dumped, request->body_len + 1);
	explicit_bzero(dumped, request->body_len);
	free(dumped);
}

/*
 * run_local_sql
 *		Run a database step's SQL in a transaction of its own.  Errors
 *		propagate to StepStart, which aborts the transaction and fails the
 *		step.  The extension is share-locked first, as in the journal's
 *		transactions: the SQL may drop objects that depend on the
 *		extension's (DROP SCHEMA ... CASCADE, DROP OWNED), and DROP EXTENSION
 *		then waits for it instead of deadlocking with it.
 */
static void
run_local_sql(const char *sql)
{
	int			rc;

	WorkerXactBegin(NULL);
	if (!WorkerLockExtension())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"tenancy\" is not installed at version %s: the step's SQL was not run",
						TENANCY_VERSION)));
	/* a tenant's lock on its objects fails the attempt, retried later */
	(void) set_config_option("lock_timeout", psprintf("%d", tenancy_lock_timeout_ms),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	rc = SPI_execute(sql, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	WorkerXactCommit();
}

/*
 * StepOutcomeFromResponse
 *		2xx and the listed statuses succeed; transport errors, 408, 409, 429
 *		and 5xx are worth retrying, and so is a 403 answered to a token from
 *		a Vault login (endpoint.c logs in again); any other status fails for
 *		good.  No answer, 408, 429 and 5xx mean the service cannot serve the
 *		request now (StepOutcome.unreachable): retried without using an
 *		attempt, for up to tenancy.unreachable_timeout.
 */
void
StepOutcomeFromResponse(const HttpRequest *request, const int *ok_status,
						int n_ok_status, StepOutcome *outcome)
{
	const char *path = request->url;
	int			status = request->status;
	int			i;

	memset(outcome, 0, sizeof(StepOutcome));
	if (request->endpoint && request->endpoint->base_url &&
		strncmp(path, request->endpoint->base_url,
				strlen(request->endpoint->base_url)) == 0)
		path += strlen(request->endpoint->base_url);

	if (request->error != NULL)
	{
		StepSetOutcome(outcome,
					   request->error_permanent ? STEP_OUTCOME_FAILED : STEP_OUTCOME_RETRY,
					   "%s %s: %s", request->method, path, request->error);
		/* refused, reset, timed out: an outage to wait out, not an attempt */
		outcome->unreachable = !request->error_permanent;
		return;
	}

	outcome->http_status = status;
	if (status >= 200 && status <= 299)
	{
		EndpointTokenAccepted(request->endpoint, request->token_serial);
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		return;
	}
	for (i = 0; i < n_ok_status; i++)
		if (ok_status[i] == status)
		{
			outcome->kind = STEP_OUTCOME_SUCCEEDED;
			return;
		}

	/* a token from a Vault login may have been revoked: log in again */
	if (status == 403 && request->endpoint != NULL)
	{
		const char *why = EndpointTokenDenied(request->endpoint,
											  request->token_serial);

		if (why != NULL)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "%s %s returned HTTP 403: %s",
						   request->method, path, why);
			outcome->http_status = status;
			return;
		}
	}

	StepSetOutcome(outcome,
				   (status == 408 || status == 409 || status == 429 || status >= 500)
				   ? STEP_OUTCOME_RETRY : STEP_OUTCOME_FAILED,
				   "%s %s returned HTTP %d: %s", request->method, path, status,
				   HttpResponseSummary(request));
	outcome->http_status = status;
	outcome->retry_after_ms = request->retry_after_ms;
	/* the service cannot serve it now: waited out like no answer at all */
	outcome->unreachable = status == 408 || status == 429 || status >= 500;
}

/*
 * StepFinishHttp
 *		The outcome of a step whose request completed.
 */
void
StepFinishHttp(RunningStep *running, StepOutcome *outcome)
{
	StepOutcomeFromResponse(&running->request, running->ok_status,
							running->n_ok_status, outcome);
}

/*
 * StepRecordCreated
 *		For handlers: remember that this attempt created the object at path,
 *		with that uid.  The journal records it in the transaction that
 *		records the attempt's outcome (record_outcomes in journal.c), so
 *		creating an object costs no transaction of its own; an attempt that
 *		ends before that is covered by the object's labels (handler_apply.c).
 *		The step is the handler's to add to here, and only here.
 */
void
StepRecordCreated(const StepContext *context, const char *path, const char *uid)
{
	ClaimedStep *step = unconstify(ClaimedStep *, context->step);
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(step));
	CreatedObject *created = palloc(sizeof(CreatedObject));

	created->path = pstrdup(path);
	created->uid = pstrdup(uid);
	step->created = lappend(step->created, created);
	MemoryContextSwitchTo(old);
}

/*
 * StepHttpCall
 *		For handlers: one request to a target's endpoint, run to completion.
 *		path is relative to the endpoint's base URL; query is a query string
 *		already encoded, without the '?' (or NULL).  The body, which may hold
 *		a secret, is wiped once the request is over, even after an ERROR.
 */
void
StepHttpCall(const StepContext *context, const char *target, const char *method,
			 const char *path, const char *query, json_t *body,
			 const char *content_type, HttpRequest *request, StepOutcome *outcome)
{
	Endpoint   *endpoint = EndpointFor(target);

	memset(request, 0, sizeof(HttpRequest));
	memset(outcome, 0, sizeof(StepOutcome));
	if (endpoint == NULL || endpoint->not_configured != NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED, "%s",
					   endpoint ? endpoint->not_configured : "no endpoint configured");
		return;
	}
	if (endpoint->needs_token && endpoint->token == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "%s",
					   endpoint->token_error ? endpoint->token_error : "no token");
		return;
	}
	if (!valid_path(path))
		elog(ERROR, "invalid request path in a step handler");
	if (query != NULL && !valid_query(query))
		elog(ERROR, "invalid query string in a step handler");

	request->endpoint = endpoint;
	request->method = method;
	request->url = psprintf("%s%s%s%s", endpoint->base_url, path,
							query ? "?" : "", query ? query : "");
	request->idempotency_key = context->idempotency_key;
	if (body != NULL)
	{
		set_request_body(request, body);
		request->content_type = content_type ? content_type : "application/json";
	}
	PG_TRY();
	{
		HttpPerform(request);
	}
	PG_FINALLY();
	{
		if (request->body != NULL)
			explicit_bzero(request->body, request->body_len);
	}
	PG_END_TRY();
	StepOutcomeFromResponse(request, NULL, 0, outcome);
}
