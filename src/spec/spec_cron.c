/*-------------------------------------------------------------------------
 *
 * spec_cron.c
 *	  Five-field cron schedules, as the spec gives them for bronze jobs and
 *	  dbt layers (and as Airflow and pg_cron take them).
 *
 * Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
 * jan-dec), day of week (0-7, 0 and 7 both Sunday, or sun-sat).  Each is a
 * comma-separated list of "*", "n", "n-m", each optionally "/step".  The
 * macros @hourly, @daily, @midnight, @weekly, @monthly, @yearly and
 * @annually are accepted too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "spec.h"

typedef struct CronField
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* names for min, min+1, ...; or NULL */
} CronField;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
"jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri",
"sat", NULL};

static const CronField fields[] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day-of-week", 0, 7, day_names},
};

static const char *const macros[] = {"@hourly", "@daily", "@midnight", "@weekly",
"@monthly", "@yearly", "@annually", NULL};

/*
 * cron_value
 *		One value of a field: a number or (month, day of week) a name.
 *		Returns the problem, or NULL with *value set.
 */
static const char *
cron_value(const CronField *field, const char *text, int *value)
{
	const char *const *name;
	int			i;

	if (text[0] == '\0')
		return psprintf("%s field has an empty value", field->name);
	if (strspn(text, "0123456789") == strlen(text))
	{
		if (strlen(text) > 2 || (*value = atoi(text)) < field->min || *value > field->max)
			return psprintf("%s field value \"%s\" is out of range %d-%d",
							field->name, text, field->min, field->max);
		return NULL;
	}
	for (name = field->names, i = 0; name && *name; name++, i++)
	{
		if (pg_strcasecmp(*name, text) == 0)
		{
			*value = field->min + i;
			return NULL;
		}
	}
	return psprintf("%s field value \"%.20s\" is not a number%s", field->name, text,
					field->names ? " or a name" : "");
}

/*
 * cron_item
 *		One comma-separated item of a field: *, n or n-m, then /step.
 */
static const char *
cron_item(const CronField *field, char *item)
{
	char	   *slash = strchr(item, '/');
	char	   *dash;
	const char *problem;
	int			low,
				high;

	if (slash)
	{
		*slash = '\0';
		if (slash[1] == '\0' || strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
			strlen(slash + 1) > 2 || atoi(slash + 1) < 1)
			return psprintf("%s field step \"%.20s\" must be a number from 1 to 99",
							field->name, slash + 1);
	}
	if (strcmp(item, "*") == 0)
		return NULL;
	dash = strchr(item, '-');
	if (dash)
		*dash = '\0';
	if ((problem = cron_value(field, item, &low)) != NULL)
		return problem;
	if (dash)
	{
		if ((problem = cron_value(field, dash + 1, &high)) != NULL)
			return problem;
		if (low > high)
			return psprintf("%s field range %d-%d is backwards", field->name, low, high);
	}
	return NULL;
}

/*
 * SpecCronProblem
 *		NULL when schedule is a valid cron schedule, else what is wrong.
 */
const char *
SpecCronProblem(const char *schedule)
{
	char	   *copy = pstrdup(schedule);
	char	   *words[6];
	int			count = 0;
	char	   *save;
	char	   *word;
	int			f;

	if (schedule[0] == '@')
	{
		const char *const *m;

		for (m = macros; *m; m++)
			if (strcmp(*m, schedule) == 0)
				return NULL;
		return "unknown macro (expected @hourly, @daily, @weekly, @monthly or @yearly)";
	}

	for (word = strtok_r(copy, " \t", &save); word; word = strtok_r(NULL, " \t", &save))
	{
		if (count == 6)
			break;
		words[count++] = word;
	}
	if (count != 5)
		return psprintf("expected 5 fields (minute hour day-of-month month day-of-week), found %s",
						count == 6 ? "more" : psprintf("%d", count));

	for (f = 0; f < 5; f++)
	{
		char	   *item;
		char	   *item_save;

		if (words[f][0] == ',' || words[f][strlen(words[f]) - 1] == ',' ||
			strstr(words[f], ",,"))
			return psprintf("%s field has an empty list item", fields[f].name);
		for (item = strtok_r(words[f], ",", &item_save); item;
			 item = strtok_r(NULL, ",", &item_save))
		{
			const char *problem = cron_item(&fields[f], item);

			if (problem)
				return problem;
		}
	}
	return NULL;
}
