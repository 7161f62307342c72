/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  SpiExecuteKept: the one way tenancy runs its own catalog statements
 *	  through SPI with a plan kept for the life of the backend.  A leaf:
 *	  the planner, placement, provision and the journal use it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "plan.h"

/*
 * SpiExecuteKept
 *		Run a catalog statement of the extension through a plan prepared on
 *		first use and kept for the life of the backend (*plan caches it);
 *		the caller is connected to SPI.  An unexpected result is an internal
 *		error.
 *
 * The plan cache revalidates a kept plan before each use and prepares it
 * again from the statement's text when a table it uses was dropped and
 * created again (DROP and CREATE EXTENSION in one session).  Plans are
 * generic: the statements follow an index or insert whatever the values.
 */
int
SpiExecuteKept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			   Datum *values, const char *nulls, int expected)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare_cursor(sql, nargs, types,
												  CURSOR_OPT_GENERIC_PLAN);

		if (prepared == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not keep the plan of \"%s\"", sql);
		*plan = prepared;
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "tenancy catalog statement failed: %s",
			 SPI_result_code_string(rc));
	return rc;
}
