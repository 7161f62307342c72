--
-- spec_keys: every key of the tenant spec does what it says, or is refused.
-- What provision records for the reference spec, key by key: the name,
-- the feature flags, workers, connections, warehouse.name, contacts.
-- (The walk over every leaf of the reference spec is TAP 073.)
--
CREATE EXTENSION tenancy;
\getenv abs_srcdir PG_ABS_SRCDIR
\set seed_file :abs_srcdir '/test/fixtures/acme-corp.yaml'
SELECT pg_read_file(:'seed_file') AS seed_yaml \gset
CREATE TEMP TABLE seed AS
SELECT tenancy.parse_spec(:'seed_yaml') #- '{warehouse,database,host}'
                                        #- '{warehouse,database,name}' AS spec;

-- what provision records for a spec (rolled back by the caller)
CREATE FUNCTION pg_temp.recorded(spec jsonb, tenant text DEFAULT 'acme-corp')
RETURNS TABLE (object text, request jsonb) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tenancy.provision(tenant, spec);
  RETURN QUERY SELECT s.object, s.request FROM tenancy.steps s ORDER BY s.ordinal;
END $$;
CREATE FUNCTION pg_temp.values(spec jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT request #> '{body,spec,values}' FROM pg_temp.recorded(spec)
   WHERE object LIKE 'helmrelease %/airflow' $$;
CREATE FUNCTION pg_temp.try(spec jsonb, tenant text DEFAULT 'acme-corp') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
  PERFORM tenancy.provision(tenant, spec);
  RETURN 'provisioned';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN s || ': ' || m || E'\nDETAIL: ' || coalesce(d, '') || E'\nHINT: ' || coalesce(h, '');
END $$;

-- the request tenancy.plan shows for an object (a dry run)
CREATE FUNCTION pg_temp.object(spec jsonb, pattern text) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT request FROM tenancy.plan('acme-corp', spec) WHERE object LIKE pattern $$;

-- tenant.name must be the tenant provision is called for (22023), with a
-- DETAIL and a HINT, nothing created
SELECT pg_temp.try(spec, 'globex') FROM seed;
SELECT count(*) AS tenants FROM tenancy.tenants;

-- features with no effect yet are refused when true, never ignored
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(jsonb_set(spec, '{features,external_task_sensors}', 'true'),
                                  '{features,cross_tenant_dependencies}', 'true'));
SELECT pg_temp.try(jsonb_set(spec, '{features,cross_tenant_dependencies}', 'true')) FROM seed;

-- custom_plugins: the plugins folder, mounted from ConfigMap tenant-plugins
BEGIN;
SELECT v #> '{config,core,plugins_folder}' AS plugins_folder,
       jsonb_path_query_array(v, '$.volumes[*].configMap') AS volumes,
       jsonb_path_query_array(v, '$.volumeMounts[*].mountPath') AS mounts
  FROM seed, pg_temp.values(spec) v;
ROLLBACK;
BEGIN;
SELECT v #> '{config,core,plugins_folder}' AS plugins_folder,
       jsonb_path_query_array(v, '$.volumes[*].configMap') AS volumes
  FROM seed, pg_temp.values(jsonb_set(spec, '{features,custom_plugins}', 'false')) v;
ROLLBACK;

-- data_lineage: OpenLineage, to tenancy.openlineage_url or the console
BEGIN;
SELECT v #> '{config,openlineage}' AS openlineage FROM seed, pg_temp.values(spec) v;
ROLLBACK;
BEGIN;
SELECT v #> '{config,openlineage}' AS openlineage
  FROM seed, pg_temp.values(jsonb_set(spec, '{features,data_lineage}', 'false')) v;
ROLLBACK;

-- workers: CeleryExecutor, min replicas, KEDA between min and max,
-- parallelism = max x the tier's worker concurrency
BEGIN;
SELECT v ->> 'executor' AS executor, v #> '{workers,replicas}' AS replicas,
       v #> '{workers,keda}' AS keda, v #> '{config,core,parallelism}' AS parallelism,
       v #> '{config,celery}' AS celery
  FROM seed, pg_temp.values(spec) v;
