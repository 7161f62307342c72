# 073_spec_every_key.pl: every key of the reference spec does something.
#
# Walks every leaf path of test/fixtures/acme-corp.yaml (the source
# document's spec, as written: its warehouse server registered).  For each
# leaf, a changed valid value must change what provision records (the SQL
# and the request body of every step, in a transaction rolled back) or what
# invoice returns; a leaf whose change changes nothing fails by name.  A
# leaf listed without a changed value fails too, so a key added to the
# reference spec must be given one here.  Then apply of each change, on top
# of the provisioned reference spec: no DELETE request (except where the
# change removes something: backups off), and no request re-sent unchanged
# (the PATCHes are the minimal ones).  Flags whose true is refused ("not
# supported yet") are checked to be refused by validate.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = TenancyTest::new_node('keys', undef, "shared_preload_libraries = 'tenancy,pgaudit'");
my $json = JSON::PP->new->canonical->allow_nonref;
my $src = TenancyTest::src_dir();
my $yaml = slurp_file("$src/test/fixtures/acme-corp.yaml");
$node->safe_psql('postgres', "CREATE TABLE ref AS SELECT tenancy.parse_spec(\$spec\$$yaml\$spec\$) AS spec");
# the servers the spec and its changes name
$node->safe_psql('postgres', q{
	SELECT tenancy.register_server('warehouse-db', 'host=warehouse-db.internal port=5432');
	SELECT tenancy.register_server('warehouse-db-5433', 'host=warehouse-db.internal port=5433');
	SELECT tenancy.register_server('warehouse-db2', 'host=warehouse-db2.internal port=5432');
});

# every leaf path of the reference spec, as dotted paths (array indexes as numbers)
my @leaves = split /\n/, $node->safe_psql('postgres', q{
	WITH RECURSIVE walk(path, value) AS (
		SELECT ARRAY[]::text[], spec FROM ref
		UNION ALL
		SELECT w.path || c.k, c.v FROM walk w CROSS JOIN LATERAL (
			SELECT key, value FROM jsonb_each(CASE WHEN jsonb_typeof(w.value) = 'object' THEN w.value ELSE '{}' END)
			UNION ALL
			SELECT (i - 1)::text, value
			  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.value) = 'array' THEN w.value ELSE '[]' END)
			       WITH ORDINALITY a(value, i)) c(k, v))
	SELECT array_to_string(path, '.') FROM walk
	 WHERE jsonb_typeof(value) NOT IN ('object', 'array') ORDER BY 1});
ok(@leaves > 80, scalar(@leaves) . ' leaves in the reference spec');

