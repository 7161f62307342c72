--
-- spec_validate: tenancy.validate lists every problem of a tenant spec by
-- JSON path; the seed spec has none; each bad spec below has its expected
-- path and message; tenancy.normalize_spec fills defaults.
--
CREATE EXTENSION tenancy;

\getenv abs_srcdir PG_ABS_SRCDIR
\set seed_file :abs_srcdir '/test/fixtures/acme-corp.yaml'
SELECT pg_read_file(:'seed_file') AS seed_yaml \gset
CREATE TEMP TABLE seed AS SELECT tenancy.parse_spec(:'seed_yaml') AS spec;

-- the reference spec is valid, verbatim
SELECT * FROM tenancy.validate((SELECT spec FROM seed));

-- so is a minimal one
SELECT * FROM tenancy.validate(tenancy.parse_spec($$
tenant: {name: a, tier: basic}
warehouse: {}
resources: {}
$$));

-- the platform database may be named (no host: the tenant is then local);
-- a system database of this server may not
SELECT * FROM tenancy.validate(jsonb_build_object(
       'tenant', '{"name": "a", "tier": "basic"}'::jsonb,
       'warehouse', jsonb_build_object('database', jsonb_build_object('name', current_database())),
       'resources', '{}'::jsonb));
SELECT * FROM tenancy.validate('{"tenant": {"name": "a", "tier": "basic"}, "warehouse": {"database": {"name": "postgres"}}, "resources": {}}');
SELECT * FROM tenancy.validate('{"tenant": {"name": "a", "tier": "basic"}, "warehouse": {"database": {"host": "", "name": "template1"}}, "resources": {}}');

-- a reference to the tenant's own tenants/<name>/ path is allowed
SELECT * FROM tenancy.validate(jsonb_set((SELECT spec FROM seed), '{tenant,authentication,config,client_secret}',
       '"{{ vault.get(''tenants/acme-corp/oauth/client_secret'') }}"'));

-- the validator and the planner share one rule for Vault references and
-- secret keys: a double-quoted reference, a segment like "a..b", and a
-- plain value under a key that merely contains "key" pass both
CREATE TEMP TABLE agree AS
SELECT jsonb_set(jsonb_set((SELECT spec FROM seed),
         '{tenant,authentication,config,client_secret}', '"{{ vault.get(\"acme/oauth..v2/client_secret\") }}"'),
         '{tenant,authentication,config,keycloak_realm}', '"acme"') AS spec;
SELECT * FROM tenancy.validate((SELECT spec FROM agree));
SELECT p.object, p.detail
  FROM agree, tenancy.plan('acme-corp', agree.spec) p
 WHERE p.action = 'secret from vault' AND p.object LIKE '%oauth%';
-- and refuse the same: a reference with a space before "{{"
SELECT * FROM tenancy.validate(jsonb_set((SELECT spec FROM seed),
       '{tenant,authentication,config,client_id}', '" {{ vault.get(''acme/oauth/client_id'') }}"'));
SELECT count(*) FROM tenancy.plan('acme-corp', jsonb_set((SELECT spec FROM seed),
       '{tenant,authentication,config,client_id}', '" {{ vault.get(''acme/oauth/client_id'') }}"'));

-- not a mapping at all
SELECT * FROM tenancy.validate('[]');
SELECT * FROM tenancy.validate('"tenant"');
SELECT * FROM tenancy.validate('{}');

