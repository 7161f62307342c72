# 066_tenant_ceilings.pl: a tenant's own logins against its tier's setting
# ceilings (statement_timeout, work_mem, idle_in_transaction_session_timeout)
# and the session ceilings (hash_mem_multiplier, max_parallel_workers_per_gather, ...),
# as a real second login: startup options above a ceiling are lowered before
# the first statement, set_config() after its statement, an idle-in-
# transaction session whose timeout was switched off with set_config() is
# still terminated; tenancy.audit reports a session that outlasted its
# ceiling (session_ceiling).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = PostgreSQL::Test::Cluster->new('ceilings');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'tenancy'",
	"maintenance_work_mem = '512MB'",
	"tenancy.database = 'postgres'",
	"tenancy.database_host = 'platform-db.test'") . "\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION tenancy;
	SELECT tenancy.provision('ceil',
		'{"tenant": {"name": "ceil", "tier": "basic"}, "warehouse": {}, "resources": {}}'::jsonb);
});

# a login as the tenant's etl role, with startup options above the ceilings
my ($rc, $out, $err) = $node->psql('postgres',
	'SHOW statement_timeout; SHOW work_mem',
	connstr => $node->connstr('postgres') . " user=etl_ceil options='-c statement_timeout=0 -c work_mem=1GB'");
is($rc, 0, 'tenant login with startup options');
is($out, "5min\n16MB", 'startup options above the ceilings are lowered to the basic tier (5min, 16MB)');
like($err, qr/WARNING:  statement_timeout lowered to 5min, the ceiling of the tenant's tier/,
	'a WARNING says statement_timeout was lowered');
like($err, qr/WARNING:  work_mem lowered to 16MB/, 'a WARNING says work_mem was lowered');

# the settings that multiply one statement's memory and workers have
# ceilings of tenancy.session_ceilings; the server's own value above one
# (maintenance_work_mem 512MB here) is kept
($rc, $out, $err) = $node->psql('postgres',
	'SHOW hash_mem_multiplier; SHOW max_parallel_workers_per_gather; SHOW maintenance_work_mem',
	connstr => $node->connstr('postgres') . " user=etl_ceil options='-c hash_mem_multiplier=1000 -c max_parallel_workers_per_gather=64'");
is($out, "2\n2\n512MB", 'startup options above the session ceilings are lowered, the server value is kept');
like($err, qr/WARNING:  hash_mem_multiplier lowered to 2, the ceiling of tenant sessions/,
	'a WARNING says hash_mem_multiplier was lowered');
unlike($err, qr/maintenance_work_mem/, 'nothing said of the server value');
($rc, $out, $err) = $node->psql('postgres',
	"SET maintenance_work_mem = '512MB'",
	connstr => $node->connstr('postgres') . ' user=etl_ceil');
like($err, qr/permission denied to set parameter "maintenance_work_mem" above 256MB/,
	'SET of maintenance_work_mem above the ceiling is refused, even to the server value');

# SET above a ceiling is refused, below allowed
($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '1h'",
	connstr => $node->connstr('postgres') . ' user=etl_ceil');
isnt($rc, 0, 'SET statement_timeout above the ceiling fails');
like($err, qr/permission denied to set parameter "statement_timeout" above 5min/, 'and says why');
($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '1min'; SHOW statement_timeout",
	connstr => $node->connstr('postgres') . ' user=etl_ceil');
is($out, '1min', 'SET below the ceiling is allowed');

# a statement that would outlast a (lowered) ceiling is cancelled, even after
# set_config() switched the timeout off in an earlier statement
$node->safe_psql('postgres', "ALTER ROLE etl_ceil SET statement_timeout = '1s'");
($rc, $out, $err) = $node->psql('postgres',
	"SELECT set_config('statement_timeout', '0', false); SELECT pg_sleep(3)",
	connstr => $node->connstr('postgres') . ' user=etl_ceil');
like($err, qr/canceling statement due to statement timeout/,
	'pg_sleep(3) after set_config(statement_timeout, 0) is cancelled at the 1s ceiling');

# idle in transaction with the timeout switched off by set_config(): the
# ceiling (lowered to 1s here) still terminates the session
$node->safe_psql('postgres', "ALTER ROLE etl_ceil SET idle_in_transaction_session_timeout = '1s'");
my $idle = $node->background_psql('postgres',
	extra_params => [ '-U', 'etl_ceil' ], on_error_stop => 0);
$idle->query_safe("BEGIN");
$idle->query("SELECT set_config('idle_in_transaction_session_timeout', '0', false)");
sleep 3;
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE usename = 'etl_ceil'"), '0',
	'the session idle in a transaction was terminated at the ceiling');
$idle->quit;

# session_ceiling: a session running longer than its ceiling (the ceiling
# lowered while it runs) is reported by the audit
$node->safe_psql('postgres', "ALTER ROLE etl_ceil SET statement_timeout = '5min'");
my $long = $node->background_psql('postgres',
	extra_params => [ '-U', 'etl_ceil' ], on_error_stop => 0);
