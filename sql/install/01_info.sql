
/* 01_info.sql: what is installed */

CREATE FUNCTION tenancy.version()
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_version';

COMMENT ON FUNCTION tenancy.version() IS
	'Version of the loaded tenancy library (may differ from the extension version until ALTER EXTENSION UPDATE)';
