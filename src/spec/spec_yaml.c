/*-------------------------------------------------------------------------
 *
 * spec_yaml.c
 *	  YAML (1.2 core schema) or JSON text to JSON text, for tenant specs.
 *
 * Two passes.  The first reads libyaml's events into a tree of nodes,
 * resolving tags and plain scalars (YAML 1.2 core schema: null, booleans,
 * decimal, octal and hexadecimal integers, floats) and binding aliases to
 * the anchored node, so the tree is a DAG.  The second writes JSON text
 * from the root, expanding aliases and merge keys ("<<") and rejecting
 * duplicate keys.  Numbers are written as text, never through a C integer
 * or double, so that any integer survives into jsonb's numeric exactly.
 *
 * No server headers: this file also links into the libFuzzer harness.
 * Every allocation is malloc'd and freed here; errors are returned, not
 * thrown.  Bounds (spec_yaml.h) stop hostile input: nesting depth, node
 * count (also after alias expansion), output size, number length.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec_yaml.h"

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

typedef enum NodeKind
{
	NODE_SCALAR,
	NODE_SEQUENCE,
	NODE_MAPPING
} NodeKind;

/* What a scalar resolved to. */
typedef enum ScalarType
{
	SCALAR_STRING,
	SCALAR_NULL,
	SCALAR_TRUE,
	SCALAR_FALSE,
	SCALAR_NUMBER
} ScalarType;

typedef struct Node
{
	NodeKind	kind;
	bool		complete;		/* false while its children are being read */
	bool		merge_key;		/* a plain, untagged "<<" */
	int			line;			/* of its first character, from 1 */
	int			column;
	/* scalars */
	ScalarType	type;
	char	   *text;			/* the value; for numbers, JSON number text */
	size_t		length;
	/* sequences and mappings (keys and values alternate) */
	struct Node **items;
	size_t		count;
	size_t		capacity;
} Node;

/* One anchor name bound to its node; chained in a hash table. */
typedef struct Anchor
{
	char	   *name;
	Node	   *node;
	struct Anchor *next;
} Anchor;

/* One key of a mapping once merge keys are expanded. */
typedef struct MapEntry
{
	Node	   *key;
	Node	   *value;
	size_t		order;			/* precedence: lower wins */
	size_t		instance;		/* which mapping read it directly */
} MapEntry;

#if defined(__GNUC__) || defined(__clang__)
#define SPEC_YAML_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPEC_YAML_PRINTF(f, a)
#endif

typedef struct Converter
{
	const char *input;
	size_t		input_len;
	SpecYamlError *error;
	bool		failed;

	/* first pass */
	Node	  **nodes;			/* every node, to free them */
	size_t		node_count;
	size_t		node_capacity;
	Anchor	  **anchors;		/* hash table */
	size_t		anchor_buckets;
	size_t		anchor_count;

	/* second pass */
	size_t		written;		/* nodes written, aliases expanded */
	size_t		instances;		/* mappings read while expanding merges */
	char	   *out;
	size_t		out_len;
	size_t		out_capacity;
} Converter;

static bool fail(struct Converter *conv, int line, int column,
				 const char *fmt,...) SPEC_YAML_PRINTF(4, 5);

/*
 * fail
 *		Record the first error: where, what, and libyaml's context if any.
 */
static bool
fail(Converter *conv, int line, int column, const char *fmt,...)
{
	va_list		args;

	if (conv->failed)
		return false;
	conv->failed = true;
	conv->error->line = line;
	conv->error->column = column;
	conv->error->context[0] = '\0';
	va_start(args, fmt);
	vsnprintf(conv->error->message, sizeof(conv->error->message), fmt, args);
	va_end(args);
	return false;
}

/*
 * fail_oom
 *		Record that an allocation failed (not the input's fault).
 */
static bool
fail_oom(Converter *conv)
{
	if (!conv->failed)
		conv->error->out_of_memory = true;
	return fail(conv, 0, 0, "out of memory");
}

/*
 * fail_at
 *		fail() at a node's position.
 */
#define fail_at(conv, node, ...) \
	fail((conv), (node)->line, (node)->column, __VA_ARGS__)

/*
 * new_node
 *		Allocate a node at a libyaml mark, counting it against the bound.
 */
