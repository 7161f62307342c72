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

#include "fmgr.h"
#include "lib/stringinfo.h"
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
 * SpecNode: the spec being normalized, as a tree that is opened only where
 * a default is looked up or filled in.  A node not opened holds its value
 * as it came (a scalar, or a jsonb container kept whole); an opened node
 * holds its members (objects) or elements (arrays) as child nodes, to
 * which defaults are added.  The result is built from the tree once, at
 * the end (build_node).
 */
typedef struct SpecNode
{
	JsonbValue	value;			/* not opened: the value as it came */
	bool		opened;			/* children hold the members or elements */
	bool		is_array;		/* opened: an array (else an object) */
	List	   *keys;			/* opened objects: member names, as jbvString
								 * JsonbValues, parallel to children */
	List	   *children;		/* opened: child SpecNodes */
} SpecNode;

/*
 * is_container
 *		Whether a node is an object or array (opened or not).
 */
static bool
is_container(SpecNode *node)
{
	return node->opened || node->value.type == jbvBinary;
}

/*
 * node_open
 *		List the members or elements of a container node as child nodes
 *		(one level; deeper containers stay whole until they are opened).
 */
static void
node_open(SpecNode *node)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (node->opened || node->value.type != jbvBinary)
		return;
	node->is_array = JsonContainerIsArray(node->value.val.binary.data);
	it = JsonbIteratorInit(node->value.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			JsonbValue *key = palloc(sizeof(JsonbValue));

			*key = v;
			node->keys = lappend(node->keys, key);
		}
		else if (tok == WJB_VALUE || tok == WJB_ELEM)
		{
			SpecNode   *child = palloc0(sizeof(SpecNode));

			child->value = v;
			node->children = lappend(node->children, child);
		}
	}
	node->opened = true;
}

/*
 * node_child
 *		The member named step of an object node, or the element at index
 *		step (digits) of an array node; NULL if there is none.
 */
static SpecNode *
node_child(SpecNode *node, const char *step)
{
	size_t		len = strlen(step);
	ListCell   *lc;

	if (!is_container(node))
		return NULL;
	node_open(node);
	if (node->is_array)
	{
		int			index = atoi(step);

		if (strspn(step, "0123456789") != len || index >= list_length(node->children))
			return NULL;
		return list_nth(node->children, index);
	}
	foreach(lc, node->keys)
	{
		JsonbValue *key = lfirst(lc);

		if ((size_t) key->val.string.len == len &&
			memcmp(key->val.string.val, step, len) == 0)
			return list_nth(node->children, foreach_current_index(lc));
	}
	return NULL;
}

/*
 * is_absent
 *		Whether a node stands for no value: missing or JSON null.
 */
static bool
is_absent(SpecNode *node)
{
	return node == NULL || (!node->opened && node->value.type == jbvNull);
}

/*
 * lookup
 *		The node at a dotted path ("warehouse.bronze_jobs.0.config"; digits
 *		index arrays), or NULL when absent or null.
 */
static SpecNode *
lookup(SpecNode *root, const char *path)
{
	char	   *copy = pstrdup(path);
	char	   *save;
	char	   *step;
	SpecNode   *node = root;

	for (step = strtok_r(copy, ".", &save); step; step = strtok_r(NULL, ".", &save))
	{
		node = node_child(node, step);
		if (is_absent(node))
			return NULL;
	}
	return node;
}

/*
 * lookup_text
 *		The string at a path, or NULL.
 */
static char *
lookup_text(SpecNode *root, const char *path)
{
	SpecNode   *node = lookup(root, path);

	if (node == NULL || node->opened || node->value.type != jbvString)
		return NULL;
	return pnstrdup(node->value.val.string.val, node->value.val.string.len);
}

/*
 * lookup_int
 *		The number at a path as an int, or fallback.
 */
static int
lookup_int(SpecNode *root, const char *path, int fallback)
{
	SpecNode   *node = lookup(root, path);

	if (node == NULL || node->opened || node->value.type != jbvNumeric)
		return fallback;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4,
											 NumericGetDatum(node->value.val.numeric)));
}

/*
 * array_length_at
 *		Elements of the array at a path, 0 when there is none.
 */
static int
array_length_at(SpecNode *root, const char *path)
{
	SpecNode   *node = lookup(root, path);

	if (node == NULL || !is_container(node))
		return 0;
	node_open(node);
	return node->is_array ? list_length(node->children) : 0;
}

/*
 * default_node
 *		A node holding the JSON text of a default: empty objects and arrays
 *		are opened at once (defaults are then filled into them), booleans
 *		and numbers made directly, anything else parsed as jsonb.
 */
