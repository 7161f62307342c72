/*-------------------------------------------------------------------------
 *
 * spec_validate.c
 *	  tenancy.validate(jsonb): every problem of a tenant spec at once, each
 *	  addressed by its JSON path; SpecCheck, which provision and apply call.
 *
 * Validation is strict: an unknown key is an error (with the nearest known
 * key suggested), a value of the wrong type is an error, and so is anything
 * a derived name (namespace, schema, role) could not carry without quoting.
 * A null value counts as absent, since YAML writes "key:" for it.
 *
 * This file holds the toolkit every section uses (paths, problems, one
 * check per field) and the tenant, features, sla and billing sections;
 * spec_warehouse.c and spec_resources.c check the other two.  Nothing here
 * throws for a bad spec: problems are collected, never raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "spec.h"
#include "spec_validate.h"

PG_FUNCTION_INFO_V1(tenancy_validate);

/* Problems listed in SpecCheck's DETAIL before "and N more". */
#define SPEC_CHECK_MAX_DETAIL 50

/* Longest value quoted in a message. */
#define SPEC_QUOTE_MAX 64

/*
 * SpecPathPushKey
 *		Append ".key" to the path (or ."key" when the key is not a plain
 *		identifier, as SQL/JSON paths write it).  Returns a mark for
 *		SpecPathPop.
 */
int
SpecPathPushKey(SpecValidator *v, const char *key)
{
	int			mark = v->path.len;
	int			len = strlen(key);
	bool		plain = (isalpha((unsigned char) key[0]) || key[0] == '_') &&
		len <= SPEC_QUOTE_MAX;
	int			i;

	for (i = 0; i < len && plain; i++)
		plain = isalnum((unsigned char) key[i]) || key[i] == '_';

	if (plain)
		appendStringInfo(&v->path, ".%s", key);
	else
	{
		int			shown = len <= SPEC_QUOTE_MAX ? len :
			pg_mbcliplen(key, len, SPEC_QUOTE_MAX);

		appendStringInfoString(&v->path, ".\"");
		for (i = 0; i < shown; i++)
		{
			unsigned char c = (unsigned char) key[i];

			if (c == '"' || c == '\\')
				appendStringInfoChar(&v->path, '\\');
			if (c < 0x20)
				appendStringInfo(&v->path, "\\u%04x", c);
			else
				appendStringInfoChar(&v->path, (char) c);
		}
		if (shown < len)
			appendStringInfoString(&v->path, "...");
		appendStringInfoChar(&v->path, '"');
	}
	return mark;
}

/*
 * SpecPathPushIndex
 *		Append "[index]" to the path.
 */
int
SpecPathPushIndex(SpecValidator *v, int index)
{
	int			mark = v->path.len;

	appendStringInfo(&v->path, "[%d]", index);
	return mark;
}

/*
 * SpecPathPop
 *		Cut the path back to a mark.
 */
void
SpecPathPop(SpecValidator *v, int mark)
{
	v->path.len = mark;
	v->path.data[mark] = '\0';
}

static char *format_message(const char *fmt, va_list args) pg_attribute_printf(1, 0);

/*
 * format_message
 *		vsprintf into palloc'd memory.
 */
static char *
format_message(const char *fmt, va_list args)
{
	StringInfoData message;

	initStringInfo(&message);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&message, fmt, copy);
		va_end(copy);
		if (needed == 0)
			return message.data;
		enlargeStringInfo(&message, needed);
	}
}

/*
 * add_problem
 *		Record a problem at the current path.
 */
static void
add_problem(SpecValidator *v, char *message)
{
	SpecProblem *problem = palloc(sizeof(SpecProblem));

	problem->path = pstrdup(v->path.data);
	problem->message = message;
	v->problems = lappend(v->problems, problem);
}

/*
 * SpecReport
 *		Record a problem at the current path.
 */
void
SpecReport(SpecValidator *v, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	add_problem(v, format_message(fmt, args));
	va_end(args);
}

/*
 * SpecReportAt
 *		Record a problem at the path of one key of the current object.
 */
void
SpecReportAt(SpecValidator *v, const char *key, const char *fmt,...)
{
	int			mark = SpecPathPushKey(v, key);
	va_list		args;

	va_start(args, fmt);
	add_problem(v, format_message(fmt, args));
	va_end(args);
	SpecPathPop(v, mark);
}