# a changed valid value of each leaf: [path to set, JSON value]; by default the leaf itself
my $v = sub { return $json->encode($_[0]); };
my %change = (
	'tenant.name' => 'acme-co',	# provisioned under that name
	'tenant.display_name' => 'ACME Corp',
	'tenant.tier' => 'standard',
	'tenant.environment' => 'staging',
	'tenant.contacts.technical.0.name' => 'Jon Smith',
	'tenant.contacts.technical.0.email' => 'jon.smith@acme.com',
	'tenant.contacts.technical.0.role' => 'Data Lead',
	'tenant.contacts.business.0.name' => 'Janet Doe',
	'tenant.contacts.business.0.email' => 'janet.doe@acme.com',
	'tenant.contacts.business.0.role' => 'Sponsor',
	'tenant.authentication.type' => 'saml',
	'tenant.authentication.provider' => 'azure_ad',
	'tenant.authentication.config.client_id' => "{{ vault.get('acme/oauth/client_id_2') }}",
	'tenant.authentication.config.client_secret' => "{{ vault.get('acme/oauth/client_secret_2') }}",
	'tenant.authentication.config.redirect_uri' => 'https://airflow-acme.company.com/oauth2/callback',
	'tenant.authentication.config.tenant_id' => 'acme',
	'warehouse.name' => 'acme_dwh',
	'warehouse.database.host' => 'warehouse-db2.internal',
	'warehouse.database.port' => 5433,
	'warehouse.database.name' => 'acme_analytics_2',
	'warehouse.database.schema_prefix' => 'acme2_',
	'warehouse.bronze_jobs.0.name' => 'accounts',
	'warehouse.bronze_jobs.0.source' => [ 'warehouse.bronze_jobs.0',
		{ name => 'customers', source => 'api_catalog', schedule => '0 2 * * *', config => { endpoint => '/api/v2/customers' } } ],
	'warehouse.bronze_jobs.0.schedule' => '30 2 * * *',
	'warehouse.bronze_jobs.0.config.object' => 'Contact',
	(map { ("warehouse.bronze_jobs.0.config.fields.$_" => "Field$_") } 0 .. 3),
	'warehouse.bronze_jobs.0.config.where' => 'IsDeleted = true',
	'warehouse.bronze_jobs.1.name' => 'orders_v2',
	'warehouse.bronze_jobs.1.source' => [ 'warehouse.bronze_jobs.1',
		{ name => 'orders', source => 'salesforce', schedule => '0 */4 * * *', config => { object => 'Order' } } ],
	'warehouse.bronze_jobs.1.schedule' => '0 */6 * * *',
	'warehouse.bronze_jobs.1.config.table' => 'public.orders_v2',
	'warehouse.bronze_jobs.1.config.incremental_column' => 'updated_at',
	'warehouse.bronze_jobs.1.config.lookback_days' => 3,
	'warehouse.bronze_jobs.2.name' => 'catalog',
	'warehouse.bronze_jobs.2.source' => [ 'warehouse.bronze_jobs.2',
		{ name => 'products', source => 'postgres_operational', schedule => '0 6 * * *', config => { table => 'public.products' } } ],
	'warehouse.bronze_jobs.2.schedule' => '0 7 * * *',
	'warehouse.bronze_jobs.2.config.endpoint' => '/api/v3/products',
	'warehouse.bronze_jobs.2.config.pagination' => JSON::PP::false,
	'warehouse.bronze_jobs.2.config.page_size' => 500,
	'warehouse.dbt.silver.enabled' => JSON::PP::false,
	(map { ("warehouse.dbt.silver.models.$_" => "silver_model_$_") } 0 .. 2),
	'warehouse.dbt.silver.schedule' => '0 5 * * *',
	'warehouse.dbt.gold.enabled' => JSON::PP::false,
	(map { ("warehouse.dbt.gold.dimensions.$_" => "dim_other_$_") } 0 .. 2),
	(map { ("warehouse.dbt.gold.facts.$_" => "fact_other_$_") } 0 .. 1),
	'warehouse.dbt.gold.schedule' => '0 8 * * *',
	'warehouse.data_quality.enabled' => JSON::PP::false,
	'warehouse.data_quality.checks.0.type' => [ 'warehouse.data_quality.checks.0',
		{ type => 'schema_drift', tables => [ 'silver_*', 'fact_*' ] } ],
	'warehouse.data_quality.checks.0.tables.0' => 'silver_orders',
	'warehouse.data_quality.checks.0.tables.1' => 'fact_orders',
	'warehouse.data_quality.checks.0.threshold' => 0.2,
	'warehouse.data_quality.checks.1.type' => [ 'warehouse.data_quality.checks.1',
		{ type => 'row_count', tables => [ 'bronze.*' ], threshold => 0.3 } ],
	'warehouse.data_quality.checks.1.tables.0' => 'silver.*',
	'warehouse.data_quality.checks.1.max_age_hours' => 30,
	'warehouse.data_quality.checks.2.type' => [ 'warehouse.data_quality.checks.2',
		{ type => 'freshness', tables => [ 'bronze.*' ], max_age_hours => 12 } ],
	'warehouse.data_quality.checks.2.tables.0' => 'silver.*',
	'warehouse.data_quality.checks.2.action' => 'fail',
	'resources.kubernetes.namespace' => 'airflow-acme-2',
	'resources.kubernetes.quotas.requests.cpu' => '9',
	'resources.kubernetes.quotas.requests.memory' => '40Gi',
	'resources.kubernetes.quotas.requests.storage' => '120Gi',
	'resources.kubernetes.quotas.requests.pods' => '60',
	'resources.kubernetes.quotas.limits.cpu' => '20',
	'resources.kubernetes.quotas.limits.memory' => '80Gi',
	'resources.kubernetes.quotas.limits.storage' => '600Gi',
	'resources.kubernetes.node_selector.workload' => 'batch',
	'resources.kubernetes.node_selector.tenant-tier' => 'premium',
	'resources.kubernetes.tolerations.0.key' => 'dedicated',
	'resources.kubernetes.tolerations.0.operator' => [ 'resources.kubernetes.tolerations.0',
		{ key => 'tenant', operator => 'Exists', effect => 'NoSchedule' } ],
	'resources.kubernetes.tolerations.0.value' => 'acme',
	'resources.kubernetes.tolerations.0.effect' => 'NoExecute',
	'resources.airflow.workers.min' => 3,
	'resources.airflow.workers.max' => 8,
	'resources.airflow.workers.autoscaling' => JSON::PP::false,
	# smaller than the reference's: its quota holds its 10 workers exactly
	# beside them, and more would be refused (spec_capacity.c)
	(map { my $c = $_; (
		"resources.airflow.$c.replicas" => 1,
		"resources.airflow.$c.resources.requests.cpu" => $c eq 'scheduler' ? '750m' : '250m',
		"resources.airflow.$c.resources.requests.memory" => $c eq 'scheduler' ? '1536Mi' : '768Mi',
		"resources.airflow.$c.resources.limits.cpu" => $c eq 'scheduler' ? '1500m' : '750m',
		"resources.airflow.$c.resources.limits.memory" => $c eq 'scheduler' ? '3Gi' : '1536Mi') } qw(scheduler webserver)),
	'resources.database.connections.min' => 12,
	'resources.database.connections.max' => 60,
	'resources.database.storage_gb' => 80,
	'resources.database.backup.enabled' => JSON::PP::false,
	'resources.database.backup.retention_days' => 14,
	'features.advanced_monitoring' => JSON::PP::false,
	'features.custom_plugins' => JSON::PP::false,
	'features.data_lineage' => JSON::PP::false,
	'features.audit_logging' => JSON::PP::false,
	'sla.uptime_percent' => 99.5,
	'sla.support_tier' => 'business-hours',
	'sla.response_time.critical' => '2 hours',
	'sla.response_time.high' => '8 hours',
	'sla.response_time.medium' => '2 business days',
	'sla.response_time.low' => '5 business days',
	'billing.model' => 'hybrid',
	'billing.metrics.0.type' => [ 'billing.metrics',
		[ { type => 'storage_gb', rate => 0.01 }, { type => 'task_runs', rate => 0.10 }, { type => 'compute_hours', rate => 0.50 } ] ],
	'billing.metrics.0.rate' => 0.02,
	'billing.metrics.1.type' => [ 'billing.metrics',
		[ { type => 'task_runs', rate => 0.01 }, { type => 'compute_hours', rate => 0.10 }, { type => 'storage_gb', rate => 0.50 } ] ],
	'billing.metrics.1.rate' => 0.20,
	'billing.metrics.2.type' => [ 'billing.metrics',
		[ { type => 'compute_hours', rate => 0.01 }, { type => 'storage_gb', rate => 0.10 }, { type => 'task_runs', rate => 0.50 } ] ],
	'billing.metrics.2.rate' => 0.75,
	'billing.billing_contact' => 'accounts.payable@acme.com',
	'billing.cost_center' => 'DATA-002',
);
# flags whose true is refused: their changed value is checked to be refused
my %refused = map { ("features.$_" => 1) } qw(external_task_sensors cross_tenant_dependencies);
# apply refuses these changes (0A000), like moving servers
my %apply_refused = map { ($_ => 1) } qw(warehouse.database.host warehouse.database.port
	warehouse.database.name warehouse.database.schema_prefix resources.kubernetes.namespace);
