# 014_worker_drop_extension.pl: DROP EXTENSION and CREATE EXTENSION while
# the worker has requests in flight: no crash, and the worker serves the new
# extension.
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
select(undef, undef, undef, 0.4);
$node->safe_psql('postgres', 'DROP EXTENSION tenancy');
select(undef, undef, undef, 1.0);
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
select(undef, undef, undef, 0.2);
$node->safe_psql('postgres', 'DROP EXTENSION tenancy');
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
TenancyTest::clear_faults($sim);

my $op = TenancyTest::enqueue_operation($node, 'after', TenancyTest::namespace_steps('after', 2));
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'operation after re-creation succeeded');
is(TenancyTest::worker_pid($node), $pid, 'the worker never restarted');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated/, 'no crash');
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'server up');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
