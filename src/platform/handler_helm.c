/*-------------------------------------------------------------------------
 *
 * handler_helm.c
 *	  tenancy.helm_mode = 'cli': install or upgrade a tenant's Airflow with
 *	  `helm upgrade --install`, without blocking the worker.
 *
 * The first attempt of a step writes the values (JSON, which helm reads as
 * YAML) and a kubeconfig to a private temporary directory (mode 0700), and
 * starts helm with fork/exec, its output going to a file there; it returns
 * RETRY.  Later attempts poll the child with waitpid(WNOHANG): still
 * running is RETRY, exit 0 is success, anything else fails the step with
 * the end of helm's output.  The kubeconfig names the token *file*
 * (tenancy.kubernetes_token_file), so no credential is written or passed
 * on a command line.  A worker restart forgets its children; the next
 * attempt simply runs helm again (upgrade --install is idempotent).
 *
 * The child gets stdin, stdout and stderr only: every other descriptor of
 * the worker (relation files, HTTP and libpq sockets, the postmaster-death
 * pipe) is closed before exec.  Every pass of the worker reaps children
 * that ended (HelmReapChildren), so none stays a zombie while its step is
 * not polled: a run whose step never comes back for it (cancelled,
 * failed, or polled after the deadline) is freed with its directory, a
 * child past the deadline gets SIGTERM, then SIGKILL after a grace period,
 * and never is waited for with a blocking call.  The directories are
 * /tmp/tenancy-helm-<port>-*, so that the worker's first pass removes what
 * a crashed worker of this server left behind, and only that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "postmaster/postmaster.h"
#include "utils/timestamp.h"

#include "endpoint.h"
#include "handler.h"
#include "platform.h"
#include "tenancy.h"

#define MAX_HELM_RUNS 16
#define OUTPUT_TAIL 300
#define HELM_DIR_PARENT "/tmp"

/* SIGTERM, then this long until SIGKILL */
#define HELM_KILL_GRACE_MS 5000
/* a child that ended is kept this long for its step to come back for it */
#define HELM_UNCLAIMED_MS 60000

/* A helm child of this worker; the slot is in use while pid > 0 */
typedef struct HelmRun
{
	char		key[64];		/* the step's idempotency key; "" once the
								 * step gave the run up */
	pid_t		pid;
	bool		exited;			/* reaped: status holds its wait status */
	int			status;
	TimestampTz started_at;
	TimestampTz exited_at;
	TimestampTz term_sent_at;	/* 0 until SIGTERM was sent */
	char		dir[MAXPGPATH];
} HelmRun;

static HelmRun runs[MAX_HELM_RUNS];

/*
 * find_run
 *		The child started for this step, or NULL.
 */
static HelmRun *
find_run(const char *key)
{
	for (int i = 0; i < MAX_HELM_RUNS; i++)
		if (runs[i].pid > 0 && runs[i].key[0] != '\0' &&
			strcmp(runs[i].key, key) == 0)
			return &runs[i];
	return NULL;
}

/*
 * helm_dir_prefix
 *		The name prefix of this server's helm directories in
 *		HELM_DIR_PARENT (the port tells the servers of a host apart).
 */
static char *
helm_dir_prefix(void)
{
	return psprintf("tenancy-helm-%d-", PostPortNumber);
}

/*
 * write_json_file
 *		Write a JSON document to path (mode 0600).
 */
static void
write_json_file(const char *path, json_t *doc)
{
	int			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	if (fd < 0 || json_dumpfd(doc, fd, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
	{
		if (fd >= 0)
			close(fd);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write \"%s\": %m", path)));
	}
	close(fd);
}

/*
 * write_kubeconfig
 *		A kubeconfig for the Kubernetes endpoint: server, CA file, token
 *		file.  False when no endpoint is configured.
 */
static bool
write_kubeconfig(const char *path)
{
	Endpoint   *e = EndpointFor("kubernetes");
	json_t	   *cluster;
	json_t	   *user;
	json_t	   *doc;

	if (e == NULL || e->base_url == NULL)
		return false;
	cluster = json_pack("{s:s}", "server", e->base_url);
	if (e->ca_file)
		json_object_set_new(cluster, "certificate-authority", json_string(e->ca_file));
	user = json_pack("{}");		/* not json_object(): the server exports a
								 * function of that name */
	if (e->token_file)
		json_object_set_new(user, "tokenFile", json_string(e->token_file));
	if (e->client_cert)
		json_object_set_new(user, "client-certificate", json_string(e->client_cert));
	if (e->client_key)
		json_object_set_new(user, "client-key", json_string(e->client_key));
	doc = json_pack("{s:s, s:s, s:[{s:s, s:o}], s:[{s:s, s:o}], s:[{s:s, s:{s:s, s:s}}], s:s}",
					"apiVersion", "v1", "kind", "Config",
					"clusters", "name", "tenancy", "cluster", cluster,
					"users", "name", "tenancy", "user", user,
					"contexts", "name", "tenancy", "context", "cluster", "tenancy", "user", "tenancy",
					"current-context", "tenancy");
	if (doc == NULL)
		elog(ERROR, "out of memory building a kubeconfig");
	PG_TRY();
	{
		write_json_file(path, doc);
	}
	PG_FINALLY();
	{
		json_decref(doc);
	}
	PG_END_TRY();
	return true;
}

