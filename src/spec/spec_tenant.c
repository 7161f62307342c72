/*-------------------------------------------------------------------------
 *
 * spec_tenant.c
 *	  Validation of a tenant spec's tenant section (name, tier, contacts,
 *	  authentication and its Vault references) and of the features, sla
 *	  and billing sections.
 *
 * The tenant name is the root of every derived name (namespace, Helm
 * release, schemas, roles), hence its strict format and length.  Secrets
 * never appear in a spec: credentials must be {{ vault.get('path') }}
 * references, resolved by the worker at run time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "spec.h"
#include "spec_validate.h"

/*
 * SpecVaultPathValid
 *		See spec.h: segments of [A-Za-z0-9_.-] separated by '/', none empty,
 *		"." or "..", at most SPEC_VAULT_PATH_MAX bytes.
 */
bool
SpecVaultPathValid(const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i;

	if (len == 0 || len > SPEC_VAULT_PATH_MAX)
		return false;
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '/')
		{
			size_t		n = i - start;

			if (n == 0 || (n == 1 && s[start] == '.') ||
				(n == 2 && s[start] == '.' && s[start + 1] == '.'))
				return false;
			start = i + 1;
		}
		else if (!isalnum((unsigned char) s[i]) && strchr("_.-", s[i]) == NULL)
			return false;
	}
	return true;
}

/*
 * SpecVaultReference
 *		See spec.h: the path of exactly {{ vault.get('path') }} (quotes
 *		single or double, spaces optional inside the braces), or NULL.
 */
char *
SpecVaultReference(const char *s)
{
	const char *p = s;
	const char *path;
	size_t		path_len;
	char		quote;

	if (strncmp(p, "{{", 2) != 0)
		return NULL;
	p += 2;
	while (*p == ' ')
		p++;
	if (strncmp(p, "vault.get(", 10) != 0)
		return NULL;
	p += 10;
	quote = *p++;
	if (quote != '\'' && quote != '"')
		return NULL;
	path = p;
	while (*p && *p != quote)
		p++;
	path_len = p - path;
	if (*p != quote || !SpecVaultPathValid(path, path_len))
		return NULL;
	p++;
	if (*p++ != ')')
		return NULL;
	while (*p == ' ')
		p++;
	if (strcmp(p, "}}") != 0)
		return NULL;
	return pnstrdup(path, path_len);
}

/*
 * SpecMentionsVault
 *		See spec.h: whether a value looks like an attempt at a Vault
 *		reference (then it must be one).
 */
bool
SpecMentionsVault(const char *s)
{
	return strstr(s, "{{") != NULL || strstr(s, "}}") != NULL ||
		strstr(s, "vault.") != NULL;
}

/*
 * SpecVaultPathOfOtherTenant
 *		See spec.h: whether path lies in tenants/<other>/, where the worker
 *		keeps another tenant's generated credentials.
 */
bool
SpecVaultPathOfOtherTenant(const char *path, const char *tenant)
{
	const char *end;
	size_t		len;

	if (strncmp(path, "tenants/", 8) != 0)
		return false;
	path += 8;
	end = strchr(path, '/');
	len = end ? (size_t) (end - path) : strlen(path);
	return tenant == NULL || strlen(tenant) != len || strncmp(path, tenant, len) != 0;
}

/*
 * SpecLooksSecret
 *		See spec.h: config keys whose values are credentials.
 */
bool
SpecLooksSecret(const char *key)
{
	return strstr(key, "secret") || strstr(key, "password") ||
		strstr(key, "token") || strstr(key, "private_key") ||
		strstr(key, "api_key");
}

/*
 * check_reference_owners
 *		tenant.authentication.config: no Vault reference into another
 *		tenant's tenants/<name>/ paths.
 */
static void
check_reference_owners(SpecValidator *v, JsonbContainer *tenant, const char *name)
{
	JsonbValue	auth;
	JsonbValue	config;
	JsonbIterator *it;
	JsonbValue	value;
	JsonbIteratorToken token;
	char	   *key = NULL;
	int			mark;

	if (!SpecGet(tenant, "authentication", &auth) || !SpecValueObject(&auth) ||
		!SpecGet(SpecValueObject(&auth), "config", &config) || !SpecValueObject(&config))
		return;
	mark = SpecPathPushKey(v, "authentication");
	SpecPathPushKey(v, "config");
	it = JsonbIteratorInit(SpecValueObject(&config));
	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
	{
		char	   *text;
		char	   *path;

		if (token == WJB_KEY)
			key = pnstrdup(value.val.string.val, value.val.string.len);
		if (token != WJB_VALUE || value.type != jbvString)
			continue;
		text = SpecValueText(&value);

		path = SpecVaultReference(text);
		if (path && SpecVaultPathOfOtherTenant(path, name))
			SpecReportAt(v, key, "%s names another tenant's Vault path: a spec may reference tenants/%s/ only",
						 SpecQuote(text), name ? name : "<name>");
	}
	SpecPathPop(v, mark);
}

