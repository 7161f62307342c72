
/*
 * 20_tenants.sql: the database side of a tenant.  plan/provision/apply/
 * deprovision run in the caller's transaction (src/provision.c); shared
 * tables under row-level security (src/rls.c); views for DBAs.
 *
 * plan/provision/apply/deprovision run with jit = off: their statements
 * are small, but once the catalog holds thousands of tenants some cost
 * estimates pass jit_above_cost, and compiling them took longer than
 * provisioning (tenant #2,000 cost 1.9x tenant #1, 1.0x without JIT).
 */

CREATE FUNCTION tenancy.plan(name text, spec jsonb)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text,
               request jsonb, changes jsonb)
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan';

COMMENT ON FUNCTION tenancy.plan(text, jsonb) IS
	'What provision (new tenant) or apply (existing tenant) would do, in order, with each external request''s body (no secret; Vault references as references) and, for an apply, the fields that change; nothing is executed';

CREATE FUNCTION tenancy.plan(name text, spec text)
RETURNS TABLE (ordinal integer, target text, action text, object text, detail text,
               request jsonb, changes jsonb)
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_plan_text';

COMMENT ON FUNCTION tenancy.plan(text, text) IS
	'plan() with the spec as YAML or JSON text';

CREATE FUNCTION tenancy.provision(name text, spec jsonb)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_provision';

COMMENT ON FUNCTION tenancy.provision(text, jsonb) IS
	'Create a tenant in the caller''s transaction and enqueue its platform steps; returns the operation id';

CREATE FUNCTION tenancy.provision(name text, spec text)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_provision_text';

COMMENT ON FUNCTION tenancy.provision(text, text) IS
	'provision() with the spec as YAML or JSON text';

CREATE FUNCTION tenancy.apply(name text, spec jsonb)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_apply';

COMMENT ON FUNCTION tenancy.apply(text, jsonb) IS
	'Create a tenant or converge it to a changed spec, touching only what changed; NULL when nothing changed';

CREATE FUNCTION tenancy.apply(name text, spec text)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_apply_text';

COMMENT ON FUNCTION tenancy.apply(text, text) IS
	'apply() with the spec as YAML or JSON text';

CREATE FUNCTION tenancy.deprovision(name text, drop_data boolean DEFAULT false)
RETURNS bigint
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off
AS 'MODULE_PATHNAME', 'tenancy_deprovision';

COMMENT ON FUNCTION tenancy.deprovision(text, boolean) IS
	'Disable the tenant''s logins and remove its roles; schemas and data kept unless drop_data; platform deletions enqueued';

CREATE FUNCTION tenancy.current_tenant()
RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_current_tenant';

COMMENT ON FUNCTION tenancy.current_tenant() IS
	'Tenant of the current role, from membership in the tenant''s group roles; NULL when none (never from a setting)';

CREATE FUNCTION tenancy.tenant_of_role(role oid)
RETURNS text
LANGUAGE c STRICT STABLE
AS 'MODULE_PATHNAME', 'tenancy_tenant_of_role';

COMMENT ON FUNCTION tenancy.tenant_of_role(oid) IS
	'Tenant of a role as current_tenant() finds it, NULL when none (the audit''s checks of shared tables)';

CREATE FUNCTION tenancy.share_table(tbl regclass, tenant_column name)
RETURNS void
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_share_table';

COMMENT ON FUNCTION tenancy.share_table(regclass, name) IS
	'Share a table between tenants: FORCE row-level security and one policy on the tenant column, on the table and every partition; an index on it, DEFAULT tenancy.current_tenant(); TRIGGER, TRUNCATE and REFERENCES of tenant roles revoked';

CREATE FUNCTION tenancy.unshare_table(tbl regclass)
RETURNS void
LANGUAGE c CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'tenancy_unshare_table';

COMMENT ON FUNCTION tenancy.unshare_table(regclass) IS
	'Undo share_table: drop its policy and index, and row-level security when no other policy remains';