/*
 * SpecQuote
 *		A value in double quotes for a message: control characters escaped
 *		(so that a value cannot forge a line of its own), cut short if long.
 */
char *
SpecQuote(const char *value)
{
	StringInfoData buf;
	int			len = strlen(value);
	int			shown = len <= SPEC_QUOTE_MAX ? len :
		pg_mbcliplen(value, len, SPEC_QUOTE_MAX);
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (i = 0; i < shown; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (c == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (c == '\t')
			appendStringInfoString(&buf, "\\t");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(&buf, "\\x%02x", c);
		else
			appendStringInfoChar(&buf, (char) c);
	}
	appendStringInfoString(&buf, shown < len ? "...\"" : "\"");
	return buf.data;
}

/*
 * SpecGet
 *		Fetch obj[key]; false when it is absent or null.
 */
bool
SpecGet(JsonbContainer *obj, const char *key, JsonbValue *value)
{
	if (obj == NULL ||
		getKeyJsonValueFromContainer(obj, key, strlen(key), value) == NULL)
		return false;
	return value->type != jbvNull;
}

/*
 * SpecValueObject
 *		The container of an object value, or NULL when it is not one.
 */
JsonbContainer *
SpecValueObject(JsonbValue *value)
{
	if (value->type == jbvBinary && JsonContainerIsObject(value->val.binary.data))
		return value->val.binary.data;
	return NULL;
}

/*
 * SpecValueArray
 *		The container of an array value, or NULL when it is not one.
 */
JsonbContainer *
SpecValueArray(JsonbValue *value)
{
	if (value->type == jbvBinary && JsonContainerIsArray(value->val.binary.data))
		return value->val.binary.data;
	return NULL;
}

/*
 * SpecValueText
 *		A string value as a C string, or NULL when it is not a string.
 */
char *
SpecValueText(JsonbValue *value)
{
	if (value->type != jbvString)
		return NULL;
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/*
 * SpecValueNumber
 *		A number value as a double (and, if asked, as its exact text), or
 *		false when it is not a number.
 */
bool
SpecValueNumber(JsonbValue *value, double *number, char **text)
{
	char	   *digits;

	if (value->type != jbvNumeric)
		return false;
	digits = DatumGetCString(DirectFunctionCall1(numeric_out,
												 NumericGetDatum(value->val.numeric)));
	*number = strtod(digits, NULL);
	if (text)
		*text = digits;
	return true;
}

/*
 * fetch
 *		obj[key] into *value; false when absent or null, which is reported
 *		when the key is required.
 */
static bool
fetch(SpecValidator *v, JsonbContainer *obj, const char *key, bool required,
	  JsonbValue *value)
{
	if (SpecGet(obj, key, value))
		return true;
	if (required)
		SpecReportAt(v, key, "is required");
	return false;
}

/*
 * SpecVisitEntries
 *		Run check on each key and value of obj, with the path pointing at
 *		the key (for free-form mappings: labels, provider settings).
 */
void
SpecVisitEntries(SpecValidator *v, JsonbContainer *obj, SpecEntryCheck check)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	value;
	JsonbIteratorToken token;
	char	   *key = NULL;

	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
	{
		int			mark;

		if (token == WJB_KEY)
			key = pnstrdup(value.val.string.val, value.val.string.len);
		if (token != WJB_VALUE)
			continue;
		mark = SpecPathPushKey(v, key);
		check(v, key, &value);
		SpecPathPop(v, mark);
	}
}

/*
 * nearest_key
 *		The known key closest to an unknown one, if close enough to be a
 *		likely typo (the threshold grows with the key's length).
 */
static const char *
nearest_key(const char *key, int key_len, const char *const *known)
{
	const char *best = NULL;
	int			best_distance = Max(2, key_len / 3) + 1;

	if (key_len > 64)
		return NULL;
	for (; *known; known++)
	{
		int			d = varstr_levenshtein_less_equal(key, key_len,
													  *known, strlen(*known),
													  1, 1, 1, best_distance, true);

		if (d < best_distance)
		{
			best_distance = d;
			best = *known;
		}
	}
	return best;
}

/*
 * SpecCheckKeys
 *		Report every key of obj that is not in known (NULL-terminated),
 *		suggesting the nearest known key or listing them all.
 */
void
SpecCheckKeys(SpecValidator *v, JsonbContainer *obj, const char *const *known)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	value;
	JsonbIteratorToken token;

	while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE)
	{
		char	   *key;
		const char *const *k;
		const char *suggestion;

		if (token != WJB_KEY)
			continue;
		key = pnstrdup(value.val.string.val, value.val.string.len);
		for (k = known; *k; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k)
			continue;

		suggestion = nearest_key(key, value.val.string.len, known);
		if (suggestion)
			SpecReportAt(v, key, "unknown key %s; did you mean \"%s\"?",
						 SpecQuote(key), suggestion);
		else
		{
			StringInfoData list;

			initStringInfo(&list);
			for (k = known; *k; k++)
				appendStringInfo(&list, "%s%s", k == known ? "" : ", ", *k);
			SpecReportAt(v, key, "unknown key %s; expected one of %s",
						 SpecQuote(key), list.data);
		}
	}
}

