
/*
 * 40_servers.sql: placement.  A registry of the PostgreSQL servers that
 * hold tenants' warehouses (src/servers.c), and the view of how many
 * tenants each one holds.  The worker runs the SQL of a tenant placed on a
 * server through libpq (src/remote.c); provision places a tenant whose
 * spec names no host on the accepting server with the fewest tenants.
 */

CREATE TABLE tenancy.servers (
	name		text PRIMARY KEY
				CHECK (name ~ '^[a-z]([-a-z0-9]*[a-z0-9])?$' AND length(name) <= 63),
	conninfo	text NOT NULL
				CHECK (length(conninfo) <= 2048),
	max_connections integer NOT NULL DEFAULT 4
				CHECK (max_connections BETWEEN 1 AND 64),
	accepting_tenants boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE tenancy.servers IS
	'Warehouse servers: PostgreSQL servers the worker reaches through libpq to hold tenants';
COMMENT ON COLUMN tenancy.servers.name IS
	'Name of the server, as tenancy.tenants.server and warehouse.database.host may give it';
COMMENT ON COLUMN tenancy.servers.conninfo IS
	'libpq connection string without a password (passfile, service file or certificates); its dbname is the maintenance database';
COMMENT ON COLUMN tenancy.servers.max_connections IS
	'Most connections the worker keeps open to this server (one per database in use)';
COMMENT ON COLUMN tenancy.servers.accepting_tenants IS
	'Whether provision may place new tenants here; false drains the server';

SELECT pg_catalog.pg_extension_config_dump('tenancy.servers', '');

CREATE INDEX tenants_server_idx ON tenancy.tenants (server) WHERE server IS NOT NULL;

CREATE FUNCTION tenancy.register_server(name text, conninfo text,
										max_connections integer DEFAULT 4,
										accepting_tenants boolean DEFAULT true,
										existing_databases text[] DEFAULT '{}')
RETURNS void
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_register_server';

COMMENT ON FUNCTION tenancy.register_server(text, text, integer, boolean, text[]) IS
	'Register a warehouse server (or change a registered one): a libpq conninfo without a password or any other secret, and the databases tenancy did not create that it may place tenants in';

CREATE FUNCTION tenancy.drop_server(name text)
RETURNS void
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_drop_server';

COMMENT ON FUNCTION tenancy.drop_server(text) IS
	'Remove a warehouse server from the registry; refused while tenants live on it';

/*
 * Trust boundary (issue 17).  Databases a tenant is placed in must have been
 * created by tenancy (tenancy.databases records each one the worker created,
 * with its OID), unless a superuser listed them in the server's
 * existing_databases: tenancy then uses them as they are and never changes
 * their database-level grants.  Connection strings are shown to
 * non-superusers with every secret-bearing value masked.
 */
ALTER TABLE tenancy.servers ADD COLUMN existing_databases text[] NOT NULL DEFAULT '{}'
	CHECK (pg_catalog.array_ndims(existing_databases) IS NULL
		   OR pg_catalog.array_ndims(existing_databases) = 1);

COMMENT ON COLUMN tenancy.servers.existing_databases IS
	'Databases tenancy did not create that a superuser allowed tenants to be placed in; tenancy never changes their database-level grants';

CREATE TABLE tenancy.databases (
	server		text NOT NULL,
	name		text NOT NULL,
	database_oid oid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (server, name)
);

COMMENT ON TABLE tenancy.databases IS
	'Databases the worker created for tenants on warehouse servers, with their OIDs: only these (and a server''s existing_databases) hold tenants';
COMMENT ON COLUMN tenancy.databases.server IS
	'Registered server name, or the empty string for this PostgreSQL server';
COMMENT ON COLUMN tenancy.databases.database_oid IS
	'pg_database.oid right after CREATE DATABASE: a database dropped and created again by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.databases', '');

CREATE FUNCTION tenancy.reconcile_created_objects()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_roles bigint;
	v_schemas bigint;
	v_databases bigint;
BEGIN
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user), false) THEN
		RAISE EXCEPTION 'permission denied to reconcile what tenancy created'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only a superuser may declare the roles, schemas and databases that now have the recorded names to be the ones tenancy created.';
	END IF;
	UPDATE tenancy.created_objects o SET object_oid = r.oid
	  FROM pg_catalog.pg_roles r
	 WHERE o.kind = 'role' AND r.rolname = o.name AND r.oid <> o.object_oid AND NOT r.rolsuper;
	GET DIAGNOSTICS v_roles = ROW_COUNT;
	UPDATE tenancy.created_objects o SET object_oid = n.oid
	  FROM pg_catalog.pg_namespace n
	 WHERE o.kind = 'schema' AND n.nspname = o.name AND n.oid <> o.object_oid;
	GET DIAGNOSTICS v_schemas = ROW_COUNT;
	UPDATE tenancy.databases d SET database_oid = p.oid
	  FROM pg_catalog.pg_database p
	 WHERE d.server = '' AND p.datname = d.name AND p.oid <> d.database_oid;
	GET DIAGNOSTICS v_databases = ROW_COUNT;
	RETURN v_roles + v_schemas + v_databases;
END
$fn$;

COMMENT ON FUNCTION tenancy.reconcile_created_objects() IS
	'Superuser only, after restoring the platform database into another cluster (roles, schemas and databases get new OIDs): record the current OIDs of the recorded names as tenancy''s; returns how many records changed';

CREATE FUNCTION tenancy.conninfo_masked(conninfo text)
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_conninfo_masked';

COMMENT ON FUNCTION tenancy.conninfo_masked(text) IS
	'A libpq conninfo with the value of every secret-bearing keyword (libpq marks them with dispchar *) replaced by ********';

GRANT SELECT ON tenancy.databases TO tenancy_admin;

CREATE VIEW tenancy.server_load AS
SELECT s.name AS server, tenancy.conninfo_masked(s.conninfo) AS conninfo,
	   s.accepting_tenants, s.max_connections,
	   count(t.tenant_id) FILTER (WHERE t.state <> 'deprovisioned') AS tenants,
	   count(t.tenant_id) FILTER (WHERE t.state = 'deprovisioned') AS deprovisioned_tenants,
	   s.created_at
  FROM tenancy.servers s
  LEFT JOIN tenancy.tenants t ON t.server = s.name
 GROUP BY s.name;

COMMENT ON VIEW tenancy.server_load IS
	'Registered warehouse servers with the number of tenants each holds (placement picks the fewest); secrets in a conninfo are shown as ********';


GRANT SELECT ON tenancy.servers, tenancy.server_load TO tenancy_admin;

-- issue 17: tenancy_admin reads the registry without the conninfo
-- (server_load shows it masked)
REVOKE SELECT ON tenancy.servers FROM tenancy_admin;
GRANT SELECT (name, max_connections, accepting_tenants, existing_databases,
			  created_at, updated_at) ON tenancy.servers TO tenancy_admin;