static Node *
new_node(Converter *conv, NodeKind kind, yaml_mark_t mark)
{
	Node	   *node;

	if (conv->node_count >= SPEC_YAML_MAX_NODES)
	{
		fail(conv, (int) mark.line + 1, (int) mark.column + 1,
			 "document has more than %d nodes", SPEC_YAML_MAX_NODES);
		return NULL;
	}
	if (conv->node_count == conv->node_capacity)
	{
		size_t		capacity = conv->node_capacity ? conv->node_capacity * 2 : 64;
		Node	  **nodes = realloc(conv->nodes, capacity * sizeof(Node *));

		if (nodes == NULL)
		{
			fail_oom(conv);
			return NULL;
		}
		conv->nodes = nodes;
		conv->node_capacity = capacity;
	}
	node = calloc(1, sizeof(Node));
	if (node == NULL)
	{
		fail_oom(conv);
		return NULL;
	}
	node->kind = kind;
	node->line = (int) mark.line + 1;
	node->column = (int) mark.column + 1;
	conv->nodes[conv->node_count++] = node;
	return node;
}

/*
 * append_child
 *		Add a child to a sequence or mapping.
 */
static bool
append_child(Converter *conv, Node *parent, Node *child)
{
	if (parent->count == parent->capacity)
	{
		size_t		capacity = parent->capacity ? parent->capacity * 2 : 8;
		Node	  **items = realloc(parent->items, capacity * sizeof(Node *));

		if (items == NULL)
			return fail_oom(conv);
		parent->items = items;
		parent->capacity = capacity;
	}
	parent->items[parent->count++] = child;
	return true;
}

/*
 * hash_name
 *		FNV-1a of an anchor name.
 */
static size_t
hash_name(const char *name)
{
	uint64_t	hash = 1469598103934665603ULL;

	for (; *name; name++)
		hash = (hash ^ (unsigned char) *name) * 1099511628211ULL;
	return (size_t) hash;
}

/*
 * find_anchor
 *		The node an anchor name is bound to, or NULL.
 */
static Node *
find_anchor(Converter *conv, const char *name)
{
	Anchor	   *anchor;

	if (conv->anchor_buckets == 0)
		return NULL;
	for (anchor = conv->anchors[hash_name(name) % conv->anchor_buckets];
		 anchor != NULL; anchor = anchor->next)
		if (strcmp(anchor->name, name) == 0)
			return anchor->node;
	return NULL;
}

/*
 * bind_anchor
 *		Bind an anchor name to a node.  YAML lets a later anchor of the same
 *		name replace an earlier one for the aliases that follow it.
 */
static bool
bind_anchor(Converter *conv, const char *name, Node *node)
{
	Anchor	   *anchor;
	size_t		bucket;

	if (conv->anchor_count >= conv->anchor_buckets)
	{
		size_t		buckets = conv->anchor_buckets ? conv->anchor_buckets * 4 : 64;
		Anchor	  **table = calloc(buckets, sizeof(Anchor *));
		size_t		i;

		if (table == NULL)
			return fail_oom(conv);
		for (i = 0; i < conv->anchor_buckets; i++)
		{
			while (conv->anchors[i] != NULL)
			{
				Anchor	   *moved = conv->anchors[i];

				conv->anchors[i] = moved->next;
				moved->next = table[hash_name(moved->name) % buckets];
				table[hash_name(moved->name) % buckets] = moved;
			}
		}
		free(conv->anchors);
		conv->anchors = table;
		conv->anchor_buckets = buckets;
	}

	bucket = hash_name(name) % conv->anchor_buckets;
	for (anchor = conv->anchors[bucket]; anchor != NULL; anchor = anchor->next)
	{
		if (strcmp(anchor->name, name) == 0)
		{
			anchor->node = node;
			return true;
		}
	}
	anchor = malloc(sizeof(Anchor));
	if (anchor == NULL || (anchor->name = strdup(name)) == NULL)
	{
		free(anchor);
		return fail_oom(conv);
	}
	anchor->node = node;
	anchor->next = conv->anchors[bucket];
	conv->anchors[bucket] = anchor;
	conv->anchor_count++;
	return true;
}

/*
 * all_digits
 *		Whether s[0..len) is non-empty and made of digits of the given base.
 */
static bool
all_digits(const char *s, size_t len, int base)
{
	size_t		i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (base == 16 ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
						   (c >= 'A' && c <= 'F'))
			: !(c >= '0' && c < '0' + base))
			return false;
	}
	return true;
}

/*
 * equals_any
 *		Whether s[0..len) is one of a NULL-terminated list of words.
 */
static bool
equals_any(const char *s, size_t len, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == len && memcmp(s, *words, len) == 0)
			return true;
	return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};
static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};
static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};

/*
 * set_number
 *		Replace a scalar's text by JSON number text (malloc'd copy of
 *		[start, start+len) prefixed by "-" when negative).
 */
