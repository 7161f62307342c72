# test/perl/TenancyTest.pm: shared helpers of the worker's TAP tests.
#
#   my $sim  = TenancyTest::start_simulator("$tmp/sim");
#   my $node = TenancyTest::new_node('main', $sim, 'tenancy.max_attempts = 20');
#   my $op   = TenancyTest::enqueue_operation($node, 'acme',
#                  TenancyTest::namespace_steps('acme'));
#   is(TenancyTest::wait_operation($node, $op), 'succeeded');
#   my @entries = @{ TenancyTest::journal($sim) };
#
# The simulator (test/platform/simctl) runs under the test's tmp_check, so
# the user running the tests (postgres under test/run-tests.sh) owns it.
#
# The worker gets identities of its own (worker_identities): a Kubernetes
# token of the chart's service account and a Vault token named
# tenancy-worker, in the files k8s_token_file and vault_token_file that
# new_node configures.  The helpers here (k8s_object, k8s_get, vault_put)
# use the simulator's admin tokens, so the saved journals tell the worker's
# requests from the test's own (test/deploy/check-permissions.js counts
# only the worker's).
package TenancyTest;

use strict;
use warnings;

use Carp;
use File::Path qw(make_path);
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $json = JSON::PP->new->canonical;

# source tree: TENANCY_SRC (set by test/run-tests.sh), else the checkout
sub src_dir
{
	return $ENV{TENANCY_SRC} if $ENV{TENANCY_SRC};
	my $here = __FILE__;
	$here =~ s{/test/perl/TenancyTest\.pm$}{};
	return $here;
}

# every simulator this test started (stopped at the end, see END below)
our @STARTED_SIMULATORS;

# start_simulator(DIR, ARGS...): start test/platform/simctl in DIR; returns a
# hash: endpoints (kubernetes, vault, grafana, control) and token files.
sub start_simulator
{
	my ($dir, @args) = @_;
	make_path($dir);
	my $simctl = src_dir() . '/test/platform/simctl';
	my $out = `$simctl start $dir @args 2>&1`;
	croak "simulator did not start: $out" if $? != 0;
	open my $fh, '<', "$dir/endpoints.json" or croak "no endpoints.json: $!";
	local $/;
	my $endpoints = $json->decode(<$fh>);
	close $fh;
	my $sim = {
		dir => $dir,
		%$endpoints,
		admin_k8s_token_file => "$dir/k8s-token",
		admin_vault_token_file => "$dir/vault-token",
		k8s_token_file => "$dir/worker-k8s-token",
		vault_token_file => "$dir/worker-vault-token",
		grafana_token_file => "$dir/grafana-token",
	};
	push @STARTED_SIMULATORS, $sim;
	worker_identities($sim);
	return $sim;
}

# Simulators still running when the test script ends (it died before
# stop_simulator) are stopped, so that a failed test leaves nothing behind.
END
{
	my $simctl = src_dir() . '/test/platform/simctl';
	for my $sim (grep { !$_->{stopped} } @STARTED_SIMULATORS)
	{
		local $?;
		system("$simctl stop $sim->{dir} >/dev/null 2>&1");
	}
}

# The worker's principals in the simulator journal: the Kubernetes user of
# the chart's service account (release "tenancy" in namespace "platform", as
# test/deploy renders the chart) and the name of its Vault token.
our %WORKER_PRINCIPALS = (
	kubernetes => 'system:serviceaccount:platform:tenancy',
	vault => 'tenancy-worker');

# Set once the test enqueues hand-written steps (enqueue_operation).
our $HANDWRITTEN_STEPS = 0;

# Set by tests that run the real helm in cli mode: helm then acts with the
# worker's Kubernetes identity, and its requests (the chart's objects) are
# not the worker's own permissions.
our $HELM_CLI = 0;

# worker_identities(SIM): random tokens for the worker, registered with the
# simulator, written to SIM's k8s_token_file and vault_token_file (0600)
sub worker_identities
{
	my ($sim) = @_;
	my $random = sub {
		open my $fh, '<:raw', '/dev/urandom' or croak "urandom: $!";
		read($fh, my $bytes, 24) == 24 or croak "urandom: short read";
		close $fh;
		return unpack('H*', $bytes);
	};
	my $k8s = 'worker-' . $random->();
	my $vault = 'hvs.worker-' . $random->();
	control($sim, 'POST', '/__sim/tokens',
		{ token => $k8s, user => $WORKER_PRINCIPALS{kubernetes}, rules => undef });
	control($sim, 'POST', '/__sim/vault-tokens',
		{ token => $vault, name => $WORKER_PRINCIPALS{vault},
		  policies => [ { path => '*', capabilities => [qw(create read update patch delete list)] } ] });
	for ([ $sim->{k8s_token_file}, $k8s ], [ $sim->{vault_token_file}, $vault ])
	{
		my ($file, $token) = @$_;
		my $old = umask 077;
		open my $fh, '>', $file or croak "$file: $!";
		print $fh "$token\n";
		close $fh;
		umask $old;
	}
}

