--
-- servers: the registry of warehouse servers and placement.  Connection
-- strings are parsed by libpq and never hold a password; provision places a
-- tenant whose spec names no host on the accepting server with the fewest
-- tenants (ties by name), a named host on the server it names, and keeps an
-- existing tenant where it is.  (Nothing listens on the servers' ports: the
-- worker's attempts only retry in the background; nothing here waits for them.)
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers

-- nothing registered: a tenant without host lives in this database
SELECT DISTINCT target FROM tenancy.plan('local1', pg_temp.spec('local1'))
 WHERE target LIKE '%database';

SELECT tenancy.register_server('b', 'host=127.0.0.1 port=1 dbname=postgres sslmode=prefer');
SELECT tenancy.register_server('c', 'host=127.0.0.1 port=2 user=tenancy passfile=/etc/tenancy/pgpass');
SELECT name, conninfo, max_connections, accepting_tenants FROM tenancy.servers ORDER BY name;
-- registering again changes the entry
SELECT tenancy.register_server('c', 'host=127.0.0.1 port=2 user=tenancy', max_connections => 8);
SELECT name, conninfo, max_connections FROM tenancy.servers WHERE name = 'c';

-- bad input: 22023 with what is wrong, nothing registered
\set VERBOSITY default
SELECT tenancy.register_server('d', 'host=h password=secret');
SELECT tenancy.register_server('d', 'postgresql://tenancy:secret@h:5432/postgres');
SELECT tenancy.register_server('d', 'host=h nosuchkeyword=1');
SELECT tenancy.register_server('d', 'host=''unterminated');
SELECT tenancy.register_server('d', 'host=h replication=database');
SELECT tenancy.register_server('d', 'host=' || repeat('h', 2100));
SELECT tenancy.register_server('d', 'host=h', max_connections => 0);
SELECT tenancy.register_server('d', 'host=h', max_connections => 65);
-- host and hostaddr: the password for host would go to hostaddr, unless the
-- certificate is verified
SELECT tenancy.register_server('d', 'host=db1.internal hostaddr=192.0.2.66 user=tenancy');
SELECT tenancy.register_server('d', 'host=db1.internal hostaddr=192.0.2.66 sslmode=require');
\set VERBOSITY terse
SELECT tenancy.register_server('', 'host=h');
SELECT tenancy.register_server('D', 'host=h');
SELECT tenancy.register_server('1d', 'host=h');
SELECT tenancy.register_server('d-', 'host=h');
SELECT tenancy.register_server('d_1', 'host=h');
SELECT tenancy.register_server('d;drop table x', 'host=h');
SELECT tenancy.register_server(repeat('d', 64), 'host=h');
SELECT tenancy.register_server('d', NULL);
-- an injection string is a value like any other (stored verbatim, never run)
SELECT tenancy.register_server('e', 'host=''x\''); DROP TABLE tenancy.tenants; --''');
SELECT conninfo FROM tenancy.servers WHERE name = 'e';
SELECT tenancy.drop_server('e');
-- what a superuser may give: certificates, a service, a password file,
-- hostaddr alone or with a verified host
SELECT tenancy.register_server('f', 'host=db1.internal hostaddr=192.0.2.66 sslmode=verify-full sslrootcert=/etc/tenancy/ca.crt');
SELECT tenancy.register_server('f', 'service=wh-f sslcert=/etc/tenancy/f.crt sslkey=/etc/tenancy/f.key passfile=/etc/tenancy/pgpass');
SELECT tenancy.register_server('f', 'hostaddr=192.0.2.66 port=5433');
SELECT conninfo FROM tenancy.servers WHERE name = 'f';
SELECT tenancy.drop_server('f');
SELECT count(*) AS servers FROM tenancy.servers;

-- placement: the fewest tenants first, ties by name
CREATE TEMP TABLE p1_plan AS SELECT * FROM tenancy.plan('p1', pg_temp.spec('p1'));
SELECT t, tenancy.provision(t, pg_temp.spec(t)) > 0 AS provisioned
  FROM unnest(ARRAY['p1', 'p2', 'p3']) AS t;
SELECT name, server, state FROM tenancy.tenants WHERE name LIKE 'p%' ORDER BY name;
SELECT server, tenants FROM tenancy.server_load ORDER BY server;

-- what the worker gets: the database first (outside a transaction, unless
-- it exists), then one step per phase of the planned SQL (each one
-- transaction on the warehouse), chained, each undone on failure; each
-- step between the ledger's guard and clean-up, each CREATE ROLE or CREATE
-- SCHEMA followed by its record (statements on tenancy_remote)
SELECT s.ordinal, s.action, s.object, s.compensation IS NOT NULL AS undone, s.depends_on,
       count(*) FILTER (WHERE x NOT LIKE '%tenancy_remote.%') AS statements,
       count(*) FILTER (WHERE x LIKE '%tenancy_remote.%') AS ledger_statements,
       (pg_catalog.array_agg(x ORDER BY n))[1] LIKE 'DO $tenancy$ DECLARE f record;%tenancy_remote.created_objects%' AS guard_first
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
  JOIN tenancy.tenants t USING (tenant_id),
       pg_catalog.regexp_split_to_table(s.request ->> 'sql', E';\n') WITH ORDINALITY AS q(x, n)
 WHERE t.name = 'p1' AND s.target = 'remote_database'
 GROUP BY s.ordinal, s.action, s.object, s.compensation, s.depends_on ORDER BY s.ordinal;
SELECT s.request - 'sql' AS placement
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
  JOIN tenancy.tenants t USING (tenant_id)
 WHERE t.name = 'p1' AND s.action = 'roles';
-- every statement that tenancy.plan showed is in a step, in plan order
SELECT (SELECT string_agg(x, E';\n' ORDER BY s.ordinal, n)
          FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
          JOIN tenancy.tenants t USING (tenant_id),
               pg_catalog.regexp_split_to_table(s.request ->> 'sql', E';\n') WITH ORDINALITY AS q(x, n)
         WHERE t.name = 'p1' AND s.target = 'remote_database' AND s.ordinal > 1
           AND x NOT LIKE '%tenancy_remote.%')
     = (SELECT string_agg(substring(detail FROM 'through the worker: (.*)$'), E';\n' ORDER BY ordinal)
          FROM p1_plan WHERE target = 'remote_database' AND ordinal > 1) AS steps_hold_the_plan,
       (SELECT count(*) FROM p1_plan WHERE target = 'remote_database') AS planned_statements;
-- the undo of the roles step: each role, last created first; the owner
-- only while it owns no schema; between the ledger's guard (of the roles
-- it drops) and clean-up
SELECT CASE WHEN u LIKE 'DO $tenancy$ DECLARE f record;%' THEN
            'guard: ' || substring(u FROM 'ANY \((ARRAY\[[^]]*\])')
            WHEN u LIKE 'DELETE FROM tenancy_remote.%' THEN 'clean-up of the ledger'
            ELSE u END AS undo_roles
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
  JOIN tenancy.tenants t USING (tenant_id),
       pg_catalog.regexp_split_to_table(s.compensation ->> 'sql', E';\n') WITH ORDINALITY AS q(u, n)
 WHERE t.name = 'p1' AND s.action = 'roles' ORDER BY n;
-- the tenant's database is open to its groups only (CONNECT and TEMPORARY
-- are PUBLIC's by default on a new database)
SELECT s.ordinal, s.action, s.object, d AS statement
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
  JOIN tenancy.tenants t USING (tenant_id),
       pg_catalog.regexp_split_to_table(s.request ->> 'sql', E';\n') AS d
 WHERE t.name = 'p1' AND d LIKE '%ON DATABASE%';
SELECT detail FROM p1_plan WHERE action LIKE '% database access' ORDER BY ordinal;
-- a system database is refused on another server
\set VERBOSITY default
SELECT tenancy.provision('sys1', pg_temp.spec('sys1', '{"warehouse": {"database": {"host": "c", "name": "template1"}}}'));
\set VERBOSITY terse
-- nothing of a placed tenant is created here
SELECT count(*) AS roles_here FROM pg_roles WHERE rolname LIKE '%\_p1%';

-- a named host: the server of that name, or whose conninfo has that host and port
SELECT tenancy.provision('named1', pg_temp.spec('named1', '{"warehouse": {"database": {"host": "c", "name": "wh"}}}')) > 0;
SELECT tenancy.provision('named2', pg_temp.spec('named2', '{"warehouse": {"database": {"host": "127.0.0.1", "port": 2, "name": "wh"}}}')) > 0;
SELECT name, server FROM tenancy.tenants WHERE name LIKE 'named%' ORDER BY name;
-- not registered: refused (dry runs show it)
\set VERBOSITY default
SELECT tenancy.provision('named3', pg_temp.spec('named3', '{"warehouse": {"database": {"host": "127.0.0.1", "name": "wh"}}}'));
\set VERBOSITY terse
SELECT ordinal, detail FROM tenancy.plan('named3', pg_temp.spec('named3', '{"warehouse": {"database": {"host": "elsewhere.invalid", "name": "wh"}}}'))
 WHERE ordinal = 1;

-- a draining server gets no new tenant
SELECT tenancy.register_server('b', 'host=127.0.0.1 port=1', accepting_tenants => false);
SELECT tenancy.provision('p4', pg_temp.spec('p4')) > 0;
SELECT server FROM tenancy.tenants WHERE name = 'p4';
-- an existing tenant stays where it is
SELECT tenancy.apply('p1', pg_temp.spec('p1', '{"tenant": {"tier": "enterprise"}}')) > 0 AS applied;
SELECT server FROM tenancy.tenants WHERE name = 'p1';
SELECT DISTINCT target, detail LIKE 'on server b/contrib_regression through the worker: %' AS on_b
  FROM tenancy.plan('p1', pg_temp.spec('p1', '{"tenant": {"tier": "basic"}}'))
 WHERE target LIKE '%database';

-- ROLLBACK places nothing
BEGIN;
SELECT tenancy.provision('rolled', pg_temp.spec('rolled')) > 0;
ROLLBACK;
SELECT server, tenants FROM tenancy.server_load ORDER BY server;

-- drop_server: unknown (42704), with tenants (2BP01), empty (done)
\set VERBOSITY default
SELECT tenancy.drop_server('nosuch');
\echo :LAST_ERROR_SQLSTATE
SELECT tenancy.drop_server('b');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT tenancy.register_server('empty', 'host=127.0.0.1 port=3');
SELECT tenancy.drop_server('empty');
SELECT name FROM tenancy.servers ORDER BY name;

-- only superusers may change the registry (a conninfo decides which files
-- of this server the worker reads and where its passwords go);
-- tenancy_admin may read it
CREATE ROLE servers_nobody;
CREATE ROLE servers_admin IN ROLE tenancy_admin;
SET ROLE servers_nobody;
SELECT tenancy.register_server('x', 'host=x');
SELECT tenancy.drop_server('b');
RESET ROLE;
SET ROLE servers_admin;
SELECT count(*) AS visible FROM tenancy.server_load;
\set VERBOSITY default
SELECT tenancy.register_server('by-admin', 'host=db1.internal hostaddr=127.0.0.1 port=3');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT tenancy.drop_server('b');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
RESET ROLE;
-- granting EXECUTE does not open it: the functions check the caller
GRANT EXECUTE ON FUNCTION tenancy.register_server(text, text, integer, boolean, text[]),
	tenancy.drop_server(text) TO servers_admin;
SET ROLE servers_admin;
SELECT tenancy.register_server('by-admin', 'host=127.0.0.1 port=3');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT tenancy.drop_server('b');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
\set VERBOSITY terse
RESET ROLE;
SELECT count(*) AS servers_by_admin FROM tenancy.servers WHERE name = 'by-admin';

-- issue 17, finding 7: every keyword libpq marks secret (dispchar '*') is
-- refused, not only password; what tenancy_admin reads is masked (a row
-- registered by 0.1.0 may hold an sslpassword), and the raw conninfo
-- column is not readable by it at all
\set VERBOSITY default
SELECT tenancy.register_server('s', 'host=h sslkey=/k sslpassword=hunter2');
\set VERBOSITY terse
SELECT keyword FROM pg_catalog.unnest(ARRAY['password', 'sslpassword']) AS keyword
 WHERE pg_catalog.strpos(tenancy.conninfo_masked('host=h ' || keyword || '=hunter2'), 'hunter2') > 0;
INSERT INTO tenancy.servers (name, conninfo) VALUES ('legacy', 'host=h sslkey=/k sslpassword=hunter2');
SET ROLE servers_admin;
SELECT server, conninfo FROM tenancy.server_load WHERE server = 'legacy';
SELECT conninfo FROM tenancy.servers WHERE name = 'legacy';
SELECT name, max_connections, accepting_tenants, existing_databases FROM tenancy.servers WHERE name = 'legacy';
RESET ROLE;
SELECT tenancy.conninfo_masked('host=h port=5') AS unchanged, tenancy.conninfo_masked('host=''x') AS unparsable;
DELETE FROM tenancy.servers WHERE name = 'legacy';
-- existing_databases: names checked like warehouse.database.name
SELECT tenancy.register_server('x', 'host=h', existing_databases => ARRAY['ok', 'template1']);
SELECT tenancy.register_server('x', 'host=h', existing_databases => ARRAY[['a'], ['b']]);

DROP EXTENSION tenancy;
DROP ROLE servers_nobody, servers_admin;