$long->query_until(qr/started/, "\\echo started\nSELECT pg_sleep(300);\n");
$node->safe_psql('postgres', "ALTER ROLE etl_ceil SET statement_timeout = '1s'");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE usename = 'etl_ceil' AND state = 'active' AND query_start < now() - interval '2 s'")
  or die 'the long statement did not start';
like($node->safe_psql('postgres',
	"SELECT check_name || ' ' || severity || ' ' || object FROM tenancy.audit('ceil') WHERE check_name = 'session_ceiling'"),
	qr/^session_ceiling warning etl_ceil$/, 'the audit reports the session that outlasted its ceiling');
# cancel the statement rather than end the session: psql then quits with
# status 0 (a terminated session's psql exits 2, and that status would end
# the script's run as its exit code although every test passed)
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'etl_ceil'");
$long->quit;

# parallel workers: the ceiling (2) holds when a query is planned, also a
# query that a function runs after set_config() raised it earlier in the
# same statement (the plan fixes the workers); a session running with more
# workers than its ceiling (lowered here while it runs) is reported
$node->safe_psql('postgres', q{
	CREATE TABLE ceil_bronze.wide AS SELECT g AS id FROM generate_series(1, 200000) g;
	ANALYZE ceil_bronze.wide;
	GRANT SELECT ON ceil_bronze.wide TO etl_ceil;
	CREATE FUNCTION ceil_bronze.slow_count() RETURNS SETOF bigint LANGUAGE plpgsql AS $$
	BEGIN
		RETURN QUERY SELECT count(*) FROM ceil_bronze.wide WHERE pg_sleep(0.0002) IS NOT NULL;
	END
	$$;
	GRANT EXECUTE ON FUNCTION ceil_bronze.slow_count() TO etl_ceil;
});
my $wide = $node->background_psql('postgres',
	extra_params => [ '-U', 'etl_ceil' ], on_error_stop => 0);
$wide->query_safe("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0");
$wide->query_until(qr/started/, "\\echo started\nSELECT set_config('max_parallel_workers_per_gather', '6', false), (SELECT sum(n) FROM ceil_bronze.slow_count() n);\n");
my $workers = "SELECT count(*) FROM pg_stat_activity w JOIN pg_stat_activity l ON l.pid = w.leader_pid"
  . " WHERE l.usename = 'etl_ceil' AND w.backend_type = 'parallel worker'";
$node->poll_query_until('postgres', "SELECT ($workers) > 0")
  or die 'the parallel query did not start';
is($node->safe_psql('postgres', $workers), '2',
	'a query planned after set_config() raised max_parallel_workers_per_gather to 6 runs with the ceiling of 2 workers');
$node->safe_psql('postgres', "ALTER ROLE etl_ceil SET max_parallel_workers_per_gather = 1");
like($node->safe_psql('postgres',
	"SELECT check_name || ' ' || severity || ' ' || object || ': ' || detail FROM tenancy.audit('ceil') WHERE check_name = 'session_ceiling'"),
	qr/^session_ceiling warning etl_ceil: Session \d+ of role etl_ceil runs with 2 parallel workers, more than its ceiling of 1 per Gather/,
	'the audit reports a session with more parallel workers than its ceiling');
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = 'etl_ceil' AND backend_type = 'client backend'");
$wide->quit;
$node->safe_psql('postgres', "ALTER ROLE etl_ceil RESET max_parallel_workers_per_gather;"
	. " DROP FUNCTION ceil_bronze.slow_count(); DROP TABLE ceil_bronze.wide");

# the backup role (backup_<slug>) is a tenant role too: it has the tier's
# settings, work_mem is a ceiling, temp_file_limit only a superuser can
# change; the timeouts it may lower to 0, as pg_dump does in its session
($rc, $out, $err) = $node->psql('postgres',
	'SHOW statement_timeout; SHOW work_mem; SHOW temp_file_limit; SHOW idle_in_transaction_session_timeout',
	connstr => $node->connstr('postgres') . ' user=backup_ceil');
is($out, "5min\n16MB\n1GB\n5min", 'the backup role has the basic tier\'s settings');
($rc, $out, $err) = $node->psql('postgres', "SET work_mem = '1GB'",
	connstr => $node->connstr('postgres') . ' user=backup_ceil');
like($err, qr/permission denied to set parameter "work_mem" above 16MB/,
	'the backup role cannot raise work_mem above its tier');
($rc, $out, $err) = $node->psql('postgres', "SET temp_file_limit = -1",
	connstr => $node->connstr('postgres') . ' user=backup_ceil');
like($err, qr/permission denied to set parameter "temp_file_limit"/,
	'nor temp_file_limit');
$node->safe_psql('postgres', 'SET ROLE etl_ceil; CREATE TABLE ceil_bronze.dumped (id int)');
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres') . ' user=backup_ceil',
	'-n', 'ceil_bronze', '-f', $node->basedir . '/ceil.sql' ],
	'pg_dump as the backup role still works (it sets the timeouts to 0)');

done_testing();
