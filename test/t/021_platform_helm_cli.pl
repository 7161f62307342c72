# 021_platform_helm_cli.pl: tenancy.helm_mode = 'cli' against the
# simulator, with a fake helm (tenancy.helm_binary) that records its
# arguments, its values file and its kubeconfig, then waits until the test
# lets it finish.  The worker runs helm upgrade --install with the values
# mapped from the spec and keeps processing other steps while helm runs; a
# helm that fails (exit 1, an error on stderr) fails the step with helm's
# message and the operation is compensated.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $tmp = ${PostgreSQL::Test::Utils::tmp_check};
my $sim = TenancyTest::start_simulator("$tmp/sim021");
my $rec = "$tmp/fakehelm";
mkdir $rec or die "mkdir $rec: $!";

# The fake helm.  What a real helm would install shows up as one Running
# pod of the release, created with the simulator's admin token: the
# workloads of an Airflow chart are helm's business, not the worker's.
my $helm = "$tmp/helm";
open my $fh, '>', $helm or die;
print $fh <<"EOF";
#!/bin/bash
rec='$rec'
ns=''; values=''; kubeconfig=''
args=("\$@")
for ((i = 0; i < \${#args[@]}; i++)); do
	case "\${args[i]}" in
	--namespace) ns=\${args[i+1]} ;;
	--values) values=\${args[i+1]} ;;
	--kubeconfig) kubeconfig=\${args[i+1]} ;;
	esac
done
printf '%s\\n' "\$@" >"\$rec/args-\$ns"
ls -l /proc/\$\$/fd >"\$rec/fds-\$ns"
echo \$\$ >"\$rec/pid-\$ns"
cp "\$values" "\$rec/values-\$ns.json"
cp "\$kubeconfig" "\$rec/kubeconfig-\$ns"
touch "\$rec/started-\$ns"
if [ "\$ns" = airflow-broken ]; then
	echo 'Error: INSTALLATION FAILED: chart requires kubeVersion: >=1.99.0' >&2
	exit 1
fi
for _ in \$(seq 600); do
	[ -e "\$rec/go-\$ns" ] && break
	sleep 0.1
done
[ -e "\$rec/go-\$ns" ] || { echo 'fake helm: not released by the test' >&2; exit 2; }
curl -sf -X POST -H "Authorization: Bearer \$(cat '$sim->{admin_k8s_token_file}')" \\
	-H 'Content-Type: application/json' "$sim->{kubernetes}/api/v1/namespaces/\$ns/pods" \\
	-d '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "airflow-scheduler-0"},
	     "spec": {"containers": [{"name": "scheduler", "image": "apache/airflow:2.9.3"}]}}' >/dev/null || exit 3
echo "Release \\"\${args[-2]}\\" has been upgraded. Happy Helming!"
EOF
close $fh;
chmod 0755, $helm;

