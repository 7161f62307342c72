# 020_platform_provision.pl: the platform side of a tenant against the
# simulator.  Provision the source document's acme-corp: exactly the expected
# objects, with the spec's values, accepted by the schema validation; the
# credentials in Vault, the login role usable with the password from the
# Kubernetes Secret, the password nowhere in the server log or a pg_dump;
# DAGs that compile, whatever the spec's strings.  Apply a changed quota and
# an added bronze job: PATCHes in place, no DELETE.  A HelmRelease that
# fails: operation compensated, schemas kept.  Deprovision: nothing left.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim020",
	'--helm-ready-delay-ms', '300');
my $node = TenancyTest::new_node('platform', $sim,
	"shared_preload_libraries = 'tenancy,pgaudit'",	# the spec's audit_logging
	"listen_addresses = '127.0.0.1'",
	"log_statement = 'all'",
	"log_min_messages = debug1",
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
my $port = $node->port;
# from 16 on, the worker's SCRAM verifiers take the server's scram_iterations
if ($node->safe_psql('postgres', "SELECT current_setting('server_version_num')::int >= 160000") eq 't')
{
	TenancyTest::reload_worker($node,
		"ALTER SYSTEM SET scram_iterations = 4321; SELECT pg_reload_conf()");
}

# the spec's {{ vault.get(...) }} references and API credentials
TenancyTest::vault_put($sim, $_, { value => "v-$_" })
  for qw(acme/oauth/client_id acme/oauth/client_secret apis/api_catalog/key apis/api_catalog/secret);

my $src = TenancyTest::src_dir();
my $yaml = slurp_file("$src/test/fixtures/acme-corp.yaml");
my $hostile = "x'); import os; os.system(\"id\") #\n''' \\\\ \"\"\" \x{e9}\x{1F600} {{ }}";
my $hostile_sql = TenancyTest::sql_literal($hostile);

# the warehouse stays in this database; a hostile string in a job's config
my $spec_sql = "jsonb_set(tenancy.parse_spec(\$spec\$$yaml\$spec\$)"
  . " #- '{warehouse,database,host}' #- '{warehouse,database,name}',"
  . " '{warehouse,bronze_jobs,0,config,where}', to_jsonb(${hostile_sql}::text))";
$node->safe_psql('postgres', "CREATE TABLE spec AS SELECT $spec_sql AS spec");

my $op = $node->safe_psql('postgres', "SELECT tenancy.provision('acme-corp', spec) FROM spec");
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'provision succeeded');
# with Vault configured the worker owns the passwords: set_password refuses (55000)
my ($rc_pw, $out_pw, $err_pw) = $node->psql('postgres', "SELECT tenancy.set_password('etl_acme_corp')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err_pw, qr/ERROR:  55000: tenant passwords are managed through Vault here.*HINT:  Use tenancy.rotate_credentials/s,
	'set_password refuses with tenancy.vault_url set (55000)');
is($node->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'acme-corp'"),
	'ready', 'tenant ready');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE operation_id = $op AND state NOT IN ('succeeded')"),
	'0', 'every step succeeded');

# exactly the expected objects in the namespace
my $state = TenancyTest::sim_state($sim);
my @mine = sort grep { m{(^|/)airflow-acme(/|$)} } keys %{ $state->{kubernetes}{objects} };
my @expected = sort(
	'namespaces/airflow-acme',
	map({ "$_" } (
		'serviceaccounts/airflow-acme/default',
		'configmaps/airflow-acme/kube-root-ca.crt',
		'serviceaccounts/airflow-acme/airflow-worker',
		'rolebindings.rbac.authorization.k8s.io/airflow-acme/airflow-worker',
		'resourcequotas/airflow-acme/tenant-quota',
		'limitranges/airflow-acme/tenant-limits',
		'networkpolicies.networking.k8s.io/airflow-acme/default-deny',
		'networkpolicies.networking.k8s.io/airflow-acme/tenant-isolation',
		'secrets/airflow-acme/database-credentials',
		'secrets/airflow-acme/airflow-metadata',
		'secrets/airflow-acme/airflow-result-backend',
		'secrets/airflow-acme/oauth-credentials',
		'secrets/airflow-acme/api-api-catalog',
		'configmaps/airflow-acme/tenant-dags',
		'configmaps/airflow-acme/tenant-backup-script',
		'persistentvolumeclaims/airflow-acme/tenant-backups',
		'cronjobs.batch/airflow-acme/tenant-backup',
		'secrets/airflow-acme/backup-credentials',
		'helmrepositories.source.toolkit.fluxcd.io/airflow-acme/apache-airflow',
		'helmreleases.helm.toolkit.fluxcd.io/airflow-acme/airflow',
		'servicemonitors.monitoring.coreos.com/airflow-acme/airflow-acme-corp',
		'prometheusrules.monitoring.coreos.com/airflow-acme/tenant-alerts',
		map({ "deployments.apps/airflow-acme/airflow-acme-corp-$_" } qw(scheduler triggerer webserver)))));
