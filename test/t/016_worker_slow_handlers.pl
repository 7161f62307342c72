# 016_worker_slow_handlers.pl: handlers whose requests take longer than a
# lease (tenancy.lease_duration) wait in their tasks while the worker runs
# the other steps claimed in the same pass: the database steps run at once,
# not after the handlers; the worker renews the leases of the steps it
# holds while they wait; every claimed step runs exactly once, no result
# is dropped, and the plain requests complete.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim016");
my $node = TenancyTest::new_node('slow', $sim,
	"tenancy.lease_duration = '2s'",
	"tenancy.request_timeout = '10s'",
	"tenancy.poll_interval = '200ms'");

# every step of the operation in one claim: the worker sleeps meanwhile
$node->safe_psql('postgres', 'CREATE TABLE public.step_runs (ordinal int, at timestamptz DEFAULT clock_timestamp())');

# wait_absent GETs a namespace that does not exist: the handler succeeds on
# the 404, after the simulator's 3 s latency on that path
my @steps;
for my $i (1 .. 3)
{
	push @steps, {
		target => 'kubernetes', action => 'wait', object => "namespace/slow$i",
		request => { handler => 'wait_absent', path => "/api/v1/namespaces/slow$i" } };
}
for my $i (4 .. 6)
{
	push @steps, {
		target => 'database', action => 'record', object => "run $i",
		request => { sql => "INSERT INTO public.step_runs (ordinal) VALUES ($i)" } };
}
for my $i (7 .. 8)
{
	push @steps, {
		target => 'kubernetes', action => 'create', object => "namespace/fast$i",
		request => { method => 'POST', path => '/api/v1/namespaces',
			body => { apiVersion => 'v1', kind => 'Namespace', metadata => { name => "fast$i" } },
			ok_status => [409] } };
}

TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'latency', ms => 3000,
	path => '^/api/v1/namespaces/slow' } ] });
# the steps are inserted and the worker woken in one transaction: one claim
my $op = TenancyTest::enqueue_operation($node, 'slow', \@steps);
# the handlers wait from the claim until 3 s after it: the leases granted
# by the claim ran out 2 s after it, renewed ones did not.  Wait until a
# step has been running for longer than its first lease (started_at is the
# claim), then count, in the same snapshot, the running steps whose lease
# has passed
my $expired = TenancyTest::poll_until($node,
	"SELECT count(*) FILTER (WHERE lease_until < clock_timestamp()) FROM tenancy.steps "
	  . "WHERE operation_id = $op AND state = 'running' "
	  . "HAVING bool_or(started_at < clock_timestamp() - interval '2.2 s')",
	'a handler step still running past its first lease', 30);
is($expired, '0', 'while the handlers run, the steps the worker holds keep a live lease');
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'the operation succeeded')
  or diag($node->safe_psql('postgres', "SELECT ordinal, state, attempts, started_at, finished_at, last_error FROM tenancy.steps WHERE operation_id = $op ORDER BY 1"));
TenancyTest::clear_faults($sim);

is($node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ':' || attempts, ' ' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = $op"),
	'1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1', 'every step ran at its first attempt');
is($node->safe_psql('postgres',
	'SELECT string_agg(ordinal::text, \' \' ORDER BY ordinal) FROM public.step_runs'),
	'4 5 6', 'each database step ran once');
# the handlers' requests take 3 s; the database steps claimed with them
# did not wait for them: each ran before the first handler's request
# came back (an order of events, not a time limit)
is($node->safe_psql('postgres',
	"SELECT count(*) FROM public.step_runs WHERE at < (SELECT min(finished_at) FROM tenancy.steps WHERE operation_id = $op AND ordinal <= 3)"),
	'3', 'the database steps ran while the handlers waited for their requests')
  or diag($node->safe_psql('postgres', "SELECT s.ordinal, s.started_at, r.at FROM tenancy.steps s LEFT JOIN public.step_runs r USING (ordinal) WHERE operation_id = $op ORDER BY 1"));

my $journal = TenancyTest::journal($sim);
my %requests;
$requests{"$_->{method} $_->{path}"}++ for grep { $_->{service} eq 'kubernetes' } @$journal;
is_deeply([ map { $requests{"GET /api/v1/namespaces/slow$_"} // 0 } 1 .. 3 ], [ 1, 1, 1 ],
	'each handler made its request once');
is($requests{'POST /api/v1/namespaces'}, 2, 'each request step was sent once');

my $log = slurp_file($node->logfile);
unlike($log, qr/dropped the result of step/, 'no result dropped for an expired lease');
unlike($log, qr/requeued \d+ steps left running/, 'no step of the running worker requeued');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