/*
 * check_auth_setting
 *		One authentication.config entry: a flat value; a value that
 *		references Vault must use the exact syntax; credentials must
 *		reference Vault.
 */
static void
check_auth_setting(SpecValidator *v, const char *key, JsonbValue *value)
{
	char	   *text = SpecValueText(value);

	if (!SpecIsIdentifier(key))
		SpecReport(v, "config keys must be lower-case identifiers");
	else if (value->type == jbvBinary || value->type == jbvNull)
		SpecReport(v, "must be a string, number or boolean");
	else if (text &&SpecMentionsVault(text) && SpecVaultReference(text) == NULL)
		SpecReport(v, "malformed vault reference; expected {{ vault.get('path/to/secret') }}");
	else if (SpecLooksSecret(key) && (text == NULL || SpecVaultReference(text) == NULL))
		SpecReport(v, "must be a vault reference ({{ vault.get('path') }}): secrets are not stored in the spec");
	else if (strcmp(key, "redirect_uri") == 0 && text &&SpecVaultReference(text) == NULL &&
			 !SpecIsHttpsUrl(text))
		SpecReport(v, "%s is not an https URL", SpecQuote(text));
}

/*
 * check_auth_config
 *		authentication.config: provider settings, checked one by one.
 */
static void
check_auth_config(SpecValidator *v, JsonbContainer *config)
{
	SpecVisitEntries(v, config, check_auth_setting);
}

static const char *const auth_types[] = {"basic", "oauth2", "saml", NULL};

/*
 * check_authentication
 *		tenant.authentication: type, provider (oauth2 and saml), config
 *		(oauth2 needs a client id and secret).
 */
static void
check_authentication(SpecValidator *v, JsonbContainer *auth)
{
	static const char *const known[] = {"type", "provider", "config", NULL};
	int			type;
	char	   *provider;
	JsonbValue	config;

	SpecCheckKeys(v, auth, known);
	type = SpecEnum(v, auth, "type", true, auth_types);
	provider = SpecString(v, auth, "provider", type == 1 || type == 2, 63);
	if (provider && !SpecIsDnsLabel(provider, 63) && !SpecIsIdentifier(provider))
		SpecReportAt(v, "provider", "%s is not a valid provider name (lower-case letters, digits, \"-\" and \"_\")",
					 SpecQuote(provider));
	SpecVisitObject(v, auth, "config", type == 1, check_auth_config);

	if (type == 1 && SpecGet(auth, "config", &config) && SpecValueObject(&config))
	{
		int			mark = SpecPathPushKey(v, "config");
		JsonbValue	ignored;

		if (!SpecGet(SpecValueObject(&config), "client_id", &ignored))
			SpecReportAt(v, "client_id", "is required for oauth2");
		if (!SpecGet(SpecValueObject(&config), "client_secret", &ignored))
			SpecReportAt(v, "client_secret", "is required for oauth2");
		SpecPathPop(v, mark);
	}
}

/*
 * check_contact
 *		One contact: name, e-mail, role.
 */
static void
check_contact(SpecValidator *v, JsonbValue *element, int index)
{
	static const char *const known[] = {"name", "email", "role", NULL};
	JsonbContainer *contact = SpecElementObject(v, element);
	char	   *email;

	(void) index;
	if (contact == NULL)
		return;
	SpecCheckKeys(v, contact, known);
	SpecString(v, contact, "name", true, 200);
	SpecString(v, contact, "role", false, 200);
	email = SpecString(v, contact, "email", true, 254);
	if (email && !SpecIsEmail(email))
		SpecReportAt(v, "email", "%s is not a valid e-mail address", SpecQuote(email));
}

/*
 * check_contacts
 *		tenant.contacts: lists of technical and business contacts.
 */
static void
check_contacts(SpecValidator *v, JsonbContainer *contacts)
{
	static const char *const known[] = {"technical", "business", NULL};

	SpecCheckKeys(v, contacts, known);
	SpecVisitArray(v, contacts, "technical", false, check_contact);
	SpecVisitArray(v, contacts, "business", false, check_contact);
}

