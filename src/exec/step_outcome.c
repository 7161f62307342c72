/*-------------------------------------------------------------------------
 *
 * step_outcome.c
 *	  The one way to set a step's outcome with a formatted message: used by
 *	  the step executor (step_exec.c) and by every handler.
 *
 * A leaf of the executor layer: it depends on nothing but the StepOutcome
 * type, so the executor no longer calls up into a handler file for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "step_exec.h"

/*
 * StepSetOutcome
 *		Set an outcome's kind and its message (palloc'd in the current
 *		memory context).  The message is stored in tenancy.steps.last_error:
 *		never a secret in it.
 */
void
StepSetOutcome(StepOutcome *outcome, StepOutcomeKind kind, const char *fmt,...)
{
	StringInfoData buf;

	outcome->kind = kind;
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	outcome->message = buf.data;
}
