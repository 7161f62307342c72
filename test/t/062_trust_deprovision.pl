# 062_trust_deprovision.pl: issue 17, finding 3 (undeletable tenant, logins
# still on).  A tenant login role that holds something in another database
# (here: ALTER DEFAULT PRIVILEGES there, which DROP OWNED in the platform
# database cannot reach) used to make deprovision fail as a whole, rolling
# back its NOLOGIN: the tenant kept logging in.  Now:
#   - deprovision commits: the role is NOLOGIN, its open session is ended at
#     COMMIT, a new login is refused;
#   - the role left behind is reported (WARNING and the operation's error),
#     naming the database that holds its objects;
#   - once a DBA cleaned that database, deprovision again drops the role.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;
use Time::HiRes qw(sleep);

my $node = TenancyTest::new_node('trust_deprovision');
$node->safe_psql('postgres', q{CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin; CREATE DATABASE otherdb});
$node->safe_psql('postgres', q{SET ROLE admin1; SELECT tenancy.provision('dep',
	'{"tenant": {"name": "dep", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb)});

sub as_tenant
{
	my ($db, $sql) = @_;
	return $node->psql($db, $sql, connstr => $node->connstr($db) . ' user=etl_dep');
}

# the tenant leaves something in another database, and keeps a session open
my ($rc, $out, $err) = as_tenant('otherdb', 'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC');
is($rc, 0, 'the tenant login role sets default privileges in another database') or diag($err);
my ($sin, $sout, $serr) = ('', '', '');
my $session = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=etl_dep', '-c', 'SELECT pg_sleep(120)' ],
	'<', \$sin, '>', \$sout, '2>', \$serr);
my $open = 0;
for (1 .. 100)
{
	$open = $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'etl_dep'});
	last if $open > 0;
	sleep(0.1);
}
is($open, '1', 'the tenant has a session open');

# deprovision: commits, with a WARNING naming what is left and where
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE admin1; SELECT tenancy.deprovision('dep')});
is($rc, 0, 'deprovision succeeds although a role cannot be dropped') or diag($err);
like($err, qr/WARNING:  tenant "dep": a role was not dropped\nDETAIL:  role etl_dep: role "etl_dep" cannot be dropped.*database otherdb: 1 object/s,
	'the WARNING names the role and the database holding its object');
like($err, qr/HINT:  The role cannot log in/, 'and says what the DBA must do');
is($node->safe_psql('postgres', q{SELECT rolcanlogin FROM pg_roles WHERE rolname = 'etl_dep'}), 'f',
	'the role left behind is NOLOGIN (committed)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname IN ('airflow_dep', 'tenant_dep_writer', 'tenant_dep_reader')}),
	'0', 'the roles that could be dropped are gone');
like($node->safe_psql('postgres', q{SELECT error FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id)
	WHERE t.name = 'dep' AND o.kind = 'deprovision'}),
	qr/left behind.*role etl_dep.*database otherdb/, 'the operation records what was left behind');
my $gone = '';
for (1 .. 100)
{
	$gone = $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'etl_dep'});
	last if $gone eq '0';
	sleep(0.1);
}
is($gone, '0', 'the tenant\'s open session was ended at COMMIT');
$session->finish;
like($serr, qr/terminating connection/, 'the session saw its termination');
($rc, $out, $err) = as_tenant('postgres', 'SELECT 1');
like($err, qr/not permitted to log in/, 'a new login is refused');

# the DBA cleans the other database; deprovision again finishes the job
$node->safe_psql('otherdb', 'DROP OWNED BY etl_dep');
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE admin1; SELECT tenancy.deprovision('dep')});
is($rc, 0, 'deprovision again') or diag($err);
unlike($err, qr/WARNING/, 'without a warning');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'etl_dep'}), '0', 'the role is dropped');
is($node->safe_psql('postgres', q{SELECT string_agg(name, ',') FROM tenancy.created_objects WHERE kind = 'role'}),
	'tenant_dep_owner', 'only the owner role, kept with the data, is still recorded');

done_testing();