my $node = TenancyTest::new_node('helmcli', $sim,
	"tenancy.helm_mode = 'cli'",
	"tenancy.helm_binary = '$helm'",
	"tenancy.airflow_chart_version = '1.15.0'",
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '60s'");

sub spec_of
{
	my ($name, $tier) = @_;
	return "'{\"tenant\": {\"name\": \"$name\", \"tier\": \"$tier\", \"environment\": \"dev\"},"
	  . " \"warehouse\": {}, \"resources\": {\"airflow\": {\"scheduler\": {\"replicas\": 2}}}}'::jsonb";
}

sub wait_for_file
{
	my ($file) = @_;
	for (1 .. 300)
	{
		return 1 if -e $file;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# the plan runs helm, not Flux
is($node->safe_psql('postgres',
	"SELECT string_agg(object, ', ' ORDER BY ordinal) FROM tenancy.plan('alpha', " . spec_of('alpha', 'standard') . ")"
	  . " WHERE target IN ('helm', 'kubernetes') AND object ~ '^(helm|validate)'"),
	'helm release airflow-alpha/airflow-alpha', 'cli mode plans a helm release step, no HelmRelease');

# alpha's helm starts and blocks; beta is provisioned meanwhile and its
# steps run to its own helm: the worker is not waiting for alpha's helm
my $alpha = $node->safe_psql('postgres', "SELECT tenancy.provision('alpha', " . spec_of('alpha', 'standard') . ")");
ok(wait_for_file("$rec/started-airflow-alpha"), 'helm started for alpha');
my $beta = $node->safe_psql('postgres', "SELECT tenancy.provision('beta', " . spec_of('beta', 'basic') . ")");
ok(wait_for_file("$rec/started-airflow-beta"), 'beta reached its helm step while alpha\'s helm runs');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE operation_id = $beta AND target NOT IN ('helm') AND action <> 'validate' AND state <> 'succeeded'"),
	'0', 'every step of beta before the release succeeded meanwhile');
is($node->safe_psql('postgres',
	"SELECT state NOT IN ('succeeded', 'failed') FROM tenancy.steps WHERE operation_id = $alpha AND target = 'helm'"),
	't', 'alpha\'s helm step is still running meanwhile (polled, not waited for)');

# let both finish
for my $t (qw(alpha beta))
{
	open my $go, '>', "$rec/go-airflow-$t" or die;
	close $go;
}
is(TenancyTest::wait_operation($node, $alpha), 'succeeded', 'alpha provisioned');
is(TenancyTest::wait_operation($node, $beta), 'succeeded', 'beta provisioned');

# what helm was given
my @args = split /\n/, slurp_file("$rec/args-airflow-alpha");
my ($values_path) = map { $args[$_ + 1] } grep { $args[$_] eq '--values' } 0 .. $#args;
my ($kubeconfig_path) = map { $args[$_ + 1] } grep { $args[$_] eq '--kubeconfig' } 0 .. $#args;
is_deeply(\@args,
	[ 'upgrade', '--install',
	  '--repo', 'https://airflow.apache.org', '--version', '1.15.0',
	  '--namespace', 'airflow-alpha', '--values', $values_path, '--kubeconfig', $kubeconfig_path,
	  '--', 'airflow-alpha', 'airflow' ],
	'helm upgrade --install with the repository, version, namespace, values and kubeconfig, then "--", the release and the chart');
like($values_path, qr{^/tmp/tenancy-helm-\d+-[^/]+/values\.json$}, 'values in a private temporary directory');

# helm inherits stdin, stdout and stderr, nothing else of the worker (bash
# itself holds its script open, on fd 255)
my %fds = map { /\s(\d+) -> (.*)$/ ? ($1 => $2) : () } split /\n/, slurp_file("$rec/fds-airflow-alpha");
delete $fds{255} if ($fds{255} // '') eq $helm;
is_deeply([ sort { $a <=> $b } keys %fds ], [ 0, 1, 2 ], 'helm has only descriptors 0, 1 and 2 open')
  or diag(slurp_file("$rec/fds-airflow-alpha"));
is($fds{0}, '/dev/null', 'stdin is /dev/null');
like($fds{1}, qr{^/tmp/tenancy-helm-\d+-[^/]+/output\.log$}, 'stdout goes to the run\'s output file');
ok(!-e $values_path, 'which is removed once helm is done');
my $values = JSON::PP->new->decode(slurp_file("$rec/values-airflow-alpha.json"));
is($values->{executor}, 'CeleryExecutor', 'values: executor (Celery workers, scaled from resources.airflow.workers)');
is($values->{scheduler}{replicas}, 2, 'values: scheduler replicas from the spec');
ok(!$values->{postgresql}{enabled}, 'values: no bundled PostgreSQL');
is($values->{data}{metadataSecretName}, 'airflow-metadata', 'values: metadata database through the Secret');
my $kubeconfig = JSON::PP->new->decode(slurp_file("$rec/kubeconfig-airflow-alpha"));
is($kubeconfig->{clusters}[0]{cluster}{server}, $sim->{kubernetes}, 'kubeconfig: the Kubernetes endpoint');
is($kubeconfig->{users}[0]{user}{tokenFile}, $sim->{k8s_token_file}, 'kubeconfig: the worker\'s token file');
my $token = slurp_file($sim->{k8s_token_file});
chomp $token;
unlike(slurp_file("$rec/kubeconfig-airflow-alpha") . join(' ', @args), qr/\Q$token\E/,
	'no token in the kubeconfig or on the command line');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE operation_id IN ($alpha, $beta) AND target = 'kubernetes' AND request::text LIKE '%helm.toolkit%'"),
	'0', 'no HelmRelease object was planned');

# a failing helm: the step fails with helm's message, compensation runs
my $broken = $node->safe_psql('postgres', "SELECT tenancy.provision('broken', " . spec_of('broken', 'basic') . ")");
is(TenancyTest::wait_operation($node, $broken), 'compensated', 'failed helm: operation compensated');
my ($state, $error) = split /\|/, $node->safe_psql('postgres',
	"SELECT state, last_error FROM tenancy.steps WHERE operation_id = $broken AND target = 'helm'");
is($state, 'failed', 'the helm step failed');
like($error, qr/^helm failed \(exit status 1\): Error: INSTALLATION FAILED: chart requires kubeVersion: >=1\.99\.0/,
	'its error is helm\'s message');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $broken"),
	qr/helm release airflow-broken\/airflow-broken\) failed: helm failed \(exit status 1\)/,
	'the operation names the step and helm\'s failure');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE operation_id = $broken AND target = 'helm' AND attempts = 1"),
	'1', 'a failed helm is not retried: start (a poll, no attempt), then the exit status');
ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-broken'), 'compensation deleted the namespace');

# a cancelled operation no longer polls its helm step: the worker reaps the
# child all the same once it ends (no zombie)
my $gamma = $node->safe_psql('postgres', "SELECT tenancy.provision('gamma', " . spec_of('gamma', 'basic') . ")");
ok(wait_for_file("$rec/started-airflow-gamma"), 'helm started for gamma');
$node->safe_psql('postgres', "SELECT tenancy.cancel($gamma)");
open my $go, '>', "$rec/go-airflow-gamma" or die;
close $go;
my $helm_pid = slurp_file("$rec/pid-airflow-gamma");
chomp $helm_pid;
# the state letter of a process, '' once it is gone
sub proc_state
{
	open my $stat, '<', "/proc/$_[0]/stat" or return '';
	my ($state) = <$stat> =~ /\) (\S)/;
	return $state // '';
}
for (1 .. 300)
{
	last if proc_state($helm_pid) =~ /^(Z|)$/;
	select(undef, undef, undef, 0.1);
}
for (1 .. 100)
{
	last if proc_state($helm_pid) eq '';
	select(undef, undef, undef, 0.1);
}
is(proc_state($helm_pid), '', 'gamma\'s helm ended and was reaped (no zombie)');

# a restarted worker removes the helm directories this server left behind
my $stale = "/tmp/tenancy-helm-" . $node->port . "-stale021";
mkdir $stale or die "mkdir $stale: $!";
open my $sf, '>', "$stale/values.json" or die;
close $sf;
$node->restart;
my $removed = 0;
for (1 .. 100)
{
	$removed = !-e $stale and last;
	select(undef, undef, undef, 0.1);
}
ok($removed, 'a stale helm directory of this server is removed when the worker starts');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