static SpecNode *
default_node(const char *json)
{
	SpecNode   *node = palloc0(sizeof(SpecNode));

	if (strcmp(json, "{}") == 0 || strcmp(json, "[]") == 0)
	{
		node->opened = true;
		node->is_array = json[0] == '[';
	}
	else if (strcmp(json, "true") == 0 || strcmp(json, "false") == 0)
	{
		node->value.type = jbvBool;
		node->value.val.boolean = json[0] == 't';
	}
	else if (json[0] != '\0' && strspn(json, "0123456789") == strlen(json))
	{
		node->value.type = jbvNumeric;
		node->value.val.numeric =
			DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(json),
												ObjectIdGetDatum(InvalidOid),
												Int32GetDatum(-1)));
	}
	else
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															CStringGetDatum(json)));

		if (JB_ROOT_IS_SCALAR(jb))
			(void) JsonbExtractScalar(&jb->root, &node->value);
		else
		{
			node->value.type = jbvBinary;
			node->value.val.binary.data = &jb->root;
			node->value.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
	}
	return node;
}

/*
 * set_default
 *		Set path to the JSON text value unless the spec has a value there.
 *		The parent must exist (defaults are applied parents first) and be
 *		an object; otherwise nothing is set.
 */
static void
set_default(SpecNode *root, const char *path, const char *json)
{
	const char *dot = strrchr(path, '.');
	const char *name = dot ? dot + 1 : path;
	SpecNode   *parent = dot ? lookup(root, pnstrdup(path, dot - path)) : root;
	SpecNode   *child;
	JsonbValue *key;

	if (parent == NULL || !is_container(parent))
		return;
	child = node_child(parent, name);
	if (!is_absent(child))
		return;
	if (child != NULL)
	{
		/* null: the default takes its place */
		*child = *default_node(json);
		return;
	}
	if (parent->is_array)
		return;
	key = palloc(sizeof(JsonbValue));
	key->type = jbvString;
	key->val.string.val = pstrdup(name);
	key->val.string.len = strlen(name);
	parent->keys = lappend(parent->keys, key);
	parent->children = lappend(parent->children, default_node(json));
}

/*
 * build_node
 *		Push a node (and everything under it) into the jsonb being built,
 *		as an element (WJB_ELEM), a member's value (WJB_VALUE) or the root
 *		(WJB_DONE).  Objects are sorted by pushJsonbValue, so the result is
 *		the jsonb that the same members in any order would give.
 */