/*
 * SpecVisitObject
 *		Check that parent[key] is an object and run check on it with the
 *		path pointing there.  Absent is fine unless required.
 */
void
SpecVisitObject(SpecValidator *v, JsonbContainer *parent, const char *key,
				bool required, SpecObjectCheck check)
{
	JsonbValue	value;
	JsonbContainer *obj;
	int			mark;

	if (!fetch(v, parent, key, required, &value))
		return;
	mark = SpecPathPushKey(v, key);
	obj = SpecValueObject(&value);
	if (obj == NULL)
		SpecReport(v, "must be a mapping");
	else if (check)
		check(v, obj);
	SpecPathPop(v, mark);
}

/*
 * SpecVisitArray
 *		Check that parent[key] is a list and run check on each element with
 *		the path pointing at it.
 */
void
SpecVisitArray(SpecValidator *v, JsonbContainer *parent, const char *key,
			   bool required, SpecElementCheck check)
{
	JsonbValue	value;
	JsonbContainer *array;
	int			mark;

	if (!fetch(v, parent, key, required, &value))
		return;
	mark = SpecPathPushKey(v, key);
	array = SpecValueArray(&value);
	if (array == NULL)
		SpecReport(v, "must be a list");
	else
	{
		int			n = JsonContainerSize(array);
		int			i;

		for (i = 0; i < n; i++)
		{
			JsonbValue *element = getIthJsonbValueFromContainer(array, i);
			int			element_mark = SpecPathPushIndex(v, i);

			check(v, element, i);
			SpecPathPop(v, element_mark);
		}
	}
	SpecPathPop(v, mark);
}

/*
 * SpecElementObject
 *		An array element that must be an object; reported if not.
 */
JsonbContainer *
SpecElementObject(SpecValidator *v, JsonbValue *element)
{
	JsonbContainer *obj = SpecValueObject(element);

	if (obj == NULL)
		SpecReport(v, "must be a mapping");
	return obj;
}

/*
 * SpecString
 *		obj[key] as a non-empty string of at most max_length characters, or
 *		NULL (reported unless it is absent and optional).
 */
char *
SpecString(SpecValidator *v, JsonbContainer *obj, const char *key,
		   bool required, int max_length)
{
	JsonbValue	value;
	char	   *text;

	if (!fetch(v, obj, key, required, &value))
		return NULL;
	text = SpecValueText(&value);
	if (text == NULL)
	{
		SpecReportAt(v, key, "must be a string");
		return NULL;
	}
	if (text[0] == '\0')
	{
		SpecReportAt(v, key, "must not be empty");
		return NULL;
	}
	if (pg_mbstrlen(text) > max_length)
	{
		SpecReportAt(v, key, "must be at most %d characters", max_length);
		return NULL;
	}
	return text;
}

/*
 * SpecEnum
 *		obj[key] as the index of one of choices, or -1.
 */
int
SpecEnum(SpecValidator *v, JsonbContainer *obj, const char *key,
		 bool required, const char *const *choices)
{
	JsonbValue	value;
	char	   *text;
	int			i;
	StringInfoData list;

	if (!fetch(v, obj, key, required, &value))
		return -1;
	text = SpecValueText(&value);
	for (i = 0; text && choices[i]; i++)
		if (strcmp(choices[i], text) == 0)
			return i;

	initStringInfo(&list);
	for (i = 0; choices[i]; i++)
		appendStringInfo(&list, "%s%s", i == 0 ? "" : ", ", choices[i]);
	SpecReportAt(v, key, "must be one of %s", list.data);
	return -1;
}

/*
 * SpecBool
 *		obj[key] as 0 or 1, or -1 when absent or not a boolean.
 */
