--
-- tenant_neighbours: a hostile tenant against its neighbours.  Two tenants
-- (red, standard tier; blue, basic tier) share a partitioned table; blue's
-- code tries to read red's rows, destroy them, stall everyone, escape its
-- budgets and ceilings, and rewrite its own billing inputs.  Each attempt
-- is refused, contained, or reported by tenancy.audit().
-- (Locks held by one tenant against the maintenance of all of them need two
-- sessions: test/isolation/specs/tenant_locks.spec.)
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
SET timezone = 'UTC';

SELECT tenancy.provision('red', pg_temp.spec('red')) > 0 AS red,
       tenancy.provision('blue', pg_temp.spec('blue', '{"tenant": {"tier": "basic"}}')) > 0 AS blue;

-- attempt(role, sql): run sql as role and undo it: 'allowed', or the SQLSTATE
-- that refused it
CREATE FUNCTION pg_temp.attempt(r text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	BEGIN
		EXECUTE stmt;
		RAISE SQLSTATE 'TQ001';
	EXCEPTION WHEN OTHERS THEN
		result := CASE SQLSTATE WHEN 'TQ001' THEN 'allowed' ELSE SQLSTATE END;
	END;
	RESET ROLE;
	RETURN result;
END
$$;

------------------------------------------------------------------ shared table
-- a partitioned table with a unique key that does not include the tenant,
-- and privileges granted wholesale, as DBAs do (ALL as PostgreSQL 15 has it:
-- 17's ALL adds MAINTAIN, which tenant_maintain covers on each version)
CREATE TABLE public.orders (tenant text NOT NULL, order_no int NOT NULL, amount int,
                            UNIQUE (order_no)) PARTITION BY RANGE (order_no);
CREATE TABLE public.orders_low PARTITION OF public.orders FOR VALUES FROM (0) TO (100);
CREATE TABLE public.orders_default PARTITION OF public.orders DEFAULT;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
   ON ALL TABLES IN SCHEMA public TO tenant_red_writer, tenant_blue_writer;
-- share_table: NOTICEs for the privileges it revokes, a WARNING for the key
SELECT tenancy.share_table('public.orders', 'tenant');
-- partitions created or attached later are protected at once
CREATE TABLE public.orders_mid PARTITION OF public.orders FOR VALUES FROM (100) TO (200);
CREATE TABLE public.orders_high (LIKE public.orders);
ALTER TABLE public.orders ATTACH PARTITION public.orders_high FOR VALUES FROM (200) TO (300);
-- 3. every partition: row-level security enabled and forced, the policy, the default
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT string_agg(p.polname, ',') FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       pg_get_expr(d.adbin, d.adrelid) AS tenant_default
  FROM pg_class c
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = 1
 WHERE c.relname LIKE 'orders%' AND c.relkind IN ('r', 'p') ORDER BY 1;
-- and so are inheritance children of a shared table
CREATE TABLE public.events (tenant text NOT NULL, what text);
SELECT tenancy.share_table('public.events', 'tenant');
CREATE TABLE public.events_2025 () INHERITS (public.events);
CREATE TABLE public.events_old (tenant text NOT NULL, what text);
ALTER TABLE public.events_old INHERIT public.events;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT string_agg(p.polname, ',') FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_class c WHERE c.relname LIKE 'events%' AND c.relkind = 'r' ORDER BY 1;
DROP TABLE public.events CASCADE;
-- 1, 2. no TRIGGER, TRUNCATE or REFERENCES left to tenant roles
SELECT c.relname, a.privilege_type, pg_get_userbyid(a.grantee) AS grantee
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relname LIKE 'orders%' AND a.privilege_type IN ('TRIGGER', 'TRUNCATE', 'REFERENCES')
 ORDER BY 1, 2, 3;

-- 5. tenants insert without naming themselves; current_tenant() is callable
SET ROLE etl_red;
SELECT tenancy.current_tenant() AS red_is;
INSERT INTO public.orders (order_no, amount) VALUES (1, 10), (150, 15), (250, 25), (500, 50);
RESET ROLE;
SET ROLE airflow_blue;
SELECT tenancy.current_tenant() AS blue_is;
INSERT INTO public.orders (order_no, amount) VALUES (2, 20), (501, 51);
-- naming another tenant is still refused
INSERT INTO public.orders (tenant, order_no) VALUES ('red', 3);
RESET ROLE;
SELECT tenant, order_no FROM public.orders ORDER BY order_no;

-- 3. blue reads each partition directly: only its own rows
GRANT SELECT ON ALL TABLES IN SCHEMA public TO tenant_red_writer, tenant_blue_writer;
SET ROLE etl_blue;
SELECT 'orders_low' AS part, tenant, order_no FROM public.orders_low
UNION ALL SELECT 'orders_mid', tenant, order_no FROM public.orders_mid
UNION ALL SELECT 'orders_high', tenant, order_no FROM public.orders_high
UNION ALL SELECT 'orders_default', tenant, order_no FROM public.orders_default
 ORDER BY 1, 3;
RESET ROLE;

-- 1, 2. even with the privileges granted again, blue cannot truncate, plant
-- a trigger on, or lock a shared table or a partition (42501)
GRANT TRIGGER, TRUNCATE, REFERENCES ON public.orders, public.orders_default TO tenant_blue_writer;
CREATE TABLE blue_bronze.loot (LIKE public.orders);
ALTER TABLE blue_bronze.loot OWNER TO etl_blue;
SET ROLE etl_blue;
CREATE FUNCTION blue_bronze.copy_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
	INSERT INTO blue_bronze.loot VALUES (NEW.*);
	RETURN NEW;
END
$$;
CREATE VIEW blue_bronze.orders_view AS SELECT * FROM public.orders;
RESET ROLE;
SELECT s.what, pg_temp.attempt('etl_blue', s.stmt) AS result
  FROM (VALUES
	('truncate the table', 'TRUNCATE public.orders'),
	('truncate a partition', 'TRUNCATE public.orders_default'),
	('trigger on the table', 'CREATE TRIGGER spy AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION blue_bronze.copy_rows()'),
	('trigger on a partition', 'CREATE TRIGGER spy AFTER INSERT ON public.orders_low FOR EACH ROW EXECUTE FUNCTION blue_bronze.copy_rows()'),
	('lock the table', 'LOCK public.orders IN ACCESS EXCLUSIVE MODE'),
	('lock a partition', 'LOCK public.orders_mid IN SHARE MODE'),
	('lock through a view', 'LOCK blue_bronze.orders_view IN ACCESS EXCLUSIVE MODE'),
	('row lock is fine', 'LOCK public.orders IN ROW EXCLUSIVE MODE'),
	('delete own rows', 'DELETE FROM public.orders')
  ) AS s(what, stmt);
DROP VIEW blue_bronze.orders_view;
SET ROLE etl_blue;
CREATE TRIGGER spy AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION blue_bronze.copy_rows();
-- nor vacuum, analyze, cluster or reindex one (VACUUM FULL and CLUSTER
-- lock every tenant out of the table, REINDEX out of writing it), nor
-- reference one in a foreign key (that locks out every tenant's writes
-- until the transaction ends), with the privileges or without
VACUUM FULL public.orders;
VACUUM public.orders_low;
ANALYZE public.orders_default;
CLUSTER public.orders_default USING orders_default_order_no_key;
REINDEX TABLE public.orders;
REINDEX INDEX public.orders_default_order_no_key;
CREATE TABLE blue_bronze.refs (order_no int REFERENCES public.orders (order_no));
CREATE TABLE blue_bronze.refs (order_no int);
ALTER TABLE blue_bronze.refs ADD FOREIGN KEY (order_no) REFERENCES public.orders (order_no);
ALTER TABLE blue_bronze.refs ADD COLUMN o2 int REFERENCES public.orders_low (order_no);
DROP TABLE blue_bronze.refs;
-- its own tables it may maintain
VACUUM FULL blue_bronze.loot;
CLUSTER;
RESET ROLE;
-- red's rows are all there, and blue copied none
SELECT count(*) AS red_rows FROM public.orders WHERE tenant = 'red';
SELECT count(*) AS looted FROM blue_bronze.loot;

-- 4. the unique key tells blue that order 1 exists (it cannot be prevented,
-- only warned about at share_table and reported by the audit)
SET ROLE etl_blue;
INSERT INTO public.orders (order_no) VALUES (1), (7) ON CONFLICT DO NOTHING RETURNING order_no;
RESET ROLE;

-- so do a unique index of a single partition and an exclusion constraint:
-- share_table warns about each
CREATE TABLE public.bookings (tenant text NOT NULL, room int NOT NULL,
                              EXCLUDE USING btree (room WITH =));
SELECT tenancy.share_table('public.bookings', 'tenant');
CREATE TABLE public.visits (tenant text NOT NULL, visit_no int NOT NULL) PARTITION BY RANGE (visit_no);
CREATE TABLE public.visits_1 PARTITION OF public.visits FOR VALUES FROM (0) TO (100);
CREATE UNIQUE INDEX visits_1_no ON public.visits_1 (visit_no);
SELECT tenancy.share_table('public.visits', 'tenant');
-- and one created on a partition after share_table is reported by the audit
CREATE UNIQUE INDEX orders_mid_amount ON public.orders_mid (amount);
-- as is a foreign key of a tenant's table referencing a shared table (made
-- by a superuser: the hook refuses it to tenant roles)
CREATE TABLE blue_bronze.probe (order_no int REFERENCES public.orders (order_no));
ALTER TABLE blue_bronze.probe OWNER TO etl_blue;

-- the audit reports what a DBA left open on the shared table: the grants
-- above, a trigger of a tenant's function (planted by a superuser here), a
-- partition whose row-level security was switched off, an extra permissive
-- policy, the unique key
CREATE TRIGGER planted AFTER INSERT ON public.orders_low FOR EACH ROW EXECUTE FUNCTION blue_bronze.copy_rows();
ALTER TABLE public.orders_mid NO FORCE ROW LEVEL SECURITY;
CREATE POLICY everyone ON public.orders_high USING (true);
-- and a table of another role using a row type of tenancy
CREATE TABLE public.pinned (t tenancy.tenants);
-- and a view of another role calling tenancy.current_tenant()
CREATE VIEW public.whoami AS SELECT tenancy.current_tenant() AS me;
SELECT check_name, severity, object, detail FROM tenancy.audit()
 WHERE check_name LIKE 'shared%' OR check_name = 'schema_exposure'
 ORDER BY check_name, object, detail;
DROP TABLE public.bookings, public.visits, blue_bronze.probe;
DROP INDEX public.orders_mid_amount;
-- a policy altered to name no column still marks the table as shared
ALTER POLICY tenancy_tenant_isolation ON public.orders_default USING (true) WITH CHECK (true);
SELECT pg_temp.attempt('etl_blue', 'TRUNCATE public.orders_default') AS truncate_altered;
ALTER POLICY tenancy_tenant_isolation ON public.orders_default
  USING (tenant = (SELECT tenancy.current_tenant())) WITH CHECK (tenant = (SELECT tenancy.current_tenant()));
-- share_table again repairs the partition and the privileges
SELECT tenancy.share_table('public.orders', 'tenant');
DROP TRIGGER planted ON public.orders_low;
DROP POLICY everyone ON public.orders_high;
DROP TABLE public.pinned;
DROP VIEW public.whoami;
SELECT check_name, severity, object FROM tenancy.audit()
 WHERE check_name LIKE 'shared%' OR check_name = 'schema_exposure'
 ORDER BY check_name, object;

-- 5. USAGE on schema tenancy exposes nothing but current_tenant(): no other
-- function, no table, and no row type (a tenant column of one would block
-- every upgrade of the extension)
SELECT s.what, pg_temp.attempt('etl_red', s.stmt) AS result
  FROM (VALUES
	('call current_tenant', 'SELECT tenancy.current_tenant()'),
	('call tenant_of_role', 'SELECT tenancy.tenant_of_role(10)'),
	('call audit', 'SELECT tenancy.audit()'),
	('call provision', 'SELECT tenancy.provision(''mallory'', ''{}''::jsonb)'),
	('read tenants', 'SELECT count(*) FROM tenancy.tenants'),
	('read a view', 'SELECT count(*) FROM tenancy.tenant_summary'),
	('column of a row type', 'CREATE TABLE red_bronze.pin (t tenancy.tenants)'),
	('function of a row type', 'CREATE FUNCTION red_bronze.pin(tenancy.operations) RETURNS int LANGUAGE sql AS ''SELECT 1'''),
	-- nor a stored call of current_tenant() (it would block DROP EXTENSION
	-- too); a PL/pgSQL body records no dependency
	('default calling current_tenant', 'CREATE TABLE red_bronze.me (t text DEFAULT tenancy.current_tenant())'),
	('view calling current_tenant', 'CREATE VIEW red_bronze.me AS SELECT tenancy.current_tenant() AS me'),
	('SQL body calling current_tenant', 'CREATE FUNCTION red_bronze.me() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT tenancy.current_tenant(); END'),
	('PL/pgSQL calling current_tenant', 'CREATE FUNCTION red_bronze.me() RETURNS text LANGUAGE plpgsql AS ''BEGIN RETURN tenancy.current_tenant(); END''')
  ) AS s(what, stmt);
-- with its message
SET ROLE etl_red;
CREATE VIEW red_bronze.me AS SELECT tenancy.current_tenant() AS me;
RESET ROLE;

-- 6. a policy may name only PUBLIC and the tenant's own roles: dropping a
-- role locks the tables of the policies naming it, so red, with a policy
-- naming blue's role on a table of its own that it kept locked, held up
-- blue's deprovision (and the worker behind it)
SET ROLE etl_red;
CREATE TABLE red_bronze.trap (id int);
RESET ROLE;
SELECT s.what, pg_temp.attempt('etl_red', s.stmt) AS result
  FROM (VALUES
	('to a neighbour''s login role', 'CREATE POLICY p ON red_bronze.trap TO etl_blue USING (true)'),
	('to a neighbour''s group', 'CREATE POLICY p ON red_bronze.trap TO tenant_blue_writer USING (true)'),
	('to a platform role', 'CREATE POLICY p ON red_bronze.trap TO tenancy_admin USING (true)'),
	('to PUBLIC', 'CREATE POLICY p ON red_bronze.trap USING (true)'),
	('to its own roles', 'CREATE POLICY p ON red_bronze.trap TO etl_red, tenant_red_writer USING (true)'),
	('to itself', 'CREATE POLICY p ON red_bronze.trap TO CURRENT_USER USING (true)')
  ) AS s(what, stmt);
-- with its message; nor can ALTER POLICY add one
SET ROLE etl_red;
CREATE POLICY p ON red_bronze.trap TO etl_red USING (true);
ALTER POLICY p ON red_bronze.trap TO etl_red, etl_blue;
DROP TABLE red_bronze.trap;
RESET ROLE;

------------------------------------------------------------------ billing inputs
-- 9. red's runs: two completed, one running; then red's code tries to
-- un-bill them
SET ROLE etl_red;
INSERT INTO red_audit.pipeline_runs (dag_id, task_id, start_time, end_time, status)
VALUES ('etl', 'a', now() - interval '2 hours', now() - interval '1 hour', 'success'),
       ('etl', 'b', now() - interval '2 hours', now() - interval '90 minutes', 'success');
INSERT INTO red_audit.pipeline_runs (dag_id, task_id, start_time, status)
VALUES ('etl', 'c', now() - interval '30 minutes', 'running');
-- completing a running run once is the controlled path
UPDATE red_audit.pipeline_runs SET end_time = start_time + interval '10 minutes', status = 'success'
 WHERE task_id = 'c';
RESET ROLE;
SELECT s.what, pg_temp.attempt('etl_red', s.stmt) AS result
  FROM (VALUES
	('un-complete a run', 'UPDATE red_audit.pipeline_runs SET end_time = NULL'),
	('shorten a run', 'UPDATE red_audit.pipeline_runs SET end_time = start_time WHERE task_id = ''a'''),
	('move a start', 'UPDATE red_audit.pipeline_runs SET start_time = now() WHERE task_id = ''b'''),
	('complete twice', 'UPDATE red_audit.pipeline_runs SET status = ''failed'' WHERE task_id = ''c'''),
	('delete runs', 'DELETE FROM red_audit.pipeline_runs'),
	('truncate runs', 'TRUNCATE red_audit.pipeline_runs'),
	('read completions', 'SELECT count(*) FROM tenancy.run_completions'),
	('disable the guard', 'ALTER TABLE red_audit.pipeline_runs DISABLE TRIGGER tenancy_append_only')
  ) AS s(what, stmt);
-- all three runs are billed: 1 h + 30 min + 10 min of compute
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT s.task_runs, s.compute_seconds FROM tenancy.usage_samples s
  JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'red';
-- a run inserted already completed, backdated before the last sample, is
-- billed by the next one: completions are counted when they happen
SET ROLE etl_red;
INSERT INTO red_audit.pipeline_runs (dag_id, task_id, start_time, end_time, status)
VALUES ('etl', 'd', '2020-01-01 00:00', '2020-01-01 00:05', 'success');
RESET ROLE;
SELECT tenancy.sample_usage() AS tenants_sampled;
SELECT s.task_runs, s.compute_seconds FROM tenancy.usage_samples s
  JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'red' ORDER BY s.sample_id;
-- a guard dropped by someone else is drift: the audit reports it, apply repairs it
DROP TRIGGER tenancy_append_only ON red_audit.pipeline_runs;
SELECT tenant, check_name, severity, object FROM tenancy.audit('red')
 WHERE check_name = 'billing_guard';
SELECT tenancy.apply('red', pg_temp.spec('red')) IS NOT NULL AS repaired;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'red_audit.pipeline_runs'::regclass AND NOT tgisinternal ORDER BY 1;

------------------------------------------------------------------ relation budget
-- 8. blue (basic tier) gets a budget of 12 relations; it holds 8 (its
-- pipeline_runs, that table's key, identity sequence, TOAST table and TOAST
-- index; the loot table, its TOAST table and index), then creates tables
-- until refused; a bad budget setting is refused
SET tenancy.max_relations_per_tenant = 'basic=12,standard=5000';
SET tenancy.max_relations_per_tenant = 'basic=12,premium=5';
SET tenancy.max_relations_per_tenant = 'basic=-1';
SET ROLE etl_blue;
DO $$
DECLARE
	i int := 0;
BEGIN
	LOOP
		i := i + 1;
		BEGIN
			EXECUTE format('CREATE TABLE blue_staging.t%s (id int)', i);
		EXCEPTION WHEN configuration_limit_exceeded THEN
			RAISE NOTICE 'table % refused: %', i, SQLERRM;
			EXIT;
		END;
	END LOOP;
END
$$;
CREATE TABLE blue_staging.one_more (id int);
CREATE TEMP TABLE scratch (id int);
CREATE VIEW blue_staging.v AS SELECT 1 AS one;
CREATE INDEX ON blue_staging.t1 (id);
RESET ROLE;
-- the budget is counted as a superuser: the tenant's search_path (an
-- operator of its own before pg_catalog's) is not used there, nor in the
-- billing guard
SET ROLE etl_red;
CREATE FUNCTION red_bronze.eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('is_superuser') OPERATOR(pg_catalog.=) 'on' THEN
		RAISE WARNING 'tenant code ran as superuser';
	END IF;
	RETURN a OPERATOR(pg_catalog.=) b;
END
$$;
CREATE OPERATOR red_bronze.= (LEFTARG = text, RIGHTARG = text, FUNCTION = red_bronze.eq);
SET search_path = red_bronze, pg_catalog;
CREATE TABLE red_staging.probe (id int);
INSERT INTO red_audit.pipeline_runs (dag_id, start_time, end_time) VALUES ('probe', now(), now());
RESET search_path;
RESET ROLE;
-- red (standard: 5000) is not affected
SET ROLE etl_red;
CREATE TABLE red_staging.fine (id int);
RESET ROLE;
-- dropping frees the budget; tables rolled back (dead rows of pg_class until
-- VACUUM) do not count
DROP TABLE blue_staging.t1, blue_staging.t2;
SET ROLE etl_blue;
BEGIN;
CREATE TABLE blue_staging.rolled_back_1 (id int);
CREATE TABLE blue_staging.rolled_back_2 (id int);
ROLLBACK;
CREATE TABLE blue_staging.again_1 (id int);
CREATE TABLE blue_staging.again_2 (id int);
CREATE TABLE blue_staging.again_3 (id int);
-- one statement may not take the tenant over its budget, however many
-- relations it creates: the check after the statement fails it and nothing
-- of it is left.  With one relation to spare (11 of 12): a table with three
-- UNIQUE columns (4 relations), a second UNIQUE constraint added (an index
-- each), CREATE TABLE AS, SELECT INTO and CREATE MATERIALIZED VIEW of a text
-- column (a TOAST table and its index besides) are refused; a table of one
-- int column fits
DROP TABLE blue_staging.again_2;
CREATE TABLE blue_staging.wide (a int UNIQUE, b int UNIQUE, c int UNIQUE);
SELECT to_regclass('blue_staging.wide') IS NULL AS wide_gone;
ALTER TABLE blue_staging.again_1 ADD CONSTRAINT u1 UNIQUE (id);
ALTER TABLE blue_staging.again_1 ADD CONSTRAINT u2 UNIQUE (id);
DO $$
BEGIN
	FOR i IN 3..50 LOOP
		EXECUTE format('ALTER TABLE blue_staging.again_1 ADD CONSTRAINT u%s UNIQUE (id)', i);
	END LOOP;
END
$$;
SELECT count(*) AS unique_constraints FROM pg_constraint
 WHERE conrelid = 'blue_staging.again_1'::regclass;
ALTER TABLE blue_staging.again_1 DROP CONSTRAINT u1;
CREATE TABLE blue_staging.ctas AS SELECT 'x'::text AS t;
SELECT 'x'::text AS t INTO blue_staging.selected;
CREATE MATERIALIZED VIEW blue_staging.mv AS SELECT 'x'::text AS t;
CREATE TABLE blue_staging.narrow (id int);
RESET ROLE;
-- a budget lowered below what the tenant holds is reported by the audit
SET tenancy.max_relations_per_tenant = 'basic=10,standard=5000';
SELECT tenant, check_name, severity, object, detail FROM tenancy.audit('blue')
 WHERE check_name = 'relation_budget';
RESET tenancy.max_relations_per_tenant;

------------------------------------------------------------------ setting ceilings
-- 7. logged in as red (standard: statement_timeout 15min, work_mem 64MB,
-- idle_in_transaction_session_timeout 10min): SET above a ceiling is
-- refused, below it allowed; the role settings themselves are the tier's
SET SESSION AUTHORIZATION etl_red;
SHOW statement_timeout;
SET statement_timeout = 0;
SET statement_timeout = '2h';
SET work_mem = '1GB';
SET idle_in_transaction_session_timeout = 0;
SET statement_timeout = '1min';
SET work_mem = '8MB';
SHOW statement_timeout;
SHOW work_mem;
ALTER ROLE etl_red SET statement_timeout = 0;
ALTER ROLE etl_red RESET ALL;
ALTER ROLE etl_red SET search_path = red_bronze;
ALTER ROLE etl_red RESET search_path;
-- set_config() is lowered back to the ceiling at the end of its statement
SELECT set_config('statement_timeout', '0', false) AS set_to;
SHOW statement_timeout;
SELECT set_config('work_mem', '4GB', false) AS set_to;
SHOW work_mem;
-- what multiplies one statement's memory or parallel workers has a ceiling
-- too (tenancy.session_ceilings): hash_mem_multiplier 1000 would give each
-- hash node 1000 x work_mem
SET hash_mem_multiplier = 1000;
SET maintenance_work_mem = '8GB';
SET temp_buffers = '4GB';
SET max_parallel_workers_per_gather = 64;
SET max_parallel_maintenance_workers = 64;
SET max_parallel_workers = 64;
SET hash_mem_multiplier = 1.5;
SET max_parallel_workers_per_gather = 0;
SHOW hash_mem_multiplier;
SHOW max_parallel_workers_per_gather;
ALTER ROLE etl_red SET hash_mem_multiplier = 1000;
SELECT set_config('hash_mem_multiplier', '1000', false) AS set_to;
SHOW hash_mem_multiplier;
SELECT set_config('maintenance_work_mem', '8GB', false) AS set_to;
SHOW maintenance_work_mem;
-- a function's SET clause is lowered for the statements it runs
CREATE FUNCTION red_bronze.parallel_now() RETURNS text
LANGUAGE sql SET max_parallel_workers_per_gather = 64
AS $$ SELECT current_setting('max_parallel_workers_per_gather') $$;
SELECT red_bronze.parallel_now();
DROP FUNCTION red_bronze.parallel_now();
-- RESET returns to the server's value, which the ceiling does not lower
RESET max_parallel_workers_per_gather;
SHOW max_parallel_workers_per_gather;
RESET SESSION AUTHORIZATION;
-- a DBA's role setting is that role's ceiling instead
ALTER ROLE etl_red SET maintenance_work_mem = '1GB';
SET SESSION AUTHORIZATION etl_red;
SET maintenance_work_mem = '1GB';
SET maintenance_work_mem = '2GB';
RESET maintenance_work_mem;
RESET SESSION AUTHORIZATION;
ALTER ROLE etl_red RESET maintenance_work_mem;
-- the setting itself is the superuser's, and checked
SET SESSION AUTHORIZATION etl_red;
SET tenancy.session_ceilings = '';
RESET SESSION AUTHORIZATION;
SET tenancy.session_ceilings = 'work_mem=1GB';
SET tenancy.session_ceilings = 'hash_mem_multiplier=0.5';
SET tenancy.session_ceilings = 'temp_buffers=lots';
-- the superuser is not held to any ceiling
SET statement_timeout = 0;
SHOW statement_timeout;

-- deprovision with drop_data leaves no row of the tenant in a shared table
-- (tenancy.current_tenant() knows tenants by name: the next tenant called
-- red would see them): refused while public.orders holds rows of red
SELECT count(*) AS rows_of_red FROM public.orders WHERE tenant = 'red';
SELECT tenancy.deprovision('red', drop_data => true);
SELECT count(*) AS red_roles FROM pg_roles WHERE rolname LIKE '%\_red%';
DELETE FROM public.orders WHERE tenant IN ('red', 'blue');
SELECT tenancy.deprovision(t, drop_data => true) IS NOT NULL AS dropped
  FROM unnest(ARRAY['red', 'blue']) AS t;
-- (a new red after rows came back under its name: TAP 061)
DROP TABLE public.orders;

-- a role named like a tenant's group is not the tenant's: after a
-- deprovision that kept the data (the groups are dropped), a role created
-- as tenant_ghost_reader (from 16 a CREATEROLE holder may, and grant it to
-- itself) sees none of the kept rows; only roles tenancy created count
SELECT tenancy.provision('ghost', pg_temp.spec('ghost')) > 0 AS ghost;
CREATE TABLE public.notes (tenant text NOT NULL, note text);
SELECT tenancy.share_table('public.notes', 'tenant');
INSERT INTO public.notes VALUES ('ghost', 'kept row of ghost');
GRANT SELECT ON public.notes TO PUBLIC;
SET ROLE etl_ghost;
SELECT tenancy.current_tenant() AS etl_ghost_tenant, count(*) AS rows_seen FROM public.notes;
RESET ROLE;
SELECT tenancy.deprovision('ghost') IS NOT NULL AS kept_data;
CREATE ROLE tenant_ghost_reader NOLOGIN;
CREATE ROLE regress_mallory LOGIN IN ROLE tenant_ghost_reader;
SET ROLE regress_mallory;
SELECT tenancy.current_tenant() AS mallory_tenant, count(*) AS rows_seen FROM public.notes;
RESET ROLE;
DROP ROLE regress_mallory, tenant_ghost_reader;
DELETE FROM public.notes;
DROP TABLE public.notes;
SELECT tenancy.deprovision('ghost', drop_data => true) IS NOT NULL AS dropped;
DROP EXTENSION tenancy;