# pods are named by their controllers (a hash), so they are matched by pattern
my @pods = grep { m{^pods/} } @mine;
is(join(',', sort map { m{^pods/airflow-acme/airflow-acme-corp-(scheduler|triggerer|webserver)-[0-9a-f]{10}-[0-9a-f]{5}$} ? $1 : "unexpected $_" } @pods),
	'scheduler,triggerer,webserver', 'the release started one pod per component');
is_deeply([ grep { !m{^pods/} } @mine ], \@expected, 'exactly the expected objects');

# values from the spec
my $ns = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme');
is($ns->{metadata}{labels}{'tenancy.io/tier'}, 'enterprise', 'namespace tier label');
is($ns->{metadata}{labels}{'pod-security.kubernetes.io/enforce'}, 'restricted', 'Pod Security enforce level');
is($ns->{metadata}{annotations}{'tenancy.io/technical-contact'}, 'john.smith@acme.com', 'technical contact');
my $quota = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/resourcequotas/tenant-quota');
is($quota->{spec}{hard}{'requests.cpu'}, '8', 'quota requests.cpu from the spec');
is($quota->{spec}{hard}{'requests.storage'}, '100Gi', 'quota requests.storage');
is($quota->{spec}{hard}{'limits.memory'}, '64Gi', 'quota limits.memory');
ok(!exists $quota->{spec}{scopeSelector}, 'no PriorityClass scope selector');
my $limits = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/limitranges/tenant-limits');
my ($pvc) = grep { $_->{type} eq 'PersistentVolumeClaim' } @{ $limits->{spec}{limits} };
is("$pvc->{min}{storage}-$pvc->{max}{storage}", '1Gi-500Gi', 'PVC min and max (quotas.limits.storage)');
my $policy = TenancyTest::k8s_object($sim,
	'/apis/networking.k8s.io/v1/namespaces/airflow-acme/networkpolicies/tenant-isolation');
my ($https) = grep { $_->{ports}[0]{port} == 443 } @{ $policy->{spec}{egress} };
is_deeply($https->{to}[0]{ipBlock}{except},
	[ '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10' ],
	'443 egress excludes private ranges');
# the workers' permissions: a RoleBinding to the chart's ClusterRole, no
# Role written by the worker (which would need those permissions itself)
my $binding = TenancyTest::k8s_object($sim,
	'/apis/rbac.authorization.k8s.io/v1/namespaces/airflow-acme/rolebindings/airflow-worker');
is_deeply($binding->{roleRef},
	{ apiGroup => 'rbac.authorization.k8s.io', kind => 'ClusterRole', name => 'tenancy-tenant-workload' },
	'the binding refers to the tenant workload ClusterRole (tenancy.tenant_cluster_role)');
is_deeply($binding->{subjects},
	[ { kind => 'ServiceAccount', name => 'airflow-worker', namespace => 'airflow-acme' } ],
	'granted to the Airflow service account of the namespace only');
