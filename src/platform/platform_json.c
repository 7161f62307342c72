/*-------------------------------------------------------------------------
 *
 * platform_json.c
 *	  A small JSON writer for the platform objects, and readers of values
 *	  in a tenant spec (jsonb) by dotted path.
 *
 * Objects are written in the order the code writes their members, so the
 * same spec always gives the same text; strings always go through
 * escape_json.  Values copied whole from the spec (a job's config, a
 * resources block) are jsonb's own output, whose keys are sorted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "platform.h"
#include "spec.h"

/*
 * jw_member
 *		Start a member: a comma if one came before, then "key": unless in an
 *		array or at the top.
 */
static void
jw_member(JsonWriter *w, const char *key)
{
	if (w->has_member[w->depth])
		appendStringInfoString(&w->buf, ", ");
	w->has_member[w->depth] = true;
	if (key != NULL)
	{
		escape_json(&w->buf, key);
		appendStringInfoString(&w->buf, ": ");
	}
}

/*
 * jw_open
 *		Open an object or array as a member.
 */
static void
jw_open(JsonWriter *w, const char *key, char bracket)
{
	jw_member(w, key);
	appendStringInfoChar(&w->buf, bracket);
	if (++w->depth >= JSON_WRITER_MAX_DEPTH)
		elog(ERROR, "JSON object nested too deeply");
	w->has_member[w->depth] = false;
}

/*
 * JwInit
 *		Start an empty document.
 */
void
JwInit(JsonWriter *w)
{
	initStringInfo(&w->buf);
	w->depth = 0;
	w->has_member[0] = false;
}

/*
 * JwObjectStart
 *		Open an object (the member key, or NULL in arrays and at the top).
 */
void
JwObjectStart(JsonWriter *w, const char *key)
{
	jw_open(w, key, '{');
}

/*
 * JwObjectEnd
 *		Close the innermost object.
 */
void
JwObjectEnd(JsonWriter *w)
{
	Assert(w->depth > 0);
	w->depth--;
	appendStringInfoChar(&w->buf, '}');
}

/*
 * JwArrayStart
 *		Open an array.
 */
void
JwArrayStart(JsonWriter *w, const char *key)
{
	jw_open(w, key, '[');
}

/*
 * JwArrayEnd
 *		Close the innermost array.
 */
void
JwArrayEnd(JsonWriter *w)
{
	Assert(w->depth > 0);
	w->depth--;
	appendStringInfoChar(&w->buf, ']');
}

/*
 * JwString
 *		A string member (escaped).
 */
void
JwString(JsonWriter *w, const char *key, const char *value)
{
	jw_member(w, key);
	escape_json(&w->buf, value);
}

/*
 * JwInt
 *		An integer member.
 */
void
JwInt(JsonWriter *w, const char *key, int64 value)
{
	jw_member(w, key);
	appendStringInfo(&w->buf, INT64_FORMAT, value);
}

/*
 * JwBool
 *		A boolean member.
 */
void
JwBool(JsonWriter *w, const char *key, bool value)
{
	jw_member(w, key);
	appendStringInfoString(&w->buf, value ? "true" : "false");
}

/*
 * JwRaw
 *		A member whose value is JSON text already (jsonb output, or another
 *		writer's result).
 */
void
JwRaw(JsonWriter *w, const char *key, const char *json)
{
	jw_member(w, key);
	appendStringInfoString(&w->buf, json);
}

/*
 * JwFinish
 *		The document's text.
 */
char *
JwFinish(JsonWriter *w)
{
	Assert(w->depth == 0);
	return w->buf.data;
}

/*
 * SpecFind
 *		The value at a dotted path ("resources.kubernetes.quotas"), or NULL
 *		when absent, JSON null, or a non-object is in the way.
 */
