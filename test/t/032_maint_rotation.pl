# 032_maint_rotation.pl: tenancy.rotate_credentials against the simulator.
# A new password end to end: a new Vault version, the role's SCRAM
# verifier, the Kubernetes Secrets, then a rollout of the Airflow release
# (a pod annotation).  The old password stops working, the new one read
# back from the Secret works, and no password reaches a step, the log or a
# dump.  Refusals: unknown tenant, a tenant without platform side.
use strict;
use warnings;

use MIME::Base64;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim032",
	'--helm-ready-delay-ms', '100');
my $node = TenancyTest::new_node('rotation', $sim,
	"listen_addresses = '127.0.0.1'",
	"log_statement = 'all'",
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
my $port = $node->port;

my $op = $node->safe_psql('postgres', q{
	SELECT tenancy.provision('rot-a', '{"tenant": {"name": "rot-a", "tier": "basic"},
	                                     "warehouse": {}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'provision succeeded');

my $secret_path = '/api/v1/namespaces/airflow-rot-a/secrets/database-credentials';
sub secret_password
{
	my $secret = TenancyTest::k8s_object($sim, $secret_path);
	return decode_base64($secret->{data}{SOURCE_DB_PASSWORD});
}
my $old = secret_password();
like($old, qr/^[A-Za-z0-9]{32}$/, 'a generated password in the Secret');

# the etl role logs in over TCP with a password (scram-sha-256)
my $hba = $node->data_dir . '/pg_hba.conf';
my $rules = slurp_file($hba);
open my $fh, '>', $hba or die;
print $fh "host all etl_rot_a,airflow_rot_a 127.0.0.1/32 scram-sha-256\n$rules";
close $fh;
$node->reload;
my $psql = $node->config_data('--bindir') . '/psql';
sub login
{
	my ($password, $role) = @_;
	$role //= 'etl_rot_a';
	local $ENV{PGPASSWORD} = $password;
	my $out = `$psql -X -At -h 127.0.0.1 -p $port -U $role -d postgres -c 'SELECT current_user' 2>&1`;
	chomp $out;
	return $out;
}
is(login($old), 'etl_rot_a', 'the provisioned password works');

my $vault_before = TenancyTest::sim_state($sim)->{vault}{secrets}{'tenants/rot-a/database'};
my $release_path = '/apis/helm.toolkit.fluxcd.io/v2/namespaces/airflow-rot-a/helmreleases/airflow';
my $spec_before = TenancyTest::k8s_object($sim, $release_path)->{spec};

# the Airflow metadata connection: postgresql://airflow_rot_a:<password>@...
my $metadata_path = '/api/v1/namespaces/airflow-rot-a/secrets/airflow-metadata';
sub airflow_password
{
	my $metadata = TenancyTest::k8s_object($sim, $metadata_path);
	my $uri = decode_base64($metadata->{data}{connection} // '');
	return $uri =~ m{^postgresql://airflow_rot_a:([^@]+)@} ? $1 : undef;
}
my $airflow_old = airflow_password();
like($airflow_old // '', qr/^[A-Za-z0-9]{32}$/, 'the metadata Secret carries the airflow role\'s password');
is(login($airflow_old, 'airflow_rot_a'), 'airflow_rot_a', 'the provisioned airflow password works');

# rotate
my $rot = $node->safe_psql('postgres', "SELECT tenancy.rotate_credentials('rot-a')");
is(TenancyTest::wait_operation($node, $rot), 'succeeded', 'rotate operation succeeded');
is($node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ' ' || target || ' ' || action || ' ' || state, ', ' ORDER BY ordinal)
	   FROM tenancy.steps WHERE operation_id = $rot"),
	'1 vault rotate succeeded, 2 kubernetes rollout succeeded',
	'credentials, then the rollout');

my $new = secret_password();
like($new, qr/^[A-Za-z0-9]{32}$/, 'a new generated password in the Secret');
isnt($new, $old, 'the password changed');
is(login($new), 'etl_rot_a', 'the new password (read back from the Secret) works');
like(login($old), qr/password authentication failed/, 'the old password no longer works');

my $vault_after = TenancyTest::sim_state($sim)->{vault}{secrets}{'tenants/rot-a/database'};
ok($vault_after && $vault_before, 'credentials in Vault');
my $v_before = $vault_before->{current_version};
my $v_after = $vault_after->{current_version};
ok(defined $v_after && defined $v_before && $v_after == $v_before + 1,
	"a new Vault version (" . ($v_before // '?') . " -> " . ($v_after // '?') . ")");

my $hr = TenancyTest::k8s_object($sim, $release_path);
is($hr->{spec}{values}{airflowPodAnnotations}{'tenancy.io/credentials-rotation'}, $rot,
	'the Airflow pods are rolled by a new annotation');
my $spec_after = $hr->{spec};
delete $spec_after->{values}{airflowPodAnnotations}{'tenancy.io/credentials-rotation'};
delete $spec_after->{values}{airflowPodAnnotations}
  unless %{ $spec_after->{values}{airflowPodAnnotations} // {} }
  || exists $spec_before->{values}{airflowPodAnnotations};
is(TenancyTest::canonical_json($spec_after), TenancyTest::canonical_json($spec_before),
	'the rest of the HelmRelease is untouched');
my $airflow_new = airflow_password();
like($airflow_new // '', qr/^[A-Za-z0-9]{32}$/, 'the metadata Secret carries a generated password');
isnt($airflow_new, $airflow_old, 'the Airflow metadata Secret was rewritten with a new password');
is(login($airflow_new, 'airflow_rot_a'), 'airflow_rot_a', 'the new airflow password works');
like(login($airflow_old, 'airflow_rot_a'), qr/password authentication failed/,
	'the old airflow password no longer works');

# the audit now sees a fresh credential
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.audit('rot-a') WHERE check_name = 'credential_age'"), '0',
	'no credential_age finding after the rotation');

# no password in the catalog, the server log or a dump
my $steps = $node->safe_psql('postgres', "SELECT string_agg(request::text || coalesce(last_error, ''), ' ') FROM tenancy.steps");
ok(index($steps, $new) < 0 && index($steps, $old) < 0, 'no password in any step');
my $log = slurp_file($node->logfile);
ok(index($log, $new) < 0 && index($log, $old) < 0, 'no password in the server log (log_statement = all)');
my $dump = `@{[ $node->config_data('--bindir') ]}/pg_dump -h @{[ $node->host ]} -p $port postgres`;
ok(length($dump) > 1000 && index($dump, $new) < 0, 'no password in a pg_dump');

# rotating twice: each rotation a new password
my $rot2 = $node->safe_psql('postgres', "SELECT tenancy.rotate_credentials('rot-a')");
is(TenancyTest::wait_operation($node, $rot2), 'succeeded', 'a second rotation succeeded');
my $third = secret_password();
ok($third ne $new && login($third) eq 'etl_rot_a', 'and gave another working password');

# rotate_due_credentials (the pg_cron job's command): nothing is due while
# the last password is younger than tenancy.credential_max_age; once it is
# older, the tenant is rotated, and the new password works
is($node->safe_psql('postgres', 'SELECT tenancy.rotate_due_credentials()'), '0',
	'rotate_due_credentials: nothing due yet');
$node->safe_psql('postgres', q{
	UPDATE tenancy.tenants SET credentials_set_at = credentials_set_at - interval '200 days'
	 WHERE name = 'rot-a'});
is($node->safe_psql('postgres', 'SELECT tenancy.rotate_due_credentials()'), '1',
	'rotate_due_credentials rotates the tenant whose password is older than the maximum age');
my $due = $node->safe_psql('postgres',
	"SELECT max(o.operation_id) FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'rot-a' AND o.kind = 'rotate'");
is(TenancyTest::wait_operation($node, $due), 'succeeded', 'the due rotation succeeded');
my $fourth = secret_password();
ok($fourth ne $third && login($fourth) eq 'etl_rot_a', 'and gave another working password');
is($node->safe_psql('postgres', 'SELECT tenancy.rotate_due_credentials()'), '0',
	'then nothing is due again');

# refusals
my ($rc, $out, $err) = $node->psql('postgres', "SELECT tenancy.rotate_credentials('nobody')");
like($err, qr/tenant "nobody" does not exist/, 'unknown tenant refused');
($rc, $out, $err) = $node->psql('postgres', "SELECT tenancy.rotate_credentials('x''; DROP TABLE tenancy.tenants; --')");
like($err, qr/does not exist/, 'hostile name refused, nothing run');
# a tenant whose platform side never ran: nothing to rotate
$node->safe_psql('postgres', q{
	INSERT INTO tenancy.tenants (name, slug, spec, state) VALUES ('bare', 'bare', '{}', 'ready')});
($rc, $out, $err) = $node->psql('postgres', "SELECT tenancy.rotate_credentials('bare')");
like($err, qr/tenant "bare" has no database credentials to rotate/, 'nothing to rotate refused');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'bare'"),
	'0', 'and no operation was left behind');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
