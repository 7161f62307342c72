/*-------------------------------------------------------------------------
 *
 * spec_resources.c
 *	  Validation of a tenant spec's resources section: Kubernetes namespace,
 *	  quotas, node selector and tolerations; Airflow workers, scheduler and
 *	  webserver; database connections, storage and backups.
 *
 * Quantities are read as Kubernetes reads them (spec_quantity.c), so that
 * "500m" <= "1" and "32Gi" <= "64Gi" compare by value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "spec.h"
#include "spec_validate.h"

/* Resource names a quota or container may request or limit. */
static const char *const request_keys[] = {"cpu", "memory", "storage",
"ephemeral-storage", "pods", NULL};
static const char *const limit_keys[] = {"cpu", "memory", "storage",
"ephemeral-storage", NULL};
static const char *const container_keys[] = {"cpu", "memory", "ephemeral-storage", NULL};

static const SpecRange replicas_range = {true, 1, false, 100};
static const SpecRange workers_min_range = {true, 0, false, 1000};
static const SpecRange workers_max_range = {true, 1, false, 1000};
static const SpecRange connections_min_range = {true, 0, false, 10000};
static const SpecRange connections_max_range = {true, 1, false, 10000};
static const SpecRange storage_gb_range = {false, 0, true, HUGE_VAL};
static const SpecRange retention_range = {true, 1, false, 3650};
static const SpecRange toleration_seconds_range = {true, 0, false, HUGE_VAL};

/*
 * SpecNamespaceReserved
 *		Whether ns is a namespace a tenant must never be given: "default"
 *		and every kube-* (kube-system, kube-public, kube-node-lease and those
 *		Kubernetes may add).
 */
bool
SpecNamespaceReserved(const char *ns)
{
	return strcmp(ns, "default") == 0 || strncmp(ns, "kube-", 5) == 0;
}

/*
 * quantity
 *		obj[key] as a Kubernetes quantity (string or number); false when
 *		absent or reported.  *text is how the user wrote it.
 */
static bool
quantity(SpecValidator *v, JsonbContainer *obj, const char *key,
		 double *value, char **text)
{
	JsonbValue	jv;
	double		ignored;

	if (!SpecGet(obj, key, &jv))
		return false;
	if (jv.type == jbvString)
		*text = SpecValueText(&jv);
	else if (!SpecValueNumber(&jv, &ignored, text))
	{
		SpecReportAt(v, key, "must be a Kubernetes quantity such as \"500m\", \"2\" or \"32Gi\"");
		return false;
	}
	if (!SpecParseQuantity(*text, value))
	{
		SpecReportAt(v, key, "%s is not a Kubernetes quantity", SpecQuote(*text));
		return false;
	}
	if (*value < 0)
	{
		SpecReportAt(v, key, "must not be negative");
		return false;
	}
	if (strcmp(key, "pods") == 0 && *value != floor(*value))
	{
		SpecReportAt(v, key, "must be a whole number of pods");
		return false;
	}
	return true;
}

/* Most resource names in one requests or limits mapping. */
#define MAX_RESOURCE_KEYS 8

/*
 * check_requests_limits
 *		An object with requests and limits of quantities, requests never
 *		above limits.  Limits are read first, each at its own path.
 */
static void
check_requests_limits(SpecValidator *v, JsonbContainer *obj,
					  const char *const *requestable, const char *const *limitable)
{
	static const char *const known[] = {"requests", "limits", NULL};
	JsonbValue	value;
	JsonbContainer *requests = NULL;
	JsonbContainer *limits = NULL;
	double		limit[MAX_RESOURCE_KEYS];
	char	   *limit_text[MAX_RESOURCE_KEYS];
	bool		has_limit[MAX_RESOURCE_KEYS] = {false};
	int			mark;
	int			i,
				j;

	SpecCheckKeys(v, obj, known);
	if (SpecGet(obj, "requests", &value) && (requests = SpecValueObject(&value)) == NULL)
		SpecReportAt(v, "requests", "must be a mapping");
	if (SpecGet(obj, "limits", &value) && (limits = SpecValueObject(&value)) == NULL)
		SpecReportAt(v, "limits", "must be a mapping");

	if (limits)
	{
		mark = SpecPathPushKey(v, "limits");
		SpecCheckKeys(v, limits, limitable);
		for (j = 0; limitable[j] && j < MAX_RESOURCE_KEYS; j++)
			has_limit[j] = quantity(v, limits, limitable[j], &limit[j], &limit_text[j]);
		SpecPathPop(v, mark);
	}
	if (requests == NULL)
		return;

	mark = SpecPathPushKey(v, "requests");
	SpecCheckKeys(v, requests, requestable);
	for (i = 0; requestable[i]; i++)
	{
		double		request;
		char	   *request_text;

		if (!quantity(v, requests, requestable[i], &request, &request_text))
			continue;
		for (j = 0; limitable[j] && j < MAX_RESOURCE_KEYS; j++)
		{
			if (strcmp(limitable[j], requestable[i]) == 0 && has_limit[j] &&
				request > limit[j])
				SpecReportAt(v, requestable[i], "requests.%s (%s) exceeds limits.%s (%s)",
							 requestable[i], request_text, limitable[j], limit_text[j]);
		}
	}
	SpecPathPop(v, mark);
}

