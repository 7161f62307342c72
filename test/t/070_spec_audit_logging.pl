# 070_spec_audit_logging.pl: features.audit_logging on a server without
# pgaudit.  The reference spec asks for it; provision must fail with a clear
# error (55000, DETAIL naming the tenant, HINT saying how to fix it) and
# leave nothing behind, never provision a tenant whose promised audit log
# does not exist.  With the flag off the same spec provisions.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = TenancyTest::new_node('nopgaudit', undef);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_settings WHERE name = 'pgaudit.log'"),
	'0', 'pgaudit is not loaded');

my $src = TenancyTest::src_dir();
my $yaml = slurp_file("$src/test/fixtures/acme-corp.yaml");
$node->safe_psql('postgres',
	"CREATE TABLE spec AS SELECT tenancy.parse_spec(\$spec\$$yaml\$spec\$)"
	  . " #- '{warehouse,database,host}' #- '{warehouse,database,name}' AS spec");

my ($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT tenancy.provision('acme-corp', spec) FROM spec");
isnt($rc, 0, 'provision with audit_logging and no pgaudit fails');
like($err, qr/ERROR:  55000: features.audit_logging needs pgaudit, which is not loaded/,
	'error and SQLSTATE 55000');
like($err, qr/DETAIL:  Tenant "acme-corp" asks for audit logging/, 'DETAIL names the tenant');
like($err, qr/HINT:  Add pgaudit to shared_preload_libraries and restart the server, or set features.audit_logging to false/,
	'HINT says how to fix it');
is($node->safe_psql('postgres',
	"SELECT (SELECT count(*) FROM tenancy.tenants) + (SELECT count(*) FROM pg_roles WHERE rolname LIKE '%acme_corp%')"),
	'0', 'nothing created');

# tenancy.plan says the same (a dry run must not show a plan provision refuses)
($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM spec, tenancy.plan('acme-corp', spec)");
like($err, qr/features.audit_logging needs pgaudit/, 'plan refuses it too');

# the flag off: provisioned, and no pgaudit.log on the login roles
is($node->safe_psql('postgres',
	"SELECT tenancy.provision('acme-corp', jsonb_set(spec, '{features,audit_logging}', 'false')) > 0 FROM spec"),
	't', 'provision without audit_logging succeeds');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
	  . " WHERE r.rolname LIKE '%acme_corp' AND array_to_string(setconfig, ',') LIKE '%pgaudit%'"),
	'0', 'no pgaudit.log placeholder set on the login roles');

# turning it on later is refused the same way
($rc, $out, $err) = $node->psql('postgres', "SELECT tenancy.apply('acme-corp', spec) FROM spec");
like($err, qr/features.audit_logging needs pgaudit/, 'apply turning it on is refused');

# --- placed tenants (issue 18, gap 1): the planner cannot see a registered
# server, and there a superuser's ALTER ROLE ... SET pgaudit.log succeeds as
# a placeholder that logs nothing.  Another database of this server has
# this server's pgaudit: refused at once, like a local tenant.
sub small_spec
{
	my ($tenant, $database) = @_;
	return qq('{"tenant": {"name": "$tenant", "tier": "standard"}, "features": {"audit_logging": true},)
	  . qq( "warehouse": {"database": $database}, "resources": {}}'::jsonb);
}
($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT tenancy.provision('samesrv', " . small_spec('samesrv', '{"name": "samesrv_db"}') . ")");
like($err, qr/ERROR:  55000: features.audit_logging needs pgaudit, which is not loaded/,
	'a tenant in another database of this server: refused with 55000 at provision');

# a registered server without pgaudit: the remote step fails (55000), its
# error says why and what to do, and no login role keeps a placeholder
my %wh;
for my $kind ('bare', 'audited')
{
	my $w = PostgreSQL::Test::Cluster->new("wh_$kind");
	$w->init;
	$w->append_conf('postgresql.conf', "shared_preload_libraries = 'pgaudit'") if $kind eq 'audited';
	$w->start;
	$wh{$kind} = $w;
	$node->safe_psql('postgres',
		sprintf("SELECT tenancy.register_server('%s', 'host=%s port=%d dbname=postgres')",
			$kind, $w->host, $w->port));
}
is($wh{audited}->safe_psql('postgres', "SELECT context FROM pg_settings WHERE name = 'pgaudit.log'"),
	'superuser', 'the second warehouse server has pgaudit loaded');

my $op = $node->safe_psql('postgres',
	"SELECT tenancy.provision('onbare', " . small_spec('onbare', '{"host": "bare", "name": "wh"}') . ")");
like(TenancyTest::wait_operation($node, $op, 120), qr/^(failed|compensated)$/,
	'provision on a server without pgaudit does not succeed');
my $error = $node->safe_psql('postgres',
	"SELECT string_agg(last_error, ' | ') FROM tenancy.steps WHERE operation_id = $op AND state = 'failed'");
like($error, qr/features.audit_logging needs pgaudit, which is not loaded on this server \(SQLSTATE 55000\)/,
	'the failed step says pgaudit is missing there, with its SQLSTATE');
like($error, qr/HINT: Add pgaudit to shared_preload_libraries of the warehouse server/,
	'and what to do');
# the worker's WARNING lines (issue 21 item 9): the step failed for good,
# and the operation's end
my $log = slurp_file($node->logfile);
like($log, qr/WARNING:  tenancy step \d+ of operation $op \(remote_database [^)]*\) failed at attempt 1: server "bare", database "wh": features.audit_logging needs pgaudit/,
	'the server log has a WARNING for the step that failed for good');
like($log, qr/WARNING:  tenancy operation $op \(provision of tenant "onbare"\) (compensated|failed)/,
	'and one for the operation that did not succeed');
is($wh{bare}->safe_psql('wh',
	"SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
	  . " WHERE array_to_string(setconfig, ',') LIKE '%pgaudit%'"),
	'0', 'no pgaudit.log placeholder on that server');

# with pgaudit there, the same spec provisions and the login roles log
$op = $node->safe_psql('postgres',
	"SELECT tenancy.provision('onaudited', " . small_spec('onaudited', '{"host": "audited", "name": "wh"}') . ")");
is(TenancyTest::wait_operation($node, $op, 120), 'succeeded', 'provision on a server with pgaudit succeeds');
is($wh{audited}->safe_psql('wh',
	"SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
	  . " WHERE r.rolname IN ('etl_onaudited', 'airflow_onaudited')"
	  . " AND 'pgaudit.log=write,ddl,role' = ANY (s.setconfig)"),
	'2', 'its login roles have pgaudit.log set');

$_->stop for values %wh;
$node->stop;
done_testing();