static bool
set_number(Converter *conv, Node *node, bool negative, const char *digits,
		   size_t len)
{
	char	   *number = malloc(len + 2);

	if (number == NULL)
		return fail_oom(conv);
	number[0] = '-';
	memcpy(number + (negative ? 1 : 0), digits, len);
	number[len + (negative ? 1 : 0)] = '\0';
	free(node->text);
	node->text = number;
	node->length = len + (negative ? 1 : 0);
	node->type = SCALAR_NUMBER;
	return true;
}

/*
 * radix_to_decimal
 *		Write an octal or hexadecimal literal as decimal JSON number text.
 *		Schoolbook conversion into base-1e9 limbs: the literal's length is
 *		bounded, so the quadratic cost is too.
 */
static bool
radix_to_decimal(Converter *conv, Node *node, const char *digits, size_t len,
				 int base)
{
	uint32_t   *limbs = calloc(len + 1, sizeof(uint32_t));
	size_t		nlimbs = 1;
	char	   *text;
	size_t		i;
	int			n;

	if (limbs == NULL)
		return fail_oom(conv);
	for (i = 0; i < len; i++)
	{
		char		c = digits[i];
		uint64_t	carry = (c >= '0' && c <= '9') ? (uint64_t) (c - '0') :
		(uint64_t) ((c | 0x20) - 'a' + 10);
		size_t		j;

		for (j = 0; j < nlimbs; j++)
		{
			uint64_t	v = (uint64_t) limbs[j] * (uint64_t) base + carry;

			limbs[j] = (uint32_t) (v % 1000000000U);
			carry = v / 1000000000U;
		}
		if (carry)
			limbs[nlimbs++] = (uint32_t) carry;
	}

	text = malloc(nlimbs * 9 + 1);

	if (text == NULL)
	{
		free(limbs);
		return fail_oom(conv);
	}
	n = sprintf(text, "%u", limbs[nlimbs - 1]);
	for (i = nlimbs - 1; i > 0; i--)
		n += sprintf(text +n, "%09u", limbs[i - 1]);
	free(limbs);
	free(node->text);
	node->text = text;

	node->length = (size_t) n;
	node->type = SCALAR_NUMBER;
	return true;
}

/*
 * fail_too_long
 *		A number literal past SPEC_YAML_MAX_NUMBER_LENGTH.
 */
static bool
fail_too_long(Converter *conv, Node *node)
{
	return fail_at(conv, node,
				   "number longer than %d characters (quote it to make it a string)",
				   SPEC_YAML_MAX_NUMBER_LENGTH);
}

/*
 * resolve_integer
 *		If the scalar is a YAML 1.2 core-schema integer, make it a number.
 *		Returns false with no error when it is not one.
 */
static bool
resolve_integer(Converter *conv, Node *node, bool *is_int)
{
	const char *s = node->text;
	size_t		len = node->length;
	bool		negative = false;

	*is_int = false;
	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x'))
	{
		int			base = s[1] == 'o' ? 8 : 16;

		if (!all_digits(s + 2, len - 2, base))
			return true;
		*is_int = true;
		if (len > SPEC_YAML_MAX_NUMBER_LENGTH)
			return fail_too_long(conv, node);
		while (len > 3 && s[2] == '0')
			s++, len--;			/* leading zeros */
		return radix_to_decimal(conv, node, s + 2, len - 2, base);
	}
	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		negative = s[0] == '-';
		s++, len--;
	}
	if (!all_digits(s, len, 10))
		return true;
	*is_int = true;
	if (len > SPEC_YAML_MAX_NUMBER_LENGTH)
		return fail_too_long(conv, node);
	while (len > 1 && s[0] == '0')
		s++, len--;
	return set_number(conv, node, negative, s, len);
}

/*
 * resolve_float
 *		If the scalar is a YAML 1.2 core-schema float, make it JSON number
 *		text: "+1." becomes "1", ".5" becomes "0.5", "1E+03" stays an
 *		exponent.  Infinity and NaN have no JSON form: they are errors.
 */
