
/* 01_info.sql: what is installed */

CREATE FUNCTION tenancy.version()
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_version';

COMMENT ON FUNCTION tenancy.version() IS
	'Version of the loaded tenancy library (may differ from the extension version until ALTER EXTENSION UPDATE)';

CREATE FUNCTION tenancy.is_own_transaction(xid)
RETURNS boolean
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'tenancy_is_own_transaction';

COMMENT ON FUNCTION tenancy.is_own_transaction(xid) IS
	'Whether the transaction id is the current transaction or one of its subtransactions (tenancy.wait refuses to wait for its own operation)';
