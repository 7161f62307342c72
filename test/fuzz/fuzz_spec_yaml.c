/*-------------------------------------------------------------------------
 *
 * fuzz_spec_yaml.c
 *	  libFuzzer harness for the tenant spec converter (src/spec/spec_yaml.c).
 *
 * Feeds arbitrary bytes to SpecYamlToJson.  Besides the sanitizers'
 * findings (memory errors, leaks, undefined behaviour), it checks two
 * properties: a failure always says why, and a success is valid JSON
 * (checked with jansson; numbers too large for a C double or long long are
 * fine, jsonb takes them as numeric).
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spec_yaml.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * LLVMFuzzerTestOneInput
 *		One input: convert, then check the result's shape.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SpecYamlError error;
	size_t		json_len = 0;
	char	   *json;

	json = SpecYamlToJson((const char *) data, size, &json_len, &error);
	if (json == NULL)
	{
		if (error.message[0] == '\0')
		{
			fprintf(stderr, "conversion failed without a message\n");
			abort();
		}
		return 0;
	}
	if (strlen(json) != json_len)
	{
		fprintf(stderr, "JSON text length mismatch\n");
		abort();
	}
	{
		json_error_t jerror;
		json_t	   *parsed = json_loadb(json, json_len,
										JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
										&jerror);

		if (parsed == NULL && strstr(jerror.text, "overflow") == NULL &&
			strstr(jerror.text, "too big") == NULL)
		{
			fprintf(stderr, "invalid JSON produced: %s\n%.*s\n", jerror.text,
					(int) (json_len > 2000 ? 2000 : json_len), json);
			abort();
		}
		json_decref(parsed);
	}
	free(json);
	return 0;
}
