/*-------------------------------------------------------------------------
 *
 * spec_normalize.c
 *	  tenancy.normalize_spec(jsonb): a valid tenant spec with every default
 *	  filled in, which is what tenancy.tenants.spec stores.
 *
 * Defaults (README.md, "Tenant spec", lists them) are applied parents
 * first, each only where the spec has no value (or null).  Sizes that
 * depend on the tier (quotas, connections, storage) are filled only when
 * the whole block is absent, so a default never contradicts a value the
 * user gave (a default limit below the user's request, say).  The result
 * validates as the input did, and normalizing twice changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "spec.h"

PG_FUNCTION_INFO_V1(tenancy_normalize_spec);

/* Defaults that depend on the tier. */
typedef struct TierDefaults
{
	const char *tier;
	const char *quotas;
	int			max_connections;
	int			storage_gb;
} TierDefaults;

static const TierDefaults tier_defaults[] = {
	{"basic",
		"{\"requests\": {\"cpu\": \"2\", \"memory\": \"8Gi\", \"storage\": \"50Gi\", \"pods\": \"20\"},"
		" \"limits\": {\"cpu\": \"4\", \"memory\": \"16Gi\", \"storage\": \"100Gi\"}}",
	10, 20},
	{"standard",
		"{\"requests\": {\"cpu\": \"4\", \"memory\": \"16Gi\", \"storage\": \"100Gi\", \"pods\": \"30\"},"
		" \"limits\": {\"cpu\": \"8\", \"memory\": \"32Gi\", \"storage\": \"250Gi\"}}",
	20, 50},
	{"enterprise",
		"{\"requests\": {\"cpu\": \"8\", \"memory\": \"32Gi\", \"storage\": \"100Gi\", \"pods\": \"50\"},"
		" \"limits\": {\"cpu\": \"16\", \"memory\": \"64Gi\", \"storage\": \"500Gi\"}}",
	50, 100},
};

/* Container resources of the Airflow scheduler and webserver. */
#define DEFAULT_CONTAINER_RESOURCES \
	"{\"requests\": {\"cpu\": \"500m\", \"memory\": \"1Gi\"}," \
	" \"limits\": {\"cpu\": \"1\", \"memory\": \"2Gi\"}}"

static const char *const feature_flags[] = {"advanced_monitoring", "custom_plugins",
	"external_task_sensors", "cross_tenant_dependencies", "data_lineage",
"audit_logging", NULL};

/*
 * lookup
 *		The value at a dotted path ("warehouse.bronze_jobs.0.config"; digits
 *		index arrays), or NULL when absent or null.
 */
static JsonbValue *
lookup(Jsonb *spec, const char *path)
{
	char	   *copy = pstrdup(path);
	char	   *save;
	char	   *step;
	JsonbContainer *container = &spec->root;
	JsonbValue *value = NULL;

	for (step = strtok_r(copy, ".", &save); step; step = strtok_r(NULL, ".", &save))
	{
		if (container == NULL)
			return NULL;
		if (JsonContainerIsArray(container))
			value = getIthJsonbValueFromContainer(container, (uint32) atoi(step));
		else
			value = getKeyJsonValueFromContainer(container, step, strlen(step), NULL);
		if (value == NULL || value->type == jbvNull)
			return NULL;
		container = value->type == jbvBinary ? value->val.binary.data : NULL;
	}
	return value;
}

/*
 * lookup_text
 *		The string at a path, or NULL.
 */
static char *
lookup_text(Jsonb *spec, const char *path)
{
	JsonbValue *value = lookup(spec, path);

	if (value == NULL || value->type != jbvString)
		return NULL;
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/*
 * lookup_int
 *		The number at a path as an int, or fallback.
 */
static int
lookup_int(Jsonb *spec, const char *path, int fallback)
{
	JsonbValue *value = lookup(spec, path);

	if (value == NULL || value->type != jbvNumeric)
		return fallback;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4,
											 NumericGetDatum(value->val.numeric)));
}

/*
 * array_length_at
 *		Elements of the array at a path, 0 when there is none.
 */
