--
-- dba_day2: what a DBA meets on the first and second day, as the
-- non-superuser tenancy_admin: the example specs provision on a bare server,
-- plan takes YAML and says when a host is not registered, credentials
-- without Vault, where a tenant connects, skipped platform targets, the exit
-- for a stuck tenant, and DROP EXTENSION refused while tenants exist.
-- Each documented error is checked with its SQLSTATE.
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
CREATE ROLE regress_dba LOGIN IN ROLE tenancy_admin;
\set example_file :abs_srcdir '/deploy/examples/acme-corp.yaml'
SELECT pg_read_file(:'example_file') AS spec \gset
\set ON_ERROR_STOP 0
\set VERBOSITY default
SET ROLE regress_dba;

-- the first example, as shipped, has no warehouse host: plan(name, yaml)
-- shows local SQL only and no placement row
SELECT target, count(*) AS actions FROM tenancy.plan('acme-corp', :'spec')
 GROUP BY target ORDER BY target;

-- its placed variant (the commented lines) names warehouse-db.internal:
-- plan flags the unregistered host in its first row, provision refuses it
SELECT regexp_replace(:'spec', '\n    # (host|port|name): ', E'\n    \\1: ', 'g') AS placed \gset
SELECT ordinal, target, action, object, detail FROM tenancy.plan('acme-corp', :'placed')
 WHERE ordinal = 0;
SELECT tenancy.provision('acme-corp', :'placed');
\echo :LAST_ERROR_SQLSTATE

-- the server name a DBA types first: refused with a HINT that shows how
RESET ROLE;
SELECT tenancy.register_server('warehouse-db.internal', 'host=warehouse-db.internal');
\echo :LAST_ERROR_SQLSTATE
-- registered as the HINT says, the placed variant is placed there
SELECT tenancy.register_server('warehouse-db', 'host=warehouse-db.internal port=5432 dbname=postgres');
SET ROLE regress_dba;
SELECT count(*) AS placement_rows FROM tenancy.plan('acme-corp', :'placed') WHERE ordinal = 0;
SELECT DISTINCT target FROM tenancy.plan('acme-corp', :'placed') WHERE target LIKE '%database';
RESET ROLE;
SELECT tenancy.drop_server('warehouse-db');
SET ROLE regress_dba;

-- a tenant in another database of this server: plan's detail names this
-- server's real port (not 5432), reached over the Unix socket
SELECT count(*) AS remote_rows,
       bool_and(detail LIKE 'on this server (port ' || current_setting('port') || ', Unix socket)/portcheck_db through the worker: %') AS real_port
  FROM tenancy.plan('portcheck', '{"tenant": {"name": "portcheck", "tier": "basic"}, "warehouse": {"database": {"name": "portcheck_db"}}, "resources": {}}'::jsonb)
 WHERE target = 'remote_database';

-- the example as shipped provisions here
SELECT tenancy.provision('acme-corp', :'spec') > 0 AS provisioned;
SELECT name, state, placement FROM tenancy.tenant_summary;

-- where its login roles connect, and how they get a password: no secret
SELECT role, purpose, port = current_setting('port')::int AS real_port, database,
       password_source
  FROM tenancy.connection_info('acme-corp');
SELECT tenancy.connection_info('nobody');
\echo :LAST_ERROR_SQLSTATE

-- set_password lets its caller log in as any tenant: off until a superuser
-- turns it on (tenancy.allow_set_password), which tenancy_admin cannot
SELECT tenancy.set_password('etl_acme_corp');
\echo :LAST_ERROR_SQLSTATE
SET tenancy.allow_set_password = on;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET tenancy.allow_set_password = on;

-- set_password: a generated password, returned once, set as a SCRAM
-- verifier; the statement and the password reach no table or log setting.
-- The server log says whose password was set and by whom (session user).
SET client_min_messages = log;
SET SESSION AUTHORIZATION regress_dba;
SELECT tenancy.set_password('etl_acme_corp') AS first \gset
RESET SESSION AUTHORIZATION;
RESET client_min_messages;
SET ROLE regress_dba;
SELECT tenancy.set_password('etl_acme_corp') AS second \gset
SELECT length(:'first') AS length, :'first' ~ '^[A-Za-z0-9_-]+$' AS url_safe,
       :'first' <> :'second' AS new_each_time;
