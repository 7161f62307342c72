# 025_platform_hung_request.pl: a handler waiting on its request does not
# hold up the worker.  While one tenant's Vault read hangs (the simulator
# never answers it; tenancy.request_timeout is two minutes), another
# tenant's steps, handlers included, run and its operation succeeds; the
# hung step is still the worker's, under a live lease.  With the Vault
# login of the worker (Kubernetes auth) slowed down, steps of five tenants
# that need the token share one login: one login request, every operation
# succeeded.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim025");
my $node = TenancyTest::new_node('hung', $sim,
	"tenancy.request_timeout = '120s'",
	"tenancy.lease_duration = '10s'");

# secret_steps(TENANT, VAULT_PATH): the tenant's namespace, then a Secret
# filled from Vault by the vault_secret handler, then a plain configmap
sub secret_steps
{
	my ($tenant, $path) = @_;
	my $steps = TenancyTest::namespace_steps($tenant, 1);
	push @$steps, {
		target => 'kubernetes', action => 'apply', object => "secret/airflow-$tenant/from-vault",
		request => { handler => 'vault_secret', tenant => $tenant, namespace => "airflow-$tenant",
			secret => 'from-vault', data => { KEY => { vault => $path } } },
		depends_on => [1] };
	return $steps;
}

TenancyTest::vault_put($sim, $_, { value => "v-$_" }) for qw(hang/one free/one);
TenancyTest::set_faults($sim, { rules => [
	{ service => 'vault', method => 'GET', path => '/hang/one$', kind => 'hang', name => 'hang' } ] });

my $stuck = TenancyTest::enqueue_operation($node, 'stuck', secret_steps('stuck', 'hang/one'));
# the handler's Vault read is in flight (and hangs) before the other tenant starts
my $hanging = 0;
for (1 .. 300)
{
	$hanging = TenancyTest::control($sim, 'GET', '/__sim/faults')->{rules}[0]{injected} // 0;
	last if $hanging;
	select(undef, undef, undef, 0.1);
}
ok($hanging, "the stuck tenant's Vault read hangs");

my $free = TenancyTest::enqueue_operation($node, 'free', secret_steps('free', 'free/one'));
# far less than the request timeout: the other tenant does not wait for it
is(TenancyTest::wait_operation($node, $free, 40), 'succeeded',
	"another tenant's operation, handler included, succeeds while a request hangs")
  or diag($node->safe_psql('postgres',
	"SELECT operation_id, ordinal, state, attempts, last_error FROM tenancy.steps ORDER BY 1, 2")
	  . "\n" . $node->safe_psql('postgres',
	"SELECT wait_event_type, wait_event, state, query FROM pg_stat_activity WHERE backend_type = 'tenancy worker'"));
my ($status, $secret) = TenancyTest::k8s_get($sim, '/api/v1/namespaces/airflow-free/secrets/from-vault');
is($status, 200, 'its Secret from Vault was written');
is($node->safe_psql('postgres',
	"SELECT state || ' ' || (lease_until > clock_timestamp()) FROM tenancy.steps WHERE operation_id = $stuck AND ordinal = 3"),
	'running true', 'the hung step is still running, under a live lease');

# forget (superusers) refuses a tenant whose step is running (55006) and
# deletes nothing
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM tenancy.forget('stuck')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55006: tenant "stuck" has a step in progress.*HINT:  Cancel its operation/s,
	'forget refuses while a step of the tenant runs (55006), saying what to do');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.steps WHERE operation_id = $stuck"), '3',
	'and deletes none of its steps');

# one shared login: the worker logs in with its service account, slowly;
# the stuck tenant's step, requeued at the restart, needs the token too
TenancyTest::set_faults($sim, { rules => [
	{ service => 'vault', path => 'auth/kubernetes/login', kind => 'latency', ms => 1000 } ] });
my $before = TenancyTest::journal($sim);
my $since = @$before ? $before->[-1]{seq} : 0;
$node->append_conf('postgresql.conf', join("\n",
	"tenancy.vault_token_file = ''",
	"tenancy.vault_auth_role = 'tenancy'",
	"tenancy.kubernetes_token_file = '$sim->{dir}/sa.jwt'") . "\n");
$node->restart;
my @ops = map { TenancyTest::enqueue_operation($node, "login$_", secret_steps("login$_", 'free/one')) } 1 .. 5;
is(join(' ', map { TenancyTest::wait_operation($node, $_, 60) } @ops),
	join(' ', ('succeeded') x 5), 'five tenants needing the Vault token succeeded');
my @logins = grep { $_->{service} eq 'vault' && $_->{seq} > $since && $_->{path} =~ m{auth/kubernetes/login} }
  @{ TenancyTest::journal($sim) };
is(scalar(@logins), 1, 'they shared one login')
  or diag(join("\n", map { "$_->{seq} $_->{method} $_->{path}" } grep { $_->{service} eq 'vault' } @{ TenancyTest::journal($sim) }));

TenancyTest::clear_faults($sim);
$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