/*
 * SpecValidateTenant
 *		The tenant section: a name every derived name can carry, tier,
 *		environment, contacts, authentication.
 */
void
SpecValidateTenant(SpecValidator *v, JsonbContainer *tenant)
{
	static const char *const known[] = {"name", "display_name", "tier",
	"environment", "contacts", "authentication", NULL};
	static const char *const tiers[] = {"basic", "standard", "enterprise", NULL};
	static const char *const environments[] = {"dev", "staging", "production", NULL};
	char	   *name;

	SpecCheckKeys(v, tenant, known);
	name = SpecString(v, tenant, "name", true, SPEC_MAX_STRING);
	if (name && strlen(name) > SPEC_TENANT_NAME_MAX)
		SpecReportAt(v, "name",
					 "must be at most %d characters, so that derived names (namespace \"airflow-<name>\", roles \"tenant_<slug>_writer\") fit in 63",
					 SPEC_TENANT_NAME_MAX);
	else if (name && !SpecIsName(name, SPEC_TENANT_NAME_MAX))
		SpecReportAt(v, "name",
					 "%s is not a DNS-1123 label: use lower-case letters, digits and \"-\", starting with a letter and ending with a letter or digit",
					 SpecQuote(name));
	SpecString(v, tenant, "display_name", false, 200);
	SpecEnum(v, tenant, "tier", true, tiers);
	SpecEnum(v, tenant, "environment", false, environments);
	SpecVisitObject(v, tenant, "contacts", false, check_contacts);
	SpecVisitObject(v, tenant, "authentication", false, check_authentication);
	check_reference_owners(v, tenant, name);
}

/*
 * SpecValidateFeatures
 *		features: known flags, each a boolean.  A flag tenancy has no
 *		effect for is refused when true rather than accepted and ignored:
 *		external_task_sensors (the generated DAGs order the layers by their
 *		schedules, there are no sensors yet) and cross_tenant_dependencies
 *		(the network policies and grants isolate tenants, and there is no
 *		defined, audited way for one tenant to depend on another's data).
 *		The effects of the others are in the README's spec table.
 */
void
SpecValidateFeatures(SpecValidator *v, JsonbContainer *features)
{
	static const char *const known[] = {"advanced_monitoring", "custom_plugins",
		"external_task_sensors", "cross_tenant_dependencies", "data_lineage",
	"audit_logging", NULL};
	const char *const *k;

	SpecCheckKeys(v, features, known);
	for (k = known; *k; k++)
	{
		if (SpecBool(v, features, *k, false) != 1)
			continue;
		if (strcmp(*k, "external_task_sensors") == 0)
			SpecReportAt(v, *k,
						 "true is not supported yet: the generated DAGs run silver and gold on their own schedules, without sensors on the bronze DAGs; set it to false");
		else if (strcmp(*k, "cross_tenant_dependencies") == 0)
			SpecReportAt(v, *k,
						 "true is not supported yet: tenants are isolated (network policies, grants) and there is no audited mechanism for one tenant to read another's data; set it to false");
	}
}

/*
 * is_duration
 *		"1 hour", "30 minutes", "3 business days".
 */
static bool
is_duration(const char *s)
{
	static const char *const units[] = {"minute", "hour", "day", "week", NULL};
	const char *p = s;
	const char *const *u;

	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p++ != ' ')
		return false;
	if (strncmp(p, "business ", 9) == 0)
		p += 9;
	for (u = units; *u; u++)
	{
		size_t		n = strlen(*u);

		if (strncmp(p, *u, n) == 0 && (p[n] == '\0' || strcmp(p + n, "s") == 0))
			return true;
	}
	return false;
}

/*
 * check_response_time
 *		sla.response_time: a duration per priority.
 */
static void
check_response_time(SpecValidator *v, JsonbContainer *response_time)
{
	static const char *const known[] = {"critical", "high", "medium", "low", NULL};
	const char *const *k;

	SpecCheckKeys(v, response_time, known);
	for (k = known; *k; k++)
	{
		char	   *duration = SpecString(v, response_time, *k, false, 64);

		if (duration && !is_duration(duration))
			SpecReportAt(v, *k, "%s is not a duration such as \"4 hours\" or \"1 business day\"",
						 SpecQuote(duration));
	}
}

/*
 * SpecValidateSla
 *		sla: uptime percentage, support tier, response times.
 */