ROLLBACK;
BEGIN;
SELECT v #> '{workers,replicas}' AS replicas, v #> '{workers,keda}' AS keda,
       v #> '{config,core,parallelism}' AS parallelism
  FROM seed, pg_temp.values(jsonb_set(spec, '{resources,airflow,workers}',
                                      '{"min": 3, "max": 3, "autoscaling": false}')) v;
ROLLBACK;
-- without autoscaling min workers run: the parallelism is theirs (3 x 16),
-- whatever max says
BEGIN;
SELECT v #> '{workers,replicas}' AS replicas, v #> '{config,core,parallelism}' AS parallelism
  FROM seed, pg_temp.values(jsonb_set(spec, '{resources,airflow,workers}',
                                      '{"min": 3, "max": 8, "autoscaling": false}')) v;
ROLLBACK;
-- no worker and no autoscaling would run no task: refused
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(spec, '{resources,airflow,workers}', '{"min": 0, "autoscaling": false}'));
SELECT count(*) AS problems FROM seed,
       tenancy.validate(jsonb_set(spec, '{resources,airflow,workers}', '{"min": 0, "max": 4, "autoscaling": true}'));

-- workers and the quota: each worker requests 500m CPU and 1Gi and is
-- limited to 1 CPU and 2Gi.  The reference's quota (requests 8 CPU, limits
-- 16) holds its 10 workers beside 2 schedulers and 2 webservers exactly.
-- With limits.cpu 10, 4 fit (10 - 2x2 - 2x1): max 10 with autoscaling is
-- refused (KEDA would scale to it), and so are 5 workers without.
BEGIN;
SELECT v #> '{workers,resources}' AS worker_resources
  FROM seed, pg_temp.values(spec) v;
ROLLBACK;
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(spec, '{resources,kubernetes,quotas,limits,cpu}', '"10"'));
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(jsonb_set(spec, '{resources,kubernetes,quotas,limits,cpu}', '"10"'),
                                  '{resources,airflow,workers}', '{"min": 5, "max": 5, "autoscaling": false}'));
SELECT count(*) AS problems FROM seed,
       tenancy.validate(jsonb_set(jsonb_set(spec, '{resources,kubernetes,quotas,limits,cpu}', '"10"'),
                                  '{resources,airflow,workers}', '{"min": 2, "max": 4, "autoscaling": true}'));

-- the backup volume (storage_gb GiB) must pass the namespace's LimitRange
-- (up to quotas.limits.storage) and storage quota (quotas.requests.storage,
-- 100Gi in the reference): refused at validation, not by Kubernetes
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(spec, '{resources,database,storage_gb}', '150'));
SELECT path, message FROM seed,
       tenancy.validate(jsonb_set(jsonb_set(spec, '{resources,database,storage_gb}', '150'),
                                  '{resources,kubernetes,quotas,limits,storage}', '"120Gi"'));
-- a volume below the LimitRange's 1Gi minimum is claimed at 1Gi
SELECT r #>> '{body,spec,resources,requests,storage}' AS claim
  FROM seed, pg_temp.object(jsonb_set(spec, '{resources,database,storage_gb}', '0.5'), 'persistentvolumeclaim %') r;
SELECT pg_temp.try(jsonb_set(spec, '{resources,database,storage_gb}', '150')) FROM seed;
SELECT count(*) AS tenants FROM tenancy.tenants;
-- without backups there is no claim
SELECT count(*) AS problems FROM seed,
       tenancy.validate(jsonb_set(jsonb_set(spec, '{resources,database,storage_gb}', '150'),
                                  '{resources,database,backup,enabled}', 'false'));

-- connections: min is the SQLAlchemy pool, overflow up to max; max stays
-- the login roles' CONNECTION LIMIT
BEGIN;
SELECT v #> '{config,database}' AS pool
  FROM seed, pg_temp.values(jsonb_set(spec, '{resources,database,connections}', '{"min": 4, "max": 30}')) v;
SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname LIKE '%acme_corp' AND rolcanlogin ORDER BY 1;
ROLLBACK;