static bool
resolve_float(Converter *conv, Node *node, bool *is_float)
{
	const char *s = node->text;
	size_t		len = node->length;
	size_t		i = 0;
	size_t		int_start,
				int_len,
				frac_start,
				frac_len = 0,
				exp_start = 0,
				exp_len = 0;
	bool		negative = false;
	bool		exp_negative = false;
	char	   *number;
	size_t		n = 0;

	*is_float = false;
	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		negative = s[0] == '-';
		i++;
	}
	if (equals_any(s + i, len - i, inf_words) ||
		(i == 0 && equals_any(s, len, nan_words)))
		return fail_at(conv, node,
					   "\"%s\" (infinity or NaN) cannot be represented in JSON",
					   node->text);

	int_start = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	int_len = i - int_start;
	frac_start = i;
	if (i < len && s[i] == '.')
	{
		i++;
		frac_start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		frac_len = i - frac_start;
	}
	if (int_len == 0 && frac_len == 0)
		return true;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			exp_negative = s[i++] == '-';
		exp_start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		exp_len = i - exp_start;
		if (exp_len == 0)
			return true;
	}
	if (i != len)
		return true;
	*is_float = true;
	if (len > SPEC_YAML_MAX_NUMBER_LENGTH)
		return fail_too_long(conv, node);

	/* strip leading zeros of both parts, then check the exponent's size */
	while (int_len > 1 && s[int_start] == '0')
		int_start++, int_len--;
	while (exp_len > 1 && s[exp_start] == '0')
		exp_start++, exp_len--;
	if (exp_len > 4 || (exp_len > 0 && atoi(s + exp_start) > SPEC_YAML_MAX_EXPONENT))
		return fail_at(conv, node,
					   "number \"%s\" has an exponent beyond %d",
					   node->text, SPEC_YAML_MAX_EXPONENT);

	number = malloc(len + 4);
	if (number == NULL)
		return fail_oom(conv);
	if (negative)
		number[n++] = '-';
	if (int_len == 0)
		number[n++] = '0';
	memcpy(number + n, s + int_start, int_len);
	n += int_len;
	if (frac_len > 0)
	{
		number[n++] = '.';
		memcpy(number + n, s + frac_start, frac_len);
		n += frac_len;
	}
	if (exp_len > 0)
	{
		number[n++] = 'e';
		if (exp_negative)
			number[n++] = '-';
		memcpy(number + n, s + exp_start, exp_len);
		n += exp_len;
	}
	number[n] = '\0';
	free(node->text);
	node->text = number;
	node->length = n;
	node->type = SCALAR_NUMBER;
	return true;
}

/*
 * resolve_plain
 *		Resolve an untagged plain scalar with the YAML 1.2 core schema.
 *		"yes", "no", "on" and "off" are strings there (they were booleans in
 *		YAML 1.1).
 */
static bool
resolve_plain(Converter *conv, Node *node)
{
	bool		matched;

	if (equals_any(node->text, node->length, null_words))
		node->type = SCALAR_NULL;
	else if (equals_any(node->text, node->length, true_words))
		node->type = SCALAR_TRUE;
	else if (equals_any(node->text, node->length, false_words))
		node->type = SCALAR_FALSE;
	else if (node->length > 0 && strchr("-+.0123456789", node->text[0]) != NULL)
	{
		if (!resolve_integer(conv, node, &matched))
			return false;
		if (!matched && !resolve_float(conv, node, &matched))
			return false;
	}
	return true;
}

/*
 * short_tag
 *		A tag as the user wrote it: "!!int" rather than the full URI.
 */
static const char *
short_tag(const char *tag, char *buf, size_t size)
{
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) == 0)
		snprintf(buf, size, "!!%s", tag + strlen(YAML_TAG_PREFIX));
	else
		snprintf(buf, size, "%s", tag);
	return buf;
}

/*
 * resolve_tagged
 *		Resolve a scalar with an explicit tag: !!str, !!null, !!bool, !!int
 *		and !!float are honoured (the value must fit the tag); "!" makes a
 *		string; any other tag is an error.
 */
static bool
resolve_tagged(Converter *conv, Node *node, const char *tag)
{
	char		buf[64];
	const char *name;
	bool		matched = false;

	if (strcmp(tag, "!") == 0 || strcmp(tag, YAML_TAG_PREFIX "str") == 0)
		return true;
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) != 0)
		return fail_at(conv, node,
					   "unknown tag \"%s\" (expected !!str, !!int, !!float, !!bool, !!null, !!map or !!seq)",
					   short_tag(tag, buf, sizeof(buf)));
	name = tag + strlen(YAML_TAG_PREFIX);

	if (strcmp(name, "null") == 0)
	{
		matched = equals_any(node->text, node->length, null_words);
		node->type = SCALAR_NULL;
	}
	else if (strcmp(name, "bool") == 0)
	{
		matched = true;
		if (equals_any(node->text, node->length, true_words))
			node->type = SCALAR_TRUE;
		else if (equals_any(node->text, node->length, false_words))
			node->type = SCALAR_FALSE;
		else
			matched = false;
	}
	else if (strcmp(name, "int") == 0)
	{
		if (!resolve_integer(conv, node, &matched))
			return false;
	}
	else if (strcmp(name, "float") == 0)
	{
		if (!resolve_integer(conv, node, &matched))
			return false;
		if (!matched && !resolve_float(conv, node, &matched))
			return false;
	}
	else if (strcmp(name, "map") == 0 || strcmp(name, "seq") == 0)
		return fail_at(conv, node, "tag \"!!%s\" on a scalar", name);
	else
		return fail_at(conv, node,
					   "unknown tag \"!!%s\" (expected !!str, !!int, !!float, !!bool, !!null, !!map or !!seq)",
					   name);

	if (!matched)
		return fail_at(conv, node, "\"%s\" is not a valid !!%s",
					   node->text, name);
	return true;
}

