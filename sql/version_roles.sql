--
-- version_roles: what PostgreSQL 16 changed in role membership, and how
-- tenancy answers on each version (expected/version_roles.out: 16 and
-- later; version_roles_1.out: 15).
--
-- 16: a membership grant carries INHERIT and SET options, and a role with
-- CREATEROLE that creates a role is granted it back WITH ADMIN, INHERIT
-- FALSE, SET FALSE.  Such an ADMIN-only member cannot act as the role, so
-- tenancy.current_tenant() does not follow that membership: the DBA who
-- created a tenant's login role does not see that tenant's rows.  15 has no
-- such grant, and CREATEROLE lets a role grant itself any tenant's group.
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers
SELECT tenancy.provision('vr', pg_temp.spec('vr')) > 0 AS provisioned;

-- a shared table with a row of tenant vr and one of another tenant;
-- tenant_of(role): the tenants whose rows role sees there
CREATE TABLE public.vr_shared (tenant text NOT NULL, note text);
SELECT tenancy.share_table('public.vr_shared', 'tenant');
INSERT INTO public.vr_shared VALUES ('vr', 'a row of vr'), ('other', 'a row of other');
GRANT SELECT ON public.vr_shared TO PUBLIC;
CREATE FUNCTION pg_temp.tenant_of(r text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	SELECT string_agg(tenant, ',' ORDER BY tenant) INTO result FROM public.vr_shared;
	RESET ROLE;
	RETURN coalesce(result, '(no rows)');
END
$$;

-- a DBA with CREATEROLE (not superuser) creates a login role for the
-- tenant's analyst; the superuser grants the analyst the tenant's reader
CREATE ROLE regress_vr_dba LOGIN CREATEROLE;
SET ROLE regress_vr_dba;
CREATE ROLE regress_vr_analyst LOGIN;
RESET ROLE;
GRANT tenant_vr_reader TO regress_vr_analyst;
SELECT pg_temp.tenant_of('regress_vr_analyst') AS analyst,
       pg_temp.tenant_of('regress_vr_dba') AS dba;
-- the membership 16 gave the DBA over the analyst: ADMIN only
SELECT r.rolname AS role, m.rolname AS member
  FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
 WHERE m.rolname = 'regress_vr_dba';

-- the DBA tries to join the tenant: 16 refuses (no ADMIN on the group),
-- 15 lets CREATEROLE grant any role that is not a superuser
SET ROLE regress_vr_dba;
GRANT tenant_vr_reader TO regress_vr_dba;
RESET ROLE;
SELECT pg_temp.tenant_of('regress_vr_dba') AS dba_after_grant;
REVOKE tenant_vr_reader FROM regress_vr_dba;

-- a team lead who manages the tenant's members without acting as the
-- tenant: 16 can say so (ADMIN TRUE, INHERIT FALSE, SET FALSE), and the lead
-- is of no tenant; on 15 ADMIN OPTION is a membership like any other
CREATE ROLE regress_vr_lead LOGIN;
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'GRANT tenant_vr_reader TO regress_vr_lead WITH ADMIN TRUE, INHERIT FALSE, SET FALSE'
            ELSE 'GRANT tenant_vr_reader TO regress_vr_lead WITH ADMIN OPTION' END
\gexec
SELECT pg_temp.tenant_of('regress_vr_lead') AS lead;
-- with SET (16) it can act as the reader: then it is of the tenant
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'GRANT tenant_vr_reader TO regress_vr_lead WITH SET TRUE' END
\gexec
SELECT pg_temp.tenant_of('regress_vr_lead') AS lead_with_set;

-- a REVOKE changes the answer at once (the cache is dropped)
SELECT pg_temp.tenant_of('regress_vr_analyst') AS analyst_before;
REVOKE tenant_vr_reader FROM regress_vr_analyst;
SELECT pg_temp.tenant_of('regress_vr_analyst') AS analyst_after_revoke;

-- apply finds the memberships it made (16 keys them by grantor too): a
-- second apply of the same spec has nothing to do
SELECT tenancy.apply('vr', pg_temp.spec('vr')) IS NULL AS nothing_to_do;

DROP TABLE public.vr_shared;
SELECT tenancy.deprovision('vr', true) > 0 AS deprovisioned;
DROP ROLE regress_vr_analyst, regress_vr_lead;
DROP ROLE regress_vr_dba;
DROP EXTENSION tenancy;