int
SpecBool(SpecValidator *v, JsonbContainer *obj, const char *key, bool required)
{
	JsonbValue	value;

	if (!fetch(v, obj, key, required, &value))
		return -1;
	if (value.type != jbvBool)
	{
		SpecReportAt(v, key, "must be true or false");
		return -1;
	}
	return value.val.boolean ? 1 : 0;
}

/*
 * describe_range
 *		"an integer between 1 and 65535", "a number greater than 0", ...
 */
static char *
describe_range(const SpecRange *range)
{
	const char *kind = range->integer ? "an integer" : "a number";

	if (range->max != HUGE_VAL)
		return psprintf("%s between %g and %g", kind, range->min, range->max);
	if (range->min_exclusive)
		return psprintf("%s greater than %g", kind, range->min);
	return psprintf("%s of at least %g", kind, range->min);
}

/*
 * SpecNumber
 *		obj[key] as a number within range; false when absent or reported.
 */
bool
SpecNumber(SpecValidator *v, JsonbContainer *obj, const char *key,
		   bool required, const SpecRange *range, double *number)
{
	JsonbValue	value;
	char	   *text;
	double		n;

	if (!fetch(v, obj, key, required, &value))
		return false;
	if (!SpecValueNumber(&value, &n, &text) ||
		(range->integer && strchr(text, '.') != NULL) ||
		n < range->min || (range->min_exclusive && n <= range->min) ||
		n > range->max)
	{
		SpecReportAt(v, key, "must be %s", describe_range(range));
		return false;
	}
	if (number)
		*number = n;
	return true;
}

/*
 * SpecStringList
 *		obj[key] as a list of strings each accepted by valid (when given).
 */
void
SpecStringList(SpecValidator *v, JsonbContainer *obj, const char *key,
			   bool required, bool (*valid) (const char *), const char *what)
{
	JsonbValue	value;
	JsonbContainer *array;
	int			mark;
	int			i;

	if (!fetch(v, obj, key, required, &value))
		return;
	array = SpecValueArray(&value);
	if (array == NULL)
	{
		SpecReportAt(v, key, "must be a list of %s", what);
		return;
	}
	if (required && JsonContainerSize(array) == 0)
	{
		SpecReportAt(v, key, "must not be empty");
		return;
	}
	mark = SpecPathPushKey(v, key);
	for (i = 0; i < (int) JsonContainerSize(array); i++)
	{
		JsonbValue *element = getIthJsonbValueFromContainer(array, i);
		char	   *text = SpecValueText(element);
		int			element_mark = SpecPathPushIndex(v, i);

		if (text == NULL || text[0] == '\0' || strlen(text) > SPEC_MAX_STRING ||
			(valid && !valid(text)))
			SpecReport(v, "%s is not a valid %s",
					   text ? SpecQuote(text) : "value", what);
		SpecPathPop(v, element_mark);
	}
	SpecPathPop(v, mark);
}

/*
 * SpecIsDnsLabel
 *		RFC 1123 label, as Kubernetes names namespaces: lower-case letters,
 *		digits and '-', alphanumeric at both ends.
 */
bool
SpecIsDnsLabel(const char *s, int max_length)
{
	size_t		len = strlen(s);
	size_t		i;

	if (len == 0 || len > (size_t) max_length)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  (s[i] == '-' && i > 0 && i < len - 1)))
			return false;
	return true;
}

/*
 * SpecIsIdentifier
 *		A lower-case SQL identifier that needs no quoting: [a-z_][a-z0-9_]*,
 *		at most 63 bytes.
 */
bool
SpecIsIdentifier(const char *s)
{
	size_t		len = strlen(s);
	size_t		i;

	if (len == 0 || len > SPEC_IDENTIFIER_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '_'))
			return false;
	return true;
}

/*
 * is_domain
 *		Dot-separated DNS labels (letters of either case), at least two, the
 *		last alphabetic: what an e-mail address or URL needs after '@' or
 *		"https://".
 */
static bool
is_domain(const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i,
				j;
	int			labels = 0;
	bool		last_alpha = true;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '.')
		{
			if (i == start || s[start] == '-' || s[i - 1] == '-' || i - start > 63)
				return false;
			labels++;
			last_alpha = true;
			for (j = start; j < i; j++)
				if (!isalpha((unsigned char) s[j]))
					last_alpha = false;
			start = i + 1;
		}
		else if (!isalnum((unsigned char) s[i]) && s[i] != '-')
			return false;
	}
	return labels >= 2 && last_alpha;
}

