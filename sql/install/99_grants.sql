
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
REVOKE EXECUTE ON FUNCTION tenancy.register_server(text, text, integer, boolean),
	tenancy.drop_server(text) FROM tenancy_admin;

-- Forgetting a tenant leaves its roles and schemas with no record: superusers
-- only (the function checks it too).
REVOKE EXECUTE ON FUNCTION tenancy.forget(text) FROM tenancy_admin;

-- Row-level security policies and the tenant column's default of shared
-- tables call it as the tenant's roles, and tenants call it themselves: USAGE
-- on the schema lets every role name it.  Nothing else is reachable through
-- that USAGE: no other function, table, view or sequence is granted to
-- PUBLIC, and the row types of the tables and views are not usable (a
-- tenant's column of type tenancy.tenants would block ALTER TABLE on it, so
-- every upgrade, and DROP EXTENSION).  tenancy.audit() reports any grant
-- to PUBLIC in the schema beyond these (schema_exposure).
GRANT EXECUTE ON FUNCTION tenancy.current_tenant() TO PUBLIC;
GRANT USAGE ON SCHEMA tenancy TO PUBLIC;
DO $do$
DECLARE
	v_type regtype;
BEGIN
	FOR v_type IN
		SELECT t.oid FROM pg_catalog.pg_type t
		 WHERE t.typnamespace = 'tenancy'::regnamespace
		   AND t.typelem = 0 AND t.typtype IN ('c', 'd', 'e', 'r', 'b')
	LOOP
		EXECUTE pg_catalog.format('REVOKE USAGE ON TYPE %s FROM PUBLIC', v_type);
	END LOOP;
END
$do$;
