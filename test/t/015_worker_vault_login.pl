# 015_worker_vault_login.pl: with no Vault token file and
# tenancy.vault_auth_role set, the worker logs in to Vault with its
# Kubernetes service account token, keeps the client token until most of
# its lease has passed, logs in again once when the token is denied, and
# fails a step whose request the role's policy denies.  Handlers' requests
# (database_credentials) carry the login token too, and are not sent
# without one.  Neither token ever reaches the server log or the database.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim015");
my $jwt_file = "$sim->{dir}/sa.jwt";
my $node = TenancyTest::new_node('vaultlogin', $sim,
	"tenancy.vault_token_file = ''",
	"tenancy.vault_auth_role = 'tenancy'",
	"tenancy.kubernetes_token_file = '$jwt_file'",
	"tenancy.max_attempts = 4",
	"log_statement = all",
	"log_min_messages = debug1");
my $all = [ 'create', 'read', 'update', 'patch', 'delete', 'list' ];

# vault_write(TENANT): an operation writing one KV v2 secret of the tenant
sub vault_write
{
	my ($tenant) = @_;
	return TenancyTest::enqueue_operation($node, $tenant, [ {
		target => 'vault',
		action => 'write',
		object => "kv/tenants/$tenant/settings",
		request => {
			method => 'POST',
			path => "/v1/secret/data/tenants/$tenant/settings",
			body => { data => { tier => 'standard' } }
		} } ]);
}

# vault_requests(SINCE): the simulator's Vault requests after entry SINCE
sub vault_requests
{
	my ($since) = @_;
	return [ grep { $_->{service} eq 'vault' && $_->{seq} > $since } @{ TenancyTest::journal($sim) } ];
}

sub last_seq
{
	my $j = TenancyTest::journal($sim);
	return @$j ? $j->[-1]{seq} : 0;
}

# credentials(TENANT): an operation creating the tenant's namespace, then
# its database credentials (Vault read and write by the handler, local
# login roles, Kubernetes Secrets)
sub credentials
{
	my ($tenant) = @_;
	my $slug = $tenant =~ s/-/_/gr;
	# the roles as tenancy would have created and recorded them (issue 17:
	# passwords are set only on roles tenancy.created_objects records)
	$node->safe_psql('postgres', qq{
		CREATE ROLE ${slug}_etl LOGIN; CREATE ROLE ${slug}_airflow LOGIN;
		INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('$tenant', '$slug', '{}') ON CONFLICT (name) DO NOTHING;
		INSERT INTO tenancy.created_objects (tenant_id, kind, name, object_oid)
		SELECT t.tenant_id, 'role', r.rolname, r.oid FROM tenancy.tenants t, pg_roles r
		 WHERE t.name = '$tenant' AND r.rolname IN ('${slug}_etl', '${slug}_airflow')});
	return TenancyTest::enqueue_operation($node, $tenant, [ {
		target => 'kubernetes', action => 'create', object => "namespace/airflow-$tenant",
		request => { method => 'POST', path => '/api/v1/namespaces',
			body => { apiVersion => 'v1', kind => 'Namespace', metadata => { name => "airflow-$tenant" } },
			ok_status => [409] } }, {
		target => 'vault', action => 'generate', object => 'database credentials',
		request => { handler => 'database_credentials', vault_path => "tenants/$tenant/database",
			local => JSON::PP::true, roles => [ "${slug}_etl", "${slug}_airflow" ],
			namespace => "airflow-$tenant", host => 'localhost', database => 'postgres', port => 5432 },
		depends_on => [1] } ]);
}

# reload_and_wait(SQL): TenancyTest::reload_worker on this node
sub reload_and_wait { TenancyTest::reload_worker($node, $_[0]); }
sub logins { return grep { $_->{path} eq '/v1/auth/kubernetes/login' } @{ $_[0] }; }
sub step_of { return $node->safe_psql('postgres', "SELECT state || ' ' || attempts || ' ' || coalesce(last_error, '') FROM tenancy.steps WHERE operation_id = $_[0]"); }

# 1. three writes, one login: the client token is kept
my @ops = map { vault_write("login$_") } 1 .. 3;
is(TenancyTest::wait_operation($node, $_), 'succeeded', "write $_ succeeded with the login token") for @ops;
my $seen = vault_requests(0);
my @login = logins($seen);
is(scalar(@login), 1, 'one login for three writes');
is($login[0]{method} . ' ' . $login[0]{status}, 'POST 200', 'the login succeeded');
is($login[0]{body}{role}, 'tenancy', 'logged in as the configured role');
is($login[0]{body}{jwt}, '***', 'with a service account token (masked by the simulator journal)');
is(scalar(grep { $_->{path} =~ m{^/v1/secret/data/tenants/login} && $_->{status} == 200 } @$seen), 3,
	'the three writes were accepted');

# 1b. a handler's Vault requests go out with the login token
my $mark0 = last_seq();
my $cop = credentials('cred');
is(TenancyTest::wait_operation($node, $cop), 'succeeded', 'database credentials with the login token');
my @cred = grep { $_->{path} eq '/v1/secret/data/tenants/cred/database' } @{ vault_requests($mark0) };
is(join(' ', map { "$_->{method}:$_->{status}" } @cred), 'GET:404 POST:200',
	'the handler read the secret (none yet) and wrote it');
