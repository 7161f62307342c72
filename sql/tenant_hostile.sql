--
-- tenant_hostile: hostile and malformed names, prefixes and specs are
-- refused with a clear SQLSTATE and leave nothing behind; derived names
-- that belong to someone else are refused too; the relation guardrail.
--
CREATE EXTENSION tenancy;
-- spec(name, patch): the smallest valid spec of a tenant, with patch merged in
\getenv abs_srcdir PG_ABS_SRCDIR
\set helpers :abs_srcdir '/sql/include/tenant_spec.sql'
\i :helpers

-- try(name, spec): what provision says, as "SQLSTATE: message"
CREATE FUNCTION pg_temp.try(name text, spec jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	PERFORM tenancy.provision(name, spec);
	RETURN 'provisioned';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '');
END
$$;
CREATE TEMP VIEW footprint AS
SELECT (SELECT count(*) FROM pg_roles WHERE rolname ~ '^(tenant_|etl_|airflow_)') AS roles,
       (SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%'
           AND nspname NOT IN ('public', 'information_schema', 'tenancy')) AS schemas,
       (SELECT count(*) FROM tenancy.tenants) AS tenants,
       (SELECT count(*) FROM tenancy.steps) AS steps;

-- hostile tenant names: 22023, whatever the spec
SELECT name, split_part(pg_temp.try(name, pg_temp.spec('x')), ' (', 1) AS result
  FROM unnest(ARRAY[
	'Acme',							-- upper case
	'acme"; DROP ROLE postgres; --',	-- quote and injection
	'acme''; DROP SCHEMA public; --',
	'ácme',							-- unicode
	'acme corp',
	'acme_corp',					-- underscore (the slug is not a name)
	'1acme',						-- leading digit
	'-acme', 'acme-', '',
	repeat('a', 41),				-- longer than 40
	repeat('é', 40)
  ]) AS name;
-- the same, with the full message
SELECT tenancy.provision('Robert''); DROP TABLE students;--', pg_temp.spec('robert'));
SELECT tenancy.plan(repeat('x', 64), pg_temp.spec('x'));
SELECT tenancy.deprovision('Acme');

-- the spec's tenant.name must be the tenant
SELECT pg_temp.try('acme', pg_temp.spec('evil'));

-- hostile schema prefixes: 22023 naming the path
SELECT prefix, pg_temp.try('acme', pg_temp.spec('acme', jsonb_build_object('warehouse',
	jsonb_build_object('database', jsonb_build_object('schema_prefix', prefix))))) AS result
  FROM unnest(ARRAY[
	'Acme_', 'acme"; DROP SCHEMA public; --', 'ácme_', 'acme-', 'acme ',
	'1acme_', '_acme', 'pg_acme_', '', repeat('a', 50)
  ]) AS prefix;
SELECT tenancy.provision('acme', pg_temp.spec('acme', '{"warehouse": {"database": {"schema_prefix": "a\"b"}}}'));

-- not an object at all
SELECT pg_temp.try('acme', '[]'), pg_temp.try('acme', '"acme"');
-- malformed specs: wrong types and values, 22023 naming the path
SELECT spec, pg_temp.try('acme', pg_temp.merge(pg_temp.spec('acme'), spec::jsonb)) AS result
  FROM unnest(ARRAY[
	 '{"tenant": []}', '{"tenant": {"tier": 5}}',
	'{"tenant": {"tier": "platinum"}}',
	'{"tenant": {"environment": "moon"}}',
	'{"tenant": {"display_name": 42}}',
	'{"resources": {"database": {"connections": {"max": "ten"}}}}',
	'{"resources": {"database": {"connections": {"max": 0}}}}',
	'{"resources": {"database": {"connections": {"max": 2.5}}}}',
	'{"resources": {"database": {"connections": {"max": 1e12}}}}',
	'{"features": {"audit_logging": "yes"}}',
	'{"warehouse": "acme"}',
	'{"warehouse": {"database": {"port": "x", "host": "h"}}}'
  ]) AS spec;