sub stop_simulator
{
	my ($sim) = @_;
	my $simctl = src_dir() . '/test/platform/simctl';
	save_journal($sim);
	system("$simctl stop $sim->{dir} >/dev/null 2>&1");
	$sim->{stopped} = 1;
}

# save_journal(SIM): the simulator's journal to $TESTDIR/journals/<test>.json
# (the deploy checks derive the worker's least-privilege RBAC from these),
# with the worker's principals, and whether the test enqueued hand-written
# steps (enqueue_operation): such requests exercise the worker's machinery,
# not what the extension plans, and do not count for the permissions.
sub save_journal
{
	my ($sim) = @_;
	return unless $ENV{TESTDIR};
	(my $test = $0) =~ s{.*/|\.pl$}{}g;
	my $entries = eval { journal($sim) } or return;
	make_path("$ENV{TESTDIR}/journals");
	open my $fh, '>', "$ENV{TESTDIR}/journals/$test.json" or return;
	print $fh $json->encode({
		principals => \%WORKER_PRINCIPALS,
		handwritten_steps => $HANDWRITTEN_STEPS ? JSON::PP::true : JSON::PP::false,
		helm_cli => $HELM_CLI ? JSON::PP::true : JSON::PP::false,
		entries => $entries });
	close $fh;
}

# journal_since(SIM, SEQ): journal entries after sequence number SEQ
sub journal_since
{
	my ($sim, $seq) = @_;
	return [ grep { $_->{seq} > $seq } @{ journal($sim) } ];
}

# k8s_object(SIM, PATH): GET from the simulated Kubernetes API as its
# admin; the decoded object, or undef on 404 (croaks on other errors)
sub k8s_object
{
	my ($sim, $path) = @_;
	open my $fh, '<', $sim->{admin_k8s_token_file} or croak "no token: $!";
	chomp(my $token = <$fh>);
	close $fh;
	my $res = HTTP::Tiny->new(timeout => 30)->get($sim->{kubernetes} . $path,
		{ headers => { Authorization => "Bearer $token" } });
	return undef if $res->{status} == 404;
	croak "GET $path: $res->{status} $res->{content}" unless $res->{success};
	return $json->decode($res->{content});
}

