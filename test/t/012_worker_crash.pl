# 012_worker_crash.pl: kill -9 of the worker at 10 random moments during a
# 20-tenant run, then an immediate shutdown and a start: every tenant
# converges, no step is lost, no object is created twice with different
# content.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim012");
my $node = TenancyTest::new_node('crash', $sim,
	"tenancy.lease_duration = '3s'",
	"tenancy.max_attempts = 50",
	"restart_after_crash = on");
# every request takes 250 ms, so that kills land mid-flight (at 20 ms the
# whole run could end before the first kill)
TenancyTest::set_faults($sim, { rules => [ { kind => 'latency', ms => 250 } ] });

my @tenants = map { "crash$_" } 1 .. 20;
my %op;
$op{$_} = TenancyTest::enqueue_operation($node, $_, TenancyTest::namespace_steps($_, 3))
  for @tenants;

srand(12);
my $kills = 0;
for (1 .. 10)
{
	# after a kill -9 the postmaster restarts every process (restart_after_crash)
	# and the worker comes back after its restart delay: wait up to 30 s for
	# it, and look again if it was gone before our signal reached it
	for (1 .. 600)
	{
		my $pid = eval { TenancyTest::worker_pid($node) } // '';
		if ($pid =~ /^\d+$/)
		{
			usleep(int(rand(300_000)));
			if (kill('KILL', $pid))
			{
				$kills++;
				last;
			}
		}
		usleep(50_000);
	}
}
is($kills, 10, 'worker killed 10 times');

$node->stop('immediate');
$node->start;

my @states = map { TenancyTest::wait_operation($node, $op{$_}, 180) } @tenants;
is_deeply(\@states, [ ('succeeded') x @tenants ], 'every operation converged');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE state <> 'succeeded'"), '0', 'no step lost');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.tenants WHERE state <> 'ready'"), '0', 'every tenant ready');

TenancyTest::clear_faults($sim);
my $journal = TenancyTest::journal($sim);
my (%created, %bodies);
for my $e (@$journal)
{
	next unless $e->{service} eq 'kubernetes';
	$created{ $e->{body}{metadata}{name} }++
	  if $e->{method} eq 'POST' && ($e->{status} // 0) == 201;
	push @{ $bodies{ $e->{path} } }, TenancyTest::canonical_json($e->{body})
	  if $e->{method} eq 'PATCH';
}
is(scalar(grep { $_ != 1 } values %created), 0, 'each namespace created exactly once');
is(scalar(keys %created), 20, 'twenty namespaces');
my $differing = grep { my %u = map { $_ => 1 } @$_; keys(%u) > 1 } values %bodies;
is($differing, 0, 'repeated applies carried the same content');
my $bad = 0;
for my $t (@tenants)
{
	for my $i (1 .. 3)
	{
		my ($status, $cm) = TenancyTest::k8s_get($sim, "/api/v1/namespaces/airflow-$t/configmaps/cm$i");
		$bad++ unless $status == 200 && $cm->{data}{tenant} eq $t && $cm->{data}{index} eq "$i";
	}
}
is($bad, 0, 'every configmap exists with its content');
like(slurp_file($node->logfile), qr/requeued \d+ steps left running/, 'the restarted worker requeued orphaned steps');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