/*
 * SpecIsEmail
 *		A plain addr-spec: local part of [A-Za-z0-9._%+-] with no leading,
 *		trailing or doubled dot, '@', a domain.
 */
bool
SpecIsEmail(const char *s)
{
	const char *at = strchr(s, '@');
	size_t		local_len;
	size_t		i;

	if (at == NULL || strlen(s) > 254)
		return false;
	local_len = at - s;
	if (local_len == 0 || local_len > 64 || s[0] == '.' || at[-1] == '.')
		return false;
	for (i = 0; i < local_len; i++)
		if (!(isalnum((unsigned char) s[i]) || strchr("._%+-", s[i]) != NULL) ||
			(s[i] == '.' && s[i + 1] == '.'))
			return false;
	return is_domain(at + 1, strlen(at + 1));
}

/*
 * SpecIsHttpsUrl
 *		https://host[:port][/path]: no credentials, no spaces or controls.
 */
bool
SpecIsHttpsUrl(const char *s)
{
	const char *host = s + 8;
	size_t		host_len;
	const char *c;

	if (strncmp(s, "https://", 8) != 0 || strlen(s) > 2048)
		return false;
	host_len = strcspn(host, ":/?#");
	if (!is_domain(host, host_len) && strncmp(host, "localhost", host_len) != 0)
		return false;
	for (c = host; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == '@' || *c == '\\' || *c == 0x7f)
			return false;
	if (host[host_len] == ':')
	{
		const char *port = host + host_len + 1;
		size_t		digits = strspn(port, "0123456789");

		if (digits == 0 || digits > 5 || atoi(port) > 65535 ||
			(port[digits] != '\0' && port[digits] != '/'))
			return false;
	}
	return true;
}

/*
 * SpecCheckSchedule
 *		obj[key] as a 5-field cron schedule (or @daily and friends).
 */
void
SpecCheckSchedule(SpecValidator *v, JsonbContainer *obj, const char *key,
				  bool required)
{
	char	   *schedule = SpecString(v, obj, key, required, 128);
	const char *problem;

	if (schedule == NULL)
		return;
	problem = SpecCronProblem(schedule);
	if (problem)
		SpecReportAt(v, key, "%s is not a valid cron schedule: %s",
					 SpecQuote(schedule), problem);
}

/*
 * is_vault_path
 *		Segments of [A-Za-z0-9_.-] separated by '/', none "." or "..", not
 *		starting with '/'.
 */
