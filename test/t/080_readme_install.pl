# 080_readme_install.pl: the README's "Installing from source" path, taken
# literally (no simulator, no endpoint): the postgresql.conf lines, the shell
# commands and the first tenant's SQL are read from README.md and run as
# written; then the mistakes a DBA makes on the first day, each with the
# message the README documents, credentials without Vault and a login,
# scheduling that really runs an audit through pg_cron, the worker's log
# lines, and the exit for a stuck tenant.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Cwd;
use TenancyTest;

my $src = TenancyTest::src_dir();
my $readme = slurp_file("$src/README.md");
my ($install) = $readme =~ /^## Installing from source\n(.*?)^## /ms;
ok($install, 'README has an "Installing from source" section');
my ($conf) = $install =~ /in `postgresql\.conf`[^\n]*\n\n```\n(.*?)```/s;
my ($shell) = $install =~ /as a superuser:\n\n```sh\n(.*?)```/s;
my ($first_sql) = $install =~ /```sql\n(.*?)```/s;
ok($conf && $shell && $first_sql, 'the section has the conf lines, the shell commands and the first SQL');

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
$node->append_conf('postgresql.conf', $conf);
# the tenant's login role must prove its password (the rest keeps trust)
my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
open(my $fh, '>', $node->data_dir . '/pg_hba.conf') or die;
print $fh "local all etl_acme_corp scram-sha-256\n$hba";
close $fh;
$node->start;

# the startup-order message the README announces, before the database exists
my $log_offset = 0;
ok(poll_until(sub { slurp_file($node->logfile) =~ /FATAL:  database "platform" does not exist/ }),
	'before createdb the log says database "platform" does not exist');

# the README's shell commands, as a superuser of this node
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', '-e', '-c', $shell ], '>', \$out, '2>', \$err);
	is($?, 0, 'the shell commands of the README succeed');
	unlike($err, qr/WARNING|ERROR/, 'CREATE EXTENSION in the database tenancy.database names: no warning');
}
ok(poll_until(sub { $node->safe_psql('platform', 'SELECT tenancy.worker_problem() IS NULL') eq 't' }),
	'the worker serves platform once it exists');

# the first tenant, as dba, from the example file as shipped
my ($rc, $out, $err) = psql_file('dba', $first_sql);
is($rc, 0, 'the README\'s first tenant SQL runs as dba without error') or diag($err);
like($out, qr/^\s*succeeded\s*$/m, 'wait returns succeeded');
like($err, qr/NOTICE:  operation \d+ of tenant "acme-corp" succeeded, but its steps on grafana, kubernetes, vault were skipped/,
	'wait says which platform targets were skipped');
my $port = $node->port;
like($out, qr/etl_acme_corp\s*\|\s*etl\s*\|[^|]*\|\s*$port\s*\|\s*platform\s*\|/,
	'connection_info gives the real port and database');
my ($password) = $out =~ /^\s*([A-Za-z0-9_-]{32})\s*$/m;
ok($password, 'set_password returned a 32-character password');
unlike(slurp_file($node->logfile), qr/\Q$password\E/, 'the password is not in the server log')
  if $password;
like(slurp_file($node->logfile),
	qr/LOG:  tenancy\.set_password: password of login role "etl_acme_corp" of tenant "acme-corp" set by "dba"/,
	'the server log says whose password set_password set, and who called it');
is($node->safe_psql('platform', q{SELECT skipped_targets FROM tenancy.tenant_summary WHERE name = 'acme-corp'}),
	'{grafana,kubernetes,vault}', 'tenant_summary lists the skipped targets');

# a login with that password, over a connection that must check it
{
	my $connstr = $node->connstr('platform') . " user=etl_acme_corp password=$password";
	my ($lout, $lerr) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-At', '-d', $connstr, '-c', 'SELECT current_user' ],
		'>', \$lout, '2>', \$lerr);
	is($lout, "etl_acme_corp\n", 'the tenant login role logs in with the password set_password returned');
	$connstr = $node->connstr('platform') . " user=etl_acme_corp password=wrong";
	IPC::Run::run([ 'psql', '-X', '-At', '-d', $connstr, '-c', 'SELECT 1' ], '>', \$lout, '2>', \$lerr);
	like($lerr, qr/password authentication failed/, 'and not with another password');
}

# the worker's log lines: each operation's outcome
like(slurp_file($node->logfile), qr/LOG:  tenancy operation \d+ \(provision of tenant "acme-corp"\) succeeded/,
	'the worker logs the operation outcome');

