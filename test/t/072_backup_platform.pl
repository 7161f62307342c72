# 072_backup_platform.pl: the backup objects against the simulator, and
# what tenancy.audit says about them.  Provision with backups, an SLA and
# advanced monitoring: CronJob, script, volume, backup-credentials and the
# PrometheusRule, accepted by the schema validation, the backup role's
# password in Vault with the others.  The audit reports a CronJob whose last
# successful run is too old (high) and one that is missing (critical).
# Turning backups, the SLA and advanced monitoring off deletes the CronJob,
# script, Secret and rule (the volume stays); turning backups on again
# gives the new backup role a password, keeping the others'.  Last, a
# CronJob deleted behind tenancy's back is reported missing.
use strict;
use warnings;

use HTTP::Tiny;
use JSON::PP;
use MIME::Base64;
use POSIX qw(strftime);
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim072",
	'--helm-ready-delay-ms', '100');
my $node = TenancyTest::new_node('bplat', $sim,
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
my $ns = 'airflow-bk';
my $api = "/api/v1/namespaces/$ns";
my $cron_path = "/apis/batch/v1/namespaces/$ns/cronjobs/tenant-backup";
my $rule_path = "/apis/monitoring.coreos.com/v1/namespaces/$ns/prometheusrules/tenant-alerts";

sub spec
{
	my ($backup, $sla, $retention, $uptime) = @_;
	$retention //= 14;
	$uptime //= 99.5;
	return qq{'{"tenant": {"name": "bk", "tier": "standard",
	   "contacts": {"technical": [{"name": "Ops", "email": "ops\@bk.example"}]}},
	  "warehouse": {}, "features": {"advanced_monitoring": $sla},
	  "resources": {"database": {"storage_gb": 7, "backup": {"enabled": $backup, "retention_days": $retention}}}
	  @{[ $sla eq 'true' ? qq{, "sla": {"uptime_percent": $uptime, "support_tier": "business-hours", "response_time": {"critical": "2 hours"}}} : '' ]}}'::jsonb};
}

my $op = $node->safe_psql('postgres', "SELECT tenancy.provision('bk', @{[ spec('true', 'true') ]})");
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'provision succeeded');

my $cron = TenancyTest::k8s_object($sim, $cron_path);
ok($cron, 'CronJob tenant-backup exists');
my $pod = $cron->{spec}{jobTemplate}{spec}{template}{spec};
is($pod->{securityContext}{runAsNonRoot}, JSON::PP::true, 'the backup pod runs as non-root');
is_deeply([ map { $_->{persistentVolumeClaim}{claimName} // () } @{ $pod->{volumes} } ], ['tenant-backups'],
	'it writes to the claim tenant-backups');
my $pvc = TenancyTest::k8s_object($sim, "$api/persistentvolumeclaims/tenant-backups");
is($pvc->{spec}{resources}{requests}{storage}, '7Gi', 'the claim is sized from storage_gb');
ok(TenancyTest::k8s_object($sim, "$api/configmaps/tenant-backup-script")->{data}{'backup.sh'} =~ /pg_dump/,
	'the script ConfigMap');
my $secret = TenancyTest::k8s_object($sim, "$api/secrets/backup-credentials");
is(decode_base64($secret->{data}{PGUSER}), 'backup_bk', 'backup-credentials logs in as backup_bk');
my $password = decode_base64($secret->{data}{PGPASSWORD});
is(length($password), 32, 'with a generated password');
# where the backup pod connects: tenancy.database_host (not localhost, the
# pod itself) and this server's port and database
is_deeply([ map { decode_base64($secret->{data}{$_}) } qw(PGHOST PGPORT PGDATABASE) ],
	[ 'platform-db.test', $node->port, 'postgres' ],
	'backup-credentials: PGHOST is tenancy.database_host, with this server\'s port and database');
is($pod->{containers}[0]{image}, 'postgres:' . int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000),
	'the backup runs in the image of the server\'s major version');
# the backup role logs in with the Secret's password (scram-sha-256), reads
# the tenant's data and writes nothing
{
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $rules = slurp_file($hba);
	open my $fh, '>', $hba or die;
	print $fh "local all backup_bk scram-sha-256\n$rules";
	close $fh;
	$node->reload;
	my $psql = $node->config_data('--bindir') . '/psql';
	my @conn = ('-X', '-At', '-h', $node->host, '-p', $node->port, '-U', 'backup_bk', '-d', 'postgres');
	local $ENV{PGPASSWORD} = $password;
	my $out = `$psql @conn -c 'SELECT current_user, count(*) FROM bk_audit.pipeline_runs' 2>&1`;
	chomp $out;
	is($out, 'backup_bk|0', 'backup_bk logs in with the Secret\'s password and reads the tenant\'s tables');
	$out = `$psql @conn -c "INSERT INTO bk_audit.pipeline_runs (dag_id) VALUES ('x')" 2>&1`;
	like($out, qr/permission denied/, 'and cannot write them');
	$ENV{PGPASSWORD} = 'not-the-password';
	$out = `$psql @conn -c 'SELECT 1' 2>&1`;
	like($out, qr/password authentication failed/, 'a wrong password is refused');
	open $fh, '>', $hba or die;
	print $fh $rules;
	close $fh;
	$node->reload;
}
my $rule = TenancyTest::k8s_object($sim, $rule_path);
is($rule->{spec}{groups}[0]{rules}[0]{labels}{support_tier}, 'business-hours', 'the PrometheusRule carries the support tier');
is($rule->{spec}{groups}[0]{rules}[0]{labels}{response_time}, '2 hours', 'and the response time of its priority');
is($rule->{spec}{groups}[0]{rules}[0]{labels}{technical_contacts}, 'Ops <ops@bk.example>', 'and the contacts');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.steps WHERE request::text LIKE '%$password%'"),
	'0', 'the password is in no step');