ok(!grep({ $_->{service} eq 'kubernetes' && ($_->{resource} // '') eq 'roles' } @{ TenancyTest::journal($sim) }),
	'the worker never wrote nor read a Role');
my $hr = TenancyTest::k8s_object($sim,
	'/apis/helm.toolkit.fluxcd.io/v2/namespaces/airflow-acme/helmreleases/airflow');
is($hr->{spec}{values}{scheduler}{replicas}, 2, 'scheduler replicas from the spec');
is($hr->{spec}{values}{webserver}{resources}{requests}{cpu}, '500m', 'webserver resources from the spec');
is($hr->{spec}{values}{executor}, 'CeleryExecutor', 'executor');
is_deeply([ @{ $hr->{spec}{values}{workers} }{qw(replicas)}, @{ $hr->{spec}{values}{workers}{keda} }{qw(enabled minReplicaCount maxReplicaCount)} ],
	[ 2, JSON::PP::true, 2, 10 ], 'workers: min replicas, KEDA from min to max');
ok(!$hr->{spec}{values}{postgresql}{enabled}, 'no bundled PostgreSQL');
is($hr->{spec}{values}{data}{metadataSecretName}, 'airflow-metadata', 'metadata through a secret');
is($hr->{spec}{values}{config}{core}{parallelism}, '160', 'parallelism: 10 workers x 16 (enterprise)');
my ($ready) = grep { $_->{type} eq 'Ready' } @{ $hr->{status}{conditions} };
is($ready->{status}, 'True', 'release Ready');
is(scalar(@{ $state->{grafana}{dashboards} }), 1, 'one dashboard');
is($state->{grafana}{dashboards}[0]{uid}, 'tn_acme-corp', 'dashboard uid from the tenant');

# every generated DAG file compiles, the hostile string is one literal
my $cm = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/configmaps/tenant-dags');
my $dir = tempdir(CLEANUP => 1);
my @files = sort keys %{ $cm->{data} };
is(scalar(@files), 5, 'one DAG per distinct schedule (3 bronze, silver, gold)');
for my $f (@files)
{
	open my $fh, '>:utf8', "$dir/$f" or die;
	print $fh $cm->{data}{$f};
	close $fh;
	my $rc = system("python3 -m py_compile $dir/$f 2>/dev/null");
	is($rc, 0, "$f compiles");
}
# the hostile string comes back intact from the literal Python parses
my $roundtrip = `python3 - $dir/acme_corp_pipeline_1.py <<'PY'
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding='utf-8').read())
for call in ast.walk(tree):
    if isinstance(call, ast.Call) and any(k.arg == 'task_id' and ast.literal_eval(k.value) == 'extract_customers' for k in call.keywords):
        args = next(ast.literal_eval(k.value) for k in call.keywords if k.arg == 'arguments')
        sys.stdout.write(json.dumps(json.loads(args[args.index('--config') + 1])['where']))
PY`;
is(JSON::PP->new->decode($roundtrip), $hostile, 'the hostile config string is one intact literal');
my $py = `python3 -c 'import ast,sys; t=ast.parse(open(sys.argv[1]).read()); print(sum(isinstance(n, ast.Import) for n in ast.walk(t)))' $dir/acme_corp_pipeline_1.py`;
chomp $py;
is($py, '0', 'no import statement came from the spec');

# credentials: Vault first, the Secret, the login role, never in the log
my $secret = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/secrets/database-credentials');
my $password = decode_base64($secret->{data}{SOURCE_DB_PASSWORD});
like($password, qr/^[A-Za-z0-9]{32}$/, 'a generated 32-character password');
is(decode_base64($secret->{data}{SOURCE_DB_USER}), 'etl_acme_corp', 'the etl login role');
ok($state->{vault}{secrets}{'tenants/acme-corp/database'}, 'credentials in Vault');
my $oauth = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/secrets/oauth-credentials');
is(decode_base64($oauth->{data}{OAUTH_CLIENT_SECRET}), 'v-acme/oauth/client_secret', 'OAuth secret from Vault');
my $api = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/secrets/api-api-catalog');
is(decode_base64($api->{data}{API_KEY}), 'v-apis/api_catalog/key', 'API key from Vault');

my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh "host all etl_acme_corp 127.0.0.1/32 scram-sha-256\n$rules";
close $fh;
$node->reload;
my $psql = $node->config_data('--bindir') . '/psql';
{
	local $ENV{PGPASSWORD} = $password;
	my $who = `$psql -X -At -h 127.0.0.1 -p $port -U etl_acme_corp -d postgres -c 'SELECT current_user' 2>&1`;
	chomp $who;
	is($who, 'etl_acme_corp', 'the login role logs in with the password from the Secret');
	$ENV{PGPASSWORD} = 'not-the-password';
	my $bad = `$psql -X -At -h 127.0.0.1 -p $port -U etl_acme_corp -d postgres -c 'SELECT 1' 2>&1`;
	like($bad, qr/password authentication failed/, 'a wrong password is refused (scram-sha-256)');
}
# the worker computes the verifier itself (scram_secret.c): the server's
# format, its iteration count (scram_iterations from 16 on), a 16-byte salt
my $iterations = $node->safe_psql('postgres',
	"SELECT coalesce(current_setting('scram_iterations', true), '4096')");
like($node->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_acme_corp'"),
	qr{^SCRAM-SHA-256\$$iterations:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$},
	"stored as a SCRAM verifier with the server's $iterations iterations");
my $dump = `@{[ $node->config_data('--bindir') ]}/pg_dump -h @{[ $node->host ]} -p $port postgres`;
ok(length($dump) > 1000, 'pg_dump ran');
is(scalar(() = $dump =~ /\Q$password\E/g), 0, 'the password is not in a pg_dump');
is(scalar(() = slurp_file($node->logfile) =~ /\Q$password\E/g), 0,
	'the password is not in the server log (log_statement = all, debug1)');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE request::text LIKE '%$password%'"
	  . " OR compensation::text LIKE '%$password%' OR last_error LIKE '%$password%'"),
	'0', 'nor in the steps');

my $seq = TenancyTest::sim_state($sim)->{journalSeq};

# apply: a changed quota and an added bronze job are patched in place
$node->safe_psql('postgres', q{
	UPDATE spec SET spec = jsonb_set(
		jsonb_set(spec, '{resources,kubernetes,quotas,requests,cpu}', '"12"'),
		'{warehouse,bronze_jobs}', (spec #> '{warehouse,bronze_jobs}') ||
		'[{"name": "invoices", "source": "api_catalog", "schedule": "30 1 * * *",
		   "config": {"endpoint": "/api/v2/invoices", "pagination": true, "page_size": 100}}]')});
my $apply = $node->safe_psql('postgres', "SELECT tenancy.apply('acme-corp', spec) FROM spec");
is(TenancyTest::wait_operation($node, $apply), 'succeeded', 'apply succeeded');
my @changed = split /\n/, $node->safe_psql('postgres',
	"SELECT object FROM tenancy.steps WHERE operation_id = $apply AND target <> 'database' ORDER BY ordinal");
is_deeply(\@changed,
	[ 'namespace airflow-acme', 'resourcequota airflow-acme/tenant-quota',
	  'configmap airflow-acme/tenant-dags', 'tenant acme-corp' ],
	'apply plans the namespace check (GET only), the quota, the DAGs and the validation only');
my $journal = TenancyTest::journal_since($sim, $seq);
my @writes = grep { $_->{method} ne 'GET' } @$journal;
ok(!grep({ $_->{method} eq 'DELETE' } @writes), 'no DELETE');
is_deeply([ sort map { "$_->{method} $_->{path}" } @writes ],
	[ 'PATCH /api/v1/namespaces/airflow-acme/configmaps/tenant-dags',
	  'PATCH /api/v1/namespaces/airflow-acme/resourcequotas/tenant-quota' ],
	'the journal shows the two PATCHes');
$quota = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/resourcequotas/tenant-quota');
is($quota->{spec}{hard}{'requests.cpu'}, '12', 'quota updated in place');
$cm = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-acme/configmaps/tenant-dags');
is(scalar(keys %{ $cm->{data} }), 6, 'a DAG for the new schedule');
like(join('', values %{ $cm->{data} }), qr/task_id='extract_invoices'/, 'the new job is a task');
is(decode_base64(TenancyTest::k8s_object($sim,
	'/api/v1/namespaces/airflow-acme/secrets/database-credentials')->{data}{SOURCE_DB_PASSWORD}),
	$password, 'the password is unchanged');

# a HelmRelease that fails: compensated, the data kept
TenancyTest::control($sim, 'POST', '/__sim/helmrelease-outcome',
	{ namespace => 'airflow-globex', ready => JSON::PP::false, message => 'simulated install failure' });
my $globex = $node->safe_psql('postgres', q{SELECT tenancy.provision('globex',
	'{"tenant": {"name": "globex", "tier": "basic", "environment": "dev"}, "warehouse": {}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($node, $globex), 'compensated', 'failed release: operation compensated');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $globex"),
	qr/validate tenant globex\) failed: validation failed: .*release Ready: Ready=False: simulated install failure/,
	'the error names the check and the reason');
is($node->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'globex'"),
	'failed', 'tenant failed');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'globex\\_%'"),
	'6', 'its schemas are kept');
ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-globex'), 'compensation deleted the namespace');
ok(!grep({ $_->{uid} eq 'tn_globex' } @{ TenancyTest::sim_state($sim)->{grafana}{dashboards} }),
	'and the dashboard');
TenancyTest::control($sim, 'DELETE', '/__sim/helmrelease-outcome');

# an apply that adds OAuth to a tenant, then fails: its compensation
# removes the Secret the apply created (and only that)
my $basic = '{"tenant": {"name": "initech", "tier": "basic", "environment": "dev"}, "warehouse": {}, "resources": {}}';
my $initech = $node->safe_psql('postgres', "SELECT tenancy.provision('initech', '$basic'::jsonb)");
is(TenancyTest::wait_operation($node, $initech), 'succeeded', 'initech provisioned');
TenancyTest::set_faults($sim, { rules => [ {
	service => 'kubernetes', method => 'GET', status => 403,
	path => '^/apis/helm\\.toolkit\\.fluxcd\\.io/v2/namespaces/airflow-initech/helmreleases/airflow$' } ] });
$seq = TenancyTest::sim_state($sim)->{journalSeq};
my $failing = $node->safe_psql('postgres', qq{SELECT tenancy.apply('initech', '$basic'::jsonb
	|| '{"tenant": {"name": "initech", "tier": "basic", "environment": "dev",
	     "authentication": {"type": "oauth2", "provider": "okta",
	       "config": {"client_id": "{{ vault.get(''acme/oauth/client_id'') }}",
	                  "client_secret": "{{ vault.get(''acme/oauth/client_secret'') }}"}}}}'::jsonb)});
is(TenancyTest::wait_operation($node, $failing), 'compensated', 'failed apply: operation compensated');
TenancyTest::clear_faults($sim);
is(TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-initech/secrets/oauth-credentials'), undef,
	'compensation removed the Secret the apply created');
ok(TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-initech/secrets/database-credentials'),
	'and kept the one that was there before');
is_deeply([ map { "$_->{method} $_->{path} $_->{query}{fieldSelector} $_->{query}{labelSelector}" }
			grep { $_->{method} eq 'DELETE' } @{ TenancyTest::journal_since($sim, $seq) } ],
	[ 'DELETE /api/v1/namespaces/airflow-initech/secrets metadata.name=oauth-credentials '
	  . 'app.kubernetes.io/managed-by=tenancy,tenancy.io/tenant=initech' ],
	'its only DELETE: that Secret, only if labelled as the tenant\'s');

# deprovision: nothing of acme-corp left on the platform side
my $dep = $node->safe_psql('postgres', "SELECT tenancy.deprovision('acme-corp')");
is(TenancyTest::wait_operation($node, $dep), 'succeeded', 'deprovision succeeded');
$state = TenancyTest::sim_state($sim);
is_deeply([ grep { m{acme-corp} } keys %{ $state->{kubernetes}{objects} } ], [],
	'no Kubernetes object left');
is_deeply([ grep { m{^tenants/acme-corp} } keys %{ $state->{vault}{secrets} } ], [],
	'no credentials left in Vault');
is_deeply([ grep { $_->{uid} eq 'tn_acme-corp' } @{ $state->{grafana}{dashboards} } ], [],
	'no dashboard left');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'acme\\_%'"),
	'6', 'the warehouse schemas are kept (drop_data false)');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