# apply of these removes objects, so DELETEs are expected
my %deletes_expected = ('resources.database.backup.enabled' => 'backups off: CronJob, script, Secret',
	'tenant.authentication.type' => 'oauth2 off: the oauth-credentials Secret');
# a lower value of these changes what provision records, but apply leaves
# the object as it is: a claim cannot shrink, and the reference's backup
# volume (100 GiB) already fills its storage quota (requests.storage 100Gi),
# so a larger one is refused at validation
my %apply_leaves = ('resources.database.storage_gb' => 'the backup claim cannot shrink');
# keys whose effect is on the invoice only: apply records the spec, invoice changes
my %billing = map { ($_ => 1) } grep { /^billing\.(model|metrics)/ } @leaves;

sub changed_spec
{
	my ($leaf) = @_;
	my $c = $change{$leaf};
	my ($path, $value) = ref($c) eq 'ARRAY' ? @$c : ($leaf, $c);
	my $pg_path = '{' . join(',', map { qq{"$_"} } split /\./, $path) . '}';
	return "jsonb_set(spec, '$pg_path', " . TenancyTest::sql_literal($json->encode($value)) . "::jsonb)";
}

# what provision records (every step's target, action, object, request) and invoice returns
sub recorded
{
	my ($name, $spec_sql) = @_;
	return $node->safe_psql('postgres', qq{
BEGIN;
SELECT tenancy.provision('$name', $spec_sql) > 0 FROM ref \\g /dev/null
SELECT md5(string_agg(concat_ws(' ', target, action, object, request::text), E'\\n' ORDER BY ordinal))
       || ' ' || (SELECT md5(string_agg(i::text, E'\\n' ORDER BY i.line)) FROM tenancy.invoice('$name', '2026-01-01', '2026-02-01') i)
  FROM tenancy.steps;
ROLLBACK;});
}
my $base = recorded('acme-corp', 'spec');
like($base, qr/^[0-9a-f]{32} [0-9a-f]{32}$/, 'the reference spec provisions');

