# 062_trust_deprovision.pl: issue 17, finding 3 (undeletable tenant, logins
# still on).  A tenant login role that holds something in another database
# (here: ALTER DEFAULT PRIVILEGES and a table there, which REASSIGN OWNED
# and DROP OWNED in the platform database cannot reach) used to make
# deprovision fail as a whole, rolling back its NOLOGIN: the tenant kept
# logging in.  Now:
#   - deprovision commits: the role is NOLOGIN, its open session is ended at
#     COMMIT, a new login is refused;
#   - the worker cleans each database pg_shdepend names (REASSIGN OWNED to
#     the tenant's owner role when the data is kept, DROP OWNED), then
#     drops the role: the table is the owner role's, the default privileges
#     are gone, nothing of the database's owner changed hands;
#   - with drop_data, an object of someone else that depends on the tenant's
#     (a view of the database owner) stops the clean-up: the step's error
#     names the database and the object, the role stays NOLOGIN.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;
use Time::HiRes qw(sleep);

my $node = TenancyTest::new_node('trust_deprovision');
$node->safe_psql('postgres', q{CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin; CREATE ROLE appowner; CREATE DATABASE otherdb OWNER appowner});
$node->safe_psql('otherdb', q{GRANT CREATE ON SCHEMA public TO PUBLIC});
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
($rc, $out, $err) = as_tenant('otherdb', 'CREATE TABLE public.kept (v int); INSERT INTO public.kept VALUES (42)');
is($rc, 0, 'and creates a table there') or diag($err);
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

# deprovision: commits at once; what etl_dep holds in otherdb is left to
# the worker
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE admin1; SELECT tenancy.deprovision('dep')});
is($rc, 0, 'deprovision succeeds') or diag($err);
unlike($err, qr/WARNING/, 'no role is left behind with a warning');
is($node->safe_psql('postgres', q{SELECT coalesce(bool_or(rolcanlogin), false) FROM pg_roles WHERE rolname = 'etl_dep'}), 'f',
	'the role is NOLOGIN at once (committed), if the worker has not dropped it already');
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
like($err, qr/not permitted to log in|does not exist/, 'a new login is refused');

my $op = $node->safe_psql('postgres', q{SELECT max(operation_id) FROM tenancy.operations o
	JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'dep' AND o.kind = 'deprovision'});
is($node->safe_psql('postgres', qq{SELECT string_agg(action || ' ' || object, ', ' ORDER BY ordinal)
	FROM tenancy.steps WHERE operation_id = $op AND target = 'remote_database'}),
	'clean database otherdb, drop roles etl_dep', 'one step for otherdb, then the drop of the role');
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'the worker finished the deprovision');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'etl_dep'}), '0', 'the role is dropped');
is($node->safe_psql('otherdb', q{SELECT tableowner || ':' || (SELECT v FROM public.kept) FROM pg_tables WHERE tablename = 'kept'}),
	'tenant_dep_owner:42', 'its table in otherdb is kept, now the tenant owner role\'s (not the database owner\'s)');
is($node->safe_psql('otherdb', q{SELECT count(*) FROM pg_default_acl}), '0', 'its default privileges there are gone');
is($node->safe_psql('otherdb', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'tenancy_remote'}), '0',
	'nothing of tenancy\'s was created in otherdb');
is($node->safe_psql('postgres', q{SELECT string_agg(name, ',') FROM tenancy.created_objects o
	WHERE kind = 'role' AND EXISTS (SELECT FROM pg_roles r WHERE r.oid = o.object_oid)}),
	'tenant_dep_owner', 'only the owner role, kept with the data, is still there');

# drop_data: the database owner made a view on the tenant's table
$node->safe_psql('postgres', q{SET ROLE admin1; SELECT tenancy.provision('dep2',
	'{"tenant": {"name": "dep2", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb)});
($rc, $out, $err) = $node->psql('otherdb', 'CREATE TABLE public.mine (v int)',
	connstr => $node->connstr('otherdb') . ' user=etl_dep2');
is($rc, 0, 'dep2 creates a table in otherdb') or diag($err);
$node->safe_psql('otherdb', q{GRANT SELECT ON public.mine TO appowner; SET ROLE appowner;
	CREATE VIEW public.owners_view AS SELECT v FROM public.mine});
($rc, $out, $err) = $node->psql('postgres', q{SET ROLE admin1; SELECT tenancy.deprovision('dep2', drop_data => true)});
is($rc, 0, 'deprovision dep2 with its data') or diag($err);
$op = $node->safe_psql('postgres', q{SELECT max(operation_id) FROM tenancy.operations o
	JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'dep2' AND o.kind = 'deprovision'});
is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'the clean-up of otherdb fails');
like($node->safe_psql('postgres', qq{SELECT last_error FROM tenancy.steps WHERE operation_id = $op AND action = 'clean database'}),
	qr/database "otherdb": cannot drop table public.mine because other objects depend on it \(SQLSTATE 2BP01\) DETAIL: view public.owners_view depends on table public.mine/,
	'its error names the database and the object in the way');
is($node->safe_psql('otherdb', q{SELECT count(*) FROM pg_views WHERE viewname = 'owners_view'}), '1',
	'the database owner\'s view is untouched');
is($node->safe_psql('postgres', q{SELECT rolcanlogin FROM pg_roles WHERE rolname = 'etl_dep2'}), 'f',
	'the role left behind cannot log in');

done_testing();
