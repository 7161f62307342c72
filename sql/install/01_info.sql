
/* 01_info.sql: what is installed */

CREATE FUNCTION tenancy.version()
RETURNS text
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_version';

COMMENT ON FUNCTION tenancy.version() IS
	'Version of the loaded tenancy library (may differ from the extension version until ALTER EXTENSION UPDATE)';

-- The library version that planned each operation: the first provision or
-- apply after an upgrade plans every platform object again (provision.c,
-- platform_history), since the new version may build objects the old one
-- did not.  Rows from before the column existed stay NULL ("unknown").
ALTER TABLE tenancy.operations ADD COLUMN planned_by text;
ALTER TABLE tenancy.operations ALTER COLUMN planned_by SET DEFAULT tenancy.version();
COMMENT ON COLUMN tenancy.operations.planned_by IS
	'Version of the tenancy library that planned the operation (NULL: before 0.2.0)';

CREATE FUNCTION tenancy.is_own_transaction(xid)
RETURNS boolean
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'tenancy_is_own_transaction';

COMMENT ON FUNCTION tenancy.is_own_transaction(xid) IS
	'Whether the transaction id is the current transaction or one of its subtransactions (tenancy.wait refuses to wait for its own operation)';
