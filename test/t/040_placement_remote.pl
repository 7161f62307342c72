# 040_placement_remote.pl: a platform database on server A provisions
# tenants on warehouse servers B and C through the worker's libpq path.
#   - tenants on B and on C get their roles, schemas, grants and audit table
#     there (nothing on A), and the isolation matrix of
#     sql/tenant_isolation.sql holds on each server;
#   - a step that already ran on the warehouse is not run twice;
#   - server C stopped during provisioning: its steps are retried (with the
#     connection error recorded), C started: everything converges;
#   - deprovision removes the tenant from its server (data kept, then
#     dropped with drop_data).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $platform = TenancyTest::new_node('platform_a', undef, 'tenancy.max_attempts = 1000');
my %warehouse;
for my $name ('b', 'c')
{
	my $node = PostgreSQL::Test::Cluster->new("warehouse_$name");
	$node->init;
	$node->start;
	$warehouse{$name} = $node;
	my $conninfo = sprintf("host=%s port=%d dbname=postgres", $node->host, $node->port);
	$platform->safe_psql('postgres', "SELECT tenancy.register_server('$name', '$conninfo')");
}
my ($wb, $wc) = @warehouse{ 'b', 'c' };

# spec(TENANT, SERVER): the smallest spec, placed on SERVER's database "warehouse"
sub spec
{
	my ($tenant, $server) = @_;
	return qq('{"tenant": {"name": "$tenant", "tier": "standard"}, "warehouse": {"database": {"host": "$server", "name": "warehouse"}}, "resources": {}}');
}

sub provision
{
	my ($tenant, $server) = @_;
	return $platform->safe_psql('postgres',
		"SELECT tenancy.provision('$tenant', " . spec($tenant, $server) . "::jsonb)");
}

my %tenants_on = (b => [qw(red green blue)], c => [qw(cyan magenta yellow)]);
my %op;
for my $server ('b', 'c')
{
	$op{$_} = provision($_, $server) for @{ $tenants_on{$server} };
}
for my $t (map { @{ $tenants_on{$_} } } 'b', 'c')
{
	is(TenancyTest::wait_operation($platform, $op{$t}, 120), 'succeeded', "tenant $t provisioned");
}

is($platform->safe_psql('postgres',
	"SELECT string_agg(name || '\@' || server, ' ' ORDER BY name) FROM tenancy.tenants"),
	'blue@b cyan@c green@b magenta@c red@b yellow@c',
	'tenancy.tenants shows where each tenant lives');
is($platform->safe_psql('postgres',
	"SELECT string_agg(server || '=' || tenants, ' ' ORDER BY server) FROM tenancy.server_load"),
	'b=3 c=3', 'server_load counts the tenants per server');
is($platform->safe_psql('postgres',
	"SELECT count(*) FROM pg_roles WHERE rolname ~ '_(red|cyan)'"),
	'0', 'nothing of the tenants was created on the platform server');

for my $server ('b', 'c')
{
	my $node = $warehouse{$server};
	my $names = join('|', @{ $tenants_on{$server} });
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_roles WHERE rolname ~ '_($names)(_owner|_writer|_reader)?\$'"),
		'18', "server $server: six roles per tenant (with backup_<slug>)");
	is($node->safe_psql('warehouse',
		"SELECT count(*) FROM pg_namespace WHERE nspname ~ '^($names)_'"),
		'18', "server $server: six schemas per tenant");
	is($node->safe_psql('warehouse',
		"SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relname = 'pipeline_runs'"),
		join(',', map { "tenant_${_}_owner" } sort @{ $tenants_on{$server} }),
		"server $server: audit tables owned by the owner roles");
	is($node->safe_psql('postgres',
		"SELECT rolname || ':' || rolconnlimit || ':' || rolsuper FROM pg_roles WHERE rolname = 'etl_$tenants_on{$server}[0]'"),
		"etl_$tenants_on{$server}[0]:20:false", "server $server: login role attributes");
}

# the isolation matrix of sql/tenant_isolation.sql, on each warehouse server
my $src = TenancyTest::src_dir();
open my $fh, '<', "$src/sql/tenant_isolation.sql" or die "tenant_isolation.sql: $!";
my $isolation_sql = do { local $/; <$fh> };
close $fh;
my ($matrix_sql) = $isolation_sql =~ /^(-- attempt\(role, sql\).*?)^-- the catalog's view agrees/ms;
ok(defined $matrix_sql, 'matrix extracted from sql/tenant_isolation.sql');
my $expected_matrix = join("\n",
	'f|1 usage|42501|72', 'f|2 create|42501|72', 'f|3 select|42501|72', 'f|4 insert|42501|72',
	't|1 usage|allowed|36', 't|2 create|42501|6', 't|2 create|allowed|30',
	't|3 select|allowed|36', 't|4 insert|allowed|36');
for my $server ('b', 'c')
{
	my @names = @{ $tenants_on{$server} };
	(my $sql = $matrix_sql) =~ s/'red'/'$names[0]'/g;
	$sql =~ s/'green'/'$names[1]'/g;
	$sql =~ s/'blue'/'$names[2]'/g;
	my $result = $warehouse{$server}->safe_psql('warehouse',
		$sql, extra_params => [ '-q' ]);
	my @lines = grep { /^[tf]\|/ } split /\n/, $result;
	is(join("\n", @lines), $expected_matrix, "server $server: isolation matrix holds");
}

