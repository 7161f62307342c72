/*-------------------------------------------------------------------------
 *
 * spec_validate.h
 *	  The toolkit the tenant spec validators share: a JSON path being
 *	  built, the problems found so far, and checks of one field each that
 *	  report at that field's path and never throw.
 *
 * spec_check.c holds the toolkit; spec_validate.c the entry points, which
 * call the section validators: spec_tenant.c (tenant, features, sla,
 * billing), spec_warehouse.c and spec_resources.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SPEC_VALIDATE_H
#define SPEC_VALIDATE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "spec.h"

/* Longest string accepted where a field says nothing narrower. */
#define SPEC_MAX_STRING 1024

typedef struct SpecValidator
{
	List	   *problems;		/* of SpecProblem * */
	StringInfoData path;		/* JSON path of the value being checked */
} SpecValidator;

/* A number's allowed range. */
typedef struct SpecRange
{
	bool		integer;		/* whole numbers only */
	double		min;
	bool		min_exclusive;	/* min itself is out of range */
	double		max;			/* HUGE_VAL: no upper bound */
} SpecRange;

/* A section validator: called with the path pointing at the object. */
typedef void (*SpecObjectCheck) (SpecValidator *v, JsonbContainer *obj);

/* An array element validator: path points at the element. */
typedef void (*SpecElementCheck) (SpecValidator *v, JsonbValue *element, int index);

/* A free-form mapping's entry validator: path points at the key. */
typedef void (*SpecEntryCheck) (SpecValidator *v, const char *key, JsonbValue *value);

/* paths and problems */
extern int	SpecPathPushKey(SpecValidator *v, const char *key);
extern int	SpecPathPushIndex(SpecValidator *v, int index);
extern void SpecPathPop(SpecValidator *v, int mark);
extern void SpecReport(SpecValidator *v, const char *fmt,...) pg_attribute_printf(2, 3);
extern void SpecReportAt(SpecValidator *v, const char *key, const char *fmt,...) pg_attribute_printf(3, 4);
extern char *SpecQuote(const char *value);

/* reading values */
extern bool SpecGet(JsonbContainer *obj, const char *key, JsonbValue *value);
extern JsonbContainer *SpecValueObject(JsonbValue *value);
extern JsonbContainer *SpecValueArray(JsonbValue *value);
extern char *SpecValueText(JsonbValue *value);
extern bool SpecValueNumber(JsonbValue *value, double *number, char **text);

/* checks of one field of an object, reported at its path */
extern void SpecCheckKeys(SpecValidator *v, JsonbContainer *obj, const char *const *known);
extern void SpecVisitObject(SpecValidator *v, JsonbContainer *parent, const char *key,
							bool required, SpecObjectCheck check);
extern void SpecVisitArray(SpecValidator *v, JsonbContainer *parent, const char *key,
						   bool required, SpecElementCheck check);
extern void SpecVisitEntries(SpecValidator *v, JsonbContainer *obj, SpecEntryCheck check);
extern JsonbContainer *SpecElementObject(SpecValidator *v, JsonbValue *element);
extern char *SpecString(SpecValidator *v, JsonbContainer *obj, const char *key,
						bool required, int max_length);
extern int	SpecEnum(SpecValidator *v, JsonbContainer *obj, const char *key,
					 bool required, const char *const *choices);
extern int	SpecBool(SpecValidator *v, JsonbContainer *obj, const char *key, bool required);
extern bool SpecNumber(SpecValidator *v, JsonbContainer *obj, const char *key,
					   bool required, const SpecRange *range, double *number);
extern void SpecStringList(SpecValidator *v, JsonbContainer *obj, const char *key,
						   bool required, bool (*valid) (const char *), const char *what);

/* formats */
extern bool SpecIsIdentifier(const char *s);
extern bool SpecIsEmail(const char *s);
extern bool SpecIsHttpsUrl(const char *s);
extern void SpecCheckSchedule(SpecValidator *v, JsonbContainer *obj, const char *key,
							  bool required);

/* sections */
extern void SpecValidateTenant(SpecValidator *v, JsonbContainer *tenant);
extern void SpecValidateFeatures(SpecValidator *v, JsonbContainer *features);
extern void SpecValidateSla(SpecValidator *v, JsonbContainer *sla);
extern void SpecValidateBilling(SpecValidator *v, JsonbContainer *billing);
extern void SpecValidateWarehouse(SpecValidator *v, JsonbContainer *warehouse);
extern void SpecValidateResources(SpecValidator *v, JsonbContainer *resources);

#endif							/* SPEC_VALIDATE_H */
