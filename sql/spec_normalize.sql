-- tenancy.normalize_spec: defaults filled in one pass over the spec, with
-- the result jsonb built once.  What a user checks: a null counts as
-- absent at every depth (objects, array elements), values given are kept
-- as given, defaults that depend on other values follow them, and the
-- result does not depend on the order the keys were written in.
CREATE EXTENSION tenancy;

-- nulls at every depth take the default, as absent keys do
SELECT n #> '{tenant,display_name}' AS display_name,
       n #> '{warehouse,database}' AS database,
       n #> '{warehouse,dbt,silver}' AS silver,
       n #> '{warehouse,data_quality,checks}' AS checks,
       n -> 'features' AS features,
       n -> 'billing' AS billing,
       n #> '{resources,kubernetes,namespace}' AS namespace,
       n #> '{resources,airflow,workers}' AS workers
  FROM tenancy.normalize_spec('{"tenant": {"name": "nul-co", "tier": "basic", "display_name": null},
    "warehouse": {"database": null, "dbt": {"silver": null, "gold": {"enabled": true, "schedule": "@daily"}},
                  "data_quality": {"enabled": true, "checks": [
                    {"type": "freshness", "tables": ["bronze.*"], "max_age_hours": 26, "action": null},
                    {"type": "schema_drift", "tables": ["bronze.*"], "action": "fail"}]}},
    "resources": {"kubernetes": null, "airflow": {"workers": null}}, "features": null, "billing": null}') AS n;

-- bronze jobs: the defaults of each source, element by element
SELECT j ->> 'name' AS job, j -> 'config' AS config
  FROM tenancy.normalize_spec('{"tenant": {"name": "jobs-co", "tier": "standard"},
    "warehouse": {"bronze_jobs": [
      {"name": "paged", "source": "api_catalog", "schedule": "@daily", "config": {"endpoint": "/a", "pagination": true}},
      {"name": "unpaged", "source": "api_catalog", "schedule": "@daily", "config": {"endpoint": "/b", "pagination": null}},
      {"name": "sized", "source": "api_catalog", "schedule": "@daily", "config": {"endpoint": "/c", "pagination": true, "page_size": 7}},
      {"name": "incremental", "source": "postgres_operational", "schedule": "@daily", "config": {"table": "public.t", "incremental_column": "m"}},
      {"name": "full", "source": "postgres_operational", "schedule": "@daily", "config": {"table": "public.u"}},
      {"name": "crm", "source": "salesforce", "schedule": "@daily", "config": {"object": "Account"}}]},
    "resources": {}}') AS n,
       jsonb_array_elements(n #> '{warehouse,bronze_jobs}') AS j;

-- defaults that follow other values: workers.max and connections.max never
-- below their min, sizes from the tier
SELECT n #> '{resources,airflow,workers}' AS workers,
       n #> '{resources,database,connections}' AS connections,
       n #> '{resources,database,storage_gb}' AS storage_gb
  FROM tenancy.normalize_spec('{"tenant": {"name": "big-co", "tier": "enterprise"}, "warehouse": {},
    "resources": {"airflow": {"workers": {"min": 4}}, "database": {"connections": {"min": 80}}}}') AS n;

-- the same spec written with its keys in another order, or already
-- normalized, gives the same jsonb, byte for byte; values given are kept
WITH given AS (
	SELECT '{"tenant": {"tier": "standard", "name": "ord-co", "contacts": {"business": [{"name": "B", "email": "b@x.io"}]}},
	         "resources": {"kubernetes": {"tolerations": [{"key": "k", "operator": "Exists"}], "namespace": "airflow-ord-co"}},
	         "warehouse": {"name": "w", "database": {"port": 6543}}}'::text AS a,
	       '{"warehouse": {"database": {"port": 6543}, "name": "w"},
	         "resources": {"kubernetes": {"namespace": "airflow-ord-co", "tolerations": [{"operator": "Exists", "key": "k"}]}},
	         "tenant": {"contacts": {"business": [{"email": "b@x.io", "name": "B"}]}, "name": "ord-co", "tier": "standard"}}'::text AS b
), n AS (
	SELECT tenancy.normalize_spec(a::jsonb) AS na, tenancy.normalize_spec(b::jsonb) AS nb, a::jsonb AS ja
	  FROM given
)
SELECT na = nb AS same_value,
       jsonb_send(na) = jsonb_send(nb) AND pg_column_size(na) = pg_column_size(nb) AS same_bytes,
       pg_column_size(tenancy.normalize_spec(na)) = pg_column_size(na)
         AND jsonb_send(tenancy.normalize_spec(na)) = jsonb_send(na) AS normalizing_again_changes_nothing,
       na @> ja AS keeps_what_was_given,
       na #> '{warehouse,database,port}' AS port,
       na #> '{tenant,contacts}' AS contacts
  FROM n;

-- a provisioned tenant's platform steps are planned from the normalized
-- spec: the namespace and quota bodies carry the defaults
SELECT tenancy.provision('norm-co', '{"tenant": {"name": "norm-co", "tier": "basic"}, "warehouse": {}, "resources": {"kubernetes": null}}') IS NOT NULL AS provisioned;
SELECT s.object,
       s.request #> '{body,spec,hard}' AS quota_hard
  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
       JOIN tenancy.tenants t USING (tenant_id)
 WHERE t.name = 'norm-co' AND s.object LIKE 'resourcequota %';
SELECT spec = tenancy.normalize_spec(spec) AS stored_spec_is_normalized
  FROM tenancy.tenants WHERE name = 'norm-co';

-- not a spec: refused before any default is filled (22023)
\set VERBOSITY terse
SELECT tenancy.normalize_spec('[]');
SELECT tenancy.normalize_spec('"acme"');
SELECT tenancy.normalize_spec('{"tenant": {"name": "x", "tier": null}}');
\set VERBOSITY default

-- deprovision with the data: nothing of the tenant is left in the database
SELECT tenancy.deprovision('norm-co', drop_data => true) IS NOT NULL AS deprovisioned;
SELECT count(*) AS roles_left FROM pg_roles WHERE rolname LIKE '%norm_co%';
DROP EXTENSION tenancy;
