# 069_trust_database_owner.pl: the owner of the worker's database, who need
# not be a superuser, cannot steer the worker with ALTER DATABASE ... SET.
# Those settings apply to every session of the database, the worker's too:
# with role set to the owner, the worker ran every statement as the owner
# and failed on tenancy's tables, unseen; read-only transactions, timeouts
# and non-standard string literals would break it as well.  The worker takes
# its own values for those, and runs operations as before.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim069");
my $node = TenancyTest::new_node('dbowner', $sim);

$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	ALTER DATABASE postgres OWNER TO mallory;
});
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET role = 'mallory';
	ALTER DATABASE postgres SET default_transaction_read_only = on;
	ALTER DATABASE postgres SET default_transaction_isolation = 'serializable';
	ALTER DATABASE postgres SET statement_timeout = '1ms';
	ALTER DATABASE postgres SET lock_timeout = '1ms';
	ALTER DATABASE postgres SET standard_conforming_strings = off;
}, extra_params => [ '-U', 'mallory' ]);

# this test's own sessions keep the defaults: options from the client come
# before the database's settings
$ENV{PGOPTIONS} = join(' ',
	'-c role=none', '-c default_transaction_read_only=off',
	'-c default_transaction_isolation=read\ committed', '-c statement_timeout=0',
	'-c lock_timeout=0', '-c standard_conforming_strings=on');
is($node->safe_psql('postgres', 'SELECT current_user = session_user'), 't',
	"the test's sessions are not the database owner's");

# a session without those options gets the owner's settings (all but the
# statement timeout, which a slow machine, valgrind, would trip)
{
	local $ENV{PGOPTIONS} = '-c statement_timeout=0';
	is($node->safe_psql('postgres', 'SELECT current_user'), 'mallory',
		'a session of the database runs as its owner by default');
}

# the worker starts again, and reads the database's settings as it connects
$node->restart;
TenancyTest::poll_until($node, q{SELECT 1 FROM pg_stat_activity
	WHERE application_name = 'tenancy worker'}, 'the worker starts');

my $op = TenancyTest::enqueue_operation($node, 'owned-db', TenancyTest::namespace_steps('owned-db', 3));
is(TenancyTest::wait_operation($node, $op), 'succeeded',
	"the worker runs operations whatever its database's owner set");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE operation_id = $op AND attempts > 1"),
	'0', 'no step needed a second attempt');
ok(TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-owned-db'),
	'the namespace exists in the platform');

my $log = slurp_file($node->logfile);
unlike($log, qr/permission denied for (table|schema)/,
	'the worker never ran as the database owner');
unlike($log, qr/read-only transaction|statement timeout/,
	'nor in a read-only transaction, nor under the statement timeout');

done_testing();