-- Bad specs: the seed with one change each (value NULL deletes the key),
-- the path and message expected.  The first query lists every case whose
-- expected problem is missing (none should be); the second shows what
-- validate says for each, so that a reader sees the messages.
CREATE TEMP TABLE bad_specs (
	id serial,
	change text[],
	value jsonb,
	expected_path text,
	expected_message text
);
INSERT INTO bad_specs (change, value, expected_path, expected_message) VALUES
-- top level
('{tenent}', '1', '$.tenent', 'unknown key "tenent"; did you mean "tenant"?'),
('{tenant}', NULL, '$.tenant', 'is required'),
('{warehouse}', NULL, '$.warehouse', 'is required'),
('{resources}', NULL, '$.resources', 'is required'),
('{tenant}', '"acme"', '$.tenant', 'must be a mapping'),
('{extra}', '{}', '$.extra', 'unknown key "extra"; expected one of tenant, warehouse, resources, features, sla, billing'),
-- tenant
('{tenant,teir}', '"basic"', '$.tenant.teir', 'unknown key "teir"; did you mean "tier"?'),
('{tenant,name}', NULL, '$.tenant.name', 'is required'),
('{tenant,name}', '"Acme-Corp"', '$.tenant.name', '"Acme-Corp" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"acme_corp"', '$.tenant.name', '"acme_corp" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"-acme"', '$.tenant.name', '"-acme" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"acme-"', '$.tenant.name', '"acme-" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"1acme"', '$.tenant.name', '"1acme" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"acme; DROP TABLE tenancy.tenants; --"', '$.tenant.name', '"acme; DROP TABLE tenancy.tenants; --" is not a DNS-1123 label: use lower-case letters, digits and "-", starting with a letter and ending with a letter or digit'),
('{tenant,name}', '"a234567890123456789012345678901234567890x"', '$.tenant.name', 'must be at most 40 characters, so that derived names (namespace "airflow-<name>", roles "tenant_<slug>_writer") fit in 63'),
('{tenant,name}', '42', '$.tenant.name', 'must be a string'),
('{tenant,name}', '""', '$.tenant.name', 'must not be empty'),
('{tenant,display_name}', '["x"]', '$.tenant.display_name', 'must be a string'),
('{tenant,tier}', '"gold"', '$.tenant.tier', 'must be one of basic, standard, enterprise'),
('{tenant,tier}', NULL, '$.tenant.tier', 'is required'),
('{tenant,environment}', '"prod"', '$.tenant.environment', 'must be one of dev, staging, production'),
('{tenant,contacts,technical,0,email}', '"john.smith"', '$.tenant.contacts.technical[0].email', '"john.smith" is not a valid e-mail address'),
('{tenant,contacts,technical,0,email}', '"john@@acme.com"', '$.tenant.contacts.technical[0].email', '"john@@acme.com" is not a valid e-mail address'),
('{tenant,contacts,business,0,email}', '"jane@localhost"', '$.tenant.contacts.business[0].email', '"jane@localhost" is not a valid e-mail address'),
('{tenant,contacts,business,0,email}', NULL, '$.tenant.contacts.business[0].email', 'is required'),
('{tenant,contacts,business,0,phone}', '"555"', '$.tenant.contacts.business[0].phone', 'unknown key "phone"; expected one of name, email, role'),
('{tenant,contacts,technical}', '{"name": "x"}', '$.tenant.contacts.technical', 'must be a list'),
('{tenant,contacts,technical,0}', '"john@acme.com"', '$.tenant.contacts.technical[0]', 'must be a mapping'),
('{tenant,contacts,legal}', '[]', '$.tenant.contacts.legal', 'unknown key "legal"; expected one of technical, business'),
('{tenant,authentication,type}', '"ldap"', '$.tenant.authentication.type', 'must be one of basic, oauth2, saml'),
('{tenant,authentication,provider}', NULL, '$.tenant.authentication.provider', 'is required'),
('{tenant,authentication,config,client_secret}', '"s3cr3t"', '$.tenant.authentication.config.client_secret', 'must be a vault reference ({{ vault.get(''path'') }}): secrets are not stored in the spec'),
('{tenant,authentication,config,client_id}', '"{{ vault.get(acme/oauth/client_id) }}"', '$.tenant.authentication.config.client_id', 'malformed vault reference; expected {{ vault.get(''path/to/secret'') }}'),
('{tenant,authentication,config,client_id}', '"{{ vault.get(''../../root'') }}"', '$.tenant.authentication.config.client_id', 'malformed vault reference; expected {{ vault.get(''path/to/secret'') }}'),
('{tenant,authentication,config,client_id}', '"{{ vault.get(''a/b'') }} trailing"', '$.tenant.authentication.config.client_id', 'malformed vault reference; expected {{ vault.get(''path/to/secret'') }}'),
('{tenant,authentication,config,client_id}', NULL, '$.tenant.authentication.config.client_id', 'is required for oauth2'),
('{tenant,authentication,config,redirect_uri}', '"http://airflow-acme.company.com/"', '$.tenant.authentication.config.redirect_uri', '"http://airflow-acme.company.com/" is not an https URL'),
('{tenant,authentication,config,nested}', '{"a": 1}', '$.tenant.authentication.config.nested', 'must be a string, number or boolean'),
('{tenant,authentication,config}', NULL, '$.tenant.authentication.config', 'is required'),
-- warehouse
('{warehouse,nmae}', '"x"', '$.warehouse.nmae', 'unknown key "nmae"; did you mean "name"?'),
('{warehouse,database,port}', '0', '$.warehouse.database.port', 'must be an integer between 1 and 65535'),
('{warehouse,database,port}', '65536', '$.warehouse.database.port', 'must be an integer between 1 and 65535'),
('{warehouse,database,port}', '"5432"', '$.warehouse.database.port', 'must be an integer between 1 and 65535'),
('{warehouse,database,port}', '5432.5', '$.warehouse.database.port', 'must be an integer between 1 and 65535'),
('{warehouse,database,host}', '"db host; rm -rf /"', '$.warehouse.database.host', '"db host; rm -rf /" is not a valid host name or address'),
('{warehouse,database,name}', '"Acme-Analytics"', '$.warehouse.database.name', '"Acme-Analytics" is not a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 bytes)'),
('{warehouse,database,name}', '"acme\"; DROP DATABASE postgres; --"', '$.warehouse.database.name', '"acme"; DROP DATABASE postgres; --" is not a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 bytes)'),
('{warehouse,database,name}', NULL, '$.warehouse.database.name', 'is required'),
('{warehouse,database,schema_prefix}', '"acme-"', '$.warehouse.database.schema_prefix', '"acme-" is not a valid schema prefix: [a-z][a-z0-9_]*, at most 49 bytes so that "<prefix>gold_reporting" fits in 63'),
('{warehouse,database,schema_prefix}', '"a2345678901234567890123456789012345678901234567890"', '$.warehouse.database.schema_prefix', '"a2345678901234567890123456789012345678901234567890" is not a valid schema prefix: [a-z][a-z0-9_]*, at most 49 bytes so that "<prefix>gold_reporting" fits in 63'),
('{warehouse,database,sslmode}', '"require"', '$.warehouse.database.sslmode', 'unknown key "sslmode"; expected one of host, port, name, schema_prefix'),
('{warehouse,database,name}', '"template1"', '$.warehouse.database.name', '"template1" is a template database: every new database of the server is copied from it'),
('{warehouse,database,name}', '"template0"', '$.warehouse.database.name', '"template0" is a template database: every new database of the server is copied from it'),
('{warehouse,database,name}', '"postgres"', '$.warehouse.database.name', '"postgres" is the maintenance database of the server, open to every role: name a database of the tenant''s own'),
('{warehouse,bronze_jobs}', '{}', '$.warehouse.bronze_jobs', 'must be a list'),
('{warehouse,bronze_jobs,1,name}', '"customers"', '$.warehouse.bronze_jobs[1].name', 'duplicate job name "customers" (also bronze_jobs[0])'),
('{warehouse,bronze_jobs,1,name}', '"Orders!"', '$.warehouse.bronze_jobs[1].name', '"Orders!" is not a lower-case identifier ([a-z_][a-z0-9_]*)'),
('{warehouse,bronze_jobs,0,source}', '"oracle"', '$.warehouse.bronze_jobs[0].source', 'must be one of salesforce, postgres_operational, api_catalog'),
('{warehouse,bronze_jobs,1,schedule}', '"0 */4 * *"', '$.warehouse.bronze_jobs[1].schedule', '"0 */4 * *" is not a valid cron schedule: expected 5 fields (minute hour day-of-month month day-of-week), found 4'),
('{warehouse,bronze_jobs,1,schedule}', '"61 2 * * *"', '$.warehouse.bronze_jobs[1].schedule', '"61 2 * * *" is not a valid cron schedule: minute field value "61" is out of range 0-59'),
('{warehouse,bronze_jobs,1,schedule}', '"0 24 * * *"', '$.warehouse.bronze_jobs[1].schedule', '"0 24 * * *" is not a valid cron schedule: hour field value "24" is out of range 0-23'),
('{warehouse,bronze_jobs,1,schedule}', '"0 2 0 * *"', '$.warehouse.bronze_jobs[1].schedule', '"0 2 0 * *" is not a valid cron schedule: day-of-month field value "0" is out of range 1-31'),
('{warehouse,bronze_jobs,1,schedule}', '"0 2 * foo *"', '$.warehouse.bronze_jobs[1].schedule', '"0 2 * foo *" is not a valid cron schedule: month field value "foo" is not a number or a name'),
('{warehouse,bronze_jobs,1,schedule}', '"*/0 * * * *"', '$.warehouse.bronze_jobs[1].schedule', '"*/0 * * * *" is not a valid cron schedule: minute field step "0" must be a number from 1 to 99'),
('{warehouse,bronze_jobs,1,schedule}', '"0 5-2 * * *"', '$.warehouse.bronze_jobs[1].schedule', '"0 5-2 * * *" is not a valid cron schedule: hour field range 5-2 is backwards'),
('{warehouse,bronze_jobs,1,schedule}', '"@fortnightly"', '$.warehouse.bronze_jobs[1].schedule', '"@fortnightly" is not a valid cron schedule: unknown macro (expected @hourly, @daily, @weekly, @monthly or @yearly)'),
('{warehouse,bronze_jobs,1,schedule}', NULL, '$.warehouse.bronze_jobs[1].schedule', 'is required'),
('{warehouse,bronze_jobs,0,config,object}', NULL, '$.warehouse.bronze_jobs[0].config.object', 'is required'),
('{warehouse,bronze_jobs,0,config,fields}', '["Id", "Na me"]', '$.warehouse.bronze_jobs[0].config.fields[1]', '"Na me" is not a valid Salesforce field name'),
('{warehouse,bronze_jobs,0,config,table}', '"public.orders"', '$.warehouse.bronze_jobs[0].config.table', 'unknown key "table"; expected one of object, fields, where'),
('{warehouse,bronze_jobs,1,config,lookback_days}', '-1', '$.warehouse.bronze_jobs[1].config.lookback_days', 'must be an integer between 0 and 3650'),
('{warehouse,bronze_jobs,1,config,incremental_column}', NULL, '$.warehouse.bronze_jobs[1].config.lookback_days', 'needs incremental_column'),
('{warehouse,bronze_jobs,1,config,table}', '"public.orders; DELETE"', '$.warehouse.bronze_jobs[1].config.table', '"public.orders; DELETE" is not a table name (table or schema.table, lower-case identifiers)'),
('{warehouse,bronze_jobs,1,config,incremental_colum}', '"x"', '$.warehouse.bronze_jobs[1].config.incremental_colum', 'unknown key "incremental_colum"; did you mean "incremental_column"?'),
('{warehouse,bronze_jobs,2,config,page_size}', '0', '$.warehouse.bronze_jobs[2].config.page_size', 'must be an integer between 1 and 100000'),
('{warehouse,bronze_jobs,2,config,pagination}', '"yes"', '$.warehouse.bronze_jobs[2].config.pagination', 'must be true or false'),
('{warehouse,bronze_jobs,2,config,endpoint}', '"ftp://x"', '$.warehouse.bronze_jobs[2].config.endpoint', '"ftp://x" is not a path ("/api/v2/items") or an https URL'),
('{warehouse,bronze_jobs,2,config}', NULL, '$.warehouse.bronze_jobs[2].config', 'is required'),
('{warehouse,dbt,silver,enabled}', '"true"', '$.warehouse.dbt.silver.enabled', 'must be true or false'),
('{warehouse,dbt,silver,schedule}', NULL, '$.warehouse.dbt.silver.schedule', 'is required'),
('{warehouse,dbt,gold,facts}', '["fact orders"]', '$.warehouse.dbt.gold.facts[0]', '"fact orders" is not a valid dbt model name'),
('{warehouse,dbt,gold,models}', '[]', '$.warehouse.dbt.gold.models', 'unknown key "models"; expected one of enabled, dimensions, facts, schedule'),
('{warehouse,dbt,bronze}', '{}', '$.warehouse.dbt.bronze', 'unknown key "bronze"; expected one of silver, gold'),
('{warehouse,data_quality,checks,0,type}', '"row_cnt"', '$.warehouse.data_quality.checks[0].type', 'must be one of row_count, freshness, schema_drift'),
('{warehouse,data_quality,checks,0,threshold}', '1.5', '$.warehouse.data_quality.checks[0].threshold', 'must be a number between 0 and 1'),
('{warehouse,data_quality,checks,0,threshold}', NULL, '$.warehouse.data_quality.checks[0].threshold', 'is required'),
('{warehouse,data_quality,checks,1,max_age_hours}', '0', '$.warehouse.data_quality.checks[1].max_age_hours', 'must be a number greater than 0'),
('{warehouse,data_quality,checks,1,threshold}', '0.5', '$.warehouse.data_quality.checks[1].threshold', 'applies to row_count checks only'),
('{warehouse,data_quality,checks,2,action}', '"page"', '$.warehouse.data_quality.checks[2].action', 'must be one of alert, fail, ignore'),
('{warehouse,data_quality,checks,2,tables}', '[]', '$.warehouse.data_quality.checks[2].tables', 'must not be empty'),
('{warehouse,data_quality,checks,2,tables}', '["bronze.*; drop"]', '$.warehouse.data_quality.checks[2].tables[0]', '"bronze.*; drop" is not a valid table pattern (lower-case names, ''.'', ''*'', ''?'')'),
-- resources
('{resources,kubernetes,namespace}', '"Airflow_Acme"', '$.resources.kubernetes.namespace', '"Airflow_Acme" is not a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)'),
('{resources,kubernetes,namespace}', '"kube-system"', '$.resources.kubernetes.namespace', '"kube-system" is reserved by Kubernetes'),
('{resources,kubernetes,quotas,requests,cpu}', '"32"', '$.resources.kubernetes.quotas.requests.cpu', 'requests.cpu (32) exceeds limits.cpu (16)'),
('{resources,kubernetes,quotas,requests,memory}', '"65Gi"', '$.resources.kubernetes.quotas.requests.memory', 'requests.memory (65Gi) exceeds limits.memory (64Gi)'),
('{resources,kubernetes,quotas,requests,memory}', '"32Gx"', '$.resources.kubernetes.quotas.requests.memory', '"32Gx" is not a Kubernetes quantity'),
('{resources,kubernetes,quotas,requests,cpu}', '"-1"', '$.resources.kubernetes.quotas.requests.cpu', 'must not be negative'),
('{resources,kubernetes,quotas,requests,pods}', '"2.5"', '$.resources.kubernetes.quotas.requests.pods', 'must be a whole number of pods'),
('{resources,kubernetes,quotas,limits,cpu}', 'true', '$.resources.kubernetes.quotas.limits.cpu', 'must be a Kubernetes quantity such as "500m", "2" or "32Gi"'),
('{resources,kubernetes,quotas,limits,pods}', '"10"', '$.resources.kubernetes.quotas.limits.pods', 'unknown key "pods"; expected one of cpu, memory, storage, ephemeral-storage'),
('{resources,kubernetes,quotas,requests,gpu}', '"1"', '$.resources.kubernetes.quotas.requests.gpu', 'unknown key "gpu"; did you mean "cpu"?'),
('{resources,kubernetes,node_selector,tenant-tier}', '"enterprise!"', '$.resources.kubernetes.node_selector."tenant-tier"', '"enterprise!" is not a valid label value'),
('{resources,kubernetes,node_selector,bad key}', '"x"', '$.resources.kubernetes.node_selector."bad key"', '"bad key" is not a valid label key'),
('{resources,kubernetes,node_selector,workload}', '5', '$.resources.kubernetes.node_selector.workload', 'must be a string (quote numbers and booleans)'),
('{resources,kubernetes,tolerations,0,operator}', '"In"', '$.resources.kubernetes.tolerations[0].operator', 'must be one of Equal, Exists'),
('{resources,kubernetes,tolerations,0,effect}', '"NoExec"', '$.resources.kubernetes.tolerations[0].effect', 'must be one of NoSchedule, PreferNoSchedule, NoExecute'),
('{resources,kubernetes,tolerations,0,operator}', '"Exists"', '$.resources.kubernetes.tolerations[0].value', 'must be absent when operator is Exists'),
('{resources,kubernetes,tolerations,0,tolerationSeconds}', '60', '$.resources.kubernetes.tolerations[0].tolerationSeconds', 'applies to the NoExecute effect only'),
('{resources,airflow,workers,min}', '12', '$.resources.airflow.workers.min', 'min (12) exceeds max (10)'),
('{resources,airflow,workers,max}', '0', '$.resources.airflow.workers.max', 'must be an integer between 1 and 1000'),
('{resources,airflow,scheduler,replicas}', '0', '$.resources.airflow.scheduler.replicas', 'must be an integer between 1 and 100'),
('{resources,airflow,webserver,resources,requests,cpu}', '"1500m"', '$.resources.airflow.webserver.resources.requests.cpu', 'requests.cpu (1500m) exceeds limits.cpu (1)'),
('{resources,airflow,scheduler,resources,limits,storage}', '"1Gi"', '$.resources.airflow.scheduler.resources.limits.storage', 'unknown key "storage"; expected one of cpu, memory, ephemeral-storage'),
('{resources,airflow,triggerer}', '{}', '$.resources.airflow.triggerer', 'unknown key "triggerer"; expected one of workers, scheduler, webserver'),
('{resources,database,connections,min}', '60', '$.resources.database.connections.min', 'min (60) exceeds max (50)'),
('{resources,database,storage_gb}', '0', '$.resources.database.storage_gb', 'must be a number greater than 0'),
('{resources,database,backup,retention_days}', '0', '$.resources.database.backup.retention_days', 'must be an integer between 1 and 3650'),
('{resources,database,backup,enabled}', '1', '$.resources.database.backup.enabled', 'must be true or false'),
-- features, sla, billing
('{features,audit_loging}', 'true', '$.features.audit_loging', 'unknown key "audit_loging"; did you mean "audit_logging"?'),
('{features,data_lineage}', '"yes"', '$.features.data_lineage', 'must be true or false'),
('{sla,uptime_percent}', '100.1', '$.sla.uptime_percent', 'must be a number between 0 and 100'),
('{sla,uptime_percent}', '"99.9%"', '$.sla.uptime_percent', 'must be a number between 0 and 100'),
('{sla,response_time,critical}', '"asap"', '$.sla.response_time.critical', '"asap" is not a duration such as "4 hours" or "1 business day"'),
('{sla,response_time,urgent}', '"1 hour"', '$.sla.response_time.urgent', 'unknown key "urgent"; expected one of critical, high, medium, low'),
('{billing,model}', '"prepaid"', '$.billing.model', 'must be one of fixed, usage_based, hybrid'),
('{billing,metrics}', '[]', '$.billing.metrics', 'usage_based billing needs at least one metric'),
('{billing,metrics,0,type}', '"api_calls"', '$.billing.metrics[0].type', 'must be one of task_runs, storage_gb, compute_hours'),
('{billing,metrics,0,rate}', '-0.01', '$.billing.metrics[0].rate', 'must be a number of at least 0'),
('{billing,metrics,1,type}', '"task_runs"', '$.billing.metrics[1].type', 'metric "task_runs" is listed more than once'),
('{billing,billing_contact}', '"billing at acme"', '$.billing.billing_contact', '"billing at acme" is not a valid e-mail address'),
('{billing,cost_center}', to_jsonb(repeat('x', 65)), '$.billing.cost_center', 'must be at most 64 characters'),
-- a Vault reference into another tenant's tenants/<name>/ (its credentials)
('{tenant,authentication,config,client_id}', '"{{ vault.get(''tenants/globex/database'') }}"', '$.tenant.authentication.config.client_id', '"{{ vault.get(''tenants/globex/database'') }}" names another tenant''s Vault path: a spec may reference tenants/acme-corp/ only'),
('{tenant,authentication,config,client_secret}', '"{{vault.get(\"tenants/acme-corp-evil/x\")}}"', '$.tenant.authentication.config.client_secret', '"{{vault.get("tenants/acme-corp-evil/x")}}" names another tenant''s Vault path: a spec may reference tenants/acme-corp/ only'),
('{tenant,authentication,config,client_secret}', '"{{ vault.get(''tenants/acme/database'') }}"', '$.tenant.authentication.config.client_secret', '"{{ vault.get(''tenants/acme/database'') }}" names another tenant''s Vault path: a spec may reference tenants/acme-corp/ only');

