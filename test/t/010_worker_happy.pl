# 010_worker_happy.pl: the worker carries out committed steps against the
# simulator, in dependency order, and records every state change; with no
# endpoint configured the steps end skipped; a rotated token file is re-read.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim010");
my $node = TenancyTest::new_node('happy', $sim);

# the worker runs, connected to the platform database
like(TenancyTest::worker_pid($node), qr/^\d+$/, 'worker is running');

# three tenants; each: namespace, then two configmaps in it, plus a Vault write
my @ops;
for my $t (qw(alpha beta gamma))
{
	my $steps = TenancyTest::namespace_steps($t, 2);
	push @$steps, {
		target => 'vault',
		action => 'write',
		object => "kv/tenants/$t/settings",
		request => {
			method => 'POST',
			path => "/v1/secret/data/tenants/$t/settings",
			body => { data => { tier => 'standard' } }
		},
		depends_on => [1],
	};
	push @ops, TenancyTest::enqueue_operation($node, $t, $steps);
}
is(TenancyTest::wait_operation($node, $_), 'succeeded', "operation $_ succeeded")
  for @ops;

is($node->safe_psql('postgres',
	"SELECT string_agg(name || '=' || state, ',' ORDER BY name) FROM tenancy.tenants"),
	'alpha=ready,beta=ready,gamma=ready', 'tenants are ready');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE state <> 'succeeded' OR attempts <> 1
	    OR http_status NOT BETWEEN 200 AND 299 OR finished_at IS NULL OR lease_until IS NOT NULL"),
	'0', 'every step succeeded at the first attempt, with its HTTP status and no lease left');