is(join(' ', map { $_->{principal} // 'no token' } @cred),
	join(' ', ('kubernetes-tenancy-system-tenancy') x 2),
	'both with the token of the Kubernetes login (the service account)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_authid WHERE rolname IN ('cred_etl', 'cred_airflow') AND rolpassword LIKE 'SCRAM-SHA-256\$%'"),
	'2', 'the login roles got their passwords');

# 2. the token is denied once (revoked): log in again, the step retries
my $mark = last_seq();
TenancyTest::set_faults($sim, { rules => [ { service => 'vault', kind => 'status', status => 403,
	path => '^/v1/secret/data/', count => 1, message => 'permission denied' } ] });
my $op = vault_write('revoked');
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'a denied token is replaced by a new login');
$seen = vault_requests($mark);
is(join(' ', map { ($_->{path} =~ /login/ ? 'login' : 'write') . ':' . $_->{status} } @$seen),
	'write:403 login:200 write:200', 'denied, logged in again, retried');
like(step_of($op), qr/^succeeded 2 /, 'the step succeeded at its second attempt');
TenancyTest::clear_faults($sim);

# 3. the role's policy denies the path: one more login, then the step fails
TenancyTest::control($sim, 'POST', '/__sim/vault-roles', { role => 'tenancy',
	policies => [ { path => 'secret/data/allowed/*', capabilities => $all } ] });
TenancyTest::set_faults($sim, { rules => [ { service => 'vault', kind => 'status', status => 403,
	path => '^/v1/secret/data/', count => 1 } ] });
$mark = last_seq();
$op = vault_write('denied');
is(TenancyTest::wait_operation($node, $op), 'compensated', 'a path the policy denies fails the operation');
like(step_of($op), qr/^failed 2 POST \/v1\/secret\/data\/tenants\/denied\/settings returned HTTP 403: .*permission denied/,
	'the step failed at its second attempt, with the denial');
is(scalar(logins(vault_requests($mark))), 1, 'only one new login for a denial that persists');
TenancyTest::clear_faults($sim);

# 4. a short lease: the token is renewed before it expires, never denied
# (a configuration reload forgets the token: the next write logs in)
TenancyTest::control($sim, 'POST', '/__sim/vault-roles', { role => 'tenancy',
	policies => [ { path => 'secret/*', capabilities => $all } ], ttl => 2 });
reload_and_wait('SELECT pg_reload_conf()');
$mark = last_seq();
is(TenancyTest::wait_operation($node, vault_write('lease1')), 'succeeded', 'write with a 2 s token');
is(scalar(logins(vault_requests($mark))), 1, 'a reload made the worker log in again');
$mark = last_seq();
sleep(3);
is(TenancyTest::wait_operation($node, vault_write('lease2')), 'succeeded', 'write after the lease ran out');
$seen = vault_requests($mark);
is(join(' ', map { ($_->{path} =~ /login/ ? 'login' : 'write') . ':' . $_->{status} } @$seen),
	'login:200 write:200', 'logged in again before the write, which was not denied');

# 5. a role Vault does not know: steps retry with the login error, then fail
reload_and_wait("ALTER SYSTEM SET tenancy.vault_auth_role = 'no-such-role'; SELECT pg_reload_conf()");
$op = vault_write('badrole');
is(TenancyTest::wait_operation($node, $op), 'compensated', 'an unknown role fails the operation');
like(step_of($op),
	qr/^failed 4 gave up after 4 attempts: Vault login as role "no-such-role" at auth\/kubernetes\/login failed: HTTP 400: invalid role name "no-such-role"/,
	'the error names the role and what Vault said');
is(scalar(grep { $_->{path} =~ m{tenants/badrole} } @{ vault_requests(0) }), 0,
	'no write was sent without a token');
$op = credentials('badcred');
is(TenancyTest::wait_operation($node, $op), 'compensated', 'a handler step fails the same way');
like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op AND ordinal = 2"),
	qr/^gave up after 4 attempts: Vault login as role "no-such-role"/,
	'the handler step retried with the login error');
is(scalar(grep { $_->{path} =~ m{tenants/badcred} } @{ vault_requests(0) }), 0,
	'the handler sent no request without a token');

# 6. no secret in the server log or in a dump of the database
my $jwt = slurp_file($jwt_file);
chomp $jwt;
my $log = slurp_file($node->logfile);
ok(length($jwt) > 20, 'the service account token is known to the test');
is(index($log, $jwt), -1, 'the service account token is not in the server log');
unlike($log, qr/hvs\./, 'no Vault token in the server log');
my $connstr = $node->connstr('postgres');
my $dump = `pg_dump -d "$connstr" 2>&1`;
like($dump, qr/tenancy\.steps/, 'pg_dump ran');
is(index($dump, $jwt), -1, 'the service account token is not in the dump');
unlike($dump, qr/hvs\./, 'no Vault token in the dump');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
