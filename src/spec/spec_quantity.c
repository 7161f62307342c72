/*-------------------------------------------------------------------------
 *
 * spec_quantity.c
 *	  Kubernetes resource quantities ("500m", "2", "32Gi", "1e3"), read the
 *	  way Kubernetes reads them, so that the spec validator can compare a
 *	  request with its limit by value.
 *
 * The grammar (k8s.io/apimachinery/pkg/api/resource):
 *	  quantity  ::= [+-] number suffix
 *	  number    ::= digits | digits "." digits | digits "." | "." digits
 *	  suffix    ::= binarySI | decimalSI | ("e" | "E") [+-] digits
 *	  binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
 *	  decimalSI ::= n | u | m | "" | k | M | G | T | P | E
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "spec.h"

/* Longest quantity text accepted. */
#define QUANTITY_MAX_LENGTH 64

typedef struct QuantitySuffix
{
	const char *suffix;
	double		multiplier;
} QuantitySuffix;

static const QuantitySuffix suffixes[] = {
	{"Ki", 1024.0},
	{"Mi", 1048576.0},
	{"Gi", 1073741824.0},
	{"Ti", 1099511627776.0},
	{"Pi", 1125899906842624.0},
	{"Ei", 1152921504606846976.0},
	{"n", 1e-9},
	{"u", 1e-6},
	{"m", 1e-3},
	{"", 1.0},
	{"k", 1e3},
	{"M", 1e6},
	{"G", 1e9},
	{"T", 1e12},
	{"P", 1e15},
	{"E", 1e18},
	{NULL, 0}
};

/*
 * SpecParseQuantity
 *		Read a quantity into *value (in base units: cores, bytes, pods).
 *		False when the text is not a quantity.
 */
bool
SpecParseQuantity(const char *text, double *value)
{
	const char *p = text;
	const char *number_start;
	char		number[QUANTITY_MAX_LENGTH + 1];
	int			digits = 0;
	const QuantitySuffix *s;

	if (strlen(text) > QUANTITY_MAX_LENGTH)
		return false;
	if (*p == '+' || *p == '-')
		p++;
	number_start = text;

	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (digits == 0)
		return false;
	memcpy(number, number_start, p - number_start);
	number[p - number_start] = '\0';
	*value = strtod(number, NULL);

	if ((*p == 'e' || *p == 'E') && p[1] != '\0')
	{
		const char *exponent = p + 1;
		int			n = 0;

		if (*exponent == '+' || *exponent == '-')
			exponent++;
		while (exponent[n] >= '0' && exponent[n] <= '9')
			n++;
		if (n == 0 || n > 3 || exponent[n] != '\0')
			return false;
		*value *= pow(10.0, atoi(p + 1));
		return true;
	}
	for (s = suffixes; s->suffix; s++)
	{
		if (strcmp(p, s->suffix) == 0)
		{
			*value *= s->multiplier;
			return true;
		}
	}
	return false;
}