/*
 * check_quotas
 *		kubernetes.quotas: the namespace's ResourceQuota.
 */
static void
check_quotas(SpecValidator *v, JsonbContainer *quotas)
{
	check_requests_limits(v, quotas, request_keys, limit_keys);
}

/*
 * check_container_resources
 *		A pod's container resources (Airflow scheduler, webserver).
 */
static void
check_container_resources(SpecValidator *v, JsonbContainer *resources)
{
	check_requests_limits(v, resources, container_keys, container_keys);
}

/*
 * label_name_ok
 *		The name part of a label key, or a label value when non-empty: at
 *		most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends.
 */
static bool
label_name_ok(const char *s, size_t len)
{
	size_t		i;

	if (len == 0 || len > 63 || !isalnum((unsigned char) s[0]) ||
		!isalnum((unsigned char) s[len - 1]))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char) s[i]) && strchr("-_.", s[i]) == NULL)
			return false;
	return true;
}

/*
 * is_label_key
 *		[prefix/]name, the prefix a DNS subdomain (Kubernetes label keys).
 */
static bool
is_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t		i;

	if (slash == NULL)
		return label_name_ok(s, strlen(s));
	if (slash == s || slash - s > 253 || !label_name_ok(slash + 1, strlen(slash + 1)))
		return false;
	for (i = 0; s + i < slash; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '-' || s[i] == '.'))
			return false;
	return isalnum((unsigned char) s[0]) && isalnum((unsigned char) slash[-1]);
}

/*
 * is_label_value
 *		Empty, or a label name.
 */
static bool
is_label_value(const char *s)
{
	return s[0] == '\0' || label_name_ok(s, strlen(s));
}

/*
 * check_node_label
 *		One node_selector entry: a label key and a label value (a string).
 */
static void
check_node_label(SpecValidator *v, const char *key, JsonbValue *value)
{
	char	   *text = SpecValueText(value);

	if (!is_label_key(key))
		SpecReport(v, "%s is not a valid label key", SpecQuote(key));
	else if (text == NULL)
		SpecReport(v, "must be a string (quote numbers and booleans)");
	else if (!is_label_value(text))
		SpecReport(v, "%s is not a valid label value", SpecQuote(text));
}

/*
 * check_node_selector
 *		kubernetes.node_selector: label keys to label values.
 */
static void
check_node_selector(SpecValidator *v, JsonbContainer *selector)
{
	SpecVisitEntries(v, selector, check_node_label);
}

/*
 * check_toleration
 *		One toleration, as Kubernetes takes it.
 */
static void
check_toleration(SpecValidator *v, JsonbValue *element, int index)
{
	static const char *const known[] = {"key", "operator", "value", "effect",
	"tolerationSeconds", NULL};
	static const char *const operators[] = {"Equal", "Exists", NULL};
	static const char *const effects[] = {"NoSchedule", "PreferNoSchedule",
	"NoExecute", NULL};
	JsonbContainer *toleration = SpecElementObject(v, element);
	JsonbValue	value;
	char	   *key;
	char	   *text;
	int			op;
	int			effect;

	(void) index;
	if (toleration == NULL)
		return;
	SpecCheckKeys(v, toleration, known);
	op = SpecEnum(v, toleration, "operator", false, operators);
	key = SpecString(v, toleration, "key", op != 1, 317);
	if (key && !is_label_key(key))
		SpecReportAt(v, "key", "%s is not a valid label key", SpecQuote(key));
	if (SpecGet(toleration, "value", &value))
	{
		text = SpecValueText(&value);

		if (op == 1)
			SpecReportAt(v, "value", "must be absent when operator is Exists");
		else if (text == NULL)
			SpecReportAt(v, "value", "must be a string (quote numbers and booleans)");
		else if (!is_label_value(text))
			SpecReportAt(v, "value", "%s is not a valid label value", SpecQuote(text));
	}
	effect = SpecEnum(v, toleration, "effect", false, effects);
	if (SpecNumber(v, toleration, "tolerationSeconds", false,
				   &toleration_seconds_range, NULL) && effect != 2)
		SpecReportAt(v, "tolerationSeconds", "applies to the NoExecute effect only");
}

/*
 * check_kubernetes
 *		resources.kubernetes.
 */
