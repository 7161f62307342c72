# 033_maint_platform_audit.pl: the platform checks of tenancy.audit against
# the simulator.  A freshly provisioned tenant: an audit operation whose
# worker steps find nothing.  Then drift made behind tenancy's back: a
# quota changed, a network policy deleted, the Vault credentials deleted;
# each is reported as a platform finding of the run, and nothing is fixed.
use strict;
use warnings;

use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim033",
	'--helm-ready-delay-ms', '100');
my $node = TenancyTest::new_node('paudit', $sim,
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");

my $op = $node->safe_psql('postgres', q{
	SELECT tenancy.provision('aud-p', '{"tenant": {"name": "aud-p", "tier": "basic"},
	                                     "warehouse": {}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'provision succeeded');

# audit(name) -> (database findings, platform findings of the run)
sub audit
{
	my $db = $node->safe_psql('postgres',
		"SELECT count(*) FROM tenancy.audit('aud-p')");
	my ($run, $ops) = split /\|/, $node->safe_psql('postgres',
		"SELECT run_id, platform_operations FROM tenancy.audit_runs ORDER BY run_id DESC LIMIT 1");
	my $audit_op = $node->safe_psql('postgres',
		"SELECT max(operation_id) FROM tenancy.operations WHERE kind = 'audit'");
	my $state = TenancyTest::wait_operation($node, $audit_op);
	my $platform = $node->safe_psql('postgres',
		"SELECT string_agg(check_name || ' ' || severity || ' ' || object || ': ' || detail, E'\\n'
		                   ORDER BY check_name, object, detail)
		   FROM tenancy.audit_findings WHERE run_id = $run AND source = 'platform'");
	return ($db, $ops, $state, $platform, $run);
}

my ($db, $ops, $state, $platform) = audit();
is($db, '0', 'no database finding');
is($ops, '1', 'one audit operation enqueued');
is($state, 'succeeded', 'its platform checks ran');
is($platform, '', 'a clean tenant has no platform finding');
ok($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
	  WHERE o.kind = 'audit' AND s.request ->> 'handler' = 'audit_object'") >= 5,
	'every planned Kubernetes object is checked');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
	  WHERE o.kind = 'audit' AND s.request ->> 'handler' = 'audit_vault'"), '1',
	'and the credentials in Vault');

# drift behind tenancy's back
sub token { my $t = slurp_file($_[0]); chomp $t; return $t; }
my $http = HTTP::Tiny->new(timeout => 30);
my $k8s_token = token($sim->{admin_k8s_token_file});
my $quota_path = $node->safe_psql('postgres',
	"SELECT request ->> 'path' FROM tenancy.steps WHERE request #>> '{body,kind}' = 'ResourceQuota' LIMIT 1");
my $netpol_path = $node->safe_psql('postgres',
	"SELECT request ->> 'path' FROM tenancy.steps WHERE request #>> '{body,kind}' = 'NetworkPolicy'
	  ORDER BY step_id LIMIT 1");
ok($quota_path && $netpol_path, "planned quota ($quota_path) and network policy ($netpol_path)");
my $quota = TenancyTest::k8s_object($sim, $quota_path);
my ($hard_key) = sort keys %{ $quota->{spec}{hard} };
my $res = $http->request('PATCH', $sim->{kubernetes} . $quota_path, {
	headers => { Authorization => "Bearer $k8s_token",
		'Content-Type' => 'application/merge-patch+json' },
	content => encode_json({ spec => { hard => { $hard_key => '999' } } }) });
ok($res->{success}, "quota $hard_key changed to 999") or diag($res->{content});
$res = $http->request('DELETE', $sim->{kubernetes} . $netpol_path,
	{ headers => { Authorization => "Bearer $k8s_token" } });
ok($res->{success}, 'network policy deleted') or diag($res->{content});
$res = $http->request('DELETE', $sim->{vault} . '/v1/secret/metadata/tenants/aud-p/database',
	{ headers => { 'X-Vault-Token' => token($sim->{admin_vault_token_file}) } });
ok($res->{success}, 'Vault credentials deleted') or diag($res->{content});

my $run;
($db, $ops, $state, $platform, $run) = audit();
is($state, 'succeeded', 'the checks ran (drift does not fail the operation)');
like($platform, qr/^platform_drift high \Q$quota_path\E: spec\.hard\.\Q$hard_key\E is "999", the plan has /m,
	'the changed quota is reported with its path and both values');
like($platform, qr/^platform_object_missing critical \Q$netpol_path\E: NetworkPolicy .* does not exist\./m,
	'the deleted network policy is reported');
like($platform, qr/^vault_secret_missing critical vault tenants\/aud-p\/database:/m,
	'the deleted Vault secret is reported');
is(scalar(() = $platform =~ /\n/g) + 1, 3, 'exactly three platform findings');
my ($netpol_status) = TenancyTest::k8s_get($sim, $netpol_path);
is($netpol_status, 404, 'nothing was fixed: the policy is still gone');
my $all = $node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT check_name, ',' ORDER BY check_name) FROM tenancy.audit_latest WHERE is_new");
is($all, 'platform_drift,platform_object_missing,vault_secret_missing',
	'audit_latest shows them as new against the previous run');

# pod requests: a usage sample gets the namespace's running pods
$node->safe_psql('postgres', 'SELECT tenancy.sample_usage()');
my $usage_op = $node->safe_psql('postgres',
	"SELECT max(operation_id) FROM tenancy.operations WHERE kind = 'usage'");
is(TenancyTest::wait_operation($node, $usage_op), 'succeeded', 'the pod_requests step ran');
# the simulated release runs a scheduler, a webserver and a triggerer, the
# first two with the requests of the values (500m and 1Gi each by default)
is($node->safe_psql('postgres',
	"SELECT pods_running || ' ' || cpu_requested || ' ' || memory_requested_bytes
	   FROM tenancy.usage_samples ORDER BY sample_id DESC LIMIT 1"),
	'3 1.000 2147483648', 'the sample holds the running pods and their requests');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