SELECT * FROM footprint;

-- reserved words and other odd but valid names are quoted where needed
SELECT pg_temp.try('user', pg_temp.spec('user')) AS "user",
       pg_temp.try('select', pg_temp.spec('select', '{"warehouse": {"database": {"schema_prefix": "table_"}}}')) AS "select";
SELECT nspname FROM pg_namespace WHERE nspname ~ '^(user|table)_' ORDER BY 1;
SELECT detail FROM tenancy.plan('user', pg_temp.spec('user', '{"tenant": {"tier": "basic"}}')) WHERE ordinal <= 2;
SELECT tenancy.deprovision(name, true) > 0 FROM tenancy.tenants ORDER BY name;

-- a derived role or schema that is not the tenant's: refused, nothing created
CREATE ROLE etl_beta;
SELECT tenancy.provision('beta', pg_temp.spec('beta'));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM footprint;
DROP ROLE etl_beta;
CREATE SCHEMA gamma_staging;
SELECT tenancy.provision('gamma', pg_temp.spec('gamma'));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM footprint;
DROP SCHEMA gamma_staging;
-- names colliding after slugging: tenant a-b's schemas are a_b_*; tenant
-- "a" asking for prefix a_b_ is refused
SELECT tenancy.provision('a-b', pg_temp.spec('a-b')) > 0 AS provisioned;
SELECT tenancy.provision('a', pg_temp.spec('a', '{"warehouse": {"database": {"schema_prefix": "a_b_"}}}'));
\echo :LAST_ERROR_SQLSTATE
SELECT tenancy.deprovision('a-b', true) > 0 AS deprovisioned;

-- the guardrail: pg_class may not grow past tenancy.max_catalog_relations
SET tenancy.max_catalog_relations = 100;
\set VERBOSITY terse
SELECT tenancy.provision('big', pg_temp.spec('big'));
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET tenancy.max_catalog_relations;
SELECT * FROM footprint;

-- a NULL argument of a command is an error naming it (22004), not a NULL
-- result with nothing done: a spec looked up by a subquery that finds none
CREATE FUNCTION pg_temp.null_arg(call text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT ' || call;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT c AS call, pg_temp.null_arg(c) AS says FROM (VALUES
	('tenancy.provision(''acme'', (SELECT pg_temp.spec(''acme'') WHERE false))'),
	('tenancy.provision(NULL, pg_temp.spec(''acme''))'),
	('tenancy.provision(''acme'', NULL::text)'),
	('tenancy.apply(''acme'', NULL::jsonb)'),
	('tenancy.apply(NULL, ''{}''::text)'),
	('tenancy.deprovision(NULL)'),
	('tenancy.deprovision(''acme'', NULL)'),
	('* FROM tenancy.plan(''acme'', NULL::jsonb)'),
	('* FROM tenancy.plan(NULL, ''{}''::text)'),
	('tenancy.share_table(NULL, ''tenant'')'),
	('tenancy.unshare_table(NULL)'),
	('tenancy.register_server(''w1'', ''host=w1'', NULL)'),
	('tenancy.drop_server(NULL)'),
	('tenancy.set_password(NULL)')) AS v(c);
SELECT roles, schemas, tenants FROM footprint;

-- only tenancy_admin may call the administrative functions
CREATE ROLE regress_nobody;
CREATE ROLE regress_operator IN ROLE tenancy_admin;
SET ROLE regress_nobody;
SELECT tenancy.provision('acme', pg_temp.spec('acme'));
RESET ROLE;
SET ROLE regress_operator;
SELECT tenancy.provision('acme', pg_temp.spec('acme')) > 0 AS operator_provisions;
SELECT tenancy.deprovision('acme', true) > 0 AS operator_deprovisions;
RESET ROLE;
SELECT roles, schemas FROM footprint;
DROP ROLE regress_nobody, regress_operator;

DROP VIEW footprint;
DROP EXTENSION tenancy;
