# 014_worker_drop_extension.pl: DROP EXTENSION and CREATE EXTENSION while
# the worker has requests in flight: no crash, and the worker serves the new
# extension.  Then 40 rounds of DROP and CREATE EXTENSION at random moments
# while the worker records, claims and runs steps: every DROP EXTENSION of
# the DBA succeeds (no deadlock with the worker), and the worker, which
# waits for the DROP instead of tripping on tables being dropped, logs no
# error.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim014");
my $node = TenancyTest::new_node('drop', $sim);
my $pid = TenancyTest::worker_pid($node);
TenancyTest::set_faults($sim, { rules => [ { kind => 'latency', ms => 300 } ] });

TenancyTest::enqueue_operation($node, "drop$_", TenancyTest::namespace_steps("drop$_", 2)) for 1 .. 5;
# the first DROP comes once a request is in flight (a step running: each
# answer takes 300 ms), not after a guessed delay
TenancyTest::poll_until($node, "SELECT 'in flight' FROM tenancy.steps WHERE state = 'running' LIMIT 1",
	'a step of the first operations is running', 30);
$node->safe_psql('postgres', 'DROP EXTENSION tenancy');
# the delays from here on are deliberate: moments of the worker's passes at
# which the extension disappears or comes back; any moment must do
select(undef, undef, undef, 1.0);
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
select(undef, undef, undef, 0.2);
$node->safe_psql('postgres', 'DROP EXTENSION tenancy');
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
TenancyTest::clear_faults($sim);

# Stress: DROP EXTENSION while the worker records and claims steps (no
# latency: many short passes) must always succeed, and CREATE EXTENSION
# after it too.  The DBA's session keeps the default deadlock_timeout.
my $rounds = 40;
my ($dropped, $created) = (0, 0);
my @errors;
for my $round (1 .. $rounds)
{
	for my $i (1 .. 4)
	{
		# requests, and local SQL that reads two of the extension's tables
		my $steps = TenancyTest::namespace_steps("stress$round-$i", 3);
		push @$steps, { target => 'database', action => 'count', object => 'steps',
			request => { sql => 'SELECT count(*) FROM tenancy.steps; SELECT count(*) FROM tenancy.tenants' } };
		TenancyTest::enqueue_operation($node, "stress$round-$i", $steps);
	}
	# let the worker get busy: a random moment within its passes
	select(undef, undef, undef, 0.01 + rand(0.15));
	my ($rc, $out, $err) = $node->psql('postgres', 'DROP EXTENSION tenancy');
	$rc == 0 ? $dropped++ : push @errors, "round $round DROP: $err";
	($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION IF NOT EXISTS tenancy');
	$rc == 0 ? $created++ : push @errors, "round $round CREATE: $err";
}
is($dropped, $rounds, "DROP EXTENSION succeeded in all $rounds rounds while the worker was busy");
is($created, $rounds, "CREATE EXTENSION succeeded in all $rounds rounds");
diag($_) for @errors;
my $log = slurp_file($node->logfile);
# ok(!~) rather than unlike: a failure names the lines, not the whole log
my @deadlocks = $log =~ /^(.*ERROR:  deadlock detected.*)$/mg;
ok(!@deadlocks, 'no deadlock in the server log') or diag(join("\n", @deadlocks));
my @worker_errors = $log =~ /^(.*\[$pid\] ERROR.*)$/mg;
ok(!@worker_errors, 'no error of the worker in the server log') or diag(join("\n", @worker_errors));

my $op = TenancyTest::enqueue_operation($node, 'after', TenancyTest::namespace_steps('after', 2));
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'operation after re-creation succeeded');
is(TenancyTest::worker_pid($node), $pid, 'the worker never restarted');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated/, 'no crash');
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'server up');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