/*
 * remove_dir
 *		Remove the run's directory and the files in it.
 */
static void
remove_dir(const char *dir)
{
	static const char *const files[] = {"values.json", "kubeconfig", "output.log"};

	for (int i = 0; i < (int) lengthof(files); i++)
		(void) unlink(psprintf("%s/%s", dir, files[i]));
	(void) rmdir(dir);
}

/*
 * free_run
 *		Remove the run's directory and free its slot.
 */
static void
free_run(HelmRun *run)
{
	if (run->dir[0])
		remove_dir(run->dir);
	memset(run, 0, sizeof(HelmRun));
}

/*
 * remove_stale_dirs
 *		Remove the helm directories of this server that a previous worker
 *		left behind (it crashed, or was stopped while helm ran).
 */
static void
remove_stale_dirs(void)
{
	char	   *prefix = helm_dir_prefix();
	DIR		   *dir = opendir(HELM_DIR_PARENT);
	struct dirent *entry;

	if (dir == NULL)
		return;
	while ((entry = readdir(dir)) != NULL)
	{
		char	   *path;
		struct stat st;

		if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
			continue;
		path = psprintf("%s/%s", HELM_DIR_PARENT, entry->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
			remove_dir(path);
		pfree(path);
	}
	closedir(dir);
}

/*
 * HelmReapChildren
 *		Called by the worker every pass; see the file header.  The first
 *		call removes stale directories.
 */
void
HelmReapChildren(void)
{
	static bool cleaned = false;
	TimestampTz now = 0;

	if (!cleaned)
	{
		remove_stale_dirs();
		cleaned = true;
	}
	for (int i = 0; i < MAX_HELM_RUNS; i++)
	{
		HelmRun    *run = &runs[i];

		if (run->pid <= 0)
			continue;
		if (now == 0)
			now = GetCurrentTimestamp();
		if (!run->exited)
		{
			int			status;
			pid_t		done = waitpid(run->pid, &status, WNOHANG);

			if (done == run->pid || (done < 0 && errno == ECHILD))
			{
				run->exited = true;
				run->status = done == run->pid ? status : -1;
				run->exited_at = now;
			}
		}
		if (!run->exited)
		{
			int64		deadline_ms = (int64) tenancy_release_ready_timeout_s * 1000 +
			HELM_KILL_GRACE_MS;

			if (run->term_sent_at == 0 &&
				TimestampDifferenceExceeds(run->started_at, now, (int) Min(deadline_ms, INT_MAX)))
			{
				(void) kill(run->pid, SIGTERM);
				run->term_sent_at = now;
			}
			else if (run->term_sent_at != 0 &&
					 TimestampDifferenceExceeds(run->term_sent_at, now, HELM_KILL_GRACE_MS))
				(void) kill(run->pid, SIGKILL);
		}
		else if (run->key[0] == '\0' ||
				 TimestampDifferenceExceeds(run->exited_at, now, HELM_UNCLAIMED_MS))
			free_run(run);
	}
}

/*
 * output_tail
 *		The last bytes of helm's output, printable ASCII only.
 */
static char *
output_tail(const char *dir)
{
	char		buf[OUTPUT_TAIL + 1];
	int			fd = open(psprintf("%s/output.log", dir), O_RDONLY);
	off_t		size;
	ssize_t		n = 0;

	if (fd < 0)
		return pstrdup("(no output)");
	size = lseek(fd, 0, SEEK_END);
	if (size > OUTPUT_TAIL)
		(void) lseek(fd, size - OUTPUT_TAIL, SEEK_SET);
	else
		(void) lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, OUTPUT_TAIL);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char) buf[i] < 0x20 || (unsigned char) buf[i] > 0x7e)
			buf[i] = ' ';
	return pstrdup(buf);
}

/*
 * start_helm
 *		Write the files and fork/exec helm; returns the child's pid.
 */
