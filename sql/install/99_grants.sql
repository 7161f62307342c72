
/*
 * 99_grants.sql: who may call what.  Runs last, so it covers every function
 * the fragments before it created: nothing in schema tenancy is executable
 * by PUBLIC; tenancy_admin gets everything.  Functions that tenant roles must
 * reach (the row-level-security helper) are granted explicitly below.
 */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenancy FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tenancy TO tenancy_admin;

-- The registry of warehouse servers is superuser-only: a connection string
-- decides which of the server's files the worker reads (passfile, service,
-- sslkey, sslcert) and where it sends the passwords of its password file
-- (tenancy.remote_passfile), so whoever registers a server could collect
-- them or probe the network from the server.  The functions check it too.
REVOKE EXECUTE ON FUNCTION tenancy.register_server(text, text, integer, boolean, text[]),
	tenancy.reconcile_created_objects(),
	tenancy.drop_server(text) FROM tenancy_admin;

-- The journal's writers are internal: a step is a request the worker sends
-- with its own credentials (30_operations.sql).
REVOKE EXECUTE ON FUNCTION tenancy.journal_add_operation(bigint, text, bigint),
	tenancy.journal_add_step(bigint, integer, text, text, text, jsonb, integer[]),
	tenancy.journal_restart(bigint, boolean),
	tenancy.journal_cancel(bigint, text) FROM tenancy_admin;

-- Forgetting a tenant leaves its roles and schemas with no record: superusers
-- only (the function checks it too).
REVOKE EXECUTE ON FUNCTION tenancy.forget(text),
	tenancy.refuse_shared_rows(text) FROM tenancy_admin;

-- Row-level security policies and the tenant column's default of shared
-- tables call it as the tenant's roles, and tenants call it themselves: USAGE
-- on the schema lets every role name it.  Nothing else is reachable through
-- that USAGE: no other function, table, view or sequence is granted to
-- PUBLIC.  The row types of the tables and views can be named; tenant roles
-- are refused DDL that would depend on one (tenant_guard.c: a column of type
-- tenancy.tenants would block DROP EXTENSION and upgrades).  Their USAGE is
-- not revoked: pg_dump warns about every revoked row type of an extension.
-- tenancy.audit() reports any grant to PUBLIC in the schema beyond these,
-- and any object of another role using the row types (schema_exposure).
GRANT EXECUTE ON FUNCTION tenancy.current_tenant() TO PUBLIC;
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;
