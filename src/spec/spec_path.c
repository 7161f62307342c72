/*-------------------------------------------------------------------------
 *
 * spec_path.c
 *	  Read a value of a tenant spec (jsonb) by dotted path: the one path
 *	  walker, and readers of a string, flag, array or object's keys on top.
 *
 * A leaf of the spec layer: the planner and the platform objects read
 * specs through it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "spec.h"

/*
 * SpecLookup
 *		Find the value at a dotted path ("resources.kubernetes.quotas") of a
 *		spec: SPEC_PATH_FOUND with *out set, SPEC_PATH_ABSENT when a key is
 *		missing or a value on the way (or at the end) is JSON null, or
 *		SPEC_PATH_BLOCKED when a value on the way is not an object; then
 *		*blocked_len (if not NULL) is the length of the path naming it.
 *
 * The one dotted-path reader: the planner (plan.c) turns BLOCKED into an
 * invalid-spec error, the platform objects read it as absent.
 */
SpecPathResult
SpecLookup(Jsonb *spec, const char *path, JsonbValue *out, int *blocked_len)
{
	JsonbContainer *container = &spec->root;
	const char *key = path;

	for (;;)
	{
		const char *dot = strchr(key, '.');
		int			keylen = dot ? (int) (dot - key) : (int) strlen(key);

		if (!JsonContainerIsObject(container) ||
			getKeyJsonValueFromContainer(container, key, keylen, out) == NULL ||
			out->type == jbvNull)
			return SPEC_PATH_ABSENT;
		if (dot == NULL)
			return SPEC_PATH_FOUND;
		if (out->type != jbvBinary || !JsonContainerIsObject(out->val.binary.data))
		{
			if (blocked_len)
				*blocked_len = dot - path;
			return SPEC_PATH_BLOCKED;
		}
		container = out->val.binary.data;
		key = dot + 1;
	}
}

/*
 * SpecFind
 *		The value at a dotted path, or NULL when absent, JSON null, or a
 *		non-object is in the way.
 */
JsonbValue *
SpecFind(Jsonb *spec, const char *path)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	if (SpecLookup(spec, path, v, NULL) != SPEC_PATH_FOUND)
	{
		pfree(v);
		return NULL;
	}
	return v;
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
