# 041_placement_spread.pl: placement over three registered servers (the
# platform server A itself, B and C).
#   - 30 tenants whose specs name no host, provisioned by three sessions at
#     once, end up 10 per server (fewest tenants first, under a lock);
#   - a draining server (accepting_tenants false) gets no new tenant;
#   - a permanent SQL error on a warehouse (a role of that name exists
#     there already, 42710) fails the roles step at once, without retries;
#     that step is one transaction on the warehouse, so nothing of it is
#     left, and nothing the operation did not create is removed.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $platform = TenancyTest::new_node('spread_a', undef, 'tenancy.max_attempts = 1000');
my %node = (a => $platform);
for my $name ('b', 'c')
{
	$node{$name} = PostgreSQL::Test::Cluster->new("spread_$name");
	$node{$name}->init;
	$node{$name}->start;
}
for my $name ('a', 'b', 'c')
{
	my $conninfo = sprintf("host=%s port=%d dbname=postgres",
		$node{$name}->host, $node{$name}->port);
	$platform->safe_psql('postgres',
		"SELECT tenancy.register_server('$name', '$conninfo', max_connections => 2)");
}

# three sessions, ten provisions each, one transaction per provision
my @sessions;
for my $s (0 .. 2)
{
	my $script = join('', map {
		my $t = sprintf('t%02d', $s * 10 + $_);
		"SELECT tenancy.provision('$t', '{\"tenant\": {\"name\": \"$t\", \"tier\": \"basic\"}, \"warehouse\": {\"database\": {\"name\": \"wh\"}}, \"resources\": {}}'::jsonb);\n"
	} 1 .. 10);
	my ($out, $err) = ('', '');
	push @sessions, [ IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $platform->connstr('postgres') ],
		'<', \$script, '>', \$out, '2>', \$err), \$out, \$err ];
}
for my $s (@sessions)
{
	$s->[0]->finish;
	is(${ $s->[2] }, '', 'a session provisioned its ten tenants without error');
}

is($platform->safe_psql('postgres',
	"SELECT string_agg(server || '=' || tenants, ' ' ORDER BY server) FROM tenancy.server_load"),
	'a=10 b=10 c=10', '30 tenants spread evenly over 3 servers');

my $ops = $platform->safe_psql('postgres',
	"SELECT string_agg(operation_id::text, ',') FROM tenancy.operations");
my @states = map { TenancyTest::wait_operation($platform, $_, 300) } split /,/, $ops;
is_deeply(\@states, [ ('succeeded') x 30 ], 'every provision converged');
for my $name ('a', 'b', 'c')
{
	is($node{$name}->safe_psql('wh',
		"SELECT count(*) FROM pg_namespace WHERE nspname ~ '^t[0-9]+_audit\$'"),
		'10', "server $name holds the schemas of its ten tenants");
}
is($platform->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE target = 'remote_database' AND attempts > 1"),
	'0', 'no remote step needed a second attempt');

# the worker keeps at most max_connections (2) connections per server
my $conns = $node{b}->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenancy worker'");
ok($conns >= 1 && $conns <= 2, "connections to server b within its bound ($conns)");

# a draining server gets no new tenant; ties go by name
$platform->safe_psql('postgres',
	"SELECT tenancy.register_server('a', (SELECT conninfo FROM tenancy.servers WHERE name = 'a'), accepting_tenants => false)");
$platform->safe_psql('postgres',
	"SELECT tenancy.provision('drain$_', '{\"tenant\": {\"name\": \"drain$_\", \"tier\": \"basic\"}, \"warehouse\": {\"database\": {\"name\": \"wh\"}}, \"resources\": {}}'::jsonb)")
  for 1 .. 2;
is($platform->safe_psql('postgres',
	"SELECT string_agg(name || ':' || server, ' ' ORDER BY name) FROM tenancy.tenants WHERE name LIKE 'drain%'"),
	'drain1:b drain2:c', 'draining server a skipped, ties broken by name');

# a permanent error on the warehouse (a role with the tenant's name that
# tenancy did not create: refused by the ledger's guard): failed at once,
# compensated
$node{c}->safe_psql('postgres', 'CREATE ROLE etl_intruded LOGIN');
my $op = $platform->safe_psql('postgres',
	"SELECT tenancy.provision('intruded', '{\"tenant\": {\"name\": \"intruded\", \"tier\": \"basic\"}, \"warehouse\": {\"database\": {\"host\": \"c\", \"name\": \"wh\"}}, \"resources\": {}}'::jsonb)");
my $state = TenancyTest::wait_operation($platform, $op, 60);
is($state, 'compensated', 'the failed provision was compensated');
is($platform->safe_psql('postgres', qq{
	SELECT attempts || ':' || (last_error LIKE '%role "etl_intruded" was not created by tenancy for tenant "intruded" (SQLSTATE 42710)%')
	  FROM tenancy.steps WHERE operation_id = $op AND action = 'roles'}),
	'1:true', 'the 42710 error failed the roles step at its first attempt');
is($node{c}->safe_psql('postgres',
	"SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname ~ 'intruded'"),
	'etl_intruded', 'no role of the failed step left, the foreign one untouched');
is($platform->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'intruded'"),
	'failed', 'the tenant is failed');

done_testing();
