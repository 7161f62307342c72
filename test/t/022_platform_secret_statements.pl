# 022_platform_secret_statements.pl: the statements that set tenants'
# passwords leave no SCRAM verifier in pg_stat_statements, on the platform
# server (a tenant in the platform database: ALTER ROLE through SPI in the
# worker) or on a warehouse server (a placed tenant: ALTER ROLE over libpq).
# pg_stat_statements keeps the text of utility statements by default
# (track_utility = on), readable by every member of pg_read_all_stats.
#   - both servers preload pg_stat_statements and track every statement,
#     nested ones too;
#   - the tenants' roles get SCRAM verifiers (the steps ran);
#   - the other statements of the tenants are tracked (the test can see a
#     statement when there is one), no tracked text holds "SCRAM-SHA-256$";
#   - and, while a placed tenant is at hand: B's other roles cannot connect
#     to its database, its login roles can.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim022",
	'--helm-ready-delay-ms', '100');
my @tracking = (
	"shared_preload_libraries = 'tenancy,pg_stat_statements'",
	"pg_stat_statements.track = 'all'",
	"pg_stat_statements.track_utility = on");
my $platform = TenancyTest::new_node('stmt_a', $sim, @tracking,
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
$platform->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');

my $wb = PostgreSQL::Test::Cluster->new('stmt_b');
$wb->init;
$wb->append_conf('postgresql.conf', join("\n", @tracking) . "\n");
$wb->start;
$wb->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');
# one tenant in the platform database (provisioned while no server is
# registered), one placed on B
my $local_op = $platform->safe_psql('postgres', q{SELECT tenancy.provision('here', '{"tenant": {"name": "here", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb)});
# and one in another database of A, which the worker reaches over A's Unix
# socket with the connection string it builds for this server
my $next_op = $platform->safe_psql('postgres', q{SELECT tenancy.provision('next', '{"tenant": {"name": "next", "tier": "standard"}, "warehouse": {"database": {"name": "nextdb"}}, "resources": {}}'::jsonb)});
$platform->safe_psql('postgres', sprintf("SELECT tenancy.register_server('b', 'host=%s port=%d dbname=postgres')",
	$wb->host, $wb->port));
my $remote_op = $platform->safe_psql('postgres', q{SELECT tenancy.provision('there', '{"tenant": {"name": "there", "tier": "standard"}, "warehouse": {"database": {"host": "b", "name": "warehouse"}}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($platform, $local_op, 120), 'succeeded', 'tenant here provisioned in the platform database');
is(TenancyTest::wait_operation($platform, $remote_op, 120), 'succeeded', 'tenant there provisioned on B');
is(TenancyTest::wait_operation($platform, $next_op, 120), 'succeeded', 'tenant next provisioned in database nextdb of A');

like($platform->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_here'"),
	qr/^SCRAM-SHA-256\$/, 'etl_here has a SCRAM verifier on A');
like($platform->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_next'"),
	qr/^SCRAM-SHA-256\$/, 'etl_next has a SCRAM verifier on A (set in nextdb)');
like($wb->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_there'"),
	qr/^SCRAM-SHA-256\$/, 'etl_there has a SCRAM verifier on B');

# the tenants' other utility statements are tracked
cmp_ok($platform->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'CREATE ROLE%etl_here%'"),
	'>', 0, 'A tracks the utility statements of tenant here');
cmp_ok($wb->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%CREATE ROLE%etl_there%'"),
	'>', 0, 'B tracks the utility statements of tenant there');

# but not the ones holding a verifier
for my $node ([ 'A', $platform ], [ 'B', $wb ])
{
	is($node->[1]->safe_psql('postgres',
			q{SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%SCRAM-SHA-256$%'}),
		'0', "no SCRAM verifier in pg_stat_statements of $node->[0]");
	is($node->[1]->safe_psql('postgres',
			q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%SCRAM-SHA-256$%' AND pid <> pg_backend_pid()}),
		'0', "none in pg_stat_activity of $node->[0] either");
}

# B's other roles cannot connect to the tenant's database (CONNECT revoked
# from PUBLIC); the tenant's login roles can, through their group
$wb->safe_psql('postgres', 'CREATE ROLE outsider LOGIN');
my ($rc, $out, $err) = $wb->psql('warehouse', 'SELECT 1', extra_params => [ '-U', 'outsider' ]);
like($err, qr/permission denied for database "warehouse"/, 'another role of B cannot connect to the tenant\'s database');
($rc, $out, $err) = $wb->psql('warehouse', 'SELECT current_user', extra_params => [ '-U', 'etl_there' ]);
is($out, 'etl_there', 'the tenant\'s login role can');

$platform->stop;
$wb->stop;
TenancyTest::stop_simulator($sim);
done_testing();