void
SpecValidateSla(SpecValidator *v, JsonbContainer *sla)
{
	static const char *const known[] = {"uptime_percent", "support_tier",
	"response_time", NULL};
	static const SpecRange percent = {false, 0, false, 100};

	double		uptime;
	double		lowest = 100.0 * (1.0 - 1.0 / SPEC_SLA_FASTEST_BURN_RATE);

	SpecCheckKeys(v, sla, known);

	/*
	 * The availability alerts burn the error budget 1 - uptime/100: at 100 it
	 * is 0 and any failed scrape pages; at or below 100 x (1 - 1/14.4)
	 * (93.06) the fastest alert would need more than every request to fail
	 * and never fires.
	 */
	if (SpecNumber(v, sla, "uptime_percent", false, &percent, &uptime) &&
		(uptime >= 100 || uptime <= lowest))
		SpecReportAt(v, "uptime_percent",
					 "%g %s; use a value from %.2f to below 100 (e.g. 99.9)",
					 uptime,
					 uptime >= 100
					 ? "leaves no error budget: every failed scrape of the availability alerts would page"
					 : psprintf("leaves an error budget so large that the fastest availability alert (errors at %g times the budget) could never fire",
								SPEC_SLA_FASTEST_BURN_RATE),
					 ceil(lowest * 100) / 100);
	SpecString(v, sla, "support_tier", false, 64);
	SpecVisitObject(v, sla, "response_time", false, check_response_time);
}

static const char *const metric_types[] = {"task_runs", "storage_gb", "compute_hours", NULL};

/*
 * check_metric
 *		One billing metric: a known type and a rate of at least 0.
 */
static void
check_metric(SpecValidator *v, JsonbValue *element, int index)
{
	static const char *const known[] = {"type", "rate", NULL};
	static const SpecRange rate = {false, 0, false, HUGE_VAL};
	JsonbContainer *metric = SpecElementObject(v, element);

	(void) index;
	if (metric == NULL)
		return;
	SpecCheckKeys(v, metric, known);
	SpecEnum(v, metric, "type", true, metric_types);
	SpecNumber(v, metric, "rate", true, &rate, NULL);
}

/*
 * SpecValidateBilling
 *		billing: model, metrics (each type once; usage-based models need
 *		one at least), contact, cost center.
 */
void
SpecValidateBilling(SpecValidator *v, JsonbContainer *billing)
{
	static const char *const known[] = {"model", "metrics", "billing_contact",
	"cost_center", NULL};
	static const char *const models[] = {"fixed", "usage_based", "hybrid", NULL};
	int			model;
	char	   *contact;
	JsonbValue	metrics;
	JsonbContainer *list = NULL;

	SpecCheckKeys(v, billing, known);
	model = SpecEnum(v, billing, "model", true, models);
	SpecVisitArray(v, billing, "metrics", false, check_metric);
	if (SpecGet(billing, "metrics", &metrics))
		list = SpecValueArray(&metrics);

	if (model > 0 && (list == NULL || JsonContainerSize(list) == 0) &&
		(!SpecGet(billing, "metrics", &metrics) || list != NULL))
		SpecReportAt(v, "metrics", "%s billing needs at least one metric",
					 models[model]);
	if (list)
	{
		int			seen[lengthof(metric_types)] = {0};
		int			mark = SpecPathPushKey(v, "metrics");
		int			i;

		for (i = 0; i < (int) JsonContainerSize(list); i++)
		{
			JsonbValue *element = getIthJsonbValueFromContainer(list, i);
			JsonbValue	type;
			char	   *text;
			int			t;

			if (!SpecValueObject(element) ||
				!SpecGet(SpecValueObject(element), "type", &type) ||
				(text = SpecValueText(&type)) == NULL)
				continue;
			for (t = 0; metric_types[t]; t++)
			{
				if (strcmp(metric_types[t], text) != 0)
					continue;
				if (seen[t]++)
				{
					int			element_mark = SpecPathPushIndex(v, i);

					SpecReportAt(v, "type", "metric \"%s\" is listed more than once", text);
					SpecPathPop(v, element_mark);
				}
			}
		}
		SpecPathPop(v, mark);
	}

	contact = SpecString(v, billing, "billing_contact", false, 254);
	if (contact && !SpecIsEmail(contact))
		SpecReportAt(v, "billing_contact", "%s is not a valid e-mail address",
					 SpecQuote(contact));
	SpecString(v, billing, "cost_center", false, 64);
}