static bool
is_vault_path(const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i;

	if (len == 0 || len > 512)
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
 * vault_reference
 *		Whether s is exactly {{ vault.get('path') }} (quotes single or
 *		double, spaces optional), the form secrets take in a spec.
 */
static bool
vault_reference(const char *s)
{
	const char *p = s;
	const char *path;
	char		quote;

	if (strncmp(p, "{{", 2) != 0)
		return false;
	p += 2;
	while (*p == ' ')
		p++;
	if (strncmp(p, "vault.get(", 10) != 0)
		return false;
	p += 10;
	quote = *p++;
	if (quote != '\'' && quote != '"')
		return false;
	path = p;
	while (*p && *p != quote)
		p++;
	if (*p != quote || !is_vault_path(path, p - path))
		return false;
	p++;
	if (*p++ != ')')
		return false;
	while (*p == ' ')
		p++;
	return strcmp(p, "}}") == 0;
}

/*
 * looks_secret
 *		Config keys whose values are credentials.
 */
static bool
looks_secret(const char *key)
{
	return strstr(key, "secret") || strstr(key, "password") ||
		strstr(key, "token") || strstr(key, "private_key") ||
		strstr(key, "api_key");
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
	else if (text && (strstr(text, "{{") || strstr(text, "}}") ||
					  strstr(text, "vault.")) && !vault_reference(text))
		SpecReport(v, "malformed vault reference; expected {{ vault.get('path/to/secret') }}");
	else if (looks_secret(key) && (text == NULL || !vault_reference(text)))
		SpecReport(v, "must be a vault reference ({{ vault.get('path') }}): secrets are not stored in the spec");
	else if (strcmp(key, "redirect_uri") == 0 && text && !vault_reference(text) &&
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
 * check_tenant
 *		The tenant section: a name every derived name can carry, tier,
 *		environment, contacts, authentication.
 */
static void
check_tenant(SpecValidator *v, JsonbContainer *tenant)
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
	else if (name && (!SpecIsDnsLabel(name, SPEC_TENANT_NAME_MAX) ||
					  !(name[0] >= 'a' && name[0] <= 'z')))
		SpecReportAt(v, "name",
					 "%s is not a DNS-1123 label: use lower-case letters, digits and \"-\", starting with a letter and ending with a letter or digit",
					 SpecQuote(name));
	SpecString(v, tenant, "display_name", false, 200);
	SpecEnum(v, tenant, "tier", true, tiers);
	SpecEnum(v, tenant, "environment", false, environments);
	SpecVisitObject(v, tenant, "contacts", false, check_contacts);
	SpecVisitObject(v, tenant, "authentication", false, check_authentication);
}

/*
 * check_features
 *		features: known flags, each a boolean.
 */
static void
check_features(SpecValidator *v, JsonbContainer *features)
{
	static const char *const known[] = {"advanced_monitoring", "custom_plugins",
		"external_task_sensors", "cross_tenant_dependencies", "data_lineage",
	"audit_logging", NULL};
	const char *const *k;

	SpecCheckKeys(v, features, known);
	for (k = known; *k; k++)
		SpecBool(v, features, *k, false);
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
 * check_sla
 *		sla: uptime percentage, support tier, response times.
 */
static void
check_sla(SpecValidator *v, JsonbContainer *sla)
{
	static const char *const known[] = {"uptime_percent", "support_tier",
	"response_time", NULL};
	static const SpecRange percent = {false, 0, false, 100};

	SpecCheckKeys(v, sla, known);
	SpecNumber(v, sla, "uptime_percent", false, &percent, NULL);
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
 * check_billing
 *		billing: model, metrics (each type once; usage-based models need
 *		one at least), contact, cost center.
 */
static void
check_billing(SpecValidator *v, JsonbContainer *billing)
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

/*
 * SpecValidate
 *		Every problem of a spec (see spec.h).
 */
List *
SpecValidate(Jsonb *spec)
{
	static const char *const known[] = {"tenant", "warehouse", "resources",
	"features", "sla", "billing", NULL};
	SpecValidator v;
	JsonbContainer *root = &spec->root;

	v.problems = NIL;
	initStringInfo(&v.path);
	appendStringInfoChar(&v.path, '$');

	if (!JB_ROOT_IS_OBJECT(spec))
	{
		SpecReport(&v, "must be a mapping with tenant, warehouse and resources");
		return v.problems;
	}
	SpecCheckKeys(&v, root, known);
	SpecVisitObject(&v, root, "tenant", true, check_tenant);
	SpecVisitObject(&v, root, "warehouse", true, SpecValidateWarehouse);
	SpecVisitObject(&v, root, "resources", true, SpecValidateResources);
	SpecVisitObject(&v, root, "features", false, check_features);
	SpecVisitObject(&v, root, "sla", false, check_sla);
	SpecVisitObject(&v, root, "billing", false, check_billing);
	return v.problems;
}

/*
 * SpecCheck
 *		Raise 22023 listing every problem, if there is any (see spec.h).
 */
void
SpecCheck(Jsonb *spec)
{
	List	   *problems = SpecValidate(spec);
	StringInfoData detail;
	ListCell   *lc;
	int			shown = 0;

	if (problems == NIL)
		return;

	initStringInfo(&detail);
	foreach(lc, problems)
	{
		SpecProblem *problem = lfirst(lc);

		if (shown == SPEC_CHECK_MAX_DETAIL)
		{
			appendStringInfo(&detail, "\n... and %d more (tenancy.validate lists them all).",
							 list_length(problems) - shown);
			break;
		}
		appendStringInfo(&detail, "%s%s: %s.", shown ? "\n" : "",
						 problem->path, problem->message);
		shown++;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid tenant spec"),
			 errdetail_internal("%s", detail.data),
			 errhint("Run tenancy.validate(spec) to list every problem with its JSON path.")));
}

/*
 * tenancy_validate
 *		SQL: tenancy.validate(spec jsonb) RETURNS TABLE(path text, message text).
 */
Datum
tenancy_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec = PG_GETARG_JSONB_P(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, SpecValidate(spec))
	{
		SpecProblem *problem = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(problem->path);
		values[1] = CStringGetTextDatum(problem->message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
