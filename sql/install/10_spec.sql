
/*
 * 10_spec.sql: the tenant spec.  parse_spec reads YAML (1.2 core schema) or
 * JSON; validate lists every problem by JSON path; normalize_spec fills the
 * defaults (README, "Tenant spec").  provision and apply call all three.
 */

CREATE FUNCTION tenancy.parse_spec(spec text)
RETURNS jsonb
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_parse_spec';

COMMENT ON FUNCTION tenancy.parse_spec(text) IS
	'Parse a tenant spec written in YAML (1.2 core schema) or JSON into jsonb; errors name the line and column';
