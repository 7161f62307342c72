-- tenancy install script, assembled from the files of sql/install in name order

\echo Use "CREATE EXTENSION tenancy" to load this file. \quit

/*
 * 00_catalog.sql: the catalog that is the source of truth.
 *
 * Tenants hold the desired (normalized) spec and a generation that every
 * change bumps; operations are the provision/apply/deprovision/rotate/audit
 * runs against a tenant; steps are the units of an operation the worker
 * carries out after COMMIT, each in its own short transaction.
 */

-- The only non-superuser role that may call the administrative functions.
-- Roles are cluster-wide: it survives DROP EXTENSION (see README).  One
-- that exists already (a DROP and CREATE EXTENSION, or an older version)
-- is used only when nobody could have shaped it to gain its powers: from
-- PostgreSQL 16 a role with CREATEROLE that creates tenancy_admin before
-- the extension keeps ADMIN OPTION on it and could grant it to itself
-- afterwards.  So it must be NOLOGIN without attributes, a member of no
-- role, with no member holding ADMIN OPTION who is not a superuser.
DO $do$
DECLARE
	v_problem text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'tenancy_admin') THEN
		CREATE ROLE tenancy_admin NOLOGIN;
		RETURN;
	END IF;
	SELECT pg_catalog.string_agg(p, '; ') INTO v_problem FROM (
		SELECT 'it can log in or has attributes (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS)' AS p
		  FROM pg_catalog.pg_roles r
		 WHERE r.rolname OPERATOR(pg_catalog.=) 'tenancy_admin'
		   AND (r.rolcanlogin OR r.rolsuper OR r.rolcreatedb OR r.rolcreaterole
				OR r.rolreplication OR r.rolbypassrls)
		UNION ALL
		SELECT pg_catalog.format('%s holds it WITH ADMIN OPTION', m.member::pg_catalog.regrole)
		  FROM pg_catalog.pg_auth_members m
		  JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
		  JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
		 WHERE g.rolname OPERATOR(pg_catalog.=) 'tenancy_admin' AND m.admin_option AND NOT u.rolsuper
		UNION ALL
		SELECT pg_catalog.format('it is a member of %s', m.roleid::pg_catalog.regrole)
		  FROM pg_catalog.pg_auth_members m
		  JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) m.member
		 WHERE u.rolname OPERATOR(pg_catalog.=) 'tenancy_admin') AS problems;
	IF v_problem IS NOT NULL THEN
		RAISE EXCEPTION 'role tenancy_admin exists and cannot be trusted as tenancy''s'
			USING ERRCODE = 'duplicate_object',
				  DETAIL = v_problem || '.',
				  HINT = 'As a superuser, DROP ROLE tenancy_admin (or ALTER ROLE tenancy_admin NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, REVOKE ADMIN OPTION FOR tenancy_admin FROM each member named, REVOKE it from the roles it is a member of), then try again.';
	END IF;
END
$do$;

CREATE SCHEMA tenancy;
COMMENT ON SCHEMA tenancy IS 'Catalog and functions of the tenancy extension';
REVOKE ALL ON SCHEMA tenancy FROM PUBLIC;
GRANT USAGE ON SCHEMA tenancy TO tenancy_admin;

CREATE TABLE tenancy.tenants (
	tenant_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE
				CHECK (name ~ '^[a-z]([-a-z0-9]*[a-z0-9])?$' AND length(name) <= 40),
	slug		text NOT NULL UNIQUE
				CHECK (slug ~ '^[a-z][_a-z0-9]*$'),
	spec		jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
	generation	bigint NOT NULL DEFAULT 1 CHECK (generation > 0),
	state		text NOT NULL DEFAULT 'provisioning'
				CHECK (state IN ('provisioning', 'ready', 'updating', 'failed',
								 'deprovisioning', 'deprovisioned')),
	server		text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE tenancy.tenants IS
	'One row per tenant: the desired spec (normalized) and its lifecycle state';
COMMENT ON COLUMN tenancy.tenants.name IS
	'DNS-1123 label naming the tenant (namespace airflow-<name>)';
COMMENT ON COLUMN tenancy.tenants.slug IS
	'The name as used in SQL identifiers (acme-corp becomes acme_corp)';
COMMENT ON COLUMN tenancy.tenants.spec IS
	'Desired state: the normalized tenant spec last provisioned or applied';
COMMENT ON COLUMN tenancy.tenants.generation IS
	'Bumped by every provision or apply that changes the spec';
COMMENT ON COLUMN tenancy.tenants.state IS
	'provisioning, ready, updating, failed, deprovisioning or deprovisioned';
COMMENT ON COLUMN tenancy.tenants.server IS
	'Registered warehouse server holding the tenant, NULL for the platform database';

-- Issue 17 (finding 4) and issue 18 (namespace): the Kubernetes namespace
-- tenancy created for a tenant, proved by its uid; one live tenant per
-- namespace.
ALTER TABLE tenancy.tenants ADD COLUMN namespace_uid text
	CHECK (namespace_uid ~ '^[-0-9A-Za-z]{1,128}$');
COMMENT ON COLUMN tenancy.tenants.namespace_uid IS
	'metadata.uid of the Kubernetes namespace the worker created for the tenant (NULL until it has); an object at that name with another uid is not the tenant''s';
CREATE UNIQUE INDEX tenants_namespace_idx
	ON tenancy.tenants ((spec #>> '{resources,kubernetes,namespace}'))
	WHERE state <> 'deprovisioned';
COMMENT ON INDEX tenancy.tenants_namespace_idx IS
	'A namespace (resources.kubernetes.namespace of the normalized spec) belongs to one tenant that is not deprovisioned';

CREATE TABLE tenancy.operations (
	operation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id),
	kind		text NOT NULL
				CHECK (kind IN ('provision', 'apply', 'deprovision', 'rotate',
								'audit', 'usage')),
	generation	bigint NOT NULL CHECK (generation > 0),
	state		text NOT NULL DEFAULT 'pending'
				CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
								 'compensating', 'compensated', 'cancelled')),
	requested_by name NOT NULL DEFAULT session_user,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at	timestamptz,
	finished_at timestamptz,
	error		text,
	CHECK (finished_at IS NULL OR finished_at >= created_at),
	CHECK ((state IN ('succeeded', 'failed', 'compensated', 'cancelled')) =
		   (finished_at IS NOT NULL))
);

