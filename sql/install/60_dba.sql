
/*
 * 60_dba.sql: what a DBA needs on the first and second day without Vault or
 * Kubernetes: a tenant's connection details and a password for its login
 * roles (src/commands/credentials.c), why no worker serves this database
 * (src/commands/setup.c), and the exit for a tenant stuck for good.
 */

-- When set_password last set each login role's password: the audit's
-- credential_age check reads it (credentials_set_at is the worker's).
ALTER TABLE tenancy.tenants ADD COLUMN passwords_set_at jsonb NOT NULL DEFAULT '{}'
	CHECK (jsonb_typeof(passwords_set_at) = 'object');

COMMENT ON COLUMN tenancy.tenants.passwords_set_at IS
	'When tenancy.set_password last set the password of each login role of the tenant ({"role": timestamptz}); never the password';

CREATE FUNCTION tenancy.set_password(role text)
RETURNS text
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_set_password';

COMMENT ON FUNCTION tenancy.set_password(text) IS
	'Set a generated password on a login role of a tenant of this database and return it; stored nowhere, shown once, logged (role and caller). Installations without Vault, with tenancy.allow_set_password on (superusers decide)';

CREATE FUNCTION tenancy.connection_info(tenant text)
RETURNS TABLE (role text, purpose text, host text, port integer, database text,
			   password_source text)
LANGUAGE c STRICT STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_connection_info';

COMMENT ON FUNCTION tenancy.connection_info(text) IS
	'Where each login role of a tenant connects (host, port, database) and where its password comes from; never a secret';

CREATE FUNCTION tenancy.worker_problem(running_now boolean DEFAULT true)
RETURNS text
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_worker_problem';

COMMENT ON FUNCTION tenancy.worker_problem(boolean) IS
	'Why no background worker serves this database (not preloaded, tenancy.database names another database, or, with running_now, not running at the moment); NULL when one does';

CREATE FUNCTION tenancy.refuse_shared_rows(tenant text)
RETURNS void
LANGUAGE c STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_refuse_shared_rows';

COMMENT ON FUNCTION tenancy.refuse_shared_rows(text) IS
	'Internal (tenancy.forget, superusers): refuse (55000) while shared tables hold rows of the tenant, which a new tenant of that name would see';

CREATE FUNCTION tenancy.forget(name text)
RETURNS TABLE (object_type text, purpose text, object_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_tenant bigint;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to forget tenant "%"', left(forget.name, 64)
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only superusers may remove a tenant''s record without deprovisioning it.';
	END IF;
	SELECT t.tenant_id INTO v_tenant FROM tenancy.tenants t
	 WHERE t.name = forget.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'tenant "%" does not exist', left(forget.name, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	IF EXISTS (SELECT FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
				WHERE o.tenant_id = v_tenant AND s.state IN ('running', 'compensating')) THEN
		RAISE EXCEPTION 'tenant "%" has a step in progress', forget.name
			USING ERRCODE = 'object_in_use',
				  HINT = 'Cancel its operation (tenancy.cancel) and wait until no step is running, then forget it.';
	END IF;
	-- current_tenant() knows tenants by name: once the record is gone,
	-- nothing would stop a new tenant of that name from seeing these rows
	PERFORM tenancy.refuse_shared_rows(forget.name);

	-- what the planner derives for it: what may be left to remove by hand
	RETURN QUERY
	SELECT o.object_type, o.purpose, o.object_name
	  FROM tenancy.tenant_objects(forget.name) o;
	DELETE FROM tenancy.steps s USING tenancy.operations o
	 WHERE s.operation_id = o.operation_id AND o.tenant_id = v_tenant;
	DELETE FROM tenancy.operations o WHERE o.tenant_id = v_tenant;
	DELETE FROM tenancy.tenants t WHERE t.tenant_id = v_tenant;
	RAISE NOTICE 'tenant "%" forgotten', forget.name
		USING DETAIL = 'Its record, operations and steps are deleted; its roles, schemas and platform objects (listed) were not touched.',
			  HINT = 'Drop what remains by hand (DROP OWNED BY, DROP ROLE, DROP SCHEMA) once its data is safe.';
END
$fn$;

COMMENT ON FUNCTION tenancy.forget(text) IS
	'Superusers: delete a stuck tenant''s record, operations and steps without touching anything it created (returned: what may remain); frees its warehouse server for drop_server';

-- Said at CREATE EXTENSION: a database that no worker serves keeps its
-- platform and remote steps pending for ever.
DO $do$
DECLARE
	v_problem text := tenancy.worker_problem(false);
BEGIN
	IF v_problem IS NOT NULL THEN
		RAISE WARNING 'no tenancy background worker serves database "%"', pg_catalog.current_database()
			USING DETAIL = v_problem || ' The database side (roles, schemas, grants) works; platform and remote steps wait for a worker.',
				  HINT = pg_catalog.format('Set shared_preload_libraries = ''tenancy'' and tenancy.database = %L in postgresql.conf and restart the server (tenancy.database defaults to postgres).',
										   pg_catalog.current_database());
	END IF;
END
$do$;