static void
check_kubernetes(SpecValidator *v, JsonbContainer *kubernetes)
{
	static const char *const known[] = {"namespace", "quotas", "node_selector",
	"tolerations", NULL};
	char	   *namespace;

	SpecCheckKeys(v, kubernetes, known);
	namespace = SpecString(v, kubernetes, "namespace", false, SPEC_MAX_STRING);
	if (namespace && !SpecIsDnsLabel(namespace, 63))
		SpecReportAt(v, "namespace",
					 "%s is not a DNS-1123 label (lower-case letters, digits and \"-\", at most 63 characters)",
					 SpecQuote(namespace));
	if (namespace && SpecNamespaceReserved(namespace))
		SpecReportAt(v, "namespace", "%s is reserved by Kubernetes", SpecQuote(namespace));
	SpecVisitObject(v, kubernetes, "quotas", false, check_quotas);
	SpecVisitObject(v, kubernetes, "node_selector", false, check_node_selector);
	SpecVisitArray(v, kubernetes, "tolerations", false, check_toleration);
}

/*
 * check_workers
 *		airflow.workers: min <= max, autoscaling.
 */
static void
check_workers(SpecValidator *v, JsonbContainer *workers)
{
	static const char *const known[] = {"min", "max", "autoscaling", NULL};
	double		min,
				max;
	bool		has_min,
				has_max;

	SpecCheckKeys(v, workers, known);
	has_min = SpecNumber(v, workers, "min", false, &workers_min_range, &min);
	has_max = SpecNumber(v, workers, "max", false, &workers_max_range, &max);
	if (has_min && has_max && min > max)
		SpecReportAt(v, "min", "min (%g) exceeds max (%g)", min, max);
	if (SpecBool(v, workers, "autoscaling", false) != 1 && has_min && min == 0)
		SpecReportAt(v, "min", "0 workers need autoscaling: true (KEDA starts workers when tasks are queued); without it no task would run");
}

/*
 * check_airflow_component
 *		airflow.scheduler or airflow.webserver: replicas, resources.
 */
static void
check_airflow_component(SpecValidator *v, JsonbContainer *component)
{
	static const char *const known[] = {"replicas", "resources", NULL};

	SpecCheckKeys(v, component, known);
	SpecNumber(v, component, "replicas", false, &replicas_range, NULL);
	SpecVisitObject(v, component, "resources", false, check_container_resources);
}

/*
 * check_airflow
 *		resources.airflow.
 */
static void
check_airflow(SpecValidator *v, JsonbContainer *airflow)
{
	static const char *const known[] = {"workers", "scheduler", "webserver", NULL};

	SpecCheckKeys(v, airflow, known);
	SpecVisitObject(v, airflow, "workers", false, check_workers);
	SpecVisitObject(v, airflow, "scheduler", false, check_airflow_component);
	SpecVisitObject(v, airflow, "webserver", false, check_airflow_component);
}

/*
 * check_connections
 *		database.connections: min <= max.
 */
static void
check_connections(SpecValidator *v, JsonbContainer *connections)
{
	static const char *const known[] = {"min", "max", NULL};
	double		min,
				max;
	bool		has_min,
				has_max;

	SpecCheckKeys(v, connections, known);
	has_min = SpecNumber(v, connections, "min", false, &connections_min_range, &min);
	has_max = SpecNumber(v, connections, "max", false, &connections_max_range, &max);
	if (has_min && has_max && min > max)
		SpecReportAt(v, "min", "min (%g) exceeds max (%g)", min, max);
}

/*
 * check_backup
 *		database.backup: enabled, retention.
 */
static void
check_backup(SpecValidator *v, JsonbContainer *backup)
{
	static const char *const known[] = {"enabled", "retention_days", NULL};

	SpecCheckKeys(v, backup, known);
	SpecBool(v, backup, "enabled", false);
	SpecNumber(v, backup, "retention_days", false, &retention_range, NULL);
}

/*
 * check_database_resources
 *		resources.database.
 */
static void
check_database_resources(SpecValidator *v, JsonbContainer *database)
{
	static const char *const known[] = {"connections", "storage_gb", "backup", NULL};

	SpecCheckKeys(v, database, known);
	SpecVisitObject(v, database, "connections", false, check_connections);
	SpecNumber(v, database, "storage_gb", false, &storage_gb_range, NULL);
	SpecVisitObject(v, database, "backup", false, check_backup);
}

/*
 * SpecValidateResources
 *		The resources section.
 */
void
SpecValidateResources(SpecValidator *v, JsonbContainer *resources)
{
	static const char *const known[] = {"kubernetes", "airflow", "database", NULL};

	SpecCheckKeys(v, resources, known);
	SpecVisitObject(v, resources, "kubernetes", false, check_kubernetes);
	SpecVisitObject(v, resources, "airflow", false, check_airflow);
	SpecVisitObject(v, resources, "database", false, check_database_resources);
}
