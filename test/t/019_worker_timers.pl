# 019_worker_timers.pl: a step is retried at its due time, not at the next
# poll.  With tenancy.poll_interval and the lease checks ten minutes apart, a
# retry recorded by a pass that claimed only among the operations whose
# steps had just finished (a 409, retried with backoff; a 503, waited out
# as an outage) must still wake the worker when it comes due: each step
# finishes within a few seconds of the next_attempt_at recorded for it,
# far below the ten minutes the worker used to sleep.
#
# tenancy.wake_worker(): a step committed without a wake waits for the
# poll; wake_worker() in a transaction of its own gets it run at once.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim019");
my $node = TenancyTest::new_node('timers', $sim,
	"tenancy.poll_interval = '10min'",
	"tenancy.lease_duration = '20min'",
	"tenancy.retry_base_delay = '2s'",
	"tenancy.retry_max_delay = '2s'");

# the first apply of each configmap fails once: cm1 with a 409 (a retry
# with backoff), cm2 with a 503 (the service cannot serve it now)
TenancyTest::set_faults($sim, { rules => [
	{ service => 'kubernetes', method => 'PATCH', path => 'configmaps/cm1$',
	  kind => 'status', status => 409, count => 1 },
	{ service => 'kubernetes', method => 'PATCH', path => 'configmaps/cm2$',
	  kind => 'status', status => 503, count => 1 } ] });

my $op = TenancyTest::enqueue_operation($node, 'timers', TenancyTest::namespace_steps('timers', 2));
# well below the poll: the retries must not wait for it
is(TenancyTest::wait_operation($node, $op, 45), 'succeeded',
	'the operation succeeded before the next poll');

my $faults = TenancyTest::control($sim, 'GET', '/__sim/faults');
is(join(' ', map { $_->{injected} } @{ $faults->{rules} }), '1 1', 'each fault was injected once');

# lateness of each retried step: from the due time recorded with its retry
# to its end (one request of a few milliseconds)
my $late = $node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ':' || (extract(epoch FROM finished_at - next_attempt_at) < 15), ' ' ORDER BY ordinal)"
	  . " FROM tenancy.steps WHERE operation_id = $op AND ordinal > 1");
is($late, '2:true 3:true', 'each retry ran within seconds of its next_attempt_at (poll: 10 min)')
  or diag($node->safe_psql('postgres',
	"SELECT ordinal, attempts, next_attempt_at, finished_at, last_error FROM tenancy.steps WHERE operation_id = $op ORDER BY 1"));

# a step committed without a wake: still pending 3 s later (the worker
# sleeps until the poll), then woken by tenancy.wake_worker() it runs well
# before the poll would have run it
my $quiet = TenancyTest::enqueue_operation($node, 'woken', TenancyTest::namespace_steps('woken', 0),
	'provision', { wake => 0 });
sleep 3;
is($node->safe_psql('postgres', "SELECT state FROM tenancy.operations WHERE operation_id = $quiet"),
	'pending', 'committed without a wake, the operation waits for the poll');
$node->safe_psql('postgres', 'SELECT tenancy.wake_worker()');
is(TenancyTest::wait_operation($node, $quiet, 60), 'succeeded',
	'tenancy.wake_worker() ran it within a minute (the poll: 10 min)');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