CREATE TEMP TABLE bad_results AS
SELECT b.id, b.expected_path, b.expected_message, v.path, v.message
  FROM bad_specs b
  CROSS JOIN seed s
  LEFT JOIN LATERAL tenancy.validate(
         CASE WHEN b.value IS NULL THEN s.spec #- b.change
              ELSE jsonb_set(s.spec, b.change, b.value) END) v ON true;

SELECT count(*) AS bad_specs FROM bad_specs;

-- every bad spec reports its expected problem (no rows)
SELECT b.id, b.change, b.expected_path, b.expected_message
  FROM bad_specs b
 WHERE NOT EXISTS (SELECT 1 FROM bad_results r
                    WHERE r.id = b.id AND r.path = b.expected_path
                      AND r.message = b.expected_message);

-- and nothing else (no rows)
SELECT id, path, message FROM bad_results
 WHERE path IS DISTINCT FROM expected_path OR message IS DISTINCT FROM expected_message;

-- what validate says, case by case
SELECT id, path, message FROM bad_results ORDER BY id, path;

-- Kubernetes quantities compare by value, as Kubernetes reads them
-- (ephemeral-storage: no worker needs it, so how many fit is not in play)
SELECT q.request, q.limit_,
       (SELECT string_agg(v.path || ': ' || v.message, '; ')
          FROM tenancy.validate(jsonb_build_object(
                 'tenant', '{"name": "a", "tier": "basic"}'::jsonb,
                 'warehouse', '{}'::jsonb,
                 'resources', jsonb_build_object('kubernetes', jsonb_build_object('quotas',
                    jsonb_build_object('requests', jsonb_build_object('ephemeral-storage', q.request),
                                       'limits', jsonb_build_object('ephemeral-storage', q.limit_)))))) v) AS problems
  FROM (VALUES ('1Ki', '1024'), ('1.5Gi', '1536Mi'), ('0.5', '500m'), ('.5', '499m'),
               ('1e3', '999'), ('1k', '1e3'), ('1E', '1P'), ('2', '2.'), ('+1', '1'),
               ('1M', '1Mi'), ('1Mi', '1M'), ('1e', '1'), ('1m5', '2'), ('', '1'),
               ('1KiB', '2'), ('1e1000', '1')) AS q(request, limit_);

