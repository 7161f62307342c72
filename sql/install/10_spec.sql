
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

CREATE FUNCTION tenancy.validate(spec jsonb)
RETURNS TABLE (path text, message text)
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_validate';

COMMENT ON FUNCTION tenancy.validate(jsonb) IS
	'Every problem of a tenant spec, each with its JSON path; no rows means the spec is valid';

CREATE FUNCTION tenancy.normalize_spec(spec jsonb)
RETURNS jsonb
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_normalize_spec';

COMMENT ON FUNCTION tenancy.normalize_spec(jsonb) IS
	'A valid tenant spec with every default filled in (the form tenancy.tenants stores); raises 22023 for an invalid spec';