# --- the mistakes of the first day, each with its documented message
my $spec = slurp_file("$src/deploy/examples/acme-corp.yaml");
(my $placed = $spec) =~ s/^    # (host|port|name): /    $1: /mg;
# another tenant than acme-corp: its name, namespace and schema prefix
$placed =~ s/acme/other/g;
($rc, $out, $err) = $node->psql('platform',
	"SELECT action, object FROM tenancy.plan('other-corp', " . TenancyTest::sql_literal($placed) . ") WHERE ordinal = 0",
	extra_params => [ '-U', 'dba' ]);
is($out, 'unregistered_host|warehouse-db.internal:5432', 'plan flags the placed variant\'s unregistered host');
($rc, $out, $err) = $node->psql('platform',
	"\\set VERBOSITY verbose\nSELECT tenancy.provision('other-corp', " . TenancyTest::sql_literal($placed) . ")",
	extra_params => [ '-U', 'dba' ]);
like($err, qr/ERROR:  42704: warehouse server "warehouse-db.internal" is not registered/, 'provision: 42704 for the unregistered host');
like($err, qr/HINT:  .*register_server\('wh-1', 'host=warehouse-db.internal port=5432/, 'with a HINT that shows the call');
($rc, $out, $err) = $node->psql('platform',
	"\\set VERBOSITY verbose\nSELECT tenancy.register_server('warehouse-db.internal', 'host=warehouse-db.internal')");
like($err, qr/22023: invalid warehouse server name.*HINT:  The name is only a label/s,
	'a dotted server name: 22023 and a HINT saying how to name it');
($rc, $out, $err) = $node->psql('platform',
	"\\set VERBOSITY verbose\nALTER ROLE etl_acme_corp PASSWORD 'x'", extra_params => [ '-U', 'dba' ]);
like($err, qr/42501/, 'tenancy_admin cannot ALTER ROLE ... PASSWORD (set_password is the way)');

# CREATE EXTENSION where no worker serves: a WARNING, and provision/wait say why
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION tenancy');
like($err, qr/WARNING:  no tenancy background worker serves database "postgres".*serves database "platform" \(tenancy.database\)/s,
	'CREATE EXTENSION in another database warns');
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT tenancy.provision('lost', '{"tenant": {"name": "lost", "tier": "basic"}, "warehouse": {}, "resources": {}}'::jsonb)});
like($err, qr/WARNING:  no tenancy background worker serves database "postgres"/, 'provision there warns');
($rc, $out, $err) = $node->psql('postgres', q{\set VERBOSITY verbose
SELECT tenancy.wait('lost', '1 s')});
like($err, qr/57014: timed out waiting.*DETAIL:  The operation is still pending after 00:00:01\. The background worker serves database "platform"/s,
	'wait times out with the reason in DETAIL');
$node->safe_psql('postgres', 'SET tenancy.allow_drop_with_tenants = on; DROP EXTENSION tenancy');

# DROP EXTENSION with a live tenant: refused
($rc, $out, $err) = $node->psql('platform', "\\set VERBOSITY verbose\nDROP EXTENSION tenancy");
like($err, qr/2BP01: cannot drop extension tenancy because 1 tenant is not deprovisioned/,
	'DROP EXTENSION with a live tenant is refused');

# --- scheduling as tenancy_admin: idempotent by name, and it really runs
$node->safe_psql('platform', q{
	GRANT USAGE ON SCHEMA cron TO dba;
	SET ROLE dba;
	SELECT cron.schedule('tenancy-audit', '0 0 1 1 *', 'SELECT 1');   -- as 0.1.0 let it
	RESET ROLE;
	REVOKE USAGE ON SCHEMA cron FROM dba;
});
($rc, $out, $err) = $node->psql('platform',
	q{SELECT count(*) FROM tenancy.schedule_maintenance(audit_schedule => '* * * * *')},
	extra_params => [ '-U', 'dba' ]);
is($out, '4', 'tenancy_admin schedules the four jobs') or diag($err);
unlike($err, qr/WARNING/, 'no warning with cron.use_background_workers = on');
$node->safe_psql('platform', q{SELECT count(*) FROM tenancy.schedule_maintenance(audit_schedule => '* * * * *')});
is($node->safe_psql('platform', q{SELECT count(*) || ' ' || count(DISTINCT jobname) FROM cron.job WHERE jobname LIKE 'tenancy-%'}),
	'4 4', 'scheduled twice, by two roles, after a job of the same name: still one job per name');
ok(poll_until(sub {
	$node->safe_psql('platform', q{
		SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		 WHERE j.jobname = 'tenancy-audit' AND d.status = 'succeeded'}) eq 't' }, 90),
	'pg_cron ran the audit job');
