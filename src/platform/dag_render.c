/*-------------------------------------------------------------------------
 *
 * dag_render.c
 *	  The tenant's Airflow DAGs, generated from the spec, and the ConfigMap
 *	  (tenant-dags) that carries them into the release.
 *
 * One DAG per distinct schedule (the source document ran every job
 * @daily): the bronze jobs of that schedule as KubernetesPodOperator tasks
 * in parallel, then dbt silver, then dbt gold when they share it, then the
 * data-quality checks in the DAG of the last transformation.  Every task
 * gets WAREHOUSE_CONN_ID, the Airflow connection id of the warehouse
 * (warehouse.name), which the release defines (AIRFLOW_CONN_<ID>).
 *
 * Every value from the spec reaches the Python source through one function,
 * AppendPythonString, as a single-quoted literal in which everything but
 * printable ASCII is escaped: no spec string can end the literal, start a
 * new line or a comment.  Task ids are derived names restricted to
 * [A-Za-z0-9_].  The output depends only on the spec, in its order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "platform.h"
#include "spec.h"
#include "tenancy.h"

/* Longest task id Airflow accepts is 250; stay well below */
#define TASK_ID_MAX 100

/* A task of a DAG being generated */
typedef struct DagTask
{
	char	   *task_id;
	char	   *kind;			/* "bronze", "silver", "gold", "quality" */
	StringInfoData code;		/* the operator call */
} DagTask;

/* A DAG being generated: one schedule */
typedef struct Dag
{
	char	   *schedule;
	List	   *tasks;			/* of DagTask */
} Dag;

/*
 * AppendPythonString
 *		s as a Python 3 single-quoted str literal: printable ASCII as is
 *		(with \ and ' escaped), everything else as \n, \t, \r, \xNN, \uNNNN
 *		or \UNNNNNNNN, so the literal is always one line of ASCII.
 */
void
AppendPythonString(StringInfo buf, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	appendStringInfoChar(buf, '\'');
	while (*p)
	{
		int			len = pg_utf_mblen(p);

		if (*p == '\\' || *p == '\'')
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, (char) *p++);
		}
		else if (*p >= 0x20 && *p < 0x7f)
			appendStringInfoChar(buf, (char) *p++);
		else if (*p == '\n' || *p == '\t' || *p == '\r')
		{
			appendStringInfoString(buf, *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : "\\r");
			p++;
		}
		else if (*p < 0x80 || len < 2 || !pg_utf8_islegal(p, len) ||
				 strnlen((const char *) p, len) < (size_t) len)
			appendStringInfo(buf, "\\x%02x", *p++);
		else
		{
			pg_wchar	c = utf8_to_unicode(p);

			if (c <= 0xFFFF)
				appendStringInfo(buf, "\\u%04x", (unsigned int) c);
			else
				appendStringInfo(buf, "\\U%08x", (unsigned int) c);
			p += len;
		}
	}
	appendStringInfoChar(buf, '\'');
}

/*
 * python_list
 *		A Python list literal of strings.
 */