-- several problems at once, in one call
SELECT * FROM tenancy.validate(tenancy.parse_spec($$
tenant:
  name: Bad_Name
  teir: gold
warehouse:
  database: {port: 99999, schema_prefix: "x-"}
  bronze_jobs:
    - {name: a, source: salesforce, schedule: "* * *", config: {object: Account}}
    - {name: a, source: ftp, schedule: "@daily"}
resources:
  kubernetes:
    quotas:
      requests: {cpu: 2, memory: 1Gi}
      limits: {cpu: 500m, memory: 1Gi}
features: {audit_logging: yes}
$$));

-- hostile keys and values: paths quote them, messages cut them short
SELECT * FROM tenancy.validate(jsonb_build_object(
  'tenant', jsonb_build_object('name', repeat('a', 5000), 'tier', 'basic',
                               repeat('k', 300), 1, E'quote"and\\back', 2),
  'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb));
SELECT * FROM tenancy.validate(jsonb_build_object(
  'tenant', jsonb_build_object('name', E'acme\nDROP', 'tier', 'basic'),
  'warehouse', jsonb_build_object('database', jsonb_build_object('name', 'a' || chr(1) || 'b')),
  'resources', '{}'::jsonb));

SELECT * FROM tenancy.validate(jsonb_build_object(
  'tenant', jsonb_build_object('name', 'a', 'tier', 'basic', 'tïer', 1, repeat('é', 100), 2),
  'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb));

-- many problems cost little: 20000 duplicate bronze jobs
SELECT count(*) AS duplicate_jobs FROM tenancy.validate(jsonb_build_object(
  'tenant', '{"name": "a", "tier": "basic"}'::jsonb,
  'warehouse', jsonb_build_object('bronze_jobs',
     (SELECT jsonb_agg('{"name": "same", "source": "salesforce", "schedule": "@daily", "config": {"object": "Account"}}'::jsonb)
        FROM generate_series(1, 20000))),
  'resources', '{}'::jsonb));

-- normalize_spec fills every default
SELECT jsonb_pretty(tenancy.normalize_spec(tenancy.parse_spec($$
tenant: {name: beta-co, tier: standard}
warehouse:
  bronze_jobs:
    - {name: items, source: api_catalog, schedule: "@hourly", config: {endpoint: /items, pagination: true}}
  data_quality:
    checks: [{type: schema_drift, tables: [bronze.*]}]
resources:
  airflow: {workers: {min: 3}}
$$)));

-- tier-sized blocks are filled only when absent; dependent defaults follow
-- the values given (connections.max never below connections.min)
SELECT n #> '{resources,kubernetes,quotas}' AS quotas,
       n #> '{resources,database,connections}' AS connections,
       n #> '{resources,airflow,workers}' AS workers
  FROM tenancy.normalize_spec(tenancy.parse_spec($$
tenant: {name: b, tier: basic, display_name: ~}
warehouse: {database: {host: ""}}
resources:
  kubernetes: {quotas: {requests: {cpu: "2"}}}
  database: {connections: {min: 30}}
  airflow: {workers: {max: 5}}
$$)) AS n;

-- what the user gave stays; the seed only gains what it left out
SELECT key, tenancy.normalize_spec(spec) #> key::text[] AS normalized
  FROM seed, unnest(ARRAY['{tenant,display_name}', '{warehouse,database}',
                          '{resources,kubernetes,namespace}', '{resources,kubernetes,quotas}',
                          '{warehouse,data_quality,checks,0,action}',
                          '{warehouse,data_quality,checks,2,action}',
                          '{warehouse,bronze_jobs,2,config}']) AS key;
SELECT tenancy.normalize_spec(spec) @> spec AS keeps_everything,
       (SELECT count(*) FROM tenancy.validate(tenancy.normalize_spec(spec))) AS problems_after,
       tenancy.normalize_spec(tenancy.normalize_spec(spec)) = tenancy.normalize_spec(spec) AS idempotent
  FROM seed;

-- an invalid spec cannot be normalized: SQLSTATE 22023, every problem in DETAIL
\set VERBOSITY default
SELECT tenancy.normalize_spec('{"tenant": {"name": "x", "tier": "gold"}, "warehouse": [], "extra": 1}');
\set VERBOSITY terse
DO $$
BEGIN
	PERFORM tenancy.normalize_spec('{}');
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE NOTICE 'invalid spec raised 22023';
END
$$;

DROP EXTENSION tenancy;