static JsonbValue *
build_node(JsonbParseState **state, SpecNode *node, JsonbIteratorToken as)
{
	JsonbValue *result;

	if (node->opened)
	{
		ListCell   *lc;

		result = pushJsonbValue(state, node->is_array ? WJB_BEGIN_ARRAY :
								WJB_BEGIN_OBJECT, NULL);
		foreach(lc, node->children)
		{
			if (!node->is_array)
				(void) pushJsonbValue(state, WJB_KEY,
									  list_nth(node->keys, foreach_current_index(lc)));
			(void) build_node(state, lfirst(lc), node->is_array ? WJB_ELEM : WJB_VALUE);
		}
		result = pushJsonbValue(state, node->is_array ? WJB_END_ARRAY :
								WJB_END_OBJECT, NULL);
	}
	else if (node->value.type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(node->value.val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;

		result = NULL;
		while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
			result = pushJsonbValue(state, tok,
									tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	else
	{
		Assert(as != WJB_DONE);
		result = pushJsonbValue(state, as, &node->value);
	}
	return result;
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
static void
normalize_warehouse(SpecNode *spec, const char *slug)
{
	int			jobs;
	int			checks;
	int			i;

	set_default(spec, "warehouse.name", json_string(slug));
	set_default(spec, "warehouse.database", "{}");
	set_default(spec, "warehouse.database.port", "5432");
	set_default(spec, "warehouse.database.schema_prefix",
				json_string(psprintf("%s_", slug)));

	set_default(spec, "warehouse.bronze_jobs", "[]");
	jobs = array_length_at(spec, "warehouse.bronze_jobs");
	for (i = 0; i < jobs; i++)
	{
		char	   *source = lookup_text(spec, psprintf("warehouse.bronze_jobs.%d.source", i));
		char	   *config = psprintf("warehouse.bronze_jobs.%d.config", i);

		if (source && strcmp(source, "postgres_operational") == 0 &&
			lookup(spec, psprintf("%s.incremental_column", config)))
			set_default(spec, psprintf("%s.lookback_days", config), "0");
		else if (source && strcmp(source, "api_catalog") == 0)
		{
			SpecNode   *pagination;

			set_default(spec, psprintf("%s.pagination", config), "false");
			pagination = lookup(spec, psprintf("%s.pagination", config));
			if (pagination && !pagination->opened &&
				pagination->value.type == jbvBool && pagination->value.val.boolean)
				set_default(spec, psprintf("%s.page_size", config), "100");
		}
	}

	set_default(spec, "warehouse.dbt", "{}");
	set_default(spec, "warehouse.dbt.silver", "{}");
	set_default(spec, "warehouse.dbt.silver.enabled", "false");
	set_default(spec, "warehouse.dbt.silver.models", "[]");
	set_default(spec, "warehouse.dbt.gold", "{}");
	set_default(spec, "warehouse.dbt.gold.enabled", "false");
	set_default(spec, "warehouse.dbt.gold.dimensions", "[]");
	set_default(spec, "warehouse.dbt.gold.facts", "[]");

	set_default(spec, "warehouse.data_quality", "{}");
	set_default(spec, "warehouse.data_quality.enabled", "false");
	set_default(spec, "warehouse.data_quality.checks", "[]");
	checks = array_length_at(spec, "warehouse.data_quality.checks");
	for (i = 0; i < checks; i++)
		set_default(spec, psprintf("warehouse.data_quality.checks.%d.action", i),
					"\"alert\"");
}

/*
 * normalize_resources
 *		Defaults of the resources section; sizes from the tier.
 */
static void
normalize_resources(SpecNode *spec, const char *name, const TierDefaults *tier)
{
	static const char *const components[] = {"scheduler", "webserver", NULL};
	const char *const *c;
	int			min;

	set_default(spec, "resources.kubernetes", "{}");
	set_default(spec, "resources.kubernetes.namespace",
				json_string(psprintf("airflow-%s", name)));
	set_default(spec, "resources.kubernetes.quotas", tier->quotas);
	set_default(spec, "resources.kubernetes.node_selector", "{}");
	set_default(spec, "resources.kubernetes.tolerations", "[]");

	set_default(spec, "resources.airflow", "{}");
	set_default(spec, "resources.airflow.workers", "{}");
	set_default(spec, "resources.airflow.workers.min", "1");
	min = lookup_int(spec, "resources.airflow.workers.min", 1);
	set_default(spec, "resources.airflow.workers.max", psprintf("%d", Max(min, 1)));
	set_default(spec, "resources.airflow.workers.autoscaling", "false");
	for (c = components; *c; c++)
	{
		set_default(spec, psprintf("resources.airflow.%s", *c), "{}");
		set_default(spec, psprintf("resources.airflow.%s.replicas", *c), "1");
		set_default(spec, psprintf("resources.airflow.%s.resources", *c),
					DEFAULT_CONTAINER_RESOURCES);
	}

	set_default(spec, "resources.database", "{}");
	set_default(spec, "resources.database.connections", "{}");
	set_default(spec, "resources.database.connections.min", "1");
	min = lookup_int(spec, "resources.database.connections.min", 1);
	set_default(spec, "resources.database.connections.max",
				psprintf("%d", Max(min, tier->max_connections)));
	set_default(spec, "resources.database.storage_gb",
				psprintf("%d", tier->storage_gb));
	set_default(spec, "resources.database.backup", "{}");
	set_default(spec, "resources.database.backup.enabled", "true");
	set_default(spec, "resources.database.backup.retention_days", "7");
}

/*
 * SpecNormalize
 *		Fill every default (see spec.h and README.md).  The spec is read
 *		once into a tree opened only where defaults go (SpecNode), and the
 *		result built from it once.
 */
Jsonb *
SpecNormalize(Jsonb *spec)
{
	SpecNode   *root = palloc0(sizeof(SpecNode));
	JsonbParseState *state = NULL;
	char	   *name;
	char	   *tier_name;
	const TierDefaults *tier = &tier_defaults[0];
	char	   *slug;
	char	   *c;
	const char *const *flag;
	int			i;

	root->value.type = jbvBinary;
	root->value.val.binary.data = &spec->root;
	root->value.val.binary.len = VARSIZE(spec) - VARHDRSZ;
	node_open(root);

	name = lookup_text(root, "tenant.name");
	tier_name = lookup_text(root, "tenant.tier");
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

	set_default(root, "tenant.display_name", json_string(name));
	set_default(root, "tenant.environment", "\"production\"");
	set_default(root, "tenant.contacts", "{}");
	set_default(root, "tenant.contacts.technical", "[]");
	set_default(root, "tenant.contacts.business", "[]");
	set_default(root, "tenant.authentication", "{\"type\": \"basic\"}");

	normalize_warehouse(root, slug);
	normalize_resources(root, name, tier);

	set_default(root, "features", "{}");
	for (flag = feature_flags; *flag; flag++)
		set_default(root, psprintf("features.%s", *flag), "false");

	set_default(root, "billing", "{\"model\": \"fixed\"}");
	set_default(root, "billing.metrics", "[]");
	return JsonbValueToJsonb(build_node(&state, root, WJB_DONE));
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