CREATE INDEX operations_tenant_idx ON tenancy.operations (tenant_id, operation_id);
CREATE INDEX operations_active_idx ON tenancy.operations (operation_id)
	WHERE state IN ('pending', 'running', 'compensating');

COMMENT ON TABLE tenancy.operations IS
	'Provision, apply, deprovision, rotate and audit runs, one row each';
COMMENT ON COLUMN tenancy.operations.generation IS
	'The tenant generation this operation converges to';
COMMENT ON COLUMN tenancy.operations.requested_by IS
	'Session user that asked for the operation';
COMMENT ON COLUMN tenancy.operations.error IS
	'Why the operation failed or was cancelled';

CREATE TABLE tenancy.steps (
	step_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	operation_id bigint NOT NULL REFERENCES tenancy.operations (operation_id)
				ON DELETE CASCADE,
	ordinal		integer NOT NULL CHECK (ordinal > 0),
	target		text NOT NULL
				CHECK (target IN ('database', 'remote_database', 'kubernetes',
								  'vault', 'grafana', 'helm', 'airflow')),
	action		text NOT NULL,
	object		text NOT NULL,
	request		jsonb NOT NULL DEFAULT '{}'
				CHECK (jsonb_typeof(request) = 'object'),
	compensation jsonb CHECK (compensation IS NULL OR jsonb_typeof(compensation) = 'object'),
	depends_on	integer[] NOT NULL DEFAULT '{}',
	state		text NOT NULL DEFAULT 'pending'
				CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
								 'skipped', 'cancelled', 'compensating',
								 'compensated')),
	attempts	integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	lease_until timestamptz,
	http_status integer CHECK (http_status BETWEEN 100 AND 599),
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at	timestamptz,
	finished_at timestamptz,
	phase		text NOT NULL DEFAULT 'forward'
				CHECK (phase IN ('forward', 'compensation')),
	UNIQUE (operation_id, ordinal),
	CHECK (NOT (ordinal = ANY (depends_on))),
	CHECK ((state = 'running') = (lease_until IS NOT NULL))
);

-- What the worker's claim query scans: due pending steps, expired leases.
CREATE INDEX steps_due_idx ON tenancy.steps (next_attempt_at)
	WHERE state = 'pending';
CREATE INDEX steps_lease_idx ON tenancy.steps (lease_until)
	WHERE state = 'running';
CREATE INDEX steps_compensating_idx ON tenancy.steps (operation_id)
	WHERE state = 'compensating';

COMMENT ON TABLE tenancy.steps IS
	'Units of work of an operation, run by the background worker after COMMIT';
COMMENT ON COLUMN tenancy.steps.ordinal IS
	'Position of the step in its operation, as planned';
COMMENT ON COLUMN tenancy.steps.target IS
	'Where the step acts: database, remote_database, kubernetes, vault, grafana, helm or airflow';
COMMENT ON COLUMN tenancy.steps.request IS
	'What the step sends (method, path, body); never holds a secret';
COMMENT ON COLUMN tenancy.steps.compensation IS
	'The request that undoes the step when its operation fails, if any';
COMMENT ON COLUMN tenancy.steps.depends_on IS
	'Ordinals of the steps of the same operation that must succeed first';
COMMENT ON COLUMN tenancy.steps.next_attempt_at IS
	'When a pending step becomes due (backoff after a failed attempt)';
COMMENT ON COLUMN tenancy.steps.lease_until IS
	'While running: when the claim expires and the step may run again';
COMMENT ON COLUMN tenancy.steps.http_status IS
	'HTTP status of the last attempt, if the step made a request';
COMMENT ON COLUMN tenancy.steps.last_error IS
	'Error of the last failed attempt';
COMMENT ON COLUMN tenancy.steps.phase IS
	'forward while the step runs its request; compensation once its operation failed and the step is being undone';

-- Keep the catalog in pg_dump output (extension tables are skipped otherwise).
SELECT pg_catalog.pg_extension_config_dump('tenancy.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.operations', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.steps', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.tenants_tenant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.operations_operation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.steps_step_id_seq', '');

GRANT SELECT ON tenancy.tenants, tenancy.operations, tenancy.steps TO tenancy_admin;