ok($node->safe_psql('platform', 'SELECT count(*) FROM tenancy.audit_runs') >= 1, 'and the audit run is recorded');

# a failed scheduled run is a finding of the audit
$node->safe_psql('platform', q{
	INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message, start_time, end_time)
	SELECT jobid, 1000000, 'platform', username, command, 'failed', 'connection failed', now(), now()
	  FROM cron.job WHERE jobname = 'tenancy-usage'});
($rc, $out, $err) = $node->psql('platform',
	q{SELECT check_name, severity, object FROM tenancy.audit() WHERE check_name LIKE 'scheduled_job%'},
	extra_params => [ '-U', 'dba' ]);
is($out, 'scheduled_job_failed|high|tenancy-usage', 'the audit reports the failed scheduled run');

# a job that has not finished a run within its schedule's period since it
# was scheduled (pg_cron's launcher not running here, a run that never
# ends) is overdue: weekly tenancy-purge, registered nine days ago
is($node->safe_psql('platform', q{SELECT string_agg(job_name, ',' ORDER BY job_name) FROM tenancy.scheduled_jobs}),
	'tenancy-audit,tenancy-purge,tenancy-rotation,tenancy-usage',
	'schedule_maintenance records when it registered each job');
$node->safe_psql('platform',
	q{UPDATE tenancy.scheduled_jobs SET scheduled_at = now() - interval '9 days' WHERE job_name = 'tenancy-purge'});
($rc, $out, $err) = $node->psql('platform',
	q{SELECT check_name, severity, object, detail FROM tenancy.audit() WHERE check_name = 'scheduled_job_overdue'},
	extra_params => [ '-U', 'dba' ]);
like($out, qr/^scheduled_job_overdue\|warning\|tenancy-purge\|pg_cron job tenancy-purge \(schedule "47 5 \* \* 0"\) was scheduled at [^|]+ and has never finished a run, although it should run at least every 8 days\. Is pg_cron's launcher running in this database/,
	'the audit reports the weekly job that never ran since it was scheduled') or diag($err);
unlike($out, qr/tenancy-(audit|usage|rotation)/, 'and not the jobs scheduled just now or run');

# schedule_maintenance replaces other roles' jobs of its names in this
# database only: a job of that name in another database stays
$node->safe_psql('platform', q{
	SELECT cron.schedule_in_database('tenancy-purge', '0 0 1 1 *', 'SELECT 1', 'postgres', 'dba');
	SELECT count(*) FROM tenancy.schedule_maintenance();
});
is($node->safe_psql('platform', q{SELECT count(*) FROM cron.job WHERE jobname = 'tenancy-purge' AND database = 'postgres'}),
	'1', 'a job of the same name in another database is left alone');
$node->safe_psql('platform', q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'tenancy-purge' AND database = 'postgres'});

# --- a tenant in another database of this server: the audit reaches it
# through the worker's connection, and prints the real port
$node->safe_psql('platform',
	q{SELECT tenancy.provision('remote-t', '{"tenant": {"name": "remote-t", "tier": "basic"}, "warehouse": {"database": {"name": "remote_t_db"}}, "resources": {}}'::jsonb)},
	extra_params => [ '-U', 'dba' ]);
is($node->safe_psql('platform', q{SELECT tenancy.wait('remote-t', '60 s')}, extra_params => [ '-U', 'dba' ]),
	'succeeded', 'the tenant in database remote_t_db is provisioned');
sub remote_audit
{
	my $detail = $node->safe_psql('platform',
		q{SELECT detail FROM tenancy.audit('remote-t') WHERE check_name = 'placement'},
		extra_params => [ '-U', 'dba' ]);
	my ($audit_op) = $detail =~ /audit operation (\d+)/;
	ok(poll_until(sub { $node->safe_psql('platform',
		"SELECT state FROM tenancy.operations WHERE operation_id = $audit_op") eq 'succeeded' }),
		'the worker ran the audit of the other database');
	return ($detail, $node->safe_psql('platform', q{
		SELECT string_agg(check_name || ' ' || severity || ' ' || object, ', ' ORDER BY check_name, object)
		  FROM tenancy.audit_findings
		 WHERE run_id = (SELECT max(run_id) FROM tenancy.audit_runs) AND source = 'database'
		   AND check_name <> 'placement'}));
}
my ($detail, $found) = remote_audit();
like($detail, qr/in database remote_t_db on this server \(port $port\)/, 'the placement note names the database and the real port');
is($found, '', 'a clean tenant in another database: no finding');
$node->safe_psql('remote_t_db', q{
	ALTER ROLE etl_remote_t CREATEDB;
	GRANT USAGE ON SCHEMA remote_t_bronze TO PUBLIC;
	GRANT CONNECT ON DATABASE remote_t_db TO PUBLIC;
});
($detail, $found) = remote_audit();
is($found, 'public_connect warning remote_t_db, public_privileges critical remote_t_bronze, role_attributes critical etl_remote_t',
	'drift in the other database is found there');