JsonbValue *
SpecFind(Jsonb *spec, const char *path)
{
	JsonbContainer *container = &spec->root;
	char	   *copy = pstrdup(path);
	char	   *key = copy;
	JsonbValue *v = palloc(sizeof(JsonbValue));

	for (;;)
	{
		char	   *dot = strchr(key, '.');

		if (dot)
			*dot = '\0';
		if (!JsonContainerIsObject(container) ||
			getKeyJsonValueFromContainer(container, key, strlen(key), v) == NULL ||
			v->type == jbvNull)
			return NULL;
		if (dot == NULL)
			return v;
		if (v->type != jbvBinary)
			return NULL;
		container = v->val.binary.data;
		key = dot + 1;
	}
}

/*
 * scalar_text
 *		A scalar as text: strings as they are, numbers and booleans in their
 *		JSON spelling; NULL for containers.
 */
static char *
scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/*
 * SpecText
 *		The scalar at path as text, or dflt (copied) when absent.
 */
char *
SpecText(Jsonb *spec, const char *path, const char *dflt)
{
	JsonbValue *v = SpecFind(spec, path);
	char	   *text = v ? scalar_text(v) : NULL;

	if (text == NULL)
		return dflt ? pstrdup(dflt) : NULL;
	return text;
}

/*
 * SpecJson
 *		The value at path as JSON text, or NULL when absent.
 */
char *
SpecJson(Jsonb *spec, const char *path)
{
	JsonbValue *v = SpecFind(spec, path);

	if (v == NULL)
		return NULL;
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

/*
 * SpecFlag
 *		The boolean at path, or dflt.
 */
bool
SpecFlag(Jsonb *spec, const char *path, bool dflt)
{
	JsonbValue *v = SpecFind(spec, path);

	if (v == NULL || v->type != jbvBool)
		return dflt;
	return v->val.boolean;
}

/*
 * SpecArray
 *		The elements of the array at path, each as a Jsonb of its own (an
 *		empty list when absent or not an array).
 */
List *
SpecArray(Jsonb *spec, const char *path)
{
	JsonbValue *v = SpecFind(spec, path);
	List	   *elems = NIL;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsArray(v->val.binary.data))
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok == WJB_ELEM)
			elems = lappend(elems, JsonbValueToJsonb(&elem));
	}
	return elems;
}

/*
 * SpecScalarText
 *		The text of a scalar Jsonb (an array element), or NULL.
 */
char *
SpecScalarText(Jsonb *value)
{
	JsonbValue	v;

	if (!JsonbExtractScalar(&value->root, &v))
		return NULL;
	return scalar_text(&v);
}

/*
 * SpecObjectKeys
 *		The keys of the object at path, in jsonb's (sorted) order.
 */
List *
SpecObjectKeys(Jsonb *spec, const char *path)
{
	JsonbValue *v = SpecFind(spec, path);
	List	   *keys = NIL;
	JsonbIterator *it;
	JsonbValue	item;
	JsonbIteratorToken tok;

	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data))
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &item, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			keys = lappend(keys, pnstrdup(item.val.string.val, item.val.string.len));
	}
	return keys;
}

/*
 * PlatformSpec
 *		The tenant's spec with its defaults filled in, as the platform
 *		objects read it.  A spec the validator refuses is used as given:
 *		provision refuses it before anything is planned.
 *
 * Worked out once per model and kept in it (the model is otherwise
 * read-only here; the memo lives in the model's own memory context, so it
 * lasts as long as the model).  Provision and apply set it beforehand to
 * the spec they have just validated and normalized, so the planner does
 * neither again for each of the platform objects.
 */
Jsonb *
PlatformSpec(const TenantModel *m)
{
	TenantModel *memo = unconstify(TenantModel *, m);
	Jsonb	   *spec;

	if (m->platform_spec != NULL)
		return m->platform_spec;
	if (m->spec == NULL)
		spec = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else if (SpecValidate(m->spec) != NIL)
		spec = m->spec;
	else
		spec = SpecNormalize(m->spec);

	if (spec != m->spec)
	{
		Jsonb	   *copy = MemoryContextAlloc(GetMemoryChunkContext(memo),
											  VARSIZE(spec));

		memcpy(copy, spec, VARSIZE(spec));
		spec = copy;
	}
	memo->platform_spec = spec;
	return spec;
}