CREATE VIEW tenancy.tenant_summary AS
SELECT t.name,
	   t.state,
	   t.generation,
	   COALESCE(t.spec #>> '{tenant,tier}', 'standard') AS tier,
	   COALESCE(t.spec #>> '{tenant,environment}', 'production') AS environment,
	   COALESCE(t.spec #>> '{warehouse,database,schema_prefix}', t.slug || '_') AS schema_prefix,
	   CASE WHEN COALESCE(t.spec #>> '{warehouse,database,host}', '') = ''
				 AND COALESCE(t.spec #>> '{warehouse,database,name}',
							  pg_catalog.current_database()) = pg_catalog.current_database()
			THEN 'local'
			ELSE 'remote' END AS placement,
	   (SELECT o.operation_id FROM tenancy.operations o
		 WHERE o.tenant_id = t.tenant_id
		 ORDER BY o.operation_id DESC LIMIT 1) AS last_operation,
	   t.created_at,
	   t.updated_at,
	   (SELECT pg_catalog.array_agg(DISTINCT s.target ORDER BY s.target)
		  FROM tenancy.steps s
		 WHERE s.state = 'skipped'
		   AND s.operation_id = (SELECT max(o.operation_id) FROM tenancy.operations o
								  WHERE o.tenant_id = t.tenant_id
									AND o.kind IN ('provision', 'apply'))) AS skipped_targets
  FROM tenancy.tenants t;

COMMENT ON VIEW tenancy.tenant_summary IS
	'Tenants with their state and a summary of their spec (tier, environment, schema prefix, placement); skipped_targets: the targets (kubernetes, vault, grafana ...) whose steps the latest provision or apply skipped, so nothing exists there';

CREATE VIEW tenancy.operation_steps AS
SELECT o.operation_id,
	   t.name AS tenant,
	   o.kind,
	   o.state AS operation_state,
	   s.ordinal,
	   s.target,
	   s.action,
	   s.object,
	   s.state,
	   s.attempts,
	   s.http_status,
	   s.last_error,
	   s.depends_on,
	   s.finished_at
  FROM tenancy.operations o
  JOIN tenancy.tenants t USING (tenant_id)
  JOIN tenancy.steps s USING (operation_id);

COMMENT ON VIEW tenancy.operation_steps IS
	'Operations and their steps, one row per step, with the tenant name';

GRANT SELECT ON tenancy.tenant_summary, tenancy.operation_steps TO tenancy_admin;

/*
 * Trust boundary (issue 17).  created_objects records the roles and schemas
 * tenancy created for each tenant in this database, by OID: apply, audit
 * repair, rotation and deprovision act on a role or schema only when its
 * OID is recorded for that tenant, so that an object that merely has the
 * expected name (created by someone else after a deprovision) is refused,
 * never adopted.  locks holds the rows that serialize provision, apply and
 * deprovision of one tenant, and placement: nobody but tenancy's SECURITY
 * DEFINER functions can lock them (any role could take an advisory lock).
 */
CREATE TABLE tenancy.created_objects (
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id)
				ON DELETE CASCADE,
	kind		text NOT NULL CHECK (kind IN ('role', 'schema')),
	name		text NOT NULL,
	object_oid	oid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (tenant_id, kind, name)
);

COMMENT ON TABLE tenancy.created_objects IS
	'Roles and schemas tenancy created for each tenant in this database, by OID: the only ones it changes, grants on, sets passwords on or drops';
COMMENT ON COLUMN tenancy.created_objects.kind IS
	'role (pg_authid) or schema (pg_namespace)';
COMMENT ON COLUMN tenancy.created_objects.object_oid IS
	'OID of the object when tenancy created it: a role or schema created again under the name by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.created_objects', '');

CREATE TABLE tenancy.locks (
	lock_key	text PRIMARY KEY CHECK (length(lock_key) <= 80)
);

COMMENT ON TABLE tenancy.locks IS
	'Rows that provision, apply, deprovision and placement lock FOR UPDATE to serialize (tenant <name>, placement); no role has a privilege on it';

GRANT SELECT ON tenancy.created_objects TO tenancy_admin;

/*
 * Trust boundary in Kubernetes (issue 17, finding 4).  platform_objects
 * records the metadata.uid of every object tenancy created in a tenant's
 * namespace (a Secret, ConfigMap, quota, HelmRelease, ...), by API path.  An
 * apply sends that uid with the object, so that the API server refuses it
 * (422) when what has the name now is an object someone else created after
 * tenancy's was deleted; an object with no record is created with POST, so
 * that one someone else put there first answers 409 and is refused, never
 * taken over by server-side apply.
 */
CREATE TABLE tenancy.platform_objects (
	tenant_id	bigint NOT NULL REFERENCES tenancy.tenants (tenant_id)
				ON DELETE CASCADE,
	path		text NOT NULL CHECK (path ~ '^/apis?/' AND length(path) <= 512),
	uid			text NOT NULL CHECK (uid ~ '^[-0-9A-Za-z]{1,128}$'),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (tenant_id, path)
);

COMMENT ON TABLE tenancy.platform_objects IS
	'Kubernetes objects tenancy created for each tenant, by API path and metadata.uid: the only ones it applies changes to';
COMMENT ON COLUMN tenancy.platform_objects.path IS
	'API path of the object (/api/v1/namespaces/<ns>/configmaps/<name>, ...)';
COMMENT ON COLUMN tenancy.platform_objects.uid IS
	'metadata.uid the API server gave the object when tenancy created it: an object created again under the name by someone else has another';

SELECT pg_catalog.pg_extension_config_dump('tenancy.platform_objects', '');

GRANT SELECT ON tenancy.platform_objects TO tenancy_admin;
