/*-------------------------------------------------------------------------
 *
 * platform_json.c
 *	  A small JSON writer for the platform objects, and the tenant's spec
 *	  as they read it (PlatformSpec; the readers are spec/spec_path.c).
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