RESET ROLE;
SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = 'etl_acme_corp';
SELECT count(*) AS password_in_tables
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
 WHERE s.request::text LIKE '%' || :'second' || '%' OR o.error LIKE '%' || :'second' || '%';
SELECT current_setting('pgaudit.log') AS pgaudit_log_after,
       current_setting('log_statement') AS log_statement_after;
SET ROLE regress_dba;
-- refused: roles that are not a tenant's login roles, or no longer as tenancy made them
SELECT tenancy.set_password('regress_dba');
\echo :LAST_ERROR_SQLSTATE
SELECT tenancy.set_password('tenant_acme_corp_owner');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER ROLE airflow_acme_corp CREATEDB;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER ROLE airflow_acme_corp NOCREATEDB;
-- a login role given a role tenancy did not create: its password would hand
-- that role's privileges out
GRANT pg_read_all_data TO airflow_acme_corp;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE pg_read_all_data FROM airflow_acme_corp;
-- the same through the tenant's own group, of which the login role is a
-- member
GRANT pg_read_all_data TO tenant_acme_corp_writer;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE pg_read_all_data FROM tenant_acme_corp_writer;
-- a role re-created under the login role's name (another OID than the one
-- tenancy.created_objects records): 42710
ALTER ROLE airflow_acme_corp RENAME TO airflow_acme_corp_kept;
CREATE ROLE airflow_acme_corp LOGIN;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE airflow_acme_corp;
ALTER ROLE airflow_acme_corp_kept RENAME TO airflow_acme_corp;
-- nor a login role given another tenant's group: acme-corp's password
-- would reach that tenant's data
SELECT tenancy.provision('other', '{"tenant": {"name": "other", "tier": "basic"}, "warehouse": {}, "resources": {}}'::jsonb) > 0 AS other_provisioned;
SET client_min_messages = warning;
SELECT tenancy.wait('other', '60 s') AS other_state;
RESET client_min_messages;
GRANT tenant_other_reader TO airflow_acme_corp;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE tenant_other_reader FROM airflow_acme_corp;
GRANT tenant_other_reader TO tenant_acme_corp_writer;
SET ROLE regress_dba;
SELECT tenancy.set_password('airflow_acme_corp');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE tenant_other_reader FROM tenant_acme_corp_writer;
SELECT rolpassword IS NULL AS airflow_no_password FROM pg_authid WHERE rolname = 'airflow_acme_corp';
SET client_min_messages = warning;
SELECT tenancy.deprovision('other', drop_data => true) > 0 AS other_dropped;
SELECT tenancy.wait('other', '60 s') AS other_state;
RESET client_min_messages;
-- when set_password set each role is kept on the tenant, and the audit's
-- credential_age check reads it (a password set 200 days ago)
SELECT jsonb_object_keys(passwords_set_at) AS role_set,
       (passwords_set_at ->> 'etl_acme_corp')::timestamptz > now() - interval '1 minute' AS just_now
  FROM tenancy.tenants WHERE name = 'acme-corp';
UPDATE tenancy.tenants SET passwords_set_at = jsonb_build_object('etl_acme_corp', now() - interval '200 days')
 WHERE name = 'acme-corp';
SELECT check_name, severity, object,
       regexp_replace(detail, 'on [^,]+,', 'on <date>,') AS detail
  FROM tenancy.audit('acme-corp') WHERE check_name = 'credential_age';
UPDATE tenancy.tenants SET passwords_set_at = jsonb_build_object('etl_acme_corp', now())
 WHERE name = 'acme-corp';
SET ROLE regress_dba;

-- the ingress controller's namespace (tenancy.ingress_namespace), which
-- every tenant's network policy admits, is no tenant's namespace (22023;
-- checked when steps are recorded, as the monitoring namespace is)
SELECT tenancy.provision('ns-ingress', jsonb_build_object(
	'tenant', jsonb_build_object('name', 'ns-ingress', 'tier', 'basic'), 'warehouse', '{}'::jsonb,
	'resources', jsonb_build_object('kubernetes', jsonb_build_object('namespace', current_setting('tenancy.ingress_namespace')))));
\echo :LAST_ERROR_SQLSTATE

