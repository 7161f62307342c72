--
-- tenant_maintain: MAINTAIN, which GRANT ALL includes from PostgreSQL 17
-- on, lets a role VACUUM FULL, CLUSTER and REINDEX a table: each locks every
-- tenant out of a shared table while it runs.  share_table revokes it from
-- tenant roles, the hook refuses those statements to tenant roles whatever
-- was granted, and the audit reports a grant of it (expected/
-- tenant_maintain.out: 17 and later; tenant_maintain_1.out: 15, which has
-- no MAINTAIN).
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
SELECT tenancy.provision('mt', pg_temp.spec('mt')) > 0 AS provisioned;

CREATE TABLE public.ledger (tenant text NOT NULL, id int NOT NULL, PRIMARY KEY (tenant, id));
CLUSTER public.ledger USING ledger_pkey;
GRANT ALL ON public.ledger TO tenant_mt_writer;
-- share_table revokes MAINTAIN with a NOTICE of its own (17 and later)
SELECT tenancy.share_table('public.ledger', 'tenant');
SELECT a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = 'public.ledger'::regclass AND a.grantee = 'tenant_mt_writer'::regrole
 ORDER BY 1;

-- a DBA grants it again (15: no such privilege)
GRANT MAINTAIN ON public.ledger TO tenant_mt_writer;
SELECT check_name, severity, object, detail FROM tenancy.audit()
 WHERE check_name = 'shared_table_privilege';
-- the hook refuses the tenant's maintenance of the table all the same
SET ROLE etl_mt;
VACUUM FULL public.ledger;
CLUSTER public.ledger;
REINDEX TABLE public.ledger;
REINDEX INDEX public.ledger_pkey;
-- nor its TOAST table, even with USAGE on schema pg_toast (statements named
-- after the table's OID: not echoed)
RESET ROLE;
GRANT USAGE ON SCHEMA pg_toast TO tenant_mt_writer;
SET ROLE etl_mt;
\set ECHO none
SELECT format('VACUUM FULL %s', reltoastrelid::regclass) FROM pg_class
 WHERE oid = 'public.ledger'::regclass \gexec
SELECT format('REINDEX TABLE %s', reltoastrelid::regclass) FROM pg_class
 WHERE oid = 'public.ledger'::regclass \gexec
\set ECHO all
RESET ROLE;
REVOKE USAGE ON SCHEMA pg_toast FROM tenant_mt_writer;
SET ROLE etl_mt;
-- and the forms without a table, which would reach it (17 and later; on 15
-- the role may maintain only what it owns, nothing here, and the skipped
-- tables' WARNINGs are kept out)
SET client_min_messages = error;
VACUUM FULL;
ANALYZE;
CLUSTER;
RESET client_min_messages;
LOCK public.ledger IN ACCESS EXCLUSIVE MODE;
RESET ROLE;
-- share_table again revokes it
SELECT tenancy.share_table('public.ledger', 'tenant');
SELECT count(*) AS findings FROM tenancy.audit() WHERE check_name = 'shared_table_privilege';
DROP TABLE public.ledger;
SELECT tenancy.deprovision('mt', drop_data => true) IS NOT NULL AS dropped;
DROP EXTENSION tenancy;
