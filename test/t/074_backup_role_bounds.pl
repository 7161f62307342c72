# 074_backup_role_bounds.pl: what a tenant can do to its neighbours with an
# open transaction (issue 18, gap 2).  The tenant's workload can reach the
# backup role's password (it may create pods, which can mount Secret
# backup-credentials), and the backup role may switch its statement and
# idle timeouts off, as pg_dump does.  An open transaction holds back the
# cleanup horizon of every table of the database: the audit reports a
# tenant role's transaction open longer than tenancy.max_tenant_transaction
# (long_transaction, high), and from PostgreSQL 17 the backup role's
# transaction_timeout is lowered to it.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = PostgreSQL::Test::Cluster->new('bounds');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'tenancy'",
	"tenancy.database = 'postgres'",
	"tenancy.database_host = 'platform-db.test'",
	"tenancy.max_tenant_transaction = '2s'") . "\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION tenancy;
	SELECT tenancy.provision('bk',
		'{"tenant": {"name": "bk", "tier": "basic"}, "warehouse": {}, "resources": {}}'::jsonb);
	SET ROLE etl_bk;
	CREATE TABLE bk_bronze.t AS SELECT 1 AS id;
});
my $pg17 = $node->safe_psql('postgres', 'SHOW server_version_num') >= 170000;

# a tenant login holds a snapshot open: reported once it is older than the bound
my $open = $node->background_psql('postgres',
	extra_params => [ '-U', 'etl_bk' ], on_error_stop => 0);
$open->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$open->query_safe('SELECT count(*) FROM bk_bronze.t');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.audit('bk') WHERE check_name = 'long_transaction'"),
	'0', 'a transaction younger than tenancy.max_tenant_transaction is not reported');
sleep 3;
my $finding = $node->safe_psql('postgres',
	"SELECT check_name || ' ' || severity || ' ' || object || ' | ' || detail FROM tenancy.audit('bk') WHERE check_name = 'long_transaction'");
like($finding, qr/^long_transaction high etl_bk \| Session \d+ of role etl_bk in database postgres has had a transaction open for 00:00:0\d \(its snapshot is \d+ transactions old\), longer than tenancy.max_tenant_transaction \(2 s\)/,
	'the audit reports the tenant session whose transaction is older than the bound (high)');
like($finding, qr/SELECT pg_terminate_backend\(\d+\)/, 'and says how to end it');
$open->query_safe('COMMIT');
$open->quit;
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.audit('bk') WHERE check_name = 'long_transaction'"),
	'0', 'once it commits, nothing is reported');

# the backup role: from PostgreSQL 17 its transaction_timeout is bounded
SKIP:
{
	skip 'transaction_timeout exists from PostgreSQL 17', 4 unless $pg17;
	my ($rc, $out, $err) = $node->psql('postgres', 'SET transaction_timeout = 0; SELECT 1; SHOW transaction_timeout',
		connstr => $node->connstr('postgres') . ' user=backup_bk');
	is($out, "1\n2s", 'the backup role\'s transaction_timeout is lowered to tenancy.max_tenant_transaction');
	like($err, qr/WARNING:  transaction_timeout lowered to 2 s, tenancy.max_tenant_transaction/,
		'with a WARNING');
	($rc, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; BEGIN; SELECT pg_sleep(4); COMMIT",
		connstr => $node->connstr('postgres') . ' user=backup_bk');
	like($err, qr/terminating connection due to transaction timeout/,
		'a backup-role transaction longer than the bound ends, its other timeouts switched off');
	$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres') . ' user=backup_bk',
		'-n', 'bk_bronze', '-f', $node->basedir . '/bk.sql' ],
		'pg_dump as the backup role still works (it sets transaction_timeout to 0: lowered, not refused)');
}

$node->stop;
done_testing();