# k8s_gone(SIM, PATH [, SECONDS]): true once GET PATH answers 404 (as the
# admin), false if it still exists after SECONDS (default 5)
sub k8s_gone
{
	my ($sim, $path, $seconds) = @_;
	for (1 .. ($seconds // 5) * 10)
	{
		return 1 unless k8s_object($sim, $path);
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# vault_put(SIM, PATH, DATA): write a KV v2 secret (mount "secret")
sub vault_put
{
	my ($sim, $path, $data) = @_;
	open my $fh, '<', $sim->{admin_vault_token_file} or croak "no token: $!";
	chomp(my $token = <$fh>);
	close $fh;
	my $res = HTTP::Tiny->new(timeout => 30)->post("$sim->{vault}/v1/secret/data/$path",
		{ headers => { 'X-Vault-Token' => $token, 'Content-Type' => 'application/json' },
		  content => $json->encode({ data => $data }) });
	croak "vault write $path: $res->{status} $res->{content}" unless $res->{success};
}

# control(SIM, METHOD, PATH, BODY): call the simulator's control API
sub control
{
	my ($sim, $method, $path, $body) = @_;
	my $res = HTTP::Tiny->new(timeout => 30)->request(
		$method,
		$sim->{control} . $path,
		defined $body
		? {
			content => $json->encode($body),
			headers => { 'Content-Type' => 'application/json' }
		  }
		: {});
	croak "simulator control $method $path: $res->{status} $res->{content}"
	  unless $res->{success};
	return length($res->{content}) ? $json->decode($res->{content}) : undef;
}

# k8s_get(SIM, PATH): GET from the simulated Kubernetes API with the admin
# token; returns (status, decoded body or undef)
sub k8s_get
{
	my ($sim, $path) = @_;
	open my $fh, '<', $sim->{admin_k8s_token_file} or croak "token: $!";
	my $token = <$fh>;
	close $fh;
	chomp $token;
	my $res = HTTP::Tiny->new(timeout => 30)->get($sim->{kubernetes} . $path,
		{ headers => { Authorization => "Bearer $token" } });
	my $body = eval { $json->decode($res->{content}) };
	return ($res->{status}, $body);
}

sub journal { return control($_[0], 'GET', '/__sim/journal'); }
sub clear_journal { control($_[0], 'DELETE', '/__sim/journal'); }
sub set_faults { control($_[0], 'POST', '/__sim/faults', $_[1]); }
sub clear_faults { control($_[0], 'DELETE', '/__sim/faults'); }
sub sim_state { return control($_[0], 'GET', '/__sim/state'); }

# node_conf(SIM): the settings new_node gives a cluster: tenancy preloaded,
# fast retries, its endpoints pointing at SIM (when given)
sub node_conf
{
	my ($sim) = @_;
	my @conf = (
		"shared_preload_libraries = 'tenancy'",
		"tenancy.database = 'postgres'",
		"tenancy.poll_interval = '1s'",
		"tenancy.retry_base_delay = '20ms'",
		"tenancy.retry_max_delay = '500ms'",
		"tenancy.request_timeout = '2s'",
		"tenancy.connect_timeout = '1s'",
		"tenancy.lease_duration = '30s'",
		"tenancy.database_host = 'platform-db.test'",
		"max_worker_processes = 16",
		# the suites drop the extension with tenants in it; 060 tests the refusal
		"tenancy.allow_drop_with_tenants = on");
	if ($sim)
	{
		push @conf,
		  "tenancy.kubernetes_url = '$sim->{kubernetes}'",
		  "tenancy.kubernetes_token_file = '$sim->{k8s_token_file}'",
		  "tenancy.vault_url = '$sim->{vault}'",
		  "tenancy.vault_token_file = '$sim->{vault_token_file}'",
		  "tenancy.grafana_url = '$sim->{grafana}'",
		  "tenancy.grafana_token_file = '$sim->{grafana_token_file}'";
	}
	return @conf;
}

# new_node(NAME, SIM, EXTRA_CONF...): a started cluster with tenancy
# preloaded, its endpoints pointing at the simulator, the extension created
# in database postgres.  Retries are fast, so that fault tests finish.
sub new_node
{
	my ($name, $sim, @extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n", node_conf($sim), @extra) . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
	return $node;
}

# canonical_json(DATA): a stable text form, to compare request bodies
sub canonical_json { return $json->encode($_[0] // {}); }

sub sql_literal
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

# enqueue_operation(NODE, TENANT, STEPS [, KIND [, OPTIONS]]): insert a
# tenant (if new), an operation and its steps in one transaction, and wake
# the worker at commit: what provision does, without the planner.  STEPS:
# array of hashes {target, action, object, request, compensation,
# depends_on}.  OPTIONS: {wake => 0} commits without waking the worker.
# Returns the operation id.
sub enqueue_operation
{
	my ($node, $tenant, $steps, $kind, $options) = @_;
	$HANDWRITTEN_STEPS = 1;
	$kind //= 'provision';
	(my $slug = $tenant) =~ s/-/_/g;
	my @sql = (
		"BEGIN;",
		"INSERT INTO tenancy.tenants (name, slug, spec) VALUES ("
		  . sql_literal($tenant) . ", " . sql_literal($slug)
		  . ", '{}') ON CONFLICT (name) DO NOTHING;",
		"INSERT INTO tenancy.operations (tenant_id, kind, generation)"
		  . " SELECT tenant_id, " . sql_literal($kind) . ", 1 FROM tenancy.tenants WHERE name = "
		  . sql_literal($tenant) . ";");
	my $ordinal = 0;
	for my $s (@$steps)
	{
		$ordinal++;
		my $request = ref $s->{request} ? $json->encode($s->{request}) : $s->{request};
		my $comp = defined $s->{compensation} ? sql_literal($json->encode($s->{compensation})) . '::jsonb' : 'NULL';
		my $deps = '{' . join(',', @{ $s->{depends_on} // [] }) . '}';
		push @sql,
		  "INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, compensation, depends_on)"
		  . " SELECT max(operation_id), $ordinal, " . sql_literal($s->{target} // 'kubernetes')
		  . ", " . sql_literal($s->{action} // 'apply') . ", " . sql_literal($s->{object} // "step$ordinal")
		  . ", " . sql_literal($request) . "::jsonb, $comp, '$deps'"
		  . " FROM tenancy.operations;";
	}
	push @sql, "SELECT tenancy.wake_worker();" if $options->{wake} // 1;
	push @sql, "SELECT max(operation_id) FROM tenancy.operations;", "COMMIT;";
	my $out = $node->safe_psql('postgres', join("\n", @sql));
	my @lines = grep { /^\d+$/ } split /\n/, $out;
	return $lines[-1];
}

# namespace_steps(TENANT [, N_CONFIGMAPS]): a namespace (create, 409 = there
# already), then configmaps in it by server-side apply, each with a
# compensation that deletes it (404 = gone already).
sub namespace_steps
{
	my ($tenant, $n) = @_;
	$n //= 2;
	my $ns = "airflow-$tenant";
	my @steps = ({
		target => 'kubernetes',
		action => 'create',
		object => "namespace/$ns",
		request => {
			method => 'POST',
			path => '/api/v1/namespaces',
			body => {
				apiVersion => 'v1',
				kind => 'Namespace',
				metadata => { name => $ns, labels => { 'tenancy.io/tenant' => $tenant } }
			},
			ok_status => [409]
		},
		compensation => { method => 'DELETE', path => "/api/v1/namespaces/$ns", ok_status => [404] },
	});
	for my $i (1 .. $n)
	{
		push @steps, {
			target => 'kubernetes',
			action => 'apply',
			object => "configmap/$ns/cm$i",
			request => {
				method => 'PATCH',
				path => "/api/v1/namespaces/$ns/configmaps/cm$i",
				query => { fieldManager => 'tenancy', force => 'true' },
				content_type => 'application/apply-patch+yaml',
				body => {
					apiVersion => 'v1',
					kind => 'ConfigMap',
					metadata => { name => "cm$i", namespace => $ns },
					data => { tenant => $tenant, index => "$i" }
				}
			},
			compensation => {
				method => 'DELETE',
				path => "/api/v1/namespaces/$ns/configmaps/cm$i",
				ok_status => [404]
			},
			depends_on => [1],
		};
	}
	return \@steps;
}

# wait_operation(NODE, OP [, SECONDS]): the operation's final state
sub wait_operation
{
	my ($node, $op, $seconds) = @_;
	$seconds //= 60;
	my $state;
	for (1 .. $seconds * 10)
	{
		$state = $node->safe_psql('postgres',
			"SELECT state FROM tenancy.operations WHERE operation_id = $op");
		return $state
		  if $state =~ /^(succeeded|failed|compensated|cancelled)$/;
		select(undef, undef, undef, 0.1);
	}
	return "timeout ($state)";
}

# poll_until(NODE, SQL, WHAT [, SECONDS [, DBNAME]]): run SQL every 0.1 s
# until it returns something (a query written to return no row, or an
# empty string, while its condition does not hold) and return that; after
# SECONDS (60) the test fails loudly ("WHAT: timed out", with the query)
# and stops, rather than carry on to misleading assertions
sub poll_until
{
	my ($node, $sql, $what, $seconds, $dbname) = @_;
	$seconds //= 60;
	$dbname //= 'postgres';
	my $deadline = time() + $seconds;
	my $out = '';
	while (1)
	{
		$out = $node->safe_psql($dbname, $sql);
		return $out if $out ne '';
		last if time() > $deadline;
		select(undef, undef, undef, 0.1);
	}
	Test::More::fail("$what: timed out after $seconds s");
	Test::More::diag("query: $sql");
	croak "$what: timed out after $seconds s";
}

# reload_worker(NODE, SQL): run SQL that reloads the configuration
# (pg_reload_conf()), then wait until the worker logs that it reloaded it,
# instead of sleeping and hoping it did; after 30 s the test fails loudly
# and stops
sub reload_worker
{
	my ($node, $sql) = @_;
	my $count = sub { my @n = slurp_file($node->logfile) =~ /tenancy worker reloaded its configuration/g; scalar @n };
	my $before = $count->();
	$node->safe_psql('postgres', $sql);
	for (1 .. 300)
	{
		return if $count->() > $before;
		select(undef, undef, undef, 0.1);
	}
	Test::More::fail('the worker reloads its configuration: timed out after 30 s');
	croak 'the worker did not reload its configuration within 30 s';
}

# worker_pid(NODE): pid of the tenancy worker, or '' when none runs
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy worker'");
}

1;