/*
 * check_collection_tag
 *		A sequence may be tagged !!seq or "!", a mapping !!map or "!".
 */
static bool
check_collection_tag(Converter *conv, Node *node, const char *tag)
{
	const char *expected = node->kind == NODE_MAPPING ?
	YAML_TAG_PREFIX "map" : YAML_TAG_PREFIX "seq";
	char		buf[64];

	if (tag == NULL || strcmp(tag, "!") == 0 || strcmp(tag, expected) == 0)
		return true;
	return fail_at(conv, node, "tag \"%s\" on a %s",
				   short_tag(tag, buf, sizeof(buf)),
				   node->kind == NODE_MAPPING ? "mapping" : "sequence");
}

/*
 * read_scalar
 *		Make a node of a scalar event and resolve its type.
 */
static Node *
read_scalar(Converter *conv, yaml_event_t *event)
{
	Node	   *node = new_node(conv, NODE_SCALAR, event->start_mark);
	const char *tag = (const char *) event->data.scalar.tag;
	bool		ok;

	if (node == NULL)
		return NULL;
	node->text = malloc(event->data.scalar.length + 1);
	if (node->text == NULL)
	{
		fail_oom(conv);
		return NULL;
	}
	memcpy(node->text, event->data.scalar.value, event->data.scalar.length);
	node->text[event->data.scalar.length] = '\0';
	node->length = event->data.scalar.length;
	node->type = SCALAR_STRING;
	node->complete = true;

	if (memchr(node->text, '\0', node->length) != NULL)
	{
		fail_at(conv, node, "strings must not contain NUL characters");
		return NULL;
	}

	if (tag != NULL)
		ok = resolve_tagged(conv, node, tag);
	else if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
	{
		node->merge_key = node->length == 2 && memcmp(node->text, "<<", 2) == 0;
		ok = resolve_plain(conv, node);
	}
	else
		ok = true;				/* quoted, literal or folded: a string */
	return ok ? node : NULL;
}

/*
 * attach
 *		Put a node where it belongs: the root, an item of the open sequence,
 *		or a key or value of the open mapping (keys must be scalars).
 */
static bool
attach(Converter *conv, Node **stack, int depth, Node **root, Node *node,
	   yaml_mark_t mark)
{
	Node	   *parent;

	if (depth == 0)
	{
		*root = node;
		return true;
	}
	parent = stack[depth - 1];
	if (parent->kind == NODE_MAPPING && parent->count % 2 == 0 &&
		node->kind != NODE_SCALAR)
		return fail(conv, (int) mark.line + 1, (int) mark.column + 1,
					"mapping keys must be scalars, not a %s",
					node->kind == NODE_MAPPING ? "mapping" : "sequence");
	return append_child(conv, parent, node);
}

/*
 * fail_libyaml
 *		Record libyaml's own error, with its position and context.
 */
static void
fail_libyaml(Converter *conv, yaml_parser_t *parser)
{
	int			line = (int) parser->problem_mark.line + 1;
	int			column = (int) parser->problem_mark.column + 1;

	if (parser->error == YAML_MEMORY_ERROR)
	{
		fail_oom(conv);
		return;
	}
	if (parser->error == YAML_READER_ERROR)
	{
		/* the reader knows a byte offset only: count lines up to it */
		size_t		i;
		size_t		offset = parser->problem_offset < conv->input_len ?
		parser->problem_offset : conv->input_len;

		line = 1;
		column = 1;
		for (i = 0; i < offset; i++)
		{
			if (conv->input[i] == '\n')
				line++, column = 1;
			else
				column++;
		}
	}
	fail(conv, line, column, "%s",
		 parser->problem ? parser->problem : "invalid YAML");
	if (parser->context != NULL)
		snprintf(conv->error->context, sizeof(conv->error->context),
				 "%s at line %d, column %d", parser->context,
				 (int) parser->context_mark.line + 1,
				 (int) parser->context_mark.column + 1);
}

/*
 * read_document
 *		First pass: libyaml events to a tree.  Returns the root (NULL for an
 *		empty stream: *empty is then set) or NULL on error.
 */