# the simulator saw each tenant's namespace before anything inside it
my $journal = TenancyTest::journal($sim);
for my $t (qw(alpha beta gamma))
{
	my @mine = grep { ($_->{path} // '') =~ m{airflow-$t|/api/v1/namespaces$} &&
		  (($_->{body}{metadata}{name} // '') eq "airflow-$t" || $_->{path} =~ /airflow-$t/) } @$journal;
	my ($ns) = grep { $_->{method} eq 'POST' } @mine;
	my @cms = grep { $_->{method} eq 'PATCH' } @mine;
	ok($ns && $ns->{status} == 201, "namespace of $t created");
	is(scalar(@cms), 2, "two configmaps of $t applied");
	ok(!grep({ $_->{seq} < $ns->{seq} } @cms), "configmaps of $t after its namespace");
}
my @vault = grep { $_->{service} eq 'vault' } @$journal;
is(scalar(@vault), 3, 'one Vault write per tenant');

# wait(): final state, a NOTICE per step; status(): the steps
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT tenancy.wait('beta')");
is($stdout, 'succeeded', 'wait returns the final state');
like($stderr, qr/NOTICE:  step 1 kubernetes create namespace\/airflow-beta: succeeded/,
	'wait reports each step');
is($node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ':' || state, ' ' ORDER BY ordinal) FROM tenancy.status('beta')"),
	'1:succeeded 2:succeeded 3:succeeded 4:succeeded', 'status lists the steps');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT * FROM tenancy.status('nobody')");
like($stderr, qr/tenant "nobody" does not exist/, 'status of an unknown tenant is an error');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT tenancy.wait('beta', '-1 s')");
like($stderr, qr/timeout must be a non-negative interval/, 'negative timeout refused');

# wait times out with SQLSTATE 57014 on an operation that cannot progress
my $stuck = TenancyTest::enqueue_operation($node, 'delta', [
	{ request => { method => 'GET', path => '/api/v1/namespaces' } },
	{ request => { method => 'GET', path => '/api/v1/namespaces' }, depends_on => [1] }]);
is(TenancyTest::wait_operation($node, $stuck), 'succeeded', 'two-step operation succeeded');
$node->safe_psql('postgres', q{
	INSERT INTO tenancy.operations (tenant_id, kind, generation)
		SELECT tenant_id, 'apply', 2 FROM tenancy.tenants WHERE name = 'delta';
	INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, next_attempt_at)
		SELECT max(operation_id), 1, 'kubernetes', 'get', 'later',
			   '{"method":"GET","path":"/api/v1/namespaces"}', now() + interval '1 hour'
		  FROM tenancy.operations});
($ret, $stdout, $stderr) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT tenancy.wait('delta', '300 ms')");
like($stderr, qr/ERROR:  57014: timed out waiting for operation \d+ of tenant "delta"/,
	'wait times out with 57014');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"BEGIN; INSERT INTO tenancy.operations (tenant_id, kind, generation) SELECT tenant_id, 'apply', 3 FROM tenancy.tenants WHERE name = 'delta'; SELECT tenancy.wait('delta', '1 s');");
like($stderr, qr/is not committed yet/, 'wait refuses an operation of its own transaction');

# cancel and retry
my $later = $node->safe_psql('postgres', "SELECT max(operation_id) FROM tenancy.operations");
is($node->safe_psql('postgres', "SELECT tenancy.cancel($later)"), $later, 'cancel');
is($node->safe_psql('postgres',
	"SELECT o.state || '/' || s.state FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id) WHERE operation_id = $later"),
	'cancelled/cancelled', 'cancelled operation and step');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT tenancy.cancel($later)");
like($stderr, qr/operation \d+ is already cancelled/, 'cannot cancel twice');
$node->safe_psql('postgres', "SELECT tenancy.retry($later)");
is(TenancyTest::wait_operation($node, $later), 'succeeded', 'retried operation succeeded');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT tenancy.retry($later)");
like($stderr, qr/operation \d+ is succeeded/, 'a succeeded operation cannot be retried');
($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT tenancy.retry(999999)");
like($stderr, qr/operation 999999 does not exist/, 'retry of an unknown operation');

# a rotated token (file replaced by rename, as the kubelet does) is re-read:
# a token allowed to manage namespaces only makes the configmap step fail
# 403; the compensation then deletes the namespace
TenancyTest::control($sim, 'POST', '/__sim/tokens', {
	token => 'readonly-token-0123456789',
	rules => [ { verbs => ['get', 'list', 'create', 'delete'], resources => ['namespaces'] } ] });
my $tmp = "$sim->{k8s_token_file}.new";
my $orig = slurp_file($sim->{k8s_token_file});
open my $fh, '>', $tmp or die; print $fh "readonly-token-0123456789\n"; close $fh;
rename $tmp, $sim->{k8s_token_file} or die;
my $denied = TenancyTest::enqueue_operation($node, 'epsilon', TenancyTest::namespace_steps('epsilon', 1));
is(TenancyTest::wait_operation($node, $denied), 'compensated', 'rotated token used: 403 fails the operation');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $denied"),
	qr/step 2 \(apply configmap\/airflow-epsilon\/cm1\) failed: PATCH \/api\/v1\/namespaces\/airflow-epsilon\/configmaps\/cm1\?.* returned HTTP 403/,
	'the error names the step, the request and the status');
is($node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ':' || phase || ':' || state, ' ' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = $denied"),
	'1:compensation:compensated 2:forward:failed', 'the namespace step was compensated');
is($node->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'epsilon'"),
	'failed', 'tenant failed');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.failed_steps WHERE tenant = 'epsilon'"),
	'1', 'failed_steps shows the step');
my @deletes = grep { $_->{method} eq 'DELETE' && $_->{path} eq '/api/v1/namespaces/airflow-epsilon' }
  @{ TenancyTest::journal($sim) };
ok(@deletes && $deletes[-1]{status} =~ /^20/, 'the namespace was deleted');
open $fh, '>', $tmp or die; print $fh $orig; close $fh;
rename $tmp, $sim->{k8s_token_file} or die;

# no endpoint configured: steps end skipped, with the reason; operation succeeds
my $plain = TenancyTest::new_node('plain', undef);
my $op = TenancyTest::enqueue_operation($plain, 'zeta', TenancyTest::namespace_steps('zeta', 1));
is(TenancyTest::wait_operation($plain, $op), 'succeeded', 'operation on a plain server succeeded');
is($plain->safe_psql('postgres', "SELECT DISTINCT state || ': ' || last_error FROM tenancy.steps"),
	'skipped: no endpoint configured for kubernetes (set tenancy.kubernetes_url)',
	'steps skipped with the reason');
is($plain->safe_psql('postgres', "SELECT state FROM tenancy.tenants"), 'ready', 'tenant ready');

# endpoint settings are superuser-only
$node->safe_psql('postgres', 'CREATE ROLE somebody LOGIN');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW tenancy.kubernetes_url',
	extra_params => [ '-U', 'somebody' ]);
like($stderr, qr/must be superuser or have privileges of pg_read_all_settings|privileges of the "pg_read_all_settings" role may examine/, 'endpoint hidden from non-superusers');

$plain->stop;
$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
