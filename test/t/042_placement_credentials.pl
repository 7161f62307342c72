# 042_placement_credentials.pl: the database credentials of a tenant placed
# on another server (warehouse B, platform A, the simulator for Vault and
# Kubernetes).
#   - the worker sets the SCRAM verifiers on B's login roles: each logs in
#     on B with the password from its Kubernetes Secret, a wrong one is
#     refused, nothing is set on A;
#   - neither the password nor its verifier is in a step, in A's log or in
#     B's log (log_statement = all on both);
#   - a login role that cannot log in on B fails the step at once (42704),
#     sets nothing, and its message holds no secret.
use strict;
use warnings;

use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim042",
	'--helm-ready-delay-ms', '100');
my $platform = TenancyTest::new_node('cred_a', $sim,
	"log_statement = 'all'",
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
my $wb = PostgreSQL::Test::Cluster->new('cred_b');
$wb->init;
$wb->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\nlog_statement = 'all'\n");
$wb->start;
$platform->safe_psql('postgres', sprintf("SELECT tenancy.register_server('b', 'host=%s port=%d dbname=postgres')",
	$wb->host, $wb->port));

my $op = $platform->safe_psql('postgres', q{SELECT tenancy.provision('vip', '{"tenant": {"name": "vip", "tier": "standard"}, "warehouse": {"database": {"host": "b", "name": "warehouse"}}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($platform, $op, 120), 'succeeded', 'tenant vip provisioned on B');
is($platform->safe_psql('postgres', qq{
	SELECT state || ':' || coalesce(last_error, '') FROM tenancy.steps
	 WHERE operation_id = $op AND action = 'database credentials'}),
	'succeeded:', 'the credentials step succeeded');

# the passwords, as the pods get them
my $secret = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-vip/secrets/database-credentials');
my $etl_password = decode_base64($secret->{data}{SOURCE_DB_PASSWORD});
like($etl_password, qr/^[A-Za-z0-9]{32}$/, 'a generated password in the Secret');
my $metadata = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-vip/secrets/airflow-metadata');
my ($airflow_password) = decode_base64($metadata->{data}{connection}) =~ m{^postgresql://airflow_vip:([^@]+)@};
like($airflow_password // '', qr/^[A-Za-z0-9]{32}$/, 'the Airflow role has its own password');

# B asks these roles for passwords over TCP
my $hba = $wb->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open my $fh, '>', $hba or die "$hba: $!";
print $fh "host all etl_vip,airflow_vip 127.0.0.1/32 scram-sha-256\n$rules";
close $fh;
$wb->reload;

my $psql = $wb->config_data('--bindir') . '/psql';
my $port = $wb->port;
sub login
{
	my ($role, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my $out = `$psql -X -At -h 127.0.0.1 -p $port -U $role -d warehouse -c 'SELECT current_user' 2>&1`;
	chomp $out;
	return $out;
}
is(login('etl_vip', $etl_password), 'etl_vip', 'etl_vip logs in on B with the password from the Secret');
is(login('airflow_vip', $airflow_password), 'airflow_vip', 'airflow_vip logs in on B with its password');
like(login('etl_vip', 'not-the-password'), qr/password authentication failed/, 'a wrong password is refused');
like($wb->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_vip'"),
	qr/^SCRAM-SHA-256\$/, 'stored on B as a SCRAM verifier');
is($platform->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname LIKE '%vip%'"),
	'0', 'no role of vip on A');

# no secret anywhere the tenancy writes (the logs read first: the queries
# below name the secrets, and A logs every statement)
my $verifier = $wb->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_vip'");
my ($log_a, $log_b) = (slurp_file($platform->logfile), slurp_file($wb->logfile));
for my $secret_text ($etl_password, $airflow_password, $verifier)
{
	is(index($log_a, $secret_text), -1, 'no secret in the log of A');
	is(index($log_b, $secret_text), -1, 'no secret in the log of B');
	is($platform->safe_psql('postgres',
		"SELECT count(*) FROM tenancy.steps WHERE strpos(request::text || coalesce(compensation::text, '') || coalesce(last_error, ''), "
		  . TenancyTest::sql_literal($secret_text) . ") > 0"),
		'0', 'no secret in a step');
}

# a login role that cannot log in on B (someone changed it there): the
# rotation's credentials step fails at once, nothing is set
$wb->safe_psql('postgres', 'ALTER ROLE airflow_vip NOLOGIN');
my $rot = $platform->safe_psql('postgres', "SELECT tenancy.rotate_credentials('vip')");
my $state = TenancyTest::wait_operation($platform, $rot, 60);
is($state, 'compensated', 'the failed rotation was compensated');
is($wb->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_vip'"),
	$verifier, 'the other role kept its verifier (one transaction on B)');
my $error = $platform->safe_psql('postgres', qq{
	SELECT attempts || ':' || last_error FROM tenancy.steps
	 WHERE operation_id = $rot AND object = 'database credentials'});
like($error, qr/^1:.*a tenant login role to get a password is missing, cannot log in or is privileged.*42704/,
	'failed at its first attempt (42704), with what is wrong');
unlike($error, qr/SCRAM-SHA-256|ALTER ROLE/, 'the message holds no statement and no verifier');

# issue 17: a login role that is a member of a role tenancy did not create
# on B (someone granted it pg_execute_server_program): no password is set,
# or whoever reads the tenant's credentials could run programs on B
$wb->safe_psql('postgres', 'ALTER ROLE airflow_vip LOGIN; GRANT pg_execute_server_program TO etl_vip');
$rot = $platform->safe_psql('postgres', "SELECT tenancy.rotate_credentials('vip')");
$state = TenancyTest::wait_operation($platform, $rot, 60);
is($state, q{compensated}, "rotation with a foreign membership: compensated");
like($platform->safe_psql('postgres', qq{SELECT last_error FROM tenancy.steps
	 WHERE operation_id = $rot AND object = 'database credentials'}),
	qr/member of a role tenancy did not create.*55000/, 'refused (55000), the membership named as the reason');
is($wb->safe_psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'etl_vip'"),
	$verifier, 'its verifier was not changed');

TenancyTest::stop_simulator($sim);
done_testing();
