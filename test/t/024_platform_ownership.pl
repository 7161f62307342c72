# 024_platform_ownership.pl: tenancy acts only on the Kubernetes objects and
# Grafana dashboards it created for the tenant (issue 17 findings 4 and 6),
# and honours resources.kubernetes.namespace (issue 18).
#
# - A namespace that exists and is not tenancy's (a team's, with its
#   ConfigMap) is refused: the provision fails naming it, the namespace is
#   neither relabelled nor given a quota or a policy, and deprovision leaves
#   it and its ConfigMap alone.
# - A tenant's namespace deleted and created again by someone else, even
#   with tenancy's labels forged: deprovision leaves it alone (its uid is not
#   the recorded one); a normal deprovision sends preconditions.uid.
# - Dashboards: tenant "platform" does not touch the shipped platform
#   dashboard; a 32- and 37-hex-digit tenant name and the long name whose
#   hash they spell get distinct dashboards; two tenants sharing a
#   display_name both keep theirs.
# - Objects inside the tenant's namespace: created with POST and their uids
#   recorded (tenancy.platform_objects); applied only with that uid, so that
#   one deleted and created again by someone else (labels forged) is
#   refused and left unchanged, one deleted is created again, and a team's
#   object under tenancy's name is refused, never taken over.
# - resources.kubernetes.namespace is where the tenant goes; the namespace
#   of another tenant, default and kube-* are refused (22023), and so is
#   changing it on apply (0A000).
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim024",
	'--helm-ready-delay-ms', '100', '--namespace-delete-delay-ms', '100');
my $node = TenancyTest::new_node('ownership', $sim,
	"tenancy.max_attempts = 20",
	"tenancy.release_ready_timeout = '20s'");

my $k8s_token = do { local (@ARGV) = ($sim->{admin_k8s_token_file}); my $t = <>; chomp $t; $t };
my $grafana_token = do { local (@ARGV) = ($sim->{grafana_token_file}); my $t = <>; chomp $t; $t };
my $http = HTTP::Tiny->new(timeout => 30);
my $json = JSON::PP->new->canonical;

# k8s(METHOD, PATH, BODY): a request as the cluster admin (not tenancy)
sub k8s
{
	my ($method, $path, $body) = @_;
	my $res = $http->request($method, $sim->{kubernetes} . $path,
		{ headers => { Authorization => "Bearer $k8s_token", 'Content-Type' => 'application/json' },
		  defined $body ? (content => $json->encode($body)) : () });
	return ($res->{status}, eval { $json->decode($res->{content}) });
}

sub grafana
{
	my ($method, $path, $body) = @_;
	my $res = $http->request($method, $sim->{grafana} . $path,
		{ headers => { Authorization => "Bearer $grafana_token", 'Content-Type' => 'application/json' },
		  defined $body ? (content => $json->encode($body)) : () });
	return ($res->{status}, eval { $json->decode($res->{content}) });
}