static Node *
read_document(Converter *conv, bool *empty)
{
	yaml_parser_t parser;
	yaml_event_t event;
	Node	   *stack[SPEC_YAML_MAX_DEPTH];
	int			depth = 0;
	Node	   *root = NULL;
	int			documents = 0;
	bool		done = false;

	*empty = false;
	if (!yaml_parser_initialize(&parser))
	{
		fail_oom(conv);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *) conv->input,
								 conv->input_len);

	while (!done && !conv->failed)
	{
		Node	   *node = NULL;
		const char *anchor = NULL;

		if (!yaml_parser_parse(&parser, &event))
		{
			fail_libyaml(conv, &parser);
			break;
		}

		switch (event.type)
		{
			case YAML_STREAM_END_EVENT:
				done = true;
				break;
			case YAML_DOCUMENT_START_EVENT:
				if (++documents > 1)
					fail(conv, (int) event.start_mark.line + 1,
						 (int) event.start_mark.column + 1,
						 "more than one document (expected a single tenant spec)");
				break;
			case YAML_ALIAS_EVENT:
				node = find_anchor(conv, (const char *) event.data.alias.anchor);
				if (node == NULL)
					fail(conv, (int) event.start_mark.line + 1,
						 (int) event.start_mark.column + 1,
						 "undefined alias \"*%s\"", event.data.alias.anchor);
				else if (!node->complete)
					fail(conv, (int) event.start_mark.line + 1,
						 (int) event.start_mark.column + 1,
						 "alias \"*%s\" refers to a node that contains it",
						 event.data.alias.anchor);
				else
					attach(conv, stack, depth, &root, node, event.start_mark);
				break;
			case YAML_SCALAR_EVENT:
				node = read_scalar(conv, &event);
				anchor = (const char *) event.data.scalar.anchor;
				if (node != NULL && (anchor == NULL || bind_anchor(conv, anchor, node)))
					attach(conv, stack, depth, &root, node, event.start_mark);
				break;
			case YAML_SEQUENCE_START_EVENT:
			case YAML_MAPPING_START_EVENT:
				if (depth >= SPEC_YAML_MAX_DEPTH)
				{
					fail(conv, (int) event.start_mark.line + 1,
						 (int) event.start_mark.column + 1,
						 "nesting deeper than %d levels", SPEC_YAML_MAX_DEPTH);
					break;
				}
				node = new_node(conv,
								event.type == YAML_MAPPING_START_EVENT ?
								NODE_MAPPING : NODE_SEQUENCE,
								event.start_mark);
				if (node == NULL)
					break;
				if (event.type == YAML_MAPPING_START_EVENT)
					anchor = (const char *) event.data.mapping_start.anchor;
				else
					anchor = (const char *) event.data.sequence_start.anchor;
				if (!check_collection_tag(conv, node,
										  event.type == YAML_MAPPING_START_EVENT ?
										  (const char *) event.data.mapping_start.tag :
										  (const char *) event.data.sequence_start.tag))
					break;
				if ((anchor == NULL || bind_anchor(conv, anchor, node)) &&
					attach(conv, stack, depth, &root, node, event.start_mark))
					stack[depth++] = node;
				break;
			case YAML_SEQUENCE_END_EVENT:
			case YAML_MAPPING_END_EVENT:
				stack[--depth]->complete = true;
				break;
			default:
				break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);

	if (conv->failed)
		return NULL;
	*empty = (root == NULL);
	return root;
}

/*
 * put
 *		Append bytes to the output, within its bound.
 */
static bool
put(Converter *conv, const char *bytes, size_t len)
{
	if (conv->out_len + len > SPEC_YAML_MAX_OUTPUT_BYTES)
		return fail(conv, 0, 0, "converted document is larger than %d bytes",
					SPEC_YAML_MAX_OUTPUT_BYTES);
	if (conv->out_len + len + 1 > conv->out_capacity)
	{
		size_t		capacity = conv->out_capacity ? conv->out_capacity : 1024;
		char	   *out;

		while (capacity < conv->out_len + len + 1)
			capacity *= 2;
		out = realloc(conv->out, capacity);
		if (out == NULL)
			return fail_oom(conv);
		conv->out = out;
		conv->out_capacity = capacity;
	}
	memcpy(conv->out + conv->out_len, bytes, len);
	conv->out_len += len;
	conv->out[conv->out_len] = '\0';
	return true;
}

/*
 * put_string
 *		Append a JSON string literal.  libyaml hands out valid UTF-8, so only
 *		quotes, backslashes and control characters need escaping.
 */
static bool
put_string(Converter *conv, const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i;

	if (!put(conv, "\"", 1))
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		escape[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (!put(conv, s + start, i - start))
			return false;
		if (c == '"' || c == '\\')
			snprintf(escape, sizeof(escape), "\\%c", c);
		else if (c == '\n')
			strcpy(escape, "\\n");
		else if (c == '\t')
			strcpy(escape, "\\t");
		else if (c == '\r')
			strcpy(escape, "\\r");
		else
			snprintf(escape, sizeof(escape), "\\u%04x", c);
		if (!put(conv, escape, strlen(escape)))
			return false;
		start = i + 1;
	}
	return put(conv, s + start, len - start) && put(conv, "\"", 1);
}

