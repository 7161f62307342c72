-- tenancy 0.1.0 -> 0.2.0
--
-- Every catalog change of 0.2.0, in the order of sql/install/: a database
-- upgraded with ALTER EXTENSION tenancy UPDATE ends with the same catalog as
-- a fresh CREATE EXTENSION tenancy VERSION '0.2.0'.

\echo Use "ALTER EXTENSION tenancy UPDATE TO '0.2.0'" to load this file. \quit

-- issue 18 (every key of the tenant spec does what it says): tenancy.plan
-- shows each external request's body and, for an apply, what changes.
-- A function's result columns cannot change in place: drop, create, grant.
DROP FUNCTION tenancy.plan(text, jsonb);
CREATE FUNCTION tenancy.plan(name text, spec jsonb)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text,
               request jsonb, changes jsonb)
LANGUAGE c STRICT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan';

COMMENT ON FUNCTION tenancy.plan(text, jsonb) IS
	'What provision (new tenant) or apply (existing tenant) would do, in order, with each external request''s body (no secret; Vault references as references) and, for an apply, the fields that change; nothing is executed';
REVOKE ALL ON FUNCTION tenancy.plan(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenancy.plan(text, jsonb) TO tenancy_admin;