sub spec
{
	my ($name, %extra) = @_;
	my $spec = { tenant => { name => $name, tier => 'basic', environment => 'dev',
							 %{ $extra{tenant} // {} } },
				 warehouse => {}, resources => $extra{resources} // {} };
	return TenancyTest::sql_literal($json->encode($spec)) . '::jsonb';
}

sub provision
{
	my ($name, %extra) = @_;
	my $op = $node->safe_psql('postgres', "SELECT tenancy.provision('$name', " . spec($name, %extra) . ")");
	return ($op, TenancyTest::wait_operation($node, $op));
}

sub deprovision
{
	my ($name) = @_;
	my $op = $node->safe_psql('postgres', "SELECT tenancy.deprovision('$name')");
	return ($op, TenancyTest::wait_operation($node, $op));
}

my $seq;

sub tenancy_labels
{
	return { 'app.kubernetes.io/managed-by' => 'tenancy', 'tenancy.io/tenant' => $_[0] };
}

# ---------------------------------------------------------------------------
# 1. a team's namespace with the expected name is refused, never adopted
k8s('POST', '/api/v1/namespaces', { apiVersion => 'v1', kind => 'Namespace',
	metadata => { name => 'airflow-prod', labels => { team => 'payments' } } });
k8s('POST', '/api/v1/namespaces/airflow-prod/configmaps', { apiVersion => 'v1', kind => 'ConfigMap',
	metadata => { name => 'team-config' }, data => { owner => 'payments' } });
my (undef, $team_before) = k8s('GET', '/api/v1/namespaces/airflow-prod');

my ($op, $state) = provision('prod');
isnt($state, 'succeeded', "provision into a team's namespace does not succeed ($state)");
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $op"),
	qr/namespace "airflow-prod" exists and was not created by tenancy for tenant "prod": it is not labelled app\.kubernetes\.io\/managed-by=tenancy/,
	'the error names the namespace and why it is not tenancy\'s');
my (undef, $team_after) = k8s('GET', '/api/v1/namespaces/airflow-prod');
is_deeply($team_after->{metadata}{labels}, $team_before->{metadata}{labels}, 'the namespace was not relabelled');
is($team_after->{metadata}{resourceVersion}, $team_before->{metadata}{resourceVersion}, 'nor changed at all');
is((k8s('GET', '/api/v1/namespaces/airflow-prod/resourcequotas/tenant-quota'))[0], 404, 'no quota put in it');
is((k8s('GET', '/apis/networking.k8s.io/v1/namespaces/airflow-prod/networkpolicies/default-deny'))[0], 404,
	'no default-deny policy put in it');
($op, $state) = deprovision('prod');
is($state, 'succeeded', 'deprovision of the refused tenant finishes');
is((k8s('GET', '/api/v1/namespaces/airflow-prod'))[0], 200, "deprovision left the team's namespace");
is((k8s('GET', '/api/v1/namespaces/airflow-prod/configmaps/team-config'))[0], 200, "and the team's ConfigMap");
like($node->safe_psql('postgres',
	"SELECT string_agg(last_error, ' | ') FROM tenancy.steps WHERE operation_id = $op AND state = 'skipped'"),
	qr/left alone: \/api\/v1\/namespaces\/airflow-prod is not tenant "prod"'s/, 'the skipped delete says why');

# a namespace labelled for another tenant is refused too
k8s('POST', '/api/v1/namespaces', { apiVersion => 'v1', kind => 'Namespace',
	metadata => { name => 'airflow-other', labels => { 'app.kubernetes.io/managed-by' => 'tenancy',
													   'tenancy.io/tenant' => 'someone-else' } } });
($op, $state) = provision('other');
isnt($state, 'succeeded', 'a namespace labelled for another tenant is refused');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $op"),
	qr/it is not labelled tenancy\.io\/tenant=other \(found "someone-else"\)/, 'naming the label found');

# ---------------------------------------------------------------------------
# 2. the namespace tenancy created: uid recorded; deletes carry it
($op, $state) = provision('alpha');
is($state, 'succeeded', 'alpha provisioned');
my (undef, $alpha_ns) = k8s('GET', '/api/v1/namespaces/airflow-alpha');
is($node->safe_psql('postgres', "SELECT namespace_uid FROM tenancy.tenants WHERE name = 'alpha'"),
	$alpha_ns->{metadata}{uid}, 'the namespace uid is recorded in tenancy.tenants');
for my $label ('app.kubernetes.io/managed-by', 'tenancy.io/tenant')
{
	my @unlabelled = grep { !defined $_->{metadata}{labels}{$label} }
	  grep { ($_->{metadata}{namespace} // $_->{metadata}{name}) eq 'airflow-alpha'
			   && ($_->{metadata}{managedFields}[0]{manager} // '') eq 'tenancy' }
	  values %{ TenancyTest::sim_state($sim)->{kubernetes}{objects} };
	is(scalar(@unlabelled), 0, "every object tenancy wrote (the namespace and what is in it) carries $label")
	  or diag(join ', ', map { "$_->{kind}/$_->{metadata}{name}" } @unlabelled);
}

# someone deletes alpha's namespace and creates one with forged labels
k8s('DELETE', '/api/v1/namespaces/airflow-alpha');
ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-alpha'), 'alpha\'s namespace deleted by someone');
k8s('POST', '/api/v1/namespaces', { apiVersion => 'v1', kind => 'Namespace',
	metadata => { name => 'airflow-alpha', labels => { 'app.kubernetes.io/managed-by' => 'tenancy',
													   'tenancy.io/tenant' => 'alpha' } } });
k8s('POST', '/api/v1/namespaces/airflow-alpha/configmaps', { apiVersion => 'v1', kind => 'ConfigMap',
	metadata => { name => 'intruder-data' }, data => { x => '1' } });
# an apply that writes in the namespace checks it first, and refuses it
my $apply = $node->safe_psql('postgres', "SELECT tenancy.apply('alpha', "
	  . spec('alpha', resources => { kubernetes => { quotas => { requests => { cpu => '3' } } } }) . ")");
isnt(TenancyTest::wait_operation($node, $apply), 'succeeded', 'an apply into the recreated namespace fails');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $apply"),
	qr/its uid \S+ is not \Q$alpha_ns->{metadata}{uid}\E, the uid of the namespace tenancy created/,
	'naming both uids');
is((k8s('GET', '/api/v1/namespaces/airflow-alpha/resourcequotas/tenant-quota'))[0], 404,
	'nothing was written into it');
($op, $state) = deprovision('alpha');
is($state, 'succeeded', 'deprovision of alpha finishes');
is((k8s('GET', '/api/v1/namespaces/airflow-alpha'))[0], 200, 'the recreated namespace is left alone');
is((k8s('GET', '/api/v1/namespaces/airflow-alpha/configmaps/intruder-data'))[0], 200, 'with its content');
k8s('DELETE', '/api/v1/namespaces/airflow-alpha');
TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-alpha');

# a normal deprovision deletes with preconditions.uid
($op, $state) = provision('beta');
is($state, 'succeeded', 'beta provisioned');
my (undef, $beta_ns) = k8s('GET', '/api/v1/namespaces/airflow-beta');
$seq = TenancyTest::sim_state($sim)->{journalSeq};
($op, $state) = deprovision('beta');
is($state, 'succeeded', 'beta deprovisioned');
ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-beta'), 'its namespace is gone');
my @deletes = grep { $_->{service} eq 'kubernetes' && $_->{method} eq 'DELETE' } @{ TenancyTest::journal_since($sim, $seq) };
is_deeply([ map { "$_->{path} uid=" . ($_->{body}{preconditions}{uid} // 'none') } grep { $_->{path} =~ m{/namespaces/airflow-beta$} } @deletes ],
	[ "/api/v1/namespaces/airflow-beta uid=$beta_ns->{metadata}{uid}" ],
	'the namespace DELETE carries preconditions.uid');
ok(!grep({ !defined $_->{body}{preconditions}{uid} } @deletes), 'every DELETE carries a uid precondition');

# ---------------------------------------------------------------------------
# 3. dashboards: uids and titles that cannot collide
# the dashboard deploy/monitoring ships (its uid and title as a stand-in
# where the test runs without deploy/, as under test/valgrind/run.sh)
my $shipped_file = TenancyTest::src_dir() . '/deploy/monitoring/grafana-platform-dashboard.json';
my $shipped = -f $shipped_file
  ? do { local $/; open my $fh, '<', $shipped_file or die; $json->decode(<$fh>) }
  : { uid => 'tenancy-platform', title => 'tenancy: platform', tags => [ 'tenancy', 'postgresql' ] };
is($shipped->{uid}, 'tenancy-platform', 'the platform dashboard\'s uid');
is((grafana('POST', '/api/dashboards/db', { dashboard => $shipped, overwrite => JSON::PP::true }))[0], 200,
	'the shipped platform dashboard is installed');
($op, $state) = provision('platform');
is($state, 'succeeded', 'tenant "platform" provisioned');
my (undef, $kept) = grafana('GET', '/api/dashboards/uid/tenancy-platform');
is($kept->{dashboard}{title}, $shipped->{title}, 'the shipped platform dashboard is untouched');
($op, $state) = deprovision('platform');
is((grafana('GET', '/api/dashboards/uid/tenancy-platform'))[0], 200,
	'and still there after deprovisioning tenant "platform"');

# a long name, and the tenant names spelled by its hash
my ($long, $i) = ('', 0);
$long = sprintf('tenant-with-a-long-name-hash-test-%06d', $i++) until $long && sha256_hex($long) =~ /^[a-f]/;
is(length($long), 40, 'a 40-character tenant name');
my $hex32 = substr(sha256_hex($long), 0, 32);
my $hex37 = substr(sha256_hex($long), 0, 37);
my %uids;
for my $t ($long, $hex32, $hex37)
{
	($op, $state) = provision($t, tenant => { display_name => 'Shared Name' });
	is($state, 'succeeded', "tenant $t provisioned");
}
my %by_tenant;
for my $t ($long, $hex32, $hex37)
{
	my (undef, $found) = grafana('GET', "/api/search?tag=tenant:$t");
	$by_tenant{$t} = $found->[0] if ref $found eq 'ARRAY' && @$found == 1;
}
my @mine = values %by_tenant;
is(scalar(grep { exists $by_tenant{$_} } ($long, $hex32, $hex37)), 3,
	'the long name and the two names spelled by its hash have a dashboard each');
my %distinct = map { ($by_tenant{$_}{uid} => 1) } grep { exists $by_tenant{$_} } ($long, $hex32, $hex37);
is(scalar(keys %distinct), 3, 'with three distinct uids');
my %titles = map { ($by_tenant{$_}{title} => 1) } grep { exists $by_tenant{$_} } ($long, $hex32, $hex37);
is(scalar(keys %titles), 3, 'and three distinct titles though they share a display_name');
like($by_tenant{$hex32}{title}, qr/^Airflow - Shared Name \(\Q$hex32\E\)$/, 'the title names the tenant');
ok(@mine == 3 && !grep({ $_->{uid} =~ /^tenancy-/ } @mine), 'no tenant dashboard uid in the platform\'s tenancy- range');
($op, $state) = deprovision($hex32);
is($state, 'succeeded', "deprovision $hex32");
is((grafana('GET', "/api/dashboards/uid/$by_tenant{$long}{uid}"))[0], 200,
	'the long-named tenant keeps its dashboard');
is((grafana('GET', "/api/dashboards/uid/$by_tenant{$hex37}{uid}"))[0], 200, "and so does $hex37");
is((grafana('GET', "/api/dashboards/uid/$by_tenant{$hex32}{uid}"))[0], 404, "${hex32}'s is gone");

# a dashboard of someone else at the tenant's uid is refused, then left alone
grafana('POST', '/api/dashboards/db', { dashboard => { uid => 'tn_gamma', title => 'Ops board' } });
($op, $state) = provision('gamma');
isnt($state, 'succeeded', 'a foreign dashboard at the tenant\'s uid fails the provision');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $op"),
	qr/dashboard tn_gamma \("Ops board"\) is not tenant "gamma"'s/, 'naming it');
is((grafana('GET', '/api/dashboards/uid/tn_gamma'))[1]{dashboard}{title}, 'Ops board', 'it is unchanged');

# ---------------------------------------------------------------------------
# 4. resources.kubernetes.namespace
($op, $state) = provision('delta', resources => { kubernetes => { namespace => 'data-delta' } });
is($state, 'succeeded', 'delta provisioned in the namespace its spec names');
my (undef, $delta_ns) = k8s('GET', '/api/v1/namespaces/data-delta');
is($delta_ns->{metadata}{labels}{'tenancy.io/tenant'}, 'delta', 'namespace data-delta is delta\'s');
is((k8s('GET', '/api/v1/namespaces/airflow-delta'))[0], 404, 'airflow-delta was not created');
is((k8s('GET', '/apis/helm.toolkit.fluxcd.io/v2/namespaces/data-delta/helmreleases/airflow'))[0], 200,
	'the release is in data-delta');
my ($ok, $out, $err) = $node->psql('postgres',
	"SELECT tenancy.provision('epsilon', " . spec('epsilon', resources => { kubernetes => { namespace => 'data-delta' } }) . ")",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/22023: namespace "data-delta" belongs to tenant "delta"/, "another tenant's namespace: 22023 naming the owner");
for my $ns ('default', 'kube-system', 'kube-flannel', 'ingress-nginx')
{
	($ok, $out, $err) = $node->psql('postgres',
		"SELECT tenancy.provision('epsilon', " . spec('epsilon', resources => { kubernetes => { namespace => $ns } }) . ")",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/22023/, "namespace $ns refused (22023)");
}
($ok, $out, $err) = $node->psql('postgres',
	"SELECT tenancy.apply('delta', " . spec('delta', resources => { kubernetes => { namespace => 'data-delta-2' } }) . ")",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/0A000: cannot move tenant "delta" to another Kubernetes namespace/, 'changing it on apply: 0A000');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.tenants WHERE name = 'epsilon'"), '0',
	'nothing of the refused tenants was created');
($op, $state) = deprovision('delta');
is($state, 'succeeded', 'delta deprovisioned');
ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/data-delta'), 'its namespace data-delta is gone');
# once delta is deprovisioned, its namespace is free for another tenant
($op, $state) = provision('epsilon', resources => { kubernetes => { namespace => 'data-delta' } });
is($state, 'succeeded', 'a deprovisioned tenant\'s namespace can be given to another');

# a namespace already labelled for this very tenant, with no uid recorded
# (what a crash between tenancy's POST and its record leaves): used, and its
# uid recorded from then on
k8s('POST', '/api/v1/namespaces', { apiVersion => 'v1', kind => 'Namespace',
	metadata => { name => 'airflow-zeta', labels => tenancy_labels('zeta') } });
my (undef, $zeta_ns) = k8s('GET', '/api/v1/namespaces/airflow-zeta');
($op, $state) = provision('zeta');
is($state, 'succeeded', 'a namespace labelled for this tenant and no uid recorded is used');
is($node->safe_psql('postgres', "SELECT namespace_uid FROM tenancy.tenants WHERE name = 'zeta'"),
	$zeta_ns->{metadata}{uid}, 'and its uid recorded');

# ---------------------------------------------------------------------------
# 6. objects inside the tenant's namespace: created with POST, their uids
# recorded, applied only with that uid; a foreign one is refused, unchanged
($op, $state) = provision('omega');
is($state, 'succeeded', 'omega provisioned');
my $quota_path = '/api/v1/namespaces/airflow-omega/resourcequotas/tenant-quota';
my (undef, $omega_quota) = k8s('GET', $quota_path);
is($node->safe_psql('postgres', "SELECT p.uid FROM tenancy.platform_objects p JOIN tenancy.tenants t USING (tenant_id) "
	  . "WHERE t.name = 'omega' AND p.path = '$quota_path'"),
	$omega_quota->{metadata}{uid}, "the quota's uid is recorded in tenancy.platform_objects");
my @unrecorded = grep { my $o = $_; ($o->{metadata}{namespace} // '') eq 'airflow-omega'
						  && ($o->{metadata}{managedFields}[0]{manager} // '') eq 'tenancy'
						  && $node->safe_psql('postgres', "SELECT count(*) FROM tenancy.platform_objects WHERE uid = '$o->{metadata}{uid}'") ne '1' }
  values %{ TenancyTest::sim_state($sim)->{kubernetes}{objects} };
is(scalar(@unrecorded), 0, 'every object tenancy created in the namespace has its uid recorded')
  or diag(join ', ', map { "$_->{kind}/$_->{metadata}{name}" } @unrecorded);

# someone deletes the quota and creates one of that name, with forged labels
k8s('DELETE', $quota_path);
k8s('POST', '/api/v1/namespaces/airflow-omega/resourcequotas', { apiVersion => 'v1', kind => 'ResourceQuota',
	metadata => { name => 'tenant-quota', labels => tenancy_labels('omega') }, spec => { hard => { pods => '1' } } });
my (undef, $forged) = k8s('GET', $quota_path);
$apply = $node->safe_psql('postgres', "SELECT tenancy.apply('omega', "
	  . spec('omega', resources => { kubernetes => { quotas => { requests => { cpu => '3' } } } }) . ")");
is(TenancyTest::wait_operation($node, $apply), 'compensated', 'an apply to a quota created again by someone else fails and is compensated');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $apply"),
	qr/\Q$quota_path\E is not the object tenancy created \(uid \Q$omega_quota->{metadata}{uid}\E\)/,
	'naming the object and the uid tenancy recorded');
my (undef, $forged_after) = k8s('GET', $quota_path);
is($forged_after->{metadata}{resourceVersion}, $forged->{metadata}{resourceVersion}, 'the foreign quota is unchanged');

# tenancy's object deleted (not replaced): the next apply creates it again
k8s('DELETE', $quota_path);
ok(TenancyTest::k8s_gone($sim, $quota_path), 'the foreign quota deleted');
$apply = $node->safe_psql('postgres', "SELECT tenancy.retry($apply)");
is(TenancyTest::wait_operation($node, $apply), 'succeeded', 'retried, the apply succeeds');
my (undef, $recreated) = k8s('GET', $quota_path);
is($recreated->{spec}{hard}{'requests.cpu'}, '3', 'the quota is created again, with the new spec');
is($node->safe_psql('postgres', "SELECT p.uid FROM tenancy.platform_objects p JOIN tenancy.tenants t USING (tenant_id) "
	  . "WHERE t.name = 'omega' AND p.path = '$quota_path'"),
	$recreated->{metadata}{uid}, 'and its new uid recorded');

# objects tenancy created before it recorded uids (0.1.0, or an attempt that
# ended between the POST and the record): labelled as the tenant's, they
# are used, and their uids recorded
$node->safe_psql('postgres', "DELETE FROM tenancy.platform_objects p USING tenancy.tenants t "
	  . "WHERE t.tenant_id = p.tenant_id AND t.name = 'omega'");
$apply = $node->safe_psql('postgres', "SELECT tenancy.apply('omega', "
	  . spec('omega', resources => { kubernetes => { quotas => { requests => { cpu => '2' } } } }) . ")");
is(TenancyTest::wait_operation($node, $apply), 'succeeded', 'an apply to labelled objects with no recorded uid succeeds');
my (undef, $quota_now) = k8s('GET', $quota_path);
is($quota_now->{spec}{hard}{'requests.cpu'}, '2', 'the quota changed');
is($node->safe_psql('postgres', "SELECT p.uid FROM tenancy.platform_objects p JOIN tenancy.tenants t USING (tenant_id) "
	  . "WHERE t.name = 'omega' AND p.path = '$quota_path'"),
	$quota_now->{metadata}{uid}, 'and its uid is recorded again');

# a team's ConfigMap under the name of one tenancy creates later (the backup
# script, when backups are turned on): refused, never taken over
my $script_path = '/api/v1/namespaces/airflow-omega/configmaps/tenant-backup-script';
my $backups_off = spec('omega', resources => { kubernetes => { quotas => { requests => { cpu => '3' } } },
											 database => { backup => { enabled => JSON::PP::false } } });
is(TenancyTest::wait_operation($node, $node->safe_psql('postgres', "SELECT tenancy.apply('omega', $backups_off)")),
	'succeeded', 'backups turned off');
ok(TenancyTest::k8s_gone($sim, $script_path), 'which deletes the backup script');
k8s('POST', '/api/v1/namespaces/airflow-omega/configmaps', { apiVersion => 'v1', kind => 'ConfigMap',
	metadata => { name => 'tenant-backup-script', labels => { team => 'payments' } }, data => { 'backup.sh' => 'echo team' } });
my (undef, $team_script) = k8s('GET', $script_path);
$apply = $node->safe_psql('postgres', "SELECT tenancy.apply('omega', "
	  . spec('omega', resources => { kubernetes => { quotas => { requests => { cpu => '3' } } },
								   database => { storage_gb => 5, backup => { enabled => JSON::PP::true, retention_days => 7 } } }) . ")");
is(TenancyTest::wait_operation($node, $apply), 'compensated', "turning backups on over a team's ConfigMap of tenancy's name fails and is compensated");
like($node->safe_psql('postgres', "SELECT string_agg(last_error, ' ') FROM tenancy.steps WHERE operation_id = $apply"),
	qr{\Q$script_path\E exists and was not created by tenancy for tenant "omega": it is not labelled app\.kubernetes\.io/managed-by=tenancy},
	'the step names the object and why it is not tenancy\'s');
my (undef, $script_after) = k8s('GET', $script_path);
is($script_after->{metadata}{resourceVersion}, $team_script->{metadata}{resourceVersion},
	"the team's ConfigMap is unchanged (not taken over by server-side apply, nor deleted by the compensation)");

# ---------------------------------------------------------------------------
# 5. upgrade from 0.1.0: stored specs get the namespace 0.1.0 really created
$node->safe_psql('postgres', 'CREATE DATABASE upgrade_check');
$node->safe_psql('upgrade_check', q{
	CREATE EXTENSION tenancy VERSION '0.1.0';
	INSERT INTO tenancy.tenants (name, slug, spec, state) VALUES
		('old-a', 'old_a', '{"resources": {"kubernetes": {"namespace": "custom-ns"}}}', 'ready'),
		('old-b', 'old_b', '{"resources": {"kubernetes": {"namespace": "custom-ns"}}}', 'ready'),
		('old-c', 'old_c', '{"resources": {"kubernetes": {"namespace": "airflow-old-c"}}}', 'ready');
	ALTER EXTENSION tenancy UPDATE TO '0.2.0';});
is($node->safe_psql('upgrade_check',
	"SELECT string_agg(name || '=' || (spec #>> '{resources,kubernetes,namespace}'), ',' ORDER BY name) FROM tenancy.tenants"),
	'old-a=airflow-old-a,old-b=airflow-old-b,old-c=airflow-old-c',
	'the upgrade sets each stored namespace to airflow-<name>, the one 0.1.0 created');
is($node->safe_psql('upgrade_check', "SELECT count(*) FROM tenancy.tenants WHERE namespace_uid IS NULL"), '3',
	'tenancy.tenants.namespace_uid exists after the upgrade');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