-- a worker serves this database (tenancy.database = contrib_regression)
SELECT tenancy.worker_problem(false) IS NULL AS served;
-- skipped platform targets are visible (no endpoints here), and wait says so
SET client_min_messages = warning;
SELECT tenancy.wait('acme-corp', '60 s') AS final_state;
RESET client_min_messages;
SELECT name, state, skipped_targets FROM tenancy.tenant_summary ORDER BY name;
SELECT count(*) FILTER (WHERE state = 'skipped' AND last_error LIKE 'no endpoint configured%') > 0 AS skipped_with_reason,
       count(*) FILTER (WHERE next_attempt_at IS NOT NULL) AS pending_with_next_attempt
  FROM tenancy.status('acme-corp');

-- wait refuses at once (55000) to wait for an operation its own transaction
-- wrote, also one written in a subtransaction: a savepoint, a PL/pgSQL
-- block with EXCEPTION (the worker cannot see it before COMMIT)
BEGIN;
SAVEPOINT before_provision;
SELECT tenancy.provision('wait-own', '{"tenant": {"name": "wait-own", "tier": "basic"}, "warehouse": {}, "resources": {}}') > 0 AS provisioned;
SELECT tenancy.wait('wait-own', '2 s');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DO $$
BEGIN
	PERFORM tenancy.provision('wait-own', '{"tenant": {"name": "wait-own", "tier": "basic"}, "warehouse": {}, "resources": {}}');
	PERFORM tenancy.wait('wait-own', '2 s');
EXCEPTION WHEN query_canceled THEN
	RAISE NOTICE 'timed out instead of refusing';
END
$$;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS wait_own_tenants FROM tenancy.tenants WHERE name = 'wait-own';

-- the day-2 views and functions of the README, as tenancy_admin
-- apply(name, yaml) with the spec unchanged: nothing to do (NULL)
SELECT tenancy.apply('acme-corp', :'spec') IS NULL AS unchanged;
-- apply(name, yaml) with a changed spec (connections.max 50 -> 60): an
-- operation that alters the two login roles' connection limit, which the
-- roles have at once (local SQL runs in the caller's transaction), and the
-- stored spec follows
SELECT replace(:'spec', 'max: 50', 'max: 60') AS changed \gset
SELECT tenancy.apply('acme-corp', :'changed') AS apply_op \gset
SELECT kind, state IN ('pending', 'running', 'succeeded') AS started FROM tenancy.operations WHERE operation_id = :apply_op;
SELECT target, action, object FROM tenancy.steps
 WHERE operation_id = :apply_op AND target = 'database' ORDER BY ordinal;
SELECT rolname, rolconnlimit FROM pg_roles
 WHERE rolname IN ('etl_acme_corp', 'airflow_acme_corp') ORDER BY 1;
SELECT spec #>> '{resources,database,connections,max}' AS stored_max, generation
  FROM tenancy.tenants WHERE name = 'acme-corp';
SET client_min_messages = warning;
SELECT tenancy.wait('acme-corp', '60 s') AS final_state;
RESET client_min_messages;
SELECT tenancy.apply('acme-corp', :'changed') IS NULL AS changed_is_now_unchanged;
SELECT kind, operation_state, state, count(*) AS steps
  FROM tenancy.operation_steps WHERE tenant = 'acme-corp'
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT count(*) AS failed_steps FROM tenancy.failed_steps;
-- audit_comparison: a clean run, a run after a drift (is_new), a run after
-- the repair (the finding resolved)
SELECT count(*) AS findings FROM tenancy.audit('acme-corp');
RESET ROLE;
GRANT USAGE ON SCHEMA acme_silver TO PUBLIC;
SET ROLE regress_dba;
SELECT check_name, severity, object FROM tenancy.audit('acme-corp');
SELECT c.previous_run = c.run_id - 1 AS compared_with_previous, l.check_name, l.object, l.is_new
  FROM tenancy.audit_comparison c JOIN tenancy.audit_latest l USING (run_id);
RESET ROLE;
REVOKE USAGE ON SCHEMA acme_silver FROM PUBLIC;
SET ROLE regress_dba;
SELECT count(*) AS findings FROM tenancy.audit('acme-corp');
SELECT check_name, object FROM tenancy.audit_resolved;
-- wake_worker: callable by tenancy_admin, wakes the worker at COMMIT
SELECT tenancy.wake_worker();

-- the stuck tenant: placed on a server that never answers; cancel,
-- deprovision and drop_server leave it stuck, forget (superusers) frees it
RESET ROLE;
SELECT tenancy.register_server('nowhere', 'host=nowhere.invalid port=1 dbname=postgres connect_timeout=1');
SET ROLE regress_dba;
SELECT tenancy.provision('stuck', jsonb_build_object(
	'tenant', jsonb_build_object('name', 'stuck', 'tier', 'basic'),
	'warehouse', jsonb_build_object('database', jsonb_build_object('name', 'stuck_db')),
	'resources', '{}'::jsonb)) AS stuck_op \gset
SELECT name, server, state FROM tenancy.tenants WHERE name = 'stuck';
-- its login roles live on that server: set_password refuses (0A000)
SELECT tenancy.set_password('etl_stuck');
\echo :LAST_ERROR_SQLSTATE
-- running_operations shows it until it is cancelled
SELECT tenant, kind, state IN ('pending', 'running') AS unfinished,
       steps_total > 0 AS has_steps, steps_done
  FROM tenancy.running_operations;
SELECT tenancy.cancel(:stuck_op) = :stuck_op AS cancelled;
SELECT count(*) AS running_operations FROM tenancy.running_operations;
-- a connection attempt in flight ends within connect_timeout
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM tenancy.steps WHERE state = 'running');
		PERFORM pg_sleep(0.1);
		IF i = 300 THEN
			RAISE EXCEPTION 'a step of tenant stuck is still running after 30 s';
		END IF;
	END LOOP;
