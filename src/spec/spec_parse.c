/*-------------------------------------------------------------------------
 *
 * spec_parse.c
 *	  tenancy.parse_spec(text): a tenant spec in YAML or JSON to jsonb.
 *
 * The conversion itself is spec_yaml.c, which knows nothing of the server
 * (so that it can be fuzzed alone) and returns malloc'd JSON text; this
 * file turns that text into jsonb, frees it whatever happens, and reports
 * conversion errors as SQLSTATE 22P02 naming the line and column.
 *
 * libyaml reads UTF-8.  In a database of another encoding the text is
 * converted to UTF-8 first and the JSON back to the server encoding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "spec.h"
#include "spec_yaml.h"

PG_FUNCTION_INFO_V1(tenancy_parse_spec);

/*
 * report_conversion_error
 *		ereport a converter failure: the problem with its position in the
 *		primary message (that is what the user fixes), libyaml's context, if
 *		any, as detail.
 */
static void
report_conversion_error(const SpecYamlError *error)
{
	char		context[sizeof(error->context)];

	strlcpy(context, error->context, sizeof(context));
	context[0] = pg_toupper((unsigned char) context[0]);

	if (error->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed while converting a tenant spec.")));
	if (error->line > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid tenant spec at line %d, column %d: %s",
						error->line, error->column, error->message),
				 context[0] ? errdetail_internal("%s.", context) : 0));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid tenant spec: %s", error->message)));
}

/*
 * SpecParseText
 *		YAML (1.2 core schema) or JSON text to jsonb; see spec.h.
 */
Jsonb *
SpecParseText(const char *text, int len)
{
	const char *utf8 = text;
	size_t		utf8_len = (size_t) len;
	char	   *volatile json;
	size_t		json_len = 0;
	SpecYamlError error;
	Jsonb	   *result = NULL;

	if (GetDatabaseEncoding() != PG_UTF8)
	{
		utf8 = pg_server_to_any(text, len, PG_UTF8);
		utf8_len = strlen(utf8);
	}

	json = SpecYamlToJson(utf8, utf8_len, &json_len, &error);
	if (json == NULL)
		report_conversion_error(&error);

	PG_TRY();
	{
		char	   *server_json = json;

		if (GetDatabaseEncoding() != PG_UTF8)
			server_json = pg_any_to_server(json, (int) json_len, PG_UTF8);
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum(server_json)));
	}
	PG_FINALLY();
	{
		free(json);
	}
	PG_END_TRY();

	return result;
}

/*
 * tenancy_parse_spec
 *		SQL: tenancy.parse_spec(text) RETURNS jsonb.
 */
Datum
tenancy_parse_spec(PG_FUNCTION_ARGS)
{
	text	   *spec = PG_GETARG_TEXT_PP(0);

	PG_RETURN_JSONB_P(SpecParseText(VARDATA_ANY(spec), VARSIZE_ANY_EXHDR(spec)));
}
