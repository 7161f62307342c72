/*-------------------------------------------------------------------------
 *
 * spec_warehouse.c
 *	  Validation of a tenant spec's warehouse section: the database and its
 *	  identifiers, bronze (ingestion) jobs per source kind, dbt silver and
 *	  gold layers, data-quality checks.
 *
 * Every name that ends up in an SQL identifier must be one that needs no
 * quoting (quoting still happens downstream; this is the second fence),
 * and short enough for the longest name derived from it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "commands/dbcommands.h"
#include "miscadmin.h"

#include "spec.h"
#include "spec_validate.h"

/* The longest schema suffix: <prefix>gold_reporting must fit in 63 bytes. */
#define LONGEST_SCHEMA_SUFFIX "gold_reporting"

static const SpecRange non_negative_int = {true, 0, false, 3650};
static const SpecRange port_range = {true, 1, false, 65535};
static const SpecRange page_size_range = {true, 1, false, 100000};
static const SpecRange fraction = {false, 0, false, 1};
static const SpecRange positive_hours = {false, 0, true, HUGE_VAL};

/*
 * is_host
 *		A DNS name (letters of either case, digits, '-', dots) or an IPv4 or
 *		IPv6 address: something libpq's host= takes without quoting.
 */
static bool
is_host(const char *s)
{
	size_t		len = strlen(s);
	size_t		i;

	if (len == 0 || len > 253)
		return false;
	if (strchr(s, ':'))
		return strspn(s, "0123456789abcdefABCDEF:.") == len;
	if (s[0] == '-' || s[0] == '.' || s[len - 1] == '-' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!(isalnum((unsigned char) s[i]) || s[i] == '-' ||
			  (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

/*
 * check_database
 *		warehouse.database: host, port, database name, schema prefix.
 */
static void
check_database(SpecValidator *v, JsonbContainer *database)
{
	static const char *const known[] = {"host", "port", "name", "schema_prefix", NULL};
	JsonbValue	value;
	char	   *host = NULL;
	char	   *name;
	char	   *prefix;

	SpecCheckKeys(v, database, known);

	/* an empty host means the platform database, as an absent one does */
	if (SpecGet(database, "host", &value) &&
		!(value.type == jbvString && value.val.string.len == 0))
	{
		host = SpecString(v, database, "host", false, 253);
		if (host && !is_host(host))
			SpecReportAt(v, "host", "%s is not a valid host name or address",
						 SpecQuote(host));
	}
	SpecNumber(v, database, "port", false, &port_range, NULL);

	name = SpecString(v, database, "name", host != NULL, SPEC_MAX_STRING);
	if (name && !SpecIsIdentifier(name))
		SpecReportAt(v, "name",
					 "%s is not a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most %d bytes)",
					 SpecQuote(name), SPEC_IDENTIFIER_MAX);
	else if (name)
	{
		bool		local = host == NULL &&
		strcmp(name, get_database_name(MyDatabaseId)) == 0;
		const char *problem = SpecDatabaseProblem(name, local);

		if (problem)
			SpecReportAt(v, "name", "%s %s", SpecQuote(name), problem);
	}

	prefix = SpecString(v, database, "schema_prefix", false, SPEC_MAX_STRING);
	if (prefix && SpecSchemaPrefixProblem(prefix))
		SpecReportAt(v, "schema_prefix", "%s is not a valid schema prefix: %s",
					 SpecQuote(prefix), SpecSchemaPrefixProblem(prefix));
}

/*
 * SpecDatabaseProblem
 *		Why database cannot hold a tenant's warehouse, or NULL; see spec.h.
 *
 * A tenant's roles, schemas and grants in template1 would be copied into
 * every database created afterwards (template0 accepts no connections at
 * all); postgres is where every role may connect by default and where the
 * worker runs CREATE DATABASE from, and tenancy revokes CONNECT from
 * PUBLIC on a tenant's database.
 */
const char *
SpecDatabaseProblem(const char *database, bool local)
{
	if (strcmp(database, "template0") == 0 || strcmp(database, "template1") == 0)
		return "is a template database: every new database of the server is copied from it";
	if (strcmp(database, "postgres") == 0 && !local)
		return "is the maintenance database of the server, open to every role: name a database of the tenant's own";
	return NULL;
}

/*
 * SpecSchemaPrefixProblem
 *		Why prefix would not give plain schema names that fit, or NULL.
 *
 * A prefix starts with a letter (a leading underscore invites collisions
 * with tooling schemas) and never with "pg_", which PostgreSQL reserves for
 * system schemas.
 */
const char *
SpecSchemaPrefixProblem(const char *prefix)
{
	if (!SpecIsIdentifier(prefix) || prefix[0] == '_' ||
		strlen(prefix) + strlen(LONGEST_SCHEMA_SUFFIX) > SPEC_IDENTIFIER_MAX)
		return psprintf("[a-z][a-z0-9_]*, at most %d bytes so that \"<prefix>%s\" fits in %d",
						(int) (SPEC_IDENTIFIER_MAX - strlen(LONGEST_SCHEMA_SUFFIX)),
						LONGEST_SCHEMA_SUFFIX, SPEC_IDENTIFIER_MAX);
	if (strncmp(prefix, "pg_", 3) == 0)
		return "\"pg_\" is reserved for system schemas";
	return NULL;
}

/*
 * is_salesforce_name
 *		A Salesforce object or field API name: Account, Custom__c.
 */
static bool
is_salesforce_name(const char *s)
{
	size_t		len = strlen(s);

	return len > 0 && len <= 80 && isalpha((unsigned char) s[0]) &&
		strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

/*
 * is_qualified_table
 *		table or schema.table, each a lower-case identifier.
 */
static bool
is_qualified_table(const char *s)
{
	const char *dot = strchr(s, '.');
	char	   *schema;

	if (dot == NULL)
		return SpecIsIdentifier(s);
	schema = pnstrdup(s, dot - s);
	return SpecIsIdentifier(schema) && SpecIsIdentifier(dot + 1);
}

/*
 * check_salesforce_config
 *		Salesforce: object, fields, where.
 */
static void
check_salesforce_config(SpecValidator *v, JsonbContainer *config)
{
	static const char *const known[] = {"object", "fields", "where", NULL};
	char	   *object;

	SpecCheckKeys(v, config, known);
	object = SpecString(v, config, "object", true, 80);
	if (object && !is_salesforce_name(object))
		SpecReportAt(v, "object", "%s is not a Salesforce object name", SpecQuote(object));
	SpecStringList(v, config, "fields", false, is_salesforce_name, "Salesforce field name");
	SpecString(v, config, "where", false, 4000);
}

/*
 * check_postgres_config
 *		PostgreSQL source: table, incremental column, lookback in days.
 */
static void
check_postgres_config(SpecValidator *v, JsonbContainer *config)
{
	static const char *const known[] = {"table", "incremental_column",
	"lookback_days", NULL};
	char	   *table;
	char	   *column;
	JsonbValue	value;

	SpecCheckKeys(v, config, known);
	table = SpecString(v, config, "table", true, 127);
	if (table && !is_qualified_table(table))
		SpecReportAt(v, "table", "%s is not a table name (table or schema.table, lower-case identifiers)",
					 SpecQuote(table));
	column = SpecString(v, config, "incremental_column", false, SPEC_IDENTIFIER_MAX);
	if (column && !SpecIsIdentifier(column))
		SpecReportAt(v, "incremental_column", "%s is not a lower-case SQL identifier",
					 SpecQuote(column));
	if (SpecNumber(v, config, "lookback_days", false, &non_negative_int, NULL) &&
		!SpecGet(config, "incremental_column", &value))
		SpecReportAt(v, "lookback_days", "needs incremental_column");
}

/*
 * check_api_config
 *		HTTP API source: endpoint, pagination, page size.
 */
static void
check_api_config(SpecValidator *v, JsonbContainer *config)
{
	static const char *const known[] = {"endpoint", "pagination", "page_size", NULL};
	char	   *endpoint;

	SpecCheckKeys(v, config, known);
	endpoint = SpecString(v, config, "endpoint", true, 2048);
	if (endpoint && !SpecIsHttpsUrl(endpoint) &&
		(endpoint[0] != '/' || strpbrk(endpoint, " \t\r\n\"'\\<>") != NULL))
		SpecReportAt(v, "endpoint", "%s is not a path (\"/api/v2/items\") or an https URL",
					 SpecQuote(endpoint));
	SpecBool(v, config, "pagination", false);
	SpecNumber(v, config, "page_size", false, &page_size_range, NULL);
}

/* Source kinds a bronze job may read, and the config each takes. */
static const char *const source_kinds[] = {"salesforce", "postgres_operational",
"api_catalog", NULL};
static const SpecObjectCheck source_configs[] = {check_salesforce_config,
check_postgres_config, check_api_config};

/*
 * check_bronze_job
 *		One bronze job: name, source kind, schedule, config for that kind.
 */
static void
check_bronze_job(SpecValidator *v, JsonbValue *element, int index)
{
	static const char *const known[] = {"name", "source", "schedule", "config", NULL};
	JsonbContainer *job = SpecElementObject(v, element);
	char	   *name;
	int			kind;

	(void) index;
	if (job == NULL)
		return;
	SpecCheckKeys(v, job, known);
	name = SpecString(v, job, "name", true, SPEC_IDENTIFIER_MAX);
	if (name && !SpecIsIdentifier(name))
		SpecReportAt(v, "name", "%s is not a lower-case identifier ([a-z_][a-z0-9_]*)",
					 SpecQuote(name));
	kind = SpecEnum(v, job, "source", true, source_kinds);
	SpecCheckSchedule(v, job, "schedule", true);
	if (kind >= 0)
		SpecVisitObject(v, job, "config", true, source_configs[kind]);
	else
		SpecVisitObject(v, job, "config", false, NULL);
}

/* A bronze job's name and where it stands, for the duplicate check. */
typedef struct NamedJob
{
	char	   *name;
	int			index;
} NamedJob;

/*
 * compare_named_jobs
 *		qsort: by name, then position.
 */
static int
compare_named_jobs(const void *a, const void *b)
{
	const NamedJob *x = a;
	const NamedJob *y = b;
	int			cmp = strcmp(x->name, y->name);

	return cmp != 0 ? cmp : x->index - y->index;
}

/*
 * check_unique_job_names
 *		Bronze job names name DAG tasks: each once.  Sorted, so that a
 *		hostile list of many jobs costs n log n.
 */
static void
check_unique_job_names(SpecValidator *v, JsonbContainer *warehouse)
{
	JsonbValue	jobs;
	JsonbContainer *list;
	NamedJob   *named;
	int			count = 0;
	int			first = 0;
	int			mark;
	int			i;

	if (!SpecGet(warehouse, "bronze_jobs", &jobs) ||
		(list = SpecValueArray(&jobs)) == NULL)
		return;
	named = palloc(sizeof(NamedJob) * (JsonContainerSize(list) + 1));
	for (i = 0; i < (int) JsonContainerSize(list); i++)
	{
		JsonbValue *job = getIthJsonbValueFromContainer(list, i);
		JsonbValue	name;

		if (SpecValueObject(job) && SpecGet(SpecValueObject(job), "name", &name) &&
			(named[count].name = SpecValueText(&name)) != NULL)
			named[count++].index = i;
	}
	qsort(named, count, sizeof(NamedJob), compare_named_jobs);

	mark = SpecPathPushKey(v, "bronze_jobs");
	for (i = 1; i < count; i++)
	{
		int			element_mark;

		if (strcmp(named[i].name, named[first].name) != 0)
		{
			first = i;
			continue;
		}
		element_mark = SpecPathPushIndex(v, named[i].index);
		SpecReportAt(v, "name", "duplicate job name %s (also bronze_jobs[%d])",
					 SpecQuote(named[i].name), named[first].index);
		SpecPathPop(v, element_mark);
	}
	SpecPathPop(v, mark);
}

/*
 * is_model_name
 *		A dbt model name: a lower-case identifier.
 */
static bool
is_model_name(const char *s)
{
	return SpecIsIdentifier(s);
}

/*
 * check_dbt_layer
 *		dbt.silver or dbt.gold: enabled, the models, a schedule when enabled.
 */
static void
check_dbt_layer(SpecValidator *v, JsonbContainer *layer, bool gold)
{
	static const char *const silver_keys[] = {"enabled", "models", "schedule", NULL};
	static const char *const gold_keys[] = {"enabled", "dimensions", "facts", "schedule", NULL};
	int			enabled;

	SpecCheckKeys(v, layer, gold ? gold_keys : silver_keys);
	enabled = SpecBool(v, layer, "enabled", false);
	if (gold)
	{
		SpecStringList(v, layer, "dimensions", false, is_model_name, "dbt model name");
		SpecStringList(v, layer, "facts", false, is_model_name, "dbt model name");
	}
	else
		SpecStringList(v, layer, "models", false, is_model_name, "dbt model name");
	SpecCheckSchedule(v, layer, "schedule", enabled == 1);
}

/*
 * check_dbt_silver
 *		dbt.silver.
 */
static void
check_dbt_silver(SpecValidator *v, JsonbContainer *layer)
{
	check_dbt_layer(v, layer, false);
}

/*
 * check_dbt_gold
 *		dbt.gold.
 */
static void
check_dbt_gold(SpecValidator *v, JsonbContainer *layer)
{
	check_dbt_layer(v, layer, true);
}

/*
 * check_dbt
 *		warehouse.dbt: the silver and gold layers.
 */
static void
check_dbt(SpecValidator *v, JsonbContainer *dbt)
{
	static const char *const known[] = {"silver", "gold", NULL};

	SpecCheckKeys(v, dbt, known);
	SpecVisitObject(v, dbt, "silver", false, check_dbt_silver);
	SpecVisitObject(v, dbt, "gold", false, check_dbt_gold);
}

/*
 * is_table_glob
 *		A table pattern: identifier characters, '.', '*' and '?'.
 */
static bool
is_table_glob(const char *s)
{
	size_t		len = strlen(s);

	return len > 0 && len <= 127 &&
		strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.*?") == len;
}

static const char *const check_types[] = {"row_count", "freshness", "schema_drift", NULL};

/*
 * check_quality_check
 *		One data-quality check: type, tables, the setting its type takes,
 *		action.
 */
static void
check_quality_check(SpecValidator *v, JsonbValue *element, int index)
{
	static const char *const known[] = {"type", "tables", "threshold",
	"max_age_hours", "action", NULL};
	static const char *const actions[] = {"alert", "fail", "ignore", NULL};
	JsonbContainer *check = SpecElementObject(v, element);
	JsonbValue	value;
	int			type;

	(void) index;
	if (check == NULL)
		return;
	SpecCheckKeys(v, check, known);
	type = SpecEnum(v, check, "type", true, check_types);
	SpecStringList(v, check, "tables", true, is_table_glob,
				   "table pattern (lower-case names, '.', '*', '?')");
	SpecEnum(v, check, "action", false, actions);

	if (type == 0)
		SpecNumber(v, check, "threshold", true, &fraction, NULL);
	else if (type > 0 && SpecGet(check, "threshold", &value))
		SpecReportAt(v, "threshold", "applies to row_count checks only");
	if (type == 1)
		SpecNumber(v, check, "max_age_hours", true, &positive_hours, NULL);
	else if (type >= 0 && SpecGet(check, "max_age_hours", &value))
		SpecReportAt(v, "max_age_hours", "applies to freshness checks only");
}

/*
 * check_data_quality
 *		warehouse.data_quality: enabled, checks.
 */
static void
check_data_quality(SpecValidator *v, JsonbContainer *quality)
{
	static const char *const known[] = {"enabled", "checks", NULL};

	SpecCheckKeys(v, quality, known);
	SpecBool(v, quality, "enabled", false);
	SpecVisitArray(v, quality, "checks", false, check_quality_check);
}

/*
 * SpecValidateWarehouse
 *		The warehouse section.
 */
void
SpecValidateWarehouse(SpecValidator *v, JsonbContainer *warehouse)
{
	static const char *const known[] = {"name", "database", "bronze_jobs", "dbt",
	"data_quality", NULL};
	char	   *name;

	SpecCheckKeys(v, warehouse, known);
	name = SpecString(v, warehouse, "name", false, SPEC_IDENTIFIER_MAX);
	if (name && !SpecIsIdentifier(name))
		SpecReportAt(v, "name", "%s is not a lower-case identifier ([a-z_][a-z0-9_]*)",
					 SpecQuote(name));
	else if (name && (strcmp(name, "airflow_db") == 0 ||
					  strcmp(name, "kubernetes_default") == 0))
		SpecReportAt(v, "name",
					 "%s is a connection id Airflow already uses (%s); the warehouse connection would replace it",
					 SpecQuote(name),
					 strcmp(name, "airflow_db") == 0
					 ? "the chart's metadata database, AIRFLOW_CONN_AIRFLOW_DB"
					 : "the Kubernetes connection of every generated task's KubernetesPodOperator");
	SpecVisitObject(v, warehouse, "database", false, check_database);
	SpecVisitArray(v, warehouse, "bronze_jobs", false, check_bronze_job);
	check_unique_job_names(v, warehouse);
	SpecVisitObject(v, warehouse, "dbt", false, check_dbt);
	SpecVisitObject(v, warehouse, "data_quality", false, check_data_quality);
}