static pid_t
start_helm(const StepContext *context, HelmRun *run)
{
	const char *release = HandlerArgString(context, "release");
	const char *ns = HandlerArgString(context, "namespace");
	const char *chart = HandlerArgString(context, "chart");
	const char *repository = HandlerArgString(context, "repository");
	const char *version = HandlerArgString(context, "version");
	json_t	   *values = json_object_get(context->request, "values");
	char	   *values_path;
	char	   *kubeconfig;
	char	   *output;
	pid_t		pid;

	if (!HandlerValidName(release) || !HandlerValidName(ns) || !HandlerValidName(chart) ||
		!HandlerValidName(version) || !json_is_object(values) ||
		strncmp(repository, "http", 4) != 0 || strpbrk(repository, " \t\r\n") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: invalid helm release arguments")));

	snprintf(run->dir, sizeof(run->dir), "%s/%sXXXXXX", HELM_DIR_PARENT,
			 helm_dir_prefix());
	if (mkdtemp(run->dir) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a temporary directory for helm: %m")));
	values_path = psprintf("%s/values.json", run->dir);
	kubeconfig = psprintf("%s/kubeconfig", run->dir);
	output = psprintf("%s/output.log", run->dir);
	write_json_file(values_path, values);
	if (!write_kubeconfig(kubeconfig))
		kubeconfig = NULL;

	pid = fork();
	if (pid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not fork helm: %m")));
	if (pid == 0)
	{
		char	   *argv[20];
		int			n = 0;
		int			fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int			null = open("/dev/null", O_RDONLY);

		if (fd >= 0)
		{
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		/* nothing of the worker's but stdin, stdout and stderr */
		closefrom(STDERR_FILENO + 1);
		argv[n++] = tenancy_helm_binary;
		argv[n++] = "upgrade";
		argv[n++] = "--install";
		argv[n++] = "--repo";
		argv[n++] = (char *) repository;
		argv[n++] = "--version";
		argv[n++] = (char *) version;
		argv[n++] = "--namespace";
		argv[n++] = (char *) ns;
		argv[n++] = "--values";
		argv[n++] = values_path;
		if (kubeconfig)
		{
			argv[n++] = "--kubeconfig";
			argv[n++] = kubeconfig;
		}
		/* the names last, after "--": never read as options */
		argv[n++] = "--";
		argv[n++] = (char *) release;
		argv[n++] = (char *) chart;
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * HandleHelmRelease
 *		The helm_release handler (see the file header).
 */
void
HandleHelmRelease(const StepContext *context, StepOutcome *outcome)
{
	HelmRun    *volatile run = find_run(context->idempotency_key);
	int64		timeout_ms = (int64) tenancy_release_ready_timeout_s * 1000;
	int			status;
	pid_t		done;

	memset(outcome, 0, sizeof(StepOutcome));
	if (run == NULL)
	{
		for (int i = 0; i < MAX_HELM_RUNS && run == NULL; i++)
			if (runs[i].pid == 0)
				run = &runs[i];
		if (run == NULL)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "%d helm runs in progress already", MAX_HELM_RUNS);
			return;
		}
		memset(run, 0, sizeof(HelmRun));
		PG_TRY();
		{
			run->pid = start_helm(context, run);
		}
		PG_CATCH();
		{
			free_run(run);
			PG_RE_THROW();
		}
		PG_END_TRY();
		strlcpy(run->key, context->idempotency_key, sizeof(run->key));
		run->started_at = GetCurrentTimestamp();
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "helm upgrade --install running (pid %d)",
					   (int) run->pid);
		outcome->retry_after_ms = 500;
		outcome->poll = true;
		return;
	}

	if (run->exited)
	{
		/* the worker's pass reaped it already */
		done = run->pid;
		status = run->status;
	}
	else
		done = waitpid(run->pid, &status, WNOHANG);
	if (done == 0)
	{
		int64		age = HandlerStepAgeMs(context);

		if (age < timeout_ms)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "helm upgrade --install running (pid %d)",
						   (int) run->pid);
			outcome->retry_after_ms = HandlerPollDelayMs(age, timeout_ms - age);
			outcome->poll = true;
			return;
		}

		/*
		 * No blocking wait: SIGTERM now; HelmReapChildren sends SIGKILL after
		 * the grace period, reaps it and frees the slot.
		 */
		(void) kill(run->pid, SIGTERM);
		run->term_sent_at = GetCurrentTimestamp();
		run->key[0] = '\0';
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "helm did not finish within tenancy.release_ready_timeout: %s",
					   output_tail(run->dir));
		return;
	}
	else if (done == run->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
	else if (done == run->pid && WIFEXITED(status) && WEXITSTATUS(status) == 127)
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "could not run \"%s\" (tenancy.helm_binary): %s",
					   tenancy_helm_binary, output_tail(run->dir));
	else
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED, "helm failed (%s %d): %s",
					   done == run->pid && WIFEXITED(status) ? "exit status" : "signal",
					   done == run->pid && WIFEXITED(status) ? WEXITSTATUS(status)
					   : (done == run->pid && WIFSIGNALED(status) ? WTERMSIG(status) : -1),
					   output_tail(run->dir));
	free_run(run);
}
