/*-------------------------------------------------------------------------
 *
 * spec_yaml.h
 *	  YAML (1.2 core schema) or JSON text to JSON text, for tenant specs.
 *
 * This converter does not depend on the server: it uses libyaml and the C
 * library only, allocates with malloc, and never longjmps, so that the
 * libFuzzer harness in test/fuzz/ can link it alone.  spec_parse.c wraps it
 * for SQL (tenancy.parse_spec) and turns its JSON text into jsonb.
 *
 * Every bound below protects the server from hostile input; crossing one is
 * an error naming the bound, never a truncated result.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SPEC_YAML_H
#define SPEC_YAML_H

#include <stdbool.h>
#include <stddef.h>

/* Largest input accepted, in bytes. */
#define SPEC_YAML_MAX_INPUT_BYTES (8 * 1024 * 1024)

/* Deepest nesting of sequences and mappings, in the input and the output. */
#define SPEC_YAML_MAX_DEPTH 64

/*
 * Most nodes parsed, and most nodes written once aliases and merge keys are
 * expanded (the "billion laughs" bound).
 */
#define SPEC_YAML_MAX_NODES 1000000

/* Largest JSON text produced, in bytes. */
#define SPEC_YAML_MAX_OUTPUT_BYTES (16 * 1024 * 1024)

/* Longest number literal (digits, sign, point and exponent). */
#define SPEC_YAML_MAX_NUMBER_LENGTH 1000

/* Largest decimal exponent of a floating-point literal, either sign. */
#define SPEC_YAML_MAX_EXPONENT 1000

/* Why a conversion failed, and where (line and column count from 1). */
typedef struct SpecYamlError
{
	int			line;			/* 0 when the error has no position */
	int			column;
	char		message[256];	/* what was wrong or expected */
	char		context[256];	/* libyaml's context, "" when none */
	bool		out_of_memory;	/* malloc failed: not the input's fault */
} SpecYamlError;

/*
 * Convert one YAML document (JSON is YAML) to JSON text.  Returns a
 * malloc'd, NUL-terminated string (the caller frees it) and its length, or
 * NULL with *error filled in.  An empty stream converts to "null".
 */
extern char *SpecYamlToJson(const char *input, size_t input_len,
							size_t *json_len, SpecYamlError *error);

#endif							/* SPEC_YAML_H */