for my $leaf (@leaves)
{
	if ($refused{$leaf})
	{
		my $problems = $node->safe_psql('postgres',
			"SELECT string_agg(message, '; ') FROM ref, tenancy.validate(jsonb_set(spec, '{" . join(',', split /\./, $leaf) . "}', 'true'))");
		like($problems, qr/not supported yet/, "$leaf: true is refused (not supported yet)");
		next;
	}
	if (!exists $change{$leaf})
	{
		fail("$leaf: no changed value in this test; give it one");
		next;
	}
	my $name = $leaf eq 'tenant.name' ? $change{$leaf} : 'acme-corp';
	my $spec_sql = changed_spec($leaf);
	my ($rc, $out, $err) = $node->psql('postgres', "BEGIN; SELECT tenancy.provision('$name', $spec_sql) FROM ref; ROLLBACK;");
	if ($rc != 0)
	{
		fail("$leaf: the changed value is refused: $err");
		next;
	}
	isnt(recorded($name, $spec_sql), $base, "$leaf: a changed value changes what provision records or invoice returns");
	next if $leaf eq 'tenant.name';

	# apply of the change over the provisioned reference spec
	($rc, $out, $err) = $node->psql('postgres', qq{
BEGIN;
SELECT tenancy.provision('acme-corp', spec) AS prov FROM ref \\gset
-- what the worker records once the provision succeeded (no worker runs
-- here): an apply queued behind an unfinished one would plan every object
UPDATE tenancy.steps SET state = 'succeeded', started_at = now(), finished_at = now() WHERE operation_id = :prov;
UPDATE tenancy.operations SET state = 'succeeded', started_at = now(), finished_at = now() WHERE operation_id = :prov;
SELECT md5(string_agg(i::text, '|' ORDER BY i.line)) AS invoice_before
  FROM tenancy.invoice('acme-corp', '2026-01-01', '2026-02-01') i \\gset
SELECT coalesce(tenancy.apply('acme-corp', $spec_sql), 0) AS op FROM ref \\gset
SELECT (SELECT count(*) FROM tenancy.steps WHERE operation_id = :op
           AND (request ->> 'method' = 'DELETE' OR request ->> 'handler' = 'k8s_delete'))
       || '|' || coalesce((SELECT string_agg(a.object, ', ' ORDER BY a.ordinal)
                             FROM tenancy.steps a JOIN tenancy.steps p ON p.operation_id = :prov AND p.object = a.object
                            WHERE a.operation_id = :op AND a.target NOT IN ('database', 'remote_database')
                              AND a.action <> 'validate' AND a.request = p.request), '')
       || '|' || (SELECT count(*) FROM tenancy.steps WHERE operation_id = :op)
       || '|' || ((SELECT md5(string_agg(i::text, '|' ORDER BY i.line))
                     FROM tenancy.invoice('acme-corp', '2026-01-01', '2026-02-01') i) <> :'invoice_before');
ROLLBACK;});
	if ($apply_refused{$leaf})
	{
		like($err, qr/0A000|cannot change|cannot move/i, "$leaf: apply refuses the change (like moving servers)");
		next;
	}
	if ($rc != 0)
	{
		fail("$leaf: apply failed: $err");
		next;
	}
	my ($deletes, $resent, $steps, $invoice_changed) = split /\|/, $out, -1;
	if ($billing{$leaf})
	{
		is($invoice_changed, 'true', "$leaf: after apply, invoice returns something else");
	}
	elsif ($apply_leaves{$leaf})
	{
		is($steps, '0', "$leaf: apply of a lower value plans nothing ($apply_leaves{$leaf})");
	}
	else
	{
		ok($steps > 0, "$leaf: apply plans something");
	}
	if ($deletes_expected{$leaf})
	{
		ok($deletes > 0, "$leaf: apply deletes ($deletes_expected{$leaf})");
	}
	else
	{
		is($deletes, '0', "$leaf: apply sends no DELETE");
	}
	is($resent, '', "$leaf: apply re-sends no unchanged request (minimal PATCHes)");
}

$node->stop;
done_testing();