# every remote step ran once; its key is journaled on the warehouse
is($wb->safe_psql('warehouse', 'SELECT count(*) > 0 FROM tenancy_remote.applied_steps'),
	't', 'applied steps journaled on the warehouse');
is($wb->safe_psql('warehouse',
	"SELECT has_schema_privilege('etl_red', 'tenancy_remote', 'USAGE')"),
	'f', 'tenant roles cannot see the step journal');

# a step the worker runs again (its success was lost) is not run twice
my $step = $platform->safe_psql('postgres', qq{
	SELECT s.step_id FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
	  JOIN tenancy.tenants t USING (tenant_id)
	 WHERE t.name = 'green' AND s.action = 'roles'});
$platform->safe_psql('postgres', qq{
	UPDATE tenancy.operations SET state = 'running', finished_at = NULL
	 WHERE operation_id = $op{green};
	UPDATE tenancy.steps SET state = 'pending', next_attempt_at = now(), finished_at = NULL
	 WHERE step_id = $step;
	SELECT tenancy.wake_worker();});
my $again = '';
for (1 .. 100)
{
	$again = $platform->safe_psql('postgres', "SELECT state || ':' || coalesce(last_error, '') FROM tenancy.steps WHERE step_id = $step");
	last if $again =~ /^(succeeded|failed)/;
	select(undef, undef, undef, 0.1);
}
is($again, 'succeeded:already applied on the warehouse server',
	'the roles step run again is recognised as done (not "role exists")');

# server C stopped while a tenant is provisioned there: retries, then converges
$wc->stop;
my $late = provision('late', 'c');
my $retrying = '';
for (1 .. 100)
{
	$retrying = $platform->safe_psql('postgres', qq{
		SELECT attempts > 1 AND state = 'pending' AND last_error LIKE '%server "c"%'
		  FROM tenancy.steps WHERE operation_id = $late AND ordinal = 1});
	last if $retrying eq 't';
	select(undef, undef, undef, 0.1);
}
is($retrying, 't', 'server C down: its first step is retried with the error recorded');
is($platform->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'late'"),
	'provisioning', 'the tenant stays provisioning while C is down');
ok(TenancyTest::worker_pid($platform) =~ /^\d+$/, 'the worker is alive');
$wc->start;
is(TenancyTest::wait_operation($platform, $late, 120), 'succeeded', 'C started: the provision converges');
is($wc->safe_psql('warehouse', "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'late\\_%'"),
	'6', 'the late tenant has its schemas on C');

# deprovision, data kept: logins and group roles gone, schemas and the owner kept
$wb->safe_psql('warehouse', "INSERT INTO red_audit.pipeline_runs (dag_id) VALUES ('kept')");
# an open session of red's etl role on B is ended with its NOLOGIN (issue 17)
my ($sin, $sout, $serr) = ('', '', '');
my $session = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $wb->connstr('warehouse') . ' user=etl_red', '-c', 'SELECT pg_sleep(120)' ],
	'<', \$sin, '>', \$sout, '2>', \$serr);
my $open = 0;
for (1 .. 100)
{
	$open = $wb->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE usename = 'etl_red'");
	last if $open > 0;
	select(undef, undef, undef, 0.1);
}
is($open, '1', 'red has a session open on B');
my $dep = $platform->safe_psql('postgres', "SELECT tenancy.deprovision('red')");
is(TenancyTest::wait_operation($platform, $dep, 60), 'succeeded', 'deprovision of red succeeded');
$session->finish;
like($serr, qr/terminating connection/, 'red\'s open session on B was ended');
is($wb->safe_psql('postgres', "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname ~ '_red(_|\$)'"),
	'tenant_red_owner', 'red: only the (NOLOGIN) owner role is left on B');
is($wb->safe_psql('warehouse', 'SELECT count(*) FROM red_audit.pipeline_runs'), '1',
	'red: data kept');
$dep = $platform->safe_psql('postgres', "SELECT tenancy.deprovision('red', drop_data => true)");
is(TenancyTest::wait_operation($platform, $dep, 60), 'succeeded', 'deprovision of red with drop_data succeeded');
is($wb->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname ~ '_red(_|\$)'"),
	'0', 'red: no role left on B');
is($wb->safe_psql('warehouse', "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'red\\_%'"),
	'0', 'red: no schema left on B');
is($wb->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname ~ '_green(_|\$)'"),
	'6', 'green untouched on B');
is($platform->safe_psql('postgres', "SELECT tenants FROM tenancy.server_load WHERE server = 'b'"),
	'2', 'server_load no longer counts red');

# a server that holds tenants cannot be dropped
my ($rc, $out, $err) = $platform->psql('postgres', "SELECT tenancy.drop_server('c')");
like($err, qr/cannot drop warehouse server "c" because tenants live on it/,
	'drop_server refuses a server with tenants');

done_testing();