# the audit: clean, then a CronJob whose last success is too old, then none
sub audit
{
	$node->safe_psql('postgres', "SELECT count(*) FROM tenancy.audit('bk')");
	my $run = $node->safe_psql('postgres', "SELECT max(run_id) FROM tenancy.audit_runs");
	my $audit_op = $node->safe_psql('postgres', "SELECT max(operation_id) FROM tenancy.operations WHERE kind = 'audit'");
	TenancyTest::wait_operation($node, $audit_op);
	return $node->safe_psql('postgres',
		"SELECT string_agg(check_name || ' ' || severity || ' ' || object, E'\\n' ORDER BY check_name, object)
		   FROM tenancy.audit_findings WHERE run_id = $run AND source = 'platform'");
}
is(audit(), '', 'a fresh tenant: no platform finding');

sub token { my $t = slurp_file($_[0]); chomp $t; return $t; }
my $http = HTTP::Tiny->new(timeout => 30);
my $k8s_token = token($sim->{admin_k8s_token_file});
my $res;
sub set_last_success
{
	my ($seconds_ago) = @_;
	my $res = $http->request('PATCH', $sim->{kubernetes} . "$cron_path/status", {
		headers => { Authorization => "Bearer $k8s_token", 'Content-Type' => 'application/merge-patch+json' },
		content => encode_json({ status => { lastSuccessfulTime => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time() - $seconds_ago)) } }) });
	ok($res->{success}, "lastSuccessfulTime set $seconds_ago s ago") or diag($res->{content});
}
set_last_success(3 * 86400);
is(audit(), "backup_too_old high $cron_path", 'a last success 3 days ago is reported (high)');
set_last_success(3600);
is(audit(), '', 'one an hour ago is not');
# a changed retention and uptime: the CronJob and the PrometheusRule are
# patched in place, each apply carrying the uid recorded at its creation
my $seq = (TenancyTest::journal($sim))->[-1]{seq} // 0;
my %uid_before = map { $_ => TenancyTest::k8s_object($sim, $_)->{metadata}{uid} } ($cron_path, $rule_path);
$op = $node->safe_psql('postgres', "SELECT tenancy.apply('bk', @{[ spec('true', 'true', 21, 99.9) ]})");
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'apply changing retention and uptime succeeded');
is_deeply([ sort map { "$_->{method} $_->{path} uid=" . ($_->{body}{metadata}{uid} // 'none') }
			grep { $_->{service} eq 'kubernetes' && $_->{method} ne 'GET' && ($_->{path} eq $cron_path || $_->{path} eq $rule_path) }
			@{ TenancyTest::journal_since($sim, $seq) } ],
	[ sort map { "PATCH $_ uid=$uid_before{$_}" } ($cron_path, $rule_path) ],
	'one PATCH each, carrying the recorded uid');
is(TenancyTest::k8s_object($sim, $cron_path)->{metadata}{uid}, $uid_before{$cron_path}, 'the same CronJob, patched');
# backups, SLA and advanced monitoring off: deleted, the volume kept
$seq = (TenancyTest::journal($sim))->[-1]{seq} // 0;
$op = $node->safe_psql('postgres', "SELECT tenancy.apply('bk', @{[ spec('false', 'false') ]})");
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'apply turning them off succeeded');
ok(!TenancyTest::k8s_object($sim, "$api/configmaps/tenant-backup-script"), 'script deleted');
ok(!TenancyTest::k8s_object($sim, "$api/secrets/backup-credentials"), 'backup-credentials deleted');
ok(!TenancyTest::k8s_object($sim, $rule_path), 'PrometheusRule deleted');
ok(TenancyTest::k8s_object($sim, "$api/persistentvolumeclaims/tenant-backups"), 'the volume with the backups stays');
# a Secret goes by a DELETE of the collection selecting its name and the
# tenant's labels (the worker never reads Secrets); the others by name
my @deletes = sort map {
	my $field = $_->{query}{fieldSelector} // '';
	$field =~ s/^metadata\.name=// ? "$_->{path}/$field" : $_->{path}
} grep { $_->{method} eq 'DELETE' } @{ TenancyTest::journal_since($sim, $seq) };
is_deeply(\@deletes, [ sort("$api/configmaps/tenant-backup-script", "$api/secrets/backup-credentials", $cron_path, $rule_path) ],
	'exactly those four DELETEs');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname = 'backup_bk'"), '0', 'backup role dropped');

# on again: a new backup role gets a password, the others keep theirs
my $etl_before = decode_base64(TenancyTest::k8s_object($sim, "$api/secrets/database-credentials")->{data}{SOURCE_DB_PASSWORD});
$op = $node->safe_psql('postgres', "SELECT tenancy.apply('bk', @{[ spec('true', 'false') ]})");
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'apply turning backups on again succeeded');
ok(TenancyTest::k8s_object($sim, $cron_path), 'CronJob back');
my $again = decode_base64(TenancyTest::k8s_object($sim, "$api/secrets/backup-credentials")->{data}{PGPASSWORD});
is(length($again), 32, 'backup-credentials has a password again');
is(decode_base64(TenancyTest::k8s_object($sim, "$api/secrets/database-credentials")->{data}{SOURCE_DB_PASSWORD}),
	$etl_before, 'the ETL password is unchanged');

# last: the CronJob deleted behind tenancy's back
$res = $http->request('DELETE', $sim->{kubernetes} . $cron_path, { headers => { Authorization => "Bearer $k8s_token" } });
ok($res->{success}, 'CronJob deleted behind tenancy\'s back');
is(audit(), "platform_object_missing critical $cron_path", 'a missing CronJob is reported (critical)');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
