# 063_trust_locks.pl: issue 17, finding 5 (guessable advisory locks).
# Provision, apply and deprovision used to serialize on advisory locks with
# fixed keys: any role of the platform database could take them and block
# every provision (placement) or one tenant's operations.  They now
# serialize on rows of tenancy.locks, which no role but tenancy's SECURITY
# DEFINER functions can lock.
#   - a login role holding the old keys blocks nothing;
#   - neither it nor a tenancy_admin can lock tenancy.locks (42501);
#   - two provisions of one tenant still serialize: the second waits for
#     the first and then sees it (42710).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;
use Time::HiRes qw(sleep);

my $node = TenancyTest::new_node('trust_locks');
$node->safe_psql('postgres', q{CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin; CREATE ROLE mallory LOGIN});

sub spec { return qq('{"tenant": {"name": "$_[0]", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb); }

# mallory holds the keys 0.1.0 used: placement, and tenant "gamma"
my ($in, $out, $err) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=mallory', '-c',
	  q{SELECT pg_advisory_lock(x'706c6163'::int, 0), pg_advisory_lock(x'74656e61'::int, hashtext('gamma')), pg_sleep(60)} ],
	'<', \$in, '>', \$out, '2>', \$err);
my $held = 0;
for (1 .. 100)
{
	$held = $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND a.usename = 'mallory'});
	last if $held == 2;
	sleep(0.1);
}
is($held, '2', 'mallory holds both advisory keys');

my ($rc, $o, $e) = $node->psql('postgres',
	"SET ROLE admin1; SET statement_timeout = '5s'; SELECT tenancy.provision('gamma', " . spec('gamma') . ') > 0');
is($rc, 0, 'provision of gamma is not blocked by the advisory keys') or diag($e);
($rc, $o, $e) = $node->psql('postgres',
	"SET ROLE admin1; SET statement_timeout = '5s'; SELECT tenancy.deprovision('gamma') > 0");
is($rc, 0, 'nor is its deprovision') or diag($e);
$holder->kill_kill;

# the lock rows are out of reach of everyone else
for my $role ('mallory', 'admin1')
{
	($rc, $o, $e) = $node->psql('postgres', "SET ROLE $role; SELECT * FROM tenancy.locks FOR UPDATE");
	like($e, qr/permission denied/, "$role cannot lock tenancy.locks rows");
	($rc, $o, $e) = $node->psql('postgres', "SET ROLE $role; BEGIN; LOCK TABLE tenancy.locks; COMMIT");
	like($e, qr/permission denied/, "$role cannot lock the table");
}

# two provisions of one tenant still serialize: the first provisions in a
# transaction it keeps open; the second is seen waiting for the first's
# backend (pg_blocking_pids, not a sleep), and once the first commits it
# sees the tenant
my $first = $node->background_psql('postgres', extra_params => [ '-U', 'admin1' ]);
my $first_pid = $first->query_safe('SELECT pg_backend_pid()');
$first->query_safe("BEGIN; SELECT tenancy.provision('delta', " . spec('delta') . ') > 0');
my $second = $node->background_psql('postgres', extra_params => [ '-U', 'admin1' ], on_error_stop => 0);
$second->query_until(qr/started/, "\\echo started\nSELECT tenancy.provision('delta', " . spec('delta') . ");\n");
is(TenancyTest::poll_until($node, qq{SELECT wait_event_type FROM pg_stat_activity
	WHERE usename = 'admin1' AND state = 'active' AND $first_pid = ANY (pg_blocking_pids(pid))},
	'the second provision of delta waits for the first', 30),
	'Lock', 'the second provision waits on a lock the first holds');
$first->query_safe('COMMIT');
$first->quit;
$second->quit;
like($second->{stderr}, qr/tenant "delta" already exists/, 'a second provision waits for the first, then sees it');

done_testing();