# the platform database lets every role connect (PostgreSQL's default), and
# remote-t's login roles live on this server: the full audit says so, until
# CONNECT is revoked from PUBLIC as the README recommends
sub public_connect
{
	return $node->safe_psql('platform',
		q{SELECT count(*) FROM tenancy.audit() WHERE check_name = 'public_connect' AND object = 'platform'},
		extra_params => [ '-U', 'dba' ]);
}
is(public_connect(), '1', 'the full audit flags PUBLIC CONNECT on the platform database');
$node->safe_psql('platform',
	'REVOKE CONNECT ON DATABASE platform FROM PUBLIC; GRANT CONNECT ON DATABASE platform TO tenancy_admin');
is(public_connect(), '0', 'no longer once revoked');

# --- the stuck tenant: a server that never resolves
$node->safe_psql('platform', q{SELECT tenancy.register_server('nowhere', 'host=nowhere.invalid port=1 dbname=postgres connect_timeout=1')});
my $op = $node->safe_psql('platform',
	q{SELECT tenancy.provision('stuck', '{"tenant": {"name": "stuck", "tier": "basic"}, "warehouse": {"database": {"name": "stuck_db"}}, "resources": {}}'::jsonb)},
	extra_params => [ '-U', 'dba' ]);
ok(poll_until(sub { slurp_file($node->logfile) =~ /LOG:  tenancy step \d+ of operation $op \(remote_database .*\) will be retried after attempt 1/ }),
	'the worker logs the failed attempt');
ok(poll_until(sub { $node->safe_psql('platform', q{SELECT count(*) > 0 FROM tenancy.status('stuck') WHERE next_attempt_at > now()}) eq 't' }),
	'status shows when the pending step is tried next');
$node->safe_psql('platform', "SELECT tenancy.cancel($op)", extra_params => [ '-U', 'dba' ]);
($rc, $out, $err) = $node->psql('platform', "\\set VERBOSITY verbose\nSELECT tenancy.drop_server('nowhere')");
like($err, qr/2BP01/, 'drop_server refuses while the stuck tenant lives on it');
($rc, $out, $err) = $node->psql('platform', "\\set VERBOSITY verbose\nSELECT * FROM tenancy.forget('stuck')",
	extra_params => [ '-U', 'dba' ]);
like($err, qr/42501/, 'forget is for superusers');
ok(poll_until(sub { $node->safe_psql('platform', q{SELECT count(*) FROM tenancy.steps WHERE state = 'running'}) eq '0' }),
	'no step of it is running');
$out = $node->safe_psql('platform', q{SELECT count(*) FROM tenancy.forget('stuck')});
is($out, '13', 'forget returns what may remain (6 schemas, 6 roles with the backup role, 1 namespace)');
$node->safe_psql('platform', q{SELECT tenancy.drop_server('nowhere')});
is($node->safe_psql('platform', q{SELECT count(*) FROM tenancy.tenants WHERE name = 'stuck'}), '0',
	'the stuck tenant is gone and its server dropped');

$node->stop;
done_testing();

# psql_file(USER, SQL): run SQL as a file through psql in the source tree
# (the README's paths are relative to it), stopping at the first error
sub psql_file
{
	my ($user, $sql) = @_;
	my ($stdout, $stderr) = ('', '');
	my $file = $PostgreSQL::Test::Utils::tmp_check . '/readme.sql';
	open(my $f, '>', $file) or die;
	print $f $sql;
	close $f;
	my $cwd = Cwd::getcwd();
	chdir $src;
	IPC::Run::run([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
		'-d', 'platform', '-U', $user, '-f', $file ], '>', \$stdout, '2>', \$stderr);
	my $rc = $?;
	chdir $cwd;
	return ($rc, $stdout, $stderr);
}

# poll_until(CODE, SECONDS): true once CODE returns true, false after the
# time (default 30 s) has passed
sub poll_until
{
	my ($code, $seconds) = @_;
	$seconds //= 30;
	# under valgrind (test/valgrind/run.sh raises the default timeout) ten times longer
	$seconds *= 10 if ($ENV{PG_TEST_TIMEOUT_DEFAULT} // 180) > 300;
	for (my $i = 0; $i < $seconds * 10; $i++)
	{
		return 1 if $code->();
		select(undef, undef, undef, 0.1);
	}
	return 0;
}
