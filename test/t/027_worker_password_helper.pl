# 027_worker_password_helper.pl: the worker's password helper
# (password_helper.c), the background worker that sets tenant login roles'
# passwords so that the worker's own loop never spends the time ALTER ROLE
# takes.
#   1. It runs next to the worker.  Stopped (SIGSTOP), a tenant's
#      credentials step waits for it while the worker goes on with another
#      tenant's steps; continued, both tenants end, their login roles
#      usable with the passwords of their Secrets, no verifier in the log.
#   2. Its refusal reaches the step as the worker's own did: a login role
#      given CREATEDB while its password was being set.
#   3. Terminated, the worker sets passwords itself, then launches another.
#   4. A session holding a login role's row (an ALTER ROLE in an open
#      transaction) holds up no one: the helper's attempt gives up after
#      tenancy.lock_timeout and is retried; another tenant's passwords are
#      set meanwhile; once the session commits, the password is set (the
#      role's row is locked before ALTER ROLE, which alone would fail with
#      "tuple concurrently updated").
#   5. The helper exits with the worker that launched it.
#   6. Without a background worker slot for it, the worker says so once
#      and sets passwords itself.
use strict;
use warnings;

use IPC::Run;
use MIME::Base64;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim027",
	'--helm-ready-delay-ms', '100');
my $node = TenancyTest::new_node('pwhelper', $sim,
	"listen_addresses = '127.0.0.1'",
	"log_statement = 'all'",
	"tenancy.lock_timeout = '300ms'",
	"tenancy.max_attempts = 100");	# a held role row is retried for 15 s
my $port = $node->port;

my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh "host all all 127.0.0.1/32 scram-sha-256\n$rules";
close $fh;
$node->reload;

sub helper_pid
{
	return TenancyTest::poll_until($node,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy password helper'",
		'the password helper runs');
}

sub provision
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT tenancy.provision('$name', '{\"tenant\": {\"name\": \"$name\", \"tier\": \"basic\","
		  . " \"environment\": \"dev\"}, \"warehouse\": {}, \"resources\": {}}')");
}

sub step_state
{
	my ($op, $action) = @_;
	return $node->safe_psql('postgres',
		"SELECT state FROM tenancy.steps WHERE operation_id = $op AND action = '$action'");
}

# waits until the simulated Vault has a secret at path
sub vault_has
{
	my ($path) = @_;
	for (1 .. 300)
	{
		return 1 if TenancyTest::sim_state($sim)->{vault}{secrets}{$path};
		select(undef, undef, undef, 0.1);
	}
	BAIL_OUT("Vault never had $path");
}

# logs in as the tenant's etl role with the password of its Secret
sub etl_logs_in
{
	my ($tenant) = @_;
	(my $role = "etl_$tenant") =~ s/-/_/g;
	my $secret = TenancyTest::k8s_object($sim,
		"/api/v1/namespaces/airflow-$tenant/secrets/database-credentials");
	local $ENV{PGPASSWORD} = decode_base64($secret->{data}{SOURCE_DB_PASSWORD});
	my $psql = $node->config_data('--bindir') . '/psql';
	my $who = `$psql -X -At -h 127.0.0.1 -p $port -U $role -d postgres -c 'SELECT current_user' 2>&1`;
	chomp $who;
	return $who eq $role;
}

# ---- 1. the passwords go through the helper; the worker does not wait
my $helper = helper_pid();
kill 'STOP', $helper or die "could not stop the helper: $!";
my $op_a = provision('pwa');
TenancyTest::poll_until($node,
	"SELECT 1 FROM tenancy.steps WHERE operation_id = $op_a"
	  . " AND action = 'database credentials' AND state = 'running'",
	'the credentials step of pwa runs');
# its Vault write is done: the handler waits for the helper now
vault_has('tenants/pwa/database');
my $op_b = provision('pwb');
TenancyTest::poll_until($node,
	"SELECT 1 FROM tenancy.steps WHERE operation_id = $op_b AND object LIKE 'namespace %' AND state = 'succeeded'",
	'while the helper is stopped, the worker carries on with pwb');
sleep 1;
is(step_state($op_a, 'database credentials'), 'running',
	'the credentials step of pwa still waits for the stopped helper');
kill 'CONT', $helper;
is(TenancyTest::wait_operation($node, $op_a), 'succeeded', 'pwa succeeded once the helper went on');
is(TenancyTest::wait_operation($node, $op_b), 'succeeded', 'pwb succeeded');
ok(etl_logs_in('pwa'), 'pwa: the etl role logs in with the password of its Secret');
ok(etl_logs_in('pwb'), 'pwb: the etl role logs in with the password of its Secret');
my $verifier = $node->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_pwa'");
like($verifier, qr/^SCRAM-SHA-256\$/, 'stored as a SCRAM verifier');
my ($stored_key) = $verifier =~ /\$([^\$:]+):/;
is(scalar(() = slurp_file($node->logfile) =~ /\Q$stored_key\E/g), 0,
	'the verifier is not in the server log (log_statement = all)');
is(helper_pid(), $helper, 'the same helper served them');