static int
array_length_at(Jsonb *spec, const char *path)
{
	JsonbValue *value = lookup(spec, path);

	if (value == NULL || value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data))
		return 0;
	return JsonContainerSize(value->val.binary.data);
}

/*
 * set_default
 *		Set path to the JSON text value unless the spec has a value there.
 *		The parent must exist (defaults are applied parents first).
 */
static Jsonb *
set_default(Jsonb *spec, const char *path, const char *json)
{
	char	   *copy;
	char	   *save;
	char	   *step;
	Datum		steps[16];
	int			count = 0;
	ArrayType  *path_array;
	Datum		value;

	if (lookup(spec, path) != NULL)
		return spec;

	copy = pstrdup(path);
	for (step = strtok_r(copy, ".", &save); step && count < (int) lengthof(steps);
		 step = strtok_r(NULL, ".", &save))
		steps[count++] = CStringGetTextDatum(step);
	path_array = construct_array(steps, count, TEXTOID, -1, false, TYPALIGN_INT);
	value = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	return DatumGetJsonbP(DirectFunctionCall4(jsonb_set,
											  JsonbPGetDatum(spec),
											  PointerGetDatum(path_array),
											  value,
											  BoolGetDatum(true)));
}

/*
 * json_string
 *		A C string as JSON string text.
 */
static char *
json_string(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	escape_json(&buf, s);
	return buf.data;
}

/*
 * normalize_warehouse
 *		Defaults of the warehouse section.
 */
static Jsonb *
normalize_warehouse(Jsonb *spec, const char *slug)
{
	int			jobs;
	int			checks;
	int			i;

	spec = set_default(spec, "warehouse.name", json_string(slug));
	spec = set_default(spec, "warehouse.database", "{}");
	spec = set_default(spec, "warehouse.database.port", "5432");
	spec = set_default(spec, "warehouse.database.schema_prefix",
					   json_string(psprintf("%s_", slug)));

	spec = set_default(spec, "warehouse.bronze_jobs", "[]");
	jobs = array_length_at(spec, "warehouse.bronze_jobs");
	for (i = 0; i < jobs; i++)
	{
		char	   *source = lookup_text(spec, psprintf("warehouse.bronze_jobs.%d.source", i));
		char	   *config = psprintf("warehouse.bronze_jobs.%d.config", i);

		if (source && strcmp(source, "postgres_operational") == 0 &&
			lookup(spec, psprintf("%s.incremental_column", config)))
			spec = set_default(spec, psprintf("%s.lookback_days", config), "0");
		else if (source && strcmp(source, "api_catalog") == 0)
		{
			JsonbValue *pagination;

			spec = set_default(spec, psprintf("%s.pagination", config), "false");
			pagination = lookup(spec, psprintf("%s.pagination", config));
			if (pagination && pagination->type == jbvBool && pagination->val.boolean)
				spec = set_default(spec, psprintf("%s.page_size", config), "100");
		}
	}

	spec = set_default(spec, "warehouse.dbt", "{}");
	spec = set_default(spec, "warehouse.dbt.silver", "{}");
	spec = set_default(spec, "warehouse.dbt.silver.enabled", "false");
	spec = set_default(spec, "warehouse.dbt.silver.models", "[]");
	spec = set_default(spec, "warehouse.dbt.gold", "{}");
	spec = set_default(spec, "warehouse.dbt.gold.enabled", "false");
	spec = set_default(spec, "warehouse.dbt.gold.dimensions", "[]");
	spec = set_default(spec, "warehouse.dbt.gold.facts", "[]");

	spec = set_default(spec, "warehouse.data_quality", "{}");
	spec = set_default(spec, "warehouse.data_quality.enabled", "false");
	spec = set_default(spec, "warehouse.data_quality.checks", "[]");
	checks = array_length_at(spec, "warehouse.data_quality.checks");
	for (i = 0; i < checks; i++)
		spec = set_default(spec, psprintf("warehouse.data_quality.checks.%d.action", i),
						   "\"alert\"");
	return spec;
}

/*
 * normalize_resources
 *		Defaults of the resources section; sizes from the tier.
 */
