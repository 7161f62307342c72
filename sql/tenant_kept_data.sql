--
-- tenant_kept_data: a tenant deprovisioned without drop_data comes back on
-- its data: the new login roles read and write every relation left in the
-- tenant's schemas, whichever login role created it.
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
-- the worker's progress (NOTICEs of tenancy.wait) depends on timing
SET client_min_messages = warning;
SELECT tenancy.provision('kept', pg_temp.spec('kept')) IS NOT NULL AS provisioned;

-- each login role makes a table and a sequence of its own
SET ROLE etl_kept;
CREATE TABLE kept_bronze.by_etl (i serial, v text);
INSERT INTO kept_bronze.by_etl (v) VALUES ('etl');
RESET ROLE;
SET ROLE airflow_kept;
CREATE TABLE kept_silver.by_airflow (i serial, v text);
INSERT INTO kept_silver.by_airflow (v) VALUES ('airflow');
RESET ROLE;

-- deprovision keeping the data; the worker has no endpoint to call here
SELECT tenancy.deprovision('kept') IS NOT NULL AS deprovisioned;
SELECT tenancy.wait('kept', '60 s') AS deprovision;
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
 WHERE c.relnamespace IN ('kept_bronze'::regnamespace, 'kept_silver'::regnamespace)
   AND c.relkind = 'r' ORDER BY 1;

-- back on the kept data: the new roles' grants on every relation
SELECT tenancy.apply('kept', pg_temp.spec('kept')) IS NOT NULL AS applied;
SELECT tenancy.wait('kept', '60 s') AS apply;
SET ROLE etl_kept;
INSERT INTO kept_bronze.by_etl (v) VALUES ('etl again');
INSERT INTO kept_silver.by_airflow (v) VALUES ('etl');
UPDATE kept_silver.by_airflow SET v = v || '!' WHERE v = 'etl';
SELECT i, v FROM kept_bronze.by_etl ORDER BY i;
RESET ROLE;
SET ROLE airflow_kept;
INSERT INTO kept_silver.by_airflow (v) VALUES ('airflow again');
DELETE FROM kept_bronze.by_etl WHERE v = 'etl again';
SELECT i, v FROM kept_silver.by_airflow ORDER BY i;
RESET ROLE;
-- what the reader group may do: read, not write
SELECT r.rolname AS reader,
       has_table_privilege(r.rolname, 'kept_bronze.by_etl', 'SELECT') AS can_read,
       has_table_privilege(r.rolname, 'kept_bronze.by_etl', 'INSERT') AS can_write,
       has_sequence_privilege(r.rolname, 'kept_silver.by_airflow_i_seq', 'SELECT') AS can_read_sequence
  FROM pg_roles r WHERE r.rolname LIKE '%kept%reader%' OR r.rolname LIKE 'reader%kept%';

SELECT tenancy.deprovision('kept', drop_data => true) IS NOT NULL AS dropped;
SELECT tenancy.wait('kept', '60 s') AS drop;
-- forget, then a new tenant of the same name: rows of the forgotten tenant
-- in a shared table must not become the new tenant's (current_tenant()
-- knows tenants by name).  forget refuses while such rows exist, and a new
-- provision refuses rows of its name whether or not a record is left.
CREATE TABLE public.kept_shared (tenant text NOT NULL, note text);
SELECT tenancy.share_table('public.kept_shared', 'tenant') IS NULL AS shared;
GRANT SELECT, INSERT ON public.kept_shared TO PUBLIC;
SELECT tenancy.provision('fgt', pg_temp.spec('fgt')) IS NOT NULL AS provisioned;
SELECT tenancy.wait('fgt', '60 s') AS provision;
SET ROLE etl_fgt;
INSERT INTO public.kept_shared (note) VALUES ('secret of the first fgt');
RESET ROLE;
SELECT count(*) FROM tenancy.forget('fgt');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_recorded FROM tenancy.tenants WHERE name = 'fgt';
-- deleted as the HINT says, forget goes through; the roles are dropped by hand
DELETE FROM public.kept_shared WHERE tenant = 'fgt';
SELECT count(*) AS listed FROM tenancy.forget('fgt');
DO $$
DECLARE
	r text;
BEGIN
	-- the roles forget listed, dropped as its HINT says
	FOR r IN SELECT rolname FROM pg_roles WHERE rolname ~ '(^|_)fgt(_|$)'
			  ORDER BY rolname = 'tenant_fgt_owner', rolname LOOP
		EXECUTE format('DROP OWNED BY %I CASCADE', r);
		EXECUTE format('DROP ROLE %I', r);
	END LOOP;
END
$$;
-- a row of that name arrives (a loader with BYPASSRLS, or the first fgt's
-- session committing after the check): the new fgt is refused
INSERT INTO public.kept_shared VALUES ('fgt', 'left behind');
SELECT tenancy.provision('fgt', pg_temp.spec('fgt'));
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS fgt_roles FROM pg_roles WHERE rolname LIKE '%fgt%';
DELETE FROM public.kept_shared WHERE tenant = 'fgt';
SELECT tenancy.provision('fgt', pg_temp.spec('fgt')) IS NOT NULL AS provisioned_again;
SELECT tenancy.wait('fgt', '60 s') AS provision;
SET ROLE etl_fgt;
SELECT count(*) AS rows_seen FROM public.kept_shared;
RESET ROLE;
-- not for tenancy_admin, whose policies hide rows
SET ROLE tenancy_admin;
SELECT tenancy.refuse_shared_rows('fgt');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT tenancy.deprovision('fgt', drop_data => true) IS NOT NULL AS dropped;
SELECT tenancy.wait('fgt', '60 s') AS drop;
DROP TABLE public.kept_shared;
DROP EXTENSION tenancy;