static void
python_list(StringInfo buf, List *strings)
{
	ListCell   *lc;

	appendStringInfoChar(buf, '[');
	foreach(lc, strings)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		AppendPythonString(buf, lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * task_id
 *		prefix_<name> restricted to [A-Za-z0-9_], unique among used (a
 *		suffix _2, _3... on a clash).
 */
static char *
task_id(const char *prefix, const char *name, List **used)
{
	StringInfoData buf;
	char	   *candidate;
	int			n = 1;
	ListCell   *lc;
	bool		clash;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s_", prefix);
	for (const char *c = name; *c && buf.len < TASK_ID_MAX; c++)
		appendStringInfoChar(&buf, (isascii((unsigned char) *c) &&
									isalnum((unsigned char) *c)) ? *c : '_');
	candidate = buf.data;
	do
	{
		clash = false;
		foreach(lc, *used)
			clash |= strcmp(lfirst(lc), candidate) == 0;
		if (clash)
			candidate = psprintf("%s_%d", buf.data, ++n);
	} while (clash);
	*used = lappend(*used, candidate);
	return candidate;
}

/*
 * dag_for
 *		The DAG of a schedule, created (in order of first use) if new.
 */
static Dag *
dag_for(List **dags, const char *schedule)
{
	ListCell   *lc;
	Dag		   *dag;

	foreach(lc, *dags)
	{
		dag = lfirst(lc);
		if (strcmp(dag->schedule, schedule) == 0)
			return dag;
	}
	dag = palloc0(sizeof(Dag));
	dag->schedule = pstrdup(schedule);
	*dags = lappend(*dags, dag);
	return dag;
}

/*
 * pod_task
 *		A KubernetesPodOperator call; arguments is a list of strings.
 */
static DagTask *
pod_task(const TenantModel *m, const char *kind, char *id, const char *image,
		 List *cmds, List *arguments, const char *extra_secret)
{
	DagTask    *t = palloc0(sizeof(DagTask));
	StringInfo	c = &t->code;
	char	   *pod_name = pstrdup(id);

	for (char *p = pod_name; *p; p++)
		*p = (*p == '_') ? '-' : tolower((unsigned char) *p);

	t->task_id = id;
	t->kind = pstrdup(kind);
	initStringInfo(c);
	appendStringInfo(c, "    %s = KubernetesPodOperator(\n        task_id=", id);
	AppendPythonString(c, id);
	appendStringInfoString(c, ",\n        name=");
	AppendPythonString(c, pod_name);
	appendStringInfoString(c, ",\n        namespace=NAMESPACE,\n        image=");
	AppendPythonString(c, image);
	appendStringInfoString(c, ",\n        cmds=");
	python_list(c, cmds);
	appendStringInfoString(c, ",\n        arguments=");
	python_list(c, arguments);
	appendStringInfoString(c, ",\n        env_from=ENV_FROM");
	if (extra_secret != NULL)
	{
		appendStringInfoString(c, " + [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=");
		AppendPythonString(c, extra_secret);
		appendStringInfoString(c, "))]");
	}
	appendStringInfoString(c, ",\n        env_vars={'WAREHOUSE_CONN_ID': WAREHOUSE_CONN_ID}"
						   ",\n        service_account_name=SERVICE_ACCOUNT,\n"
						   "        on_finish_action='delete_pod',\n    )\n");
	(void) m;
	return t;
}

/*
 * image
 *		An image of tenancy.image_registry.
 */
static char *
image(const char *path)
{
	return psprintf("%s/%s:latest", tenancy_image_registry ? tenancy_image_registry : "registry.localhost",
					path);
}

/*
 * add_bronze_tasks
 *		One extraction task per bronze job, in the DAG of its schedule.
 */
static void
add_bronze_tasks(const TenantModel *m, Jsonb *spec, List **dags, List **used)
{
	ListCell   *lc;

	foreach(lc, SpecArray(spec, "warehouse.bronze_jobs"))
	{
		Jsonb	   *job = lfirst(lc);
		char	   *name = SpecText(job, "name", "job");
		char	   *source = SpecText(job, "source", "unknown");
		char	   *schedule = SpecText(job, "schedule", "@daily");
		char	   *config = SpecJson(job, "config");
		List	   *args = list_make4("--job", name, "--source", source);
		char	   *secret = NULL;

		args = lappend(lappend(args, "--config"), config ? config : "{}");
		if (strncmp(source, "api_", 4) == 0)
		{
			secret = psprintf("api-%s", source);
			for (char *p = secret; *p; p++)
				if (*p == '_')
					*p = '-';
		}
		dag_for(dags, schedule)->tasks =
			lappend(dag_for(dags, schedule)->tasks,
					pod_task(m, "bronze", task_id("extract", name, used),
							 image(psprintf("etl/%s-runner", source)),
							 list_make3("python", "-m", "datakit.extract"),
							 args, secret));
	}
}

/*
 * add_dbt_task
 *		dbt run of the silver or gold layer (its models, or its tag), in the
 *		DAG of its schedule; NULL when the layer is not enabled.
 */
static Dag *
add_dbt_task(const TenantModel *m, Jsonb *spec, const char *layer, List **dags,
			 List **used)
{
	char	   *base = psprintf("warehouse.dbt.%s", layer);
	List	   *args = list_make1("--select");
	ListCell   *lc;
	Dag		   *dag;
	int			models = 0;

	if (!SpecFlag(spec, psprintf("%s.enabled", base), false))
		return NULL;
	foreach(lc, list_concat(list_concat(SpecArray(spec, psprintf("%s.models", base)),
										SpecArray(spec, psprintf("%s.dimensions", base))),
							SpecArray(spec, psprintf("%s.facts", base))))
	{
		char	   *model = SpecScalarText(lfirst(lc));

		if (model != NULL)
		{
			args = lappend(args, model);
			models++;
		}
	}
	if (models == 0)
		args = lappend(args, psprintf("tag:%s", layer));
	args = lappend(lappend(args, "--profiles-dir"), "/profiles");
	dag = dag_for(dags, SpecText(spec, psprintf("%s.schedule", base), "@daily"));
	dag->tasks = lappend(dag->tasks,
						 pod_task(m, layer, task_id("transform", layer, used),
								  image("analytics/dbt-runner"),
								  list_make2("dbt", "run"), args, NULL));
	return dag;
}

/*
 * add_quality_tasks
 *		One task per data-quality check, in dag.
 */
static void
add_quality_tasks(const TenantModel *m, Jsonb *spec, Dag *dag, List **used)
{
	ListCell   *lc;

	if (!SpecFlag(spec, "warehouse.data_quality.enabled", false))
		return;
	foreach(lc, SpecArray(spec, "warehouse.data_quality.checks"))
	{
		Jsonb	   *check = lfirst(lc);
		char	   *type = SpecText(check, "type", "check");
		char	   *options = JsonbToCString(NULL, &check->root, 0);

		dag->tasks = lappend(dag->tasks,
							 pod_task(m, "quality", task_id("quality", type, used),
									  image("analytics/quality-runner"),
									  list_make3("python", "-m", "datakit.quality"),
									  list_make4("--check", type, "--options", options),
									  NULL));
	}
}

/*
 * task_group
 *		The task ids of one kind in a DAG, as a Python list expression, or
 *		NULL when there is none.
 */
static char *
task_group(Dag *dag, const char *kind)
{
	StringInfoData buf;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, dag->tasks)
	{
		DagTask    *t = lfirst(lc);

		if (strcmp(t->kind, kind) != 0)
			continue;
		appendStringInfo(&buf, "%s%s", n++ > 0 ? ", " : "", t->task_id);
	}
	appendStringInfoChar(&buf, ']');
	return n > 0 ? buf.data : NULL;
}

/*
 * render_dag
 *		The Python source of one DAG.
 */
static char *
render_dag(const TenantModel *m, Dag *dag, const char *dag_id)
{
	static const char *const order[] = {"bronze", "silver", "gold", "quality"};
	StringInfoData s;
	ListCell   *lc;
	char	   *previous = NULL;

	initStringInfo(&s);
	appendStringInfoString(&s,
						   "# Generated by the tenancy extension from the tenant's spec; do not edit.\n"
						   "from datetime import datetime, timedelta\n\n"
						   "from airflow import DAG\n"
						   "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n"
						   "from kubernetes.client import models as k8s\n\n");
	appendStringInfoString(&s, "NAMESPACE = ");
	AppendPythonString(&s, m->namespace);
	appendStringInfoString(&s, "\nSERVICE_ACCOUNT = ");
	AppendPythonString(&s, PLATFORM_SERVICE_ACCOUNT);
	appendStringInfoString(&s, "\nENV_FROM = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=");
	AppendPythonString(&s, PLATFORM_DB_SECRET);
	appendStringInfoString(&s, "))]\n# the Airflow connection of the warehouse (warehouse.name)\nWAREHOUSE_CONN_ID = ");
	AppendPythonString(&s, AirflowWarehouseConnId(m));
	appendStringInfoString(&s, "\n\ndefault_args = {\n    'owner': ");
	AppendPythonString(&s, m->name);
	appendStringInfoString(&s, ",\n    'depends_on_past': False,\n    'retries': 2,\n"
						   "    'retry_delay': timedelta(minutes=5),\n}\n\nwith DAG(\n    dag_id=");
	AppendPythonString(&s, dag_id);
	appendStringInfoString(&s, ",\n    description=");
	AppendPythonString(&s, psprintf("Warehouse pipeline of %s (%s)", m->display_name, dag->schedule));
	appendStringInfoString(&s, ",\n    schedule=");
	AppendPythonString(&s, dag->schedule);
	appendStringInfoString(&s, ",\n    start_date=datetime(2024, 1, 1),\n    catchup=False,\n"
						   "    default_args=default_args,\n    tags=");
	python_list(&s, list_make3(m->name, "tenancy", m->environment));
	appendStringInfoString(&s, ",\n) as dag:\n");
	foreach(lc, dag->tasks)
		appendStringInfoString(&s, ((DagTask *) lfirst(lc))->code.data);

	for (int i = 0; i < (int) lengthof(order); i++)
	{
		char	   *group = task_group(dag, order[i]);

		if (group == NULL)
			continue;
		if (previous != NULL)
			appendStringInfo(&s, "    %s >> %s\n", previous, group);
		previous = group;
	}
	return s.data;
}

/*
 * DagFiles
 *		The generated DAG files of the tenant, in a stable order.
 */
List *
DagFiles(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	List	   *dags = NIL;
	List	   *used = NIL;
	List	   *files = NIL;
	Dag		   *last;
	Dag		   *gold;
	ListCell   *lc;

	add_bronze_tasks(m, spec, &dags, &used);
	last = add_dbt_task(m, spec, "silver", &dags, &used);
	gold = add_dbt_task(m, spec, "gold", &dags, &used);
	if (gold != NULL)
		last = gold;
	if (last == NULL && dags != NIL)
		last = llast(dags);
	if (last != NULL)
		add_quality_tasks(m, spec, last, &used);

	foreach(lc, dags)
	{
		DagFile    *f = palloc(sizeof(DagFile));
		char	   *dag_id = psprintf("%s_pipeline_%d", m->slug,
									  foreach_current_index(lc) + 1);

		f->name = psprintf("%s.py", dag_id);
		f->source = render_dag(m, lfirst(lc), dag_id);
		files = lappend(files, f);
	}
	return files;
}

/*
 * DagConfigMap
 *		The ConfigMap tenant-dags: one key per DAG file.
 */
char *
DagConfigMap(const TenantModel *m)
{
	JsonWriter	w;
	ListCell   *lc;

	K8sObjectStart(&w, m, "v1", "ConfigMap", PLATFORM_DAG_CONFIGMAP);
	JwObjectStart(&w, "data");
	foreach(lc, DagFiles(m))
	{
		DagFile    *f = lfirst(lc);

		JwString(&w, f->name, f->source);
	}
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}
