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

# two provisions of one tenant still serialize
my ($in2, $out2, $err2) = ('', '', '');
my $first = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=admin1', '-c',
	  'BEGIN; SELECT tenancy.provision(\'delta\', ' . spec('delta') . ') > 0; SELECT pg_sleep(2); COMMIT;' ],
	'<', \$in2, '>', \$out2, '2>', \$err2);
sleep(0.8);
($rc, $o, $e) = $node->psql('postgres', "SET ROLE admin1; SELECT tenancy.provision('delta', " . spec('delta') . ')');
$first->finish;
like($e, qr/tenant "delta" already exists/, 'a second provision waits for the first, then sees it');

done_testing();