static Jsonb *
normalize_resources(Jsonb *spec, const char *name, const TierDefaults *tier)
{
	static const char *const components[] = {"scheduler", "webserver", NULL};
	const char *const *c;
	int			min;

	spec = set_default(spec, "resources.kubernetes", "{}");
	spec = set_default(spec, "resources.kubernetes.namespace",
					   json_string(psprintf("airflow-%s", name)));
	spec = set_default(spec, "resources.kubernetes.quotas", tier->quotas);
	spec = set_default(spec, "resources.kubernetes.node_selector", "{}");
	spec = set_default(spec, "resources.kubernetes.tolerations", "[]");

	spec = set_default(spec, "resources.airflow", "{}");
	spec = set_default(spec, "resources.airflow.workers", "{}");
	spec = set_default(spec, "resources.airflow.workers.min", "1");
	min = lookup_int(spec, "resources.airflow.workers.min", 1);
	spec = set_default(spec, "resources.airflow.workers.max",
					   psprintf("%d", Max(min, 1)));
	spec = set_default(spec, "resources.airflow.workers.autoscaling", "false");
	for (c = components; *c; c++)
	{
		spec = set_default(spec, psprintf("resources.airflow.%s", *c), "{}");
		spec = set_default(spec, psprintf("resources.airflow.%s.replicas", *c), "1");
		spec = set_default(spec, psprintf("resources.airflow.%s.resources", *c),
						   DEFAULT_CONTAINER_RESOURCES);
	}

	spec = set_default(spec, "resources.database", "{}");
	spec = set_default(spec, "resources.database.connections", "{}");
	spec = set_default(spec, "resources.database.connections.min", "1");
	min = lookup_int(spec, "resources.database.connections.min", 1);
	spec = set_default(spec, "resources.database.connections.max",
					   psprintf("%d", Max(min, tier->max_connections)));
	spec = set_default(spec, "resources.database.storage_gb",
					   psprintf("%d", tier->storage_gb));
	spec = set_default(spec, "resources.database.backup", "{}");
	spec = set_default(spec, "resources.database.backup.enabled", "true");
	spec = set_default(spec, "resources.database.backup.retention_days", "7");
	return spec;
}

/*
 * SpecNormalize
 *		Fill every default (see spec.h and README.md).
 */
Jsonb *
SpecNormalize(Jsonb *spec)
{
	char	   *name = lookup_text(spec, "tenant.name");
	char	   *tier_name = lookup_text(spec, "tenant.tier");
	const TierDefaults *tier = &tier_defaults[0];
	char	   *slug;
	char	   *c;
	const char *const *flag;
	int			i;

	if (name == NULL || tier_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant spec has no tenant name or tier"),
				 errhint("Only a spec that tenancy.validate accepts can be normalized.")));
	for (i = 0; i < (int) lengthof(tier_defaults); i++)
		if (strcmp(tier_defaults[i].tier, tier_name) == 0)
			tier = &tier_defaults[i];
	slug = pstrdup(name);
	for (c = slug; *c; c++)
		if (*c == '-')
			*c = '_';

	spec = set_default(spec, "tenant.display_name", json_string(name));
	spec = set_default(spec, "tenant.environment", "\"production\"");
	spec = set_default(spec, "tenant.contacts", "{}");
	spec = set_default(spec, "tenant.contacts.technical", "[]");
	spec = set_default(spec, "tenant.contacts.business", "[]");
	spec = set_default(spec, "tenant.authentication", "{\"type\": \"basic\"}");

	spec = normalize_warehouse(spec, slug);
	spec = normalize_resources(spec, name, tier);

	spec = set_default(spec, "features", "{}");
	for (flag = feature_flags; *flag; flag++)
		spec = set_default(spec, psprintf("features.%s", *flag), "false");

	spec = set_default(spec, "billing", "{\"model\": \"fixed\"}");
	spec = set_default(spec, "billing.metrics", "[]");
	return spec;
}

/*
 * tenancy_normalize_spec
 *		SQL: tenancy.normalize_spec(jsonb) RETURNS jsonb.  Validates first:
 *		defaults are only meaningful on a valid spec.
 */
Datum
tenancy_normalize_spec(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec = PG_GETARG_JSONB_P(0);

	SpecCheck(spec);
	PG_RETURN_JSONB_P(SpecNormalize(spec));
}