/*
 * key_text
 *		The JSON key a scalar key becomes: strings as they are, other
 *		scalars as their JSON text ("1", "true", "null").
 */
static const char *
key_text(const Node *key, size_t *len)
{
	switch (key->type)
	{
		case SCALAR_NULL:
			*len = 4;
			return "null";
		case SCALAR_TRUE:
			*len = 4;
			return "true";
		case SCALAR_FALSE:
			*len = 5;
			return "false";
		default:
			*len = key->length;
			return key->text;
	}
}

/*
 * compare_keys
 *		Order two scalar keys by their JSON key text.
 */
static int
compare_keys(const Node *a, const Node *b)
{
	size_t		alen,
				blen;
	const char *as = key_text(a, &alen);
	const char *bs = key_text(b, &blen);
	int			cmp = memcmp(as, bs, alen < blen ? alen : blen);

	if (cmp != 0)
		return cmp;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/*
 * compare_entries_by_key
 *		qsort: by key text, then precedence.
 */
static int
compare_entries_by_key(const void *a, const void *b)
{
	const MapEntry *x = a;
	const MapEntry *y = b;
	int			cmp = compare_keys(x->key, y->key);

	if (cmp != 0)
		return cmp;
	return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

/*
 * compare_entries_by_order
 *		qsort: by precedence, which is also document order.
 */
static int
compare_entries_by_order(const void *a, const void *b)
{
	const MapEntry *x = a;
	const MapEntry *y = b;

	return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

typedef struct EntryList
{
	MapEntry   *items;
	size_t		count;
	size_t		capacity;
} EntryList;

/*
 * collect_entries
 *		Gather a mapping's keys in precedence order: its own keys first, then
 *		those of each mapping merged with "<<" (a mapping or a sequence of
 *		mappings, earlier ones first), recursively.  Each key read counts as
 *		a node written, so that chains of merges stay bounded.
 */
static bool
collect_entries(Converter *conv, Node *map, EntryList *list, int depth)
{
	size_t		instance = ++conv->instances;
	size_t		i;

	if (depth > SPEC_YAML_MAX_DEPTH)
		return fail_at(conv, map, "merge keys nested deeper than %d levels",
					   SPEC_YAML_MAX_DEPTH);
	for (i = 0; i + 1 < map->count; i += 2)
	{
		if (map->items[i]->merge_key)
			continue;
		if (++conv->written > SPEC_YAML_MAX_NODES)
			return fail_at(conv, map,
						   "document expands to more than %d nodes (through aliases or merge keys)",
						   SPEC_YAML_MAX_NODES);
		if (list->count == list->capacity)
		{
			size_t		capacity = list->capacity ? list->capacity * 2 : 16;
			MapEntry   *items = realloc(list->items, capacity * sizeof(MapEntry));

			if (items == NULL)
				return fail_oom(conv);
			list->items = items;
			list->capacity = capacity;
		}
		list->items[list->count].key = map->items[i];
		list->items[list->count].value = map->items[i + 1];
		list->items[list->count].order = list->count;
		list->items[list->count].instance = instance;
		list->count++;
	}

	for (i = 0; i + 1 < map->count; i += 2)
	{
		Node	   *source = map->items[i + 1];

		if (!map->items[i]->merge_key)
			continue;
		if (source->kind == NODE_MAPPING)
		{
			if (!collect_entries(conv, source, list, depth + 1))
				return false;
		}
		else if (source->kind == NODE_SEQUENCE)
		{
			size_t		j;

			for (j = 0; j < source->count; j++)
			{
				if (source->items[j]->kind != NODE_MAPPING)
					return fail_at(conv, source->items[j],
								   "a merge key (<<) takes mappings only");
				if (!collect_entries(conv, source->items[j], list, depth + 1))
					return false;
			}
		}
		else
			return fail_at(conv, source,
						   "a merge key (<<) takes a mapping or a sequence of mappings");
	}
	return true;
}

static bool write_node(Converter *conv, Node *node, int depth);

/*
 * write_mapping
 *		Write a mapping as a JSON object: merge keys expanded, a key of its
 *		own overriding a merged one, a key repeated in one mapping an error.
 */
static bool
write_mapping(Converter *conv, Node *map, int depth)
{
	EntryList	list = {NULL, 0, 0};
	size_t		kept = 0;
	size_t		i;
	bool		ok;

	ok = collect_entries(conv, map, &list, 0);
	if (ok && list.count > 1)
	{
		qsort(list.items, list.count, sizeof(MapEntry), compare_entries_by_key);
		for (i = 0; i < list.count; i++)
		{
			if (kept > 0 &&
				compare_keys(list.items[i].key, list.items[kept - 1].key) == 0)
			{
				if (list.items[i].instance == list.items[kept - 1].instance)
				{
					size_t		len;
					const char *key = key_text(list.items[i].key, &len);

					ok = fail_at(conv, list.items[i].key,
								 "duplicate key \"%.*s\" (first at line %d, column %d)",
								 (int) (len > 100 ? 100 : len), key,
								 list.items[kept - 1].key->line,
								 list.items[kept - 1].key->column);
					break;
				}
				continue;		/* a merged key overridden */
			}
			list.items[kept++] = list.items[i];
		}
		list.count = kept;
		qsort(list.items, list.count, sizeof(MapEntry), compare_entries_by_order);
	}

	ok = ok && put(conv, "{", 1);
	for (i = 0; ok && i < list.count; i++)
	{
		size_t		len;
		const char *key = key_text(list.items[i].key, &len);

		ok = (i == 0 || put(conv, ",", 1)) &&
			put_string(conv, key, len) &&
			put(conv, ":", 1) &&
			write_node(conv, list.items[i].value, depth + 1);
	}
	ok = ok && put(conv, "}", 1);
	free(list.items);
	return ok;
}

/*
 * write_node
 *		Second pass: write one node (aliases expand here, bounded by the
 *		count of nodes written and the depth).
 */
static bool
write_node(Converter *conv, Node *node, int depth)
{
	size_t		i;

	if (depth >= SPEC_YAML_MAX_DEPTH)
		return fail_at(conv, node,
					   "nesting deeper than %d levels (through aliases)",
					   SPEC_YAML_MAX_DEPTH);
	if (++conv->written > SPEC_YAML_MAX_NODES)
		return fail_at(conv, node,
					   "document expands to more than %d nodes (through aliases or merge keys)",
					   SPEC_YAML_MAX_NODES);

	switch (node->kind)
	{
		case NODE_SCALAR:
			switch (node->type)
			{
				case SCALAR_STRING:
					return put_string(conv, node->text, node->length);
				case SCALAR_NULL:
					return put(conv, "null", 4);
				case SCALAR_TRUE:
					return put(conv, "true", 4);
				case SCALAR_FALSE:
					return put(conv, "false", 5);
				case SCALAR_NUMBER:
					return put(conv, node->text, node->length);
			}
			break;
		case NODE_SEQUENCE:
			if (!put(conv, "[", 1))
				return false;
			for (i = 0; i < node->count; i++)
				if ((i > 0 && !put(conv, ",", 1)) ||
					!write_node(conv, node->items[i], depth + 1))
					return false;
			return put(conv, "]", 1);
		case NODE_MAPPING:
			return write_mapping(conv, node, depth);
	}
	return fail_at(conv, node, "unexpected node");
}

/*
 * free_converter
 *		Free every node and anchor.
 */
static void
free_converter(Converter *conv)
{
	size_t		i;

	for (i = 0; i < conv->node_count; i++)
	{
		free(conv->nodes[i]->text);
		free(conv->nodes[i]->items);
		free(conv->nodes[i]);
	}
	free(conv->nodes);
	for (i = 0; i < conv->anchor_buckets; i++)
	{
		while (conv->anchors[i] != NULL)
		{
			Anchor	   *next = conv->anchors[i]->next;

			free(conv->anchors[i]->name);
			free(conv->anchors[i]);
			conv->anchors[i] = next;
		}
	}
	free(conv->anchors);
}

/*
 * SpecYamlToJson
 *		Convert one YAML document to JSON text (see spec_yaml.h).
 */
char *
SpecYamlToJson(const char *input, size_t input_len, size_t *json_len,
			   SpecYamlError *error)
{
	Converter	conv;
	Node	   *root;
	bool		empty;

	memset(&conv, 0, sizeof(conv));
	memset(error, 0, sizeof(*error));
	conv.input = input;
	conv.input_len = input_len;
	conv.error = error;

	if (input_len > SPEC_YAML_MAX_INPUT_BYTES)
	{
		fail(&conv, 0, 0, "input is larger than %d bytes",
			 SPEC_YAML_MAX_INPUT_BYTES);
		return NULL;
	}

	root = read_document(&conv, &empty);
	if (root != NULL)
		write_node(&conv, root, 0);
	else if (empty)
		put(&conv, "null", 4);
	free_converter(&conv);

	if (conv.failed)
	{
		free(conv.out);
		return NULL;
	}
	*json_len = conv.out_len;
	return conv.out;
}
