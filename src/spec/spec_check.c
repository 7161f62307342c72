/*-------------------------------------------------------------------------
 *
 * spec_check.c
 *	  The toolkit the spec's section validators (spec_tenant.c,
 *	  spec_warehouse.c, spec_resources.c) check with: the JSON path of the
 *	  value being checked, problems collected at it, one check per kind of
 *	  field, and the common formats (names, e-mail, URLs, schedules).
 *
 * A leaf of the spec layer: it calls nothing above it.  spec_validate.c
 * walks the top-level sections and calls the validators.  Nothing here
 * throws for a bad spec: problems are collected, never raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "spec.h"
#include "spec_validate.h"

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

	for (i = 0; text &&choices[i]; i++)
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
 * SpecIsName
 *		A DNS-1123 label that starts with a letter (see spec.h).
 */
bool
SpecIsName(const char *s, int max_length)
{
	return SpecIsDnsLabel(s, max_length) && s[0] >= 'a' && s[0] <= 'z';
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