-- warehouse.name: the Airflow connection id (defined by the release from
-- the database-credentials Secret, named by every generated DAG task)
BEGIN;
SELECT v -> 'secret' AS secret FROM seed, pg_temp.values(spec) v;
ROLLBACK;
BEGIN;
SELECT (SELECT count(*) FROM regexp_matches(f.value, 'WAREHOUSE_CONN_ID', 'g')) AS uses,
       substring(f.value from 'WAREHOUSE_CONN_ID = [^\n]*') AS defined
  FROM seed, pg_temp.recorded(spec) r, jsonb_each_text(r.request #> '{body,data}') f
 WHERE r.object LIKE 'configmap %/tenant-dags' AND f.key = 'acme_corp_pipeline_1.py';
ROLLBACK;
BEGIN;
SELECT v -> 'secret' AS secret
  FROM seed, pg_temp.values(jsonb_set(spec, '{warehouse,name}', '"acme_dwh"')) v;
ROLLBACK;

-- warehouse.name may not take a connection id Airflow already uses
SELECT n, path, message FROM seed, unnest(ARRAY['airflow_db', 'kubernetes_default']) n,
       tenancy.validate(jsonb_set(spec, '{warehouse,name}', to_jsonb(n)));

-- contacts: every contact in the namespace's annotations
BEGIN;
SELECT jsonb_pretty(r.request #> '{body,metadata,annotations}') AS annotations
  FROM seed, pg_temp.recorded(jsonb_set(spec, '{tenant,contacts,business}',
    '[{"name": "Jane Doe", "email": "jane.doe@acme.com"}, {"name": "Bob", "email": "bob@acme.com", "role": "CFO"}]')) r
 WHERE r.object LIKE 'namespace %';
ROLLBACK;

-- sla: a PrometheusRule tenant-alerts with the availability alerts of
-- uptime_percent as error-budget burn rates, labels for routing
CREATE FUNCTION pg_temp.rule(spec jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT request -> 'body' FROM pg_temp.recorded(spec)
   WHERE object LIKE 'prometheusrule %' $$;
BEGIN;
SELECT g ->> 'name' AS "group", r ->> 'alert' AS alert, r ->> 'for' AS "for",
       r #>> '{labels,priority}' AS priority, r #>> '{labels,severity}' AS severity,
       r #>> '{labels,support_tier}' AS support_tier, r #>> '{labels,response_time}' AS response_time
  FROM seed, pg_temp.rule(spec) b, jsonb_array_elements(b #> '{spec,groups}') g,
       jsonb_array_elements(g -> 'rules') r;
ROLLBACK;
BEGIN;
SELECT r ->> 'expr' AS expr, jsonb_pretty(r -> 'labels') AS labels
  FROM seed, pg_temp.rule(spec) b, jsonb_array_elements(b #> '{spec,groups,0,rules}') r LIMIT 1;
ROLLBACK;
-- uptime_percent for which the burn-rate alerts degenerate: 100 (no budget,
-- any failed scrape pages) and below 93.06 (the fastest alert would need
-- more than every request to fail); 93.06 itself is the lowest accepted
SELECT u, path, message FROM seed, unnest(ARRAY[100, 99.999, 93.06, 93.05, 50]::numeric[]) u,
       tenancy.validate(jsonb_set(spec, '{sla,uptime_percent}', to_jsonb(u)));
SELECT pg_temp.try(jsonb_set(spec, '{sla,uptime_percent}', '100')) FROM seed;

-- a changed uptime changes the thresholds, a changed response time the label
BEGIN;
SELECT substring(b #>> '{spec,groups,0,rules,0,expr}' from '14.4 \* \(1 - [0-9.]+ / 100\)') AS threshold,
       b #>> '{spec,groups,0,rules,1,labels,response_time}' AS high_response
  FROM seed, pg_temp.rule(jsonb_set(jsonb_set(spec, '{sla,uptime_percent}', '99.5'),
                                   '{sla,response_time,high}', '"2 hours"')) b;
ROLLBACK;
-- no sla and no advanced monitoring: no rule at all
BEGIN;
SELECT count(*) AS rules FROM seed,
       pg_temp.recorded(jsonb_set(spec - 'sla', '{features,advanced_monitoring}', 'false')) r
 WHERE r.object LIKE 'prometheusrule %';
ROLLBACK;

-- advanced_monitoring: operational alerts and four more dashboard panels
BEGIN;
SELECT jsonb_path_query_array(b, '$.spec.groups[*].rules[*].alert') AS alerts
  FROM seed, pg_temp.rule(spec - 'sla') b;
ROLLBACK;
BEGIN;
SELECT jsonb_path_query_array(r.request, '$.body.dashboard.panels[*].title') AS panels
  FROM seed, pg_temp.recorded(spec) r WHERE r.object LIKE 'dashboard %';
ROLLBACK;
BEGIN;
SELECT jsonb_array_length(r.request #> '{body,dashboard,panels}') AS panels
  FROM seed, pg_temp.recorded(jsonb_set(spec, '{features,advanced_monitoring}', 'false')) r
 WHERE r.object LIKE 'dashboard %';
ROLLBACK;

-- tenancy.plan shows each external request's body (Vault references as
-- references, no secret) and, for an apply, the fields that change
SELECT ordinal, object, request ->> 'method' AS method, request -> 'handler' AS handler,
       request #> '{body,kind}' AS kind
  FROM seed, tenancy.plan('acme-corp', spec) WHERE target <> 'database' ORDER BY ordinal;
SELECT jsonb_pretty(request -> 'data') AS oauth_secret_data
  FROM seed, tenancy.plan('acme-corp', spec) WHERE object LIKE 'secret %/oauth-credentials';
SELECT count(*) AS sql_actions_without_request FROM seed, tenancy.plan('acme-corp', spec)
 WHERE target = 'database' AND request IS NULL;
BEGIN;
SELECT tenancy.provision('acme-corp', spec) > 0 AS provisioned FROM seed;
-- as the worker records it when every step succeeded (no worker runs here)
UPDATE tenancy.operations SET state = 'succeeded', started_at = now(), finished_at = now();
SELECT ordinal, object, changes
  FROM seed, tenancy.plan('acme-corp', jsonb_set(jsonb_set(jsonb_set(spec,
         '{resources,kubernetes,quotas,requests,cpu}', '"9"'),
         '{resources,database,backup,retention_days}', '14'),
         '{sla,response_time,low}', '"4 business days"'))
 ORDER BY ordinal;
ROLLBACK;

-- what a real cluster needs (issue 18's follow-up): settings changed with
-- ALTER SYSTEM, reset at the end
-- a backend applies a reload between statements: pg_temp.settle, run as
-- separate statements (\gexec, not echoed) until the setting has the value
CREATE FUNCTION pg_temp.settle(name text, value text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting(name) IS DISTINCT FROM value THEN
    PERFORM pg_sleep(0.1);
    RETURN false;
  END IF;
  RETURN true;
END $$;

-- the backup runs the pg_dump of its server's major version (an older one
-- refuses the server): tenancy.backup_image, %s standing for the major
SELECT pg_temp.object(spec, 'cronjob %') #>> '{body,spec,jobTemplate,spec,template,spec,containers,0,image}'
       = 'postgres:' || current_setting('server_version_num')::int / 10000 AS image_of_this_major
  FROM seed;
ALTER SYSTEM SET tenancy.backup_image = 'registry.example/postgres:%s-alpine';
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.backup_image', 'registry.example/postgres:%s-alpine') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.backup_image') AS "tenancy.backup_image";
SELECT pg_temp.object(spec, 'cronjob %') #>> '{body,spec,jobTemplate,spec,template,spec,containers,0,image}'
       = 'registry.example/postgres:' || current_setting('server_version_num')::int / 10000 || '-alpine' AS image_of_the_setting
  FROM seed;
ALTER SYSTEM SET tenancy.backup_image = 'postgres:%d';
ALTER SYSTEM SET tenancy.backup_image = 'postgres:%s-%s';
ALTER SYSTEM SET tenancy.backup_image = 'postgres:15;rm';
ALTER SYSTEM RESET tenancy.backup_image;
-- a tenant on a registered server: the major tenancy.server_major_versions
-- gives that server
SELECT tenancy.register_server('wh-17', 'host=wh17.internal port=5432 dbname=postgres', accepting_tenants => false);
SELECT tenancy.register_server('wh-18', 'host=wh18.internal port=5432 dbname=postgres', accepting_tenants => false);
ALTER SYSTEM SET tenancy.server_major_versions = 'wh-17=17, wh-18=18';
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.server_major_versions', 'wh-17=17, wh-18=18') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.server_major_versions') AS "tenancy.server_major_versions";
SELECT host, pg_temp.object(jsonb_set(jsonb_set(spec, '{warehouse,database,host}', to_jsonb(host)),
                                      '{warehouse,database,name}', '"acme"'), 'cronjob %')
              #>> '{body,spec,jobTemplate,spec,template,spec,containers,0,image}' AS image
  FROM seed, unnest(ARRAY['wh17.internal', 'wh18.internal']) host;
-- its pods reach the server at its connection string's host and port,
-- also when the spec names the server by its registry name only
SELECT tenancy.register_server('wh-label', 'host=db-7.internal.example port=6432 dbname=postgres', accepting_tenants => false);
SELECT host, c ->> 'host' AS pod_host, c -> 'port' AS pod_port,
       jsonb_path_query_array(n, '$.body.spec.egress[*] ? (@.ports[*].port == 6432 || @.ports[*].port == 5432).ports[*].port') AS egress_ports
  FROM seed, unnest(ARRAY['wh17.internal', 'wh-label']) host,
       LATERAL (SELECT jsonb_set(jsonb_set(spec, '{warehouse,database,host}', to_jsonb(host)),
                                 '{warehouse,database,name}', '"acme"') AS placed) p,
       pg_temp.object(placed, 'secret %/database-credentials') c,
       pg_temp.object(placed, 'networkpolicy %/tenant-isolation') n;
ALTER SYSTEM SET tenancy.server_major_versions = 'wh-17=seventeen';
ALTER SYSTEM SET tenancy.server_major_versions = 'WH=17';
ALTER SYSTEM RESET tenancy.server_major_versions;

-- pods reach a database on this server at tenancy.database_host and this
-- server's port (never localhost, which in a pod is the pod): in the
-- credentials, and in the network policy's egress rule on that port
SELECT r ->> 'host' AS host, (r ->> 'port')::int = current_setting('port')::int AS port_of_this_server
  FROM seed, pg_temp.object(spec, 'secret %/database-credentials') r;
SELECT jsonb_path_query_array(r, '$.body.spec.egress[*] ? (@.ports[*].port == $p).to[*].ipBlock.cidr',
                              jsonb_build_object('p', current_setting('port')::int)) AS database_egress
  FROM seed, pg_temp.object(spec, 'networkpolicy %/tenant-isolation') r;
-- unset: provision and apply are refused, naming the setting, nothing
-- created; the dry run shows the host as null; the audit still runs
SELECT tenancy.provision('keys-audit', '{"tenant": {"name": "keys-audit", "tier": "basic"},
                                         "warehouse": {}, "resources": {}}') > 0 AS provisioned;
ALTER SYSTEM SET tenancy.database_host = '';
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.database_host', '') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.database_host') AS "tenancy.database_host";
SELECT pg_temp.try(spec) FROM seed;
SELECT name FROM tenancy.tenants;
SELECT r -> 'host' AS host_in_the_dry_run FROM seed, pg_temp.object(spec, 'secret %/database-credentials') r;
-- the audit still runs for it, and finds nothing wrong (no row)
SELECT check_name, severity, count(*) FROM tenancy.audit('keys-audit') GROUP BY 1, 2 ORDER BY 1, 2;
CREATE FUNCTION pg_temp.try_apply(spec jsonb, tenant text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE s text; m text;
BEGIN
  PERFORM tenancy.apply(tenant, spec);
  RETURN 'applied';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT;
  RETURN s || ': ' || m;
END $$;
-- (an apply that changes the credentials: backups off takes the backup
-- role out of them)
SELECT pg_temp.try_apply('{"tenant": {"name": "keys-audit", "tier": "basic"}, "warehouse": {},
                           "resources": {"database": {"backup": {"enabled": false}}}}', 'keys-audit');
SELECT tenancy.deprovision('keys-audit', true) > 0 AS deprovisioned;
ALTER SYSTEM SET tenancy.database_host = 'localhost; rm -rf /';
ALTER SYSTEM RESET tenancy.database_host;
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.database_host', 'platform-db.test') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.database_host') AS "tenancy.database_host";
-- a warehouse named by the spec: its address and its port, not 5432 only
SELECT jsonb_path_query_array(r, '$.body.spec.egress[*] ? (@.to[*].ipBlock.cidr == "10.1.2.3/32")') AS warehouse_egress
  FROM seed, pg_temp.object(jsonb_set(jsonb_set(jsonb_set(spec, '{warehouse,database,host}', '"10.1.2.3"'),
                                      '{warehouse,database,port}', '5433'), '{warehouse,database,name}', '"acme"'),
                            'networkpolicy %/tenant-isolation') r;

-- Prometheus can scrape: the ServiceMonitor names the official chart's
-- statsd port, and the network policy admits Prometheus pods of
-- tenancy.monitoring_namespace on it
SELECT pg_temp.object(spec, 'servicemonitor %') #> '{body,spec,endpoints}' AS endpoints FROM seed;
SELECT jsonb_pretty(r #> '{body,spec,ingress,2}') AS prometheus_ingress
  FROM seed, pg_temp.object(spec, 'networkpolicy %/tenant-isolation') r;
ALTER SYSTEM SET tenancy.monitoring_namespace = 'Not A Namespace';
-- and the monitoring namespace is no tenant's (22023)
SELECT pg_temp.try(jsonb_set(spec, '{resources,kubernetes,namespace}', '"monitoring"')) FROM seed;

-- data_lineage to a host name: egress to the URL's port, public addresses only; none
-- without data_lineage
ALTER SYSTEM SET tenancy.openlineage_url = 'http://marquez.lineage.svc:5000/api/v1/lineage';
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.openlineage_url', 'http://marquez.lineage.svc:5000/api/v1/lineage') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.openlineage_url') AS "tenancy.openlineage_url";
SELECT jsonb_path_query_array(r, '$.body.spec.egress[*] ? (@.ports[*].port == 5000)') AS lineage_egress
  FROM seed, pg_temp.object(spec, 'networkpolicy %/tenant-isolation') r;
SELECT jsonb_path_query_array(r, '$.body.spec.egress[*] ? (@.ports[*].port == 5000)') AS no_lineage_egress
  FROM seed, pg_temp.object(jsonb_set(spec, '{features,data_lineage}', 'false'), 'networkpolicy %/tenant-isolation') r;
-- a host name on 443: no rule opening 443 to private addresses (the
-- cluster's API server); the public HTTPS rule reaches it
ALTER SYSTEM SET tenancy.openlineage_url = 'https://lineage.example.com/api/v1/lineage';
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.openlineage_url', 'https://lineage.example.com/api/v1/lineage') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.openlineage_url') AS "tenancy.openlineage_url";
SELECT jsonb_path_query_array(r, '$.body.spec.egress[*].to[*].ipBlock ? (@.cidr == "0.0.0.0/0" && !exists(@.except))') AS open_to_private_addresses
  FROM seed, pg_temp.object(spec, 'networkpolicy %/tenant-isolation') r;
ALTER SYSTEM RESET tenancy.openlineage_url;
\set ECHO none
\o /dev/null
SELECT pg_reload_conf();
SELECT format('SELECT pg_temp.settle(%L, %L)', 'tenancy.openlineage_url', '') FROM generate_series(1, 100) \gexec
\o
\set ECHO all
SELECT current_setting('tenancy.openlineage_url') AS "tenancy.openlineage_url";

DROP EXTENSION tenancy;
