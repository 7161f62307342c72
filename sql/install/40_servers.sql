
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
										accepting_tenants boolean DEFAULT true)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_register_server';

COMMENT ON FUNCTION tenancy.register_server(text, text, integer, boolean) IS
	'Register a warehouse server (or change a registered one): a libpq conninfo without a password';

CREATE FUNCTION tenancy.drop_server(name text)
RETURNS void
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_drop_server';

COMMENT ON FUNCTION tenancy.drop_server(text) IS
	'Remove a warehouse server from the registry; refused while tenants live on it';

CREATE VIEW tenancy.server_load AS
SELECT s.name AS server, s.conninfo, s.accepting_tenants, s.max_connections,
	   count(t.tenant_id) FILTER (WHERE t.state <> 'deprovisioned') AS tenants,
	   count(t.tenant_id) FILTER (WHERE t.state = 'deprovisioned') AS deprovisioned_tenants,
	   s.created_at
  FROM tenancy.servers s
  LEFT JOIN tenancy.tenants t ON t.server = s.name
 GROUP BY s.name;

COMMENT ON VIEW tenancy.server_load IS
	'Registered warehouse servers with the number of tenants each holds (placement picks the fewest)';

GRANT SELECT ON tenancy.servers, tenancy.server_load TO tenancy_admin;