# ---- 2. the helper's refusal is the step's error
kill 'STOP', $helper or die;
my $op_c = provision('pwc');
TenancyTest::poll_until($node,
	"SELECT 1 FROM tenancy.steps WHERE operation_id = $op_c"
	  . " AND action = 'database credentials' AND state = 'running'",
	'the credentials step of pwc runs');
vault_has('tenants/pwc/database');
$node->safe_psql('postgres', 'ALTER ROLE etl_pwc CREATEDB');
kill 'CONT', $helper;
TenancyTest::poll_until($node,
	"SELECT last_error FROM tenancy.steps WHERE operation_id = $op_c"
	  . " AND action = 'database credentials' AND last_error IS NOT NULL",
	'the credentials step of pwc fails');
like($node->safe_psql('postgres',
		"SELECT last_error FROM tenancy.steps WHERE operation_id = $op_c AND action = 'database credentials'"),
	qr/role "etl_pwc" is not a tenant login role/,
	"the helper's refusal is the step's error");
is($node->safe_psql('postgres', "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'etl_pwc'"),
	't', 'and the role got no password');

# ---- 3. without a helper the worker sets passwords itself, then launches
# another; a request the helper took with it is set by the worker
kill 'STOP', $helper or die;
my $op_d = provision('pwd');
vault_has('tenants/pwd/database');
select(undef, undef, undef, 0.5);	# the handler computes the verifier and asks
$node->safe_psql('postgres', "SELECT pg_terminate_backend($helper)");
kill 'CONT', $helper;
is(TenancyTest::wait_operation($node, $op_d), 'succeeded', 'pwd succeeded with the helper gone');
ok(etl_logs_in('pwd'), 'pwd: the etl role logs in with the password of its Secret');
TenancyTest::poll_until($node,
	"SELECT 1 WHERE pg_read_file('" . $node->logfile . "') LIKE '%tenancy password helper exited%'",
	'the worker logs that its helper exited');
my $relaunched = TenancyTest::poll_until($node,
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy password helper' AND pid <> $helper",
	'the worker launches another helper', 60);
ok($relaunched, 'another helper runs');
my $op_e = provision('pwe');
is(TenancyTest::wait_operation($node, $op_e), 'succeeded', 'pwe succeeded through the new helper');
ok(etl_logs_in('pwe'), 'pwe: the etl role logs in with the password of its Secret');

# ---- 4. a held role row delays that tenant alone
kill 'STOP', $relaunched or die;
my $op_f = provision('pwf');
vault_has('tenants/pwf/database');
my ($in, $out, $err) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	  q{BEGIN; ALTER ROLE etl_pwf CONNECTION LIMIT 5; SELECT pg_sleep(15); COMMIT;} ],
	'<', \$in, '>', \$out, '2>', \$err);
TenancyTest::poll_until($node,
	"SELECT 1 FROM pg_stat_activity WHERE query LIKE '%CONNECTION LIMIT 5%' AND wait_event = 'PgSleep'",
	'a session holds the row of etl_pwf');
kill 'CONT', $relaunched;
TenancyTest::poll_until($node,
	"SELECT 1 FROM tenancy.steps WHERE operation_id = $op_f AND action = 'database credentials'"
	  . " AND last_error LIKE '%lock timeout%'",
	'the attempt on the held role gives up after tenancy.lock_timeout');
my $op_g = provision('pwg');
is(TenancyTest::wait_operation($node, $op_g, 12), 'succeeded',
	'another tenant provisions meanwhile (within 12 s; the holder sleeps 15)');
ok($holder->pumpable, 'while the holder still holds the row');
$holder->finish;
is(TenancyTest::wait_operation($node, $op_f), 'succeeded',
	'pwf succeeded once the row was released (its ALTER ROLE did not meet "tuple concurrently updated")');
ok(etl_logs_in('pwf'), 'pwf: the etl role logs in with the password of its Secret');

# ---- 5. the helper exits with its worker; the next worker has its own
my $worker = TenancyTest::worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
TenancyTest::poll_until($node,
	"SELECT 1 WHERE NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $relaunched)",
	'the helper exits with the worker');
TenancyTest::poll_until($node,
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy password helper'",
	'the restarted worker launches a helper', 60);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tenancy password helper'"),
	'1', 'one helper, the new worker\'s');

$node->stop;

# ---- 6. no background worker slot for a helper: logged once, and the
# worker sets passwords itself (its own worker and the logical replication
# launcher take both slots)
my $small = TenancyTest::new_node('pwnoslot', $sim, "max_worker_processes = 2");
TenancyTest::poll_until($small,
	"SELECT 1 WHERE pg_read_file('" . $small->logfile . "') LIKE '%could not start its password helper%'",
	'the worker logs that it has no helper');
my $op_n = $small->safe_psql('postgres',
	"SELECT tenancy.provision('pwn', '{\"tenant\": {\"name\": \"pwn\", \"tier\": \"basic\","
	  . " \"environment\": \"dev\"}, \"warehouse\": {}, \"resources\": {}}')");
is(TenancyTest::wait_operation($small, $op_n), 'succeeded', 'pwn succeeded without a helper');
like($small->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_pwn'"),
	qr/^SCRAM-SHA-256\$/, 'the worker set its password itself');
is($small->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tenancy password helper'"),
	'0', 'no helper runs');
$small->stop;
TenancyTest::stop_simulator($sim);
done_testing();