END
$$;
RESET ROLE;
SELECT tenancy.drop_server('nowhere');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_dba;
SELECT tenancy.forget('stuck');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- while one of its steps runs (the worker's claim, made here by hand),
-- forget refuses: 55006, and nothing is deleted
BEGIN;
UPDATE tenancy.steps SET state = 'running', lease_until = now() + interval '1 minute'
 WHERE step_id = (SELECT min(s.step_id) FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
                   JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'stuck');
SELECT count(*) FROM tenancy.forget('stuck');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS stuck_still_recorded FROM tenancy.tenants WHERE name = 'stuck';
SELECT object_type, purpose, object_name FROM tenancy.forget('stuck') ORDER BY 1, 2, 3;
SELECT count(*) AS stuck_rows FROM tenancy.tenants WHERE name = 'stuck';
SELECT tenancy.drop_server('nowhere');
SELECT tenancy.forget('stuck');
\echo :LAST_ERROR_SQLSTATE

-- DROP EXTENSION with a live tenant: refused (2BP01) unless allowed
SET tenancy.allow_drop_with_tenants = off;
DROP EXTENSION tenancy;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA tenancy CASCADE;
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_dba;
SET tenancy.allow_drop_with_tenants = on;
\echo :LAST_ERROR_SQLSTATE
-- a role that may not drop it gets DROP's own refusal: the check reads
-- nothing on its behalf (not even how many tenants exist)
DROP EXTENSION tenancy;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the other two examples, as shipped, provision on a bare server too: no
-- placement row in their plan, and their provision succeeds
\set globex_file :abs_srcdir '/deploy/examples/basic-globex.yaml'
\set initech_file :abs_srcdir '/deploy/examples/standard-initech.yaml'
SELECT pg_read_file(:'globex_file') AS globex_spec, pg_read_file(:'initech_file') AS initech_spec \gset
SET ROLE regress_dba;
SELECT e.name, count(*) FILTER (WHERE p.ordinal = 0) AS placement_rows,
       count(*) FILTER (WHERE p.target = 'remote_database') AS remote_rows,
       count(*) > 0 AS planned
  FROM (VALUES ('globex', :'globex_spec'), ('initech', :'initech_spec')) AS e(name, spec),
       LATERAL tenancy.plan(e.name, e.spec) p
 GROUP BY e.name ORDER BY e.name;
SELECT tenancy.provision('globex', :'globex_spec') > 0 AS globex_provisioned,
       tenancy.provision('initech', :'initech_spec') > 0 AS initech_provisioned;
SET client_min_messages = warning;
SELECT tenancy.wait('globex', '60 s') AS globex, tenancy.wait('initech', '60 s') AS initech;
RESET client_min_messages;
RESET ROLE;

SELECT tenancy.deprovision(n, drop_data => true) > 0 AS deprovisioning
  FROM unnest(ARRAY['acme-corp', 'globex', 'initech']) n;
SET client_min_messages = warning;
SELECT tenancy.wait(n, '60 s') FROM unnest(ARRAY['acme-corp', 'globex', 'initech']) n;
RESET client_min_messages;
DROP EXTENSION tenancy;
DROP ROLE regress_dba;
