# 018_worker_converge.pl: every operation reaches a final state that matches
# what happened, whatever the worker meets on the way (issue 16):
#  - a step behind a handler uses no attempt when the worker dies before it
#    starts;
#  - a step recorded failed whose request may have acted is compensated;
#  - a sibling that comes back for a retry while its operation compensates
#    is compensated, not left pending under a compensating operation;
#  - an unreachable platform (connection refused) is waited out up to
#    tenancy.unreachable_timeout, not failed after max_attempts (and so
#    are 5xx and 429 answers);
#  - one hung request of a handler does not hold up the requests in flight;
#  - validation counts only "not ready" answers: transient errors on its
#    reads neither use its attempts nor fail it;
#  - retry after a compensated provision waits for the namespace to be gone
#    and re-creates every object, reusing the credentials in Vault; apply
#    after a failed provision re-plans every object;
#  - an apply during a running provision waits for it;
#  - a deprovision ends the provision it supersedes;
#  - an apply queued behind a provision that then fails and is compensated
#    re-creates every object: the tenant ends at the stored spec;
#  - the worker and a deprovision take the tenant's locks in one order:
#    no deadlock when a deprovision holds the tenant while the worker
#    records the outcome that ends its provision;
#  - no step ever used more than tenancy.max_attempts attempts.
use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim018",
	'--helm-ready-delay-ms', '200', '--namespace-delete-delay-ms', '1500');
my $node = TenancyTest::new_node('converge', $sim,
	"tenancy.max_attempts = 3",
	"tenancy.lease_duration = '4s'",
	"tenancy.request_timeout = '5s'",
	"tenancy.unreachable_timeout = '60s'",
	"tenancy.release_ready_timeout = '30s'",
	"restart_after_crash = on");

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub spec
{
	my ($name, $extra) = @_;
	return "'{\"tenant\": {\"name\": \"$name\", \"tier\": \"basic\", \"environment\": \"dev\"},"
	  . " \"warehouse\": {}, \"resources\": {}}'::jsonb" . ($extra ? " || '$extra'::jsonb" : '');
}

# the objects of a tenant in the simulated cluster, without what the
# release's controllers make (pods, deployments)
sub tenant_objects
{
	my ($name) = @_;
	my $state = TenancyTest::sim_state($sim);
	return join(' ', sort grep { m{/airflow-$name(/|$)} && !m{^(pods|deployments\.apps|replicasets\.apps)/} }
		  keys %{ $state->{kubernetes}{objects} });
}

# every kind of object a provision makes is among a tenant's objects
sub has_every_object
{
	my ($objects, $name, $when) = @_;
	for my $kind ("namespaces/airflow-$name", 'resourcequotas/', 'limitranges/',
		"networkpolicies.networking.k8s.io/airflow-$name/default-deny",
		"networkpolicies.networking.k8s.io/airflow-$name/tenant-isolation",
		"serviceaccounts/airflow-$name/airflow-worker", 'rolebindings.rbac.authorization.k8s.io/',
		"secrets/airflow-$name/database-credentials", "secrets/airflow-$name/airflow-metadata",
		"configmaps/airflow-$name/tenant-dags", 'helmrepositories.', 'helmreleases.', 'servicemonitors.')
	{
		like($objects, qr/\Q$kind\E/, "$when: $kind");
	}
}

# the current version of a KV v2 secret in the simulated Vault
sub vault_version
{
	my ($path) = @_;
	my $secrets = TenancyTest::sim_state($sim)->{vault}{secrets};
	my ($key) = grep { m{(^|/)\Q$path\E$} } keys %$secrets;
	return $key ? $secrets->{$key}{current_version} : undef;
}

# ---- 1. attempts are counted when a request is sent: three handlers
# claimed together run one after another (1.5 s each); the worker is killed
# twice while they run.  Every step's attempts equal the requests the
# simulator received for it: those that waited behind another handler when
# the worker died used none (the claim used to count one for each).
{
	my @steps;
	for my $i (1 .. 3)
	{
		push @steps, {
			target => 'kubernetes', action => 'wait', object => "slow$i",
			request => { handler => 'wait_absent', path => "/api/v1/namespaces/slow$i" } };
	}
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'latency', ms => 1500,
		path => '^/api/v1/namespaces/slow' } ] });
	my $seq = TenancyTest::sim_state($sim)->{journalSeq};
	my $op = TenancyTest::enqueue_operation($node, 'attempts', \@steps);
	my $kills = 0;
	for my $kill (1 .. 2)
	{
		my $ok = 0;
		for (1 .. 100)
		{
			$ok = (eval { sql("SELECT count(*) FROM tenancy.steps WHERE operation_id = $op AND state = 'running'") } // '') eq '3';
			last if $ok;
			usleep(50_000);
		}
		my $pid = eval { TenancyTest::worker_pid($node) } // '';
		usleep(300_000);
		$kills++ if $ok && $pid =~ /^\d+$/ && kill('KILL', $pid);
		# the postmaster restarts every process; wait until the worker is back
		usleep(500_000);
		for (1 .. 100) { last if (eval { TenancyTest::worker_pid($node) } // '') =~ /^\d+$/; usleep(100_000); }
	}
	is($kills, 2, 'the worker was killed twice while the handlers ran');
	is(TenancyTest::wait_operation($node, $op, 60), 'succeeded',
		'the operation succeeded with 3 attempts per step');
	TenancyTest::clear_faults($sim);
	my %sent;
	$sent{ $_->{path} }++ for grep { $_->{path} =~ m{^/api/v1/namespaces/slow\d$} }
	  @{ TenancyTest::journal_since($sim, $seq) };
	is(sql("SELECT string_agg(ordinal || ':' || attempts, ' ' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = $op"),
		join(' ', map { "$_:" . ($sent{"/api/v1/namespaces/slow$_"} // 0) } 1 .. 3),
		'each step used as many attempts as requests it sent');
}

# ---- 2. a failed step whose request may have acted is compensated: the
# namespace was created, the answer lost (503 after the write) every time
# until the step gives up (503s use no attempt: tenancy.unreachable_timeout)
{
	sql("ALTER SYSTEM SET tenancy.unreachable_timeout = '2s'");
	sql('SELECT pg_reload_conf()');
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', method => 'POST',
		path => '^/api/v1/namespaces$', kind => 'status', status => 503, when => 'after' } ] });
	my $op = TenancyTest::enqueue_operation($node, 'acted', TenancyTest::namespace_steps('acted', 0));
	is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'the operation failed and was compensated');
	TenancyTest::clear_faults($sim);
	ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-acted', 10),
		'the namespace its failed step created is gone');
	sql('ALTER SYSTEM RESET tenancy.unreachable_timeout');
	sql('SELECT pg_reload_conf()');
}

# ---- 3. a sibling in flight when the operation fails, then told to retry:
# compensated, and the operation ends
{
	TenancyTest::set_faults($sim, { rules => [
		{ service => 'kubernetes', kind => 'latency', ms => 800, path => '^/api/v1/namespaces/default/configmaps/sibling$' },
		{ service => 'kubernetes', kind => 'status', status => 503, count => 1, when => 'after',
		  path => '^/api/v1/namespaces/default/configmaps/sibling$' } ] });
	my $op = TenancyTest::enqueue_operation($node, 'sibling', [
		{ target => 'kubernetes', action => 'get', object => 'missing',
		  request => { method => 'GET', path => '/api/v1/namespaces/no-such-namespace/configmaps/x' } },
		{ target => 'kubernetes', action => 'apply', object => 'configmap/default/sibling',
		  request => { method => 'PATCH', path => '/api/v1/namespaces/default/configmaps/sibling',
			  query => { fieldManager => 'tenancy', force => 'true' },
			  content_type => 'application/apply-patch+yaml',
			  body => { apiVersion => 'v1', kind => 'ConfigMap',
				  metadata => { name => 'sibling', namespace => 'default' }, data => { a => 'b' } } },
		  compensation => { method => 'DELETE', path => '/api/v1/namespaces/default/configmaps/sibling',
			  ok_status => [404] } } ]);
	is(TenancyTest::wait_operation($node, $op, 30), 'compensated',
		'the operation ends compensated, not stuck compensating');
	is(sql("SELECT string_agg(ordinal || ':' || state, ' ' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = $op"),
		'1:failed 2:compensated', 'the sibling that came back for a retry was compensated');
	TenancyTest::clear_faults($sim);
	ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/default/configmaps/sibling'), 'its configmap is gone');
}

# ---- 4. connection refused is waited out, within tenancy.unreachable_timeout
{
	TenancyTest::reload_worker($node, "ALTER SYSTEM SET tenancy.kubernetes_url = 'http://127.0.0.1:9'; SELECT pg_reload_conf()");
	my $op = TenancyTest::enqueue_operation($node, 'outage', TenancyTest::namespace_steps('outage', 1));
	sleep 5;
	is(sql("SELECT state FROM tenancy.operations WHERE operation_id = $op"), 'running',
		'5 s of refused connections (more than 3 tries): still running');
	like(sql("SELECT last_error || ' ' || (unreachable_since IS NOT NULL) || ' ' || attempts FROM tenancy.steps WHERE operation_id = $op AND ordinal = 1"),
		qr/(Couldn't connect|Could not connect|refused).* true 0$/i, 'the step says why and since when, and used no attempt');
	sql('ALTER SYSTEM RESET tenancy.kubernetes_url');
	sql('SELECT pg_reload_conf()');
	is(TenancyTest::wait_operation($node, $op, 30), 'succeeded', 'succeeded once the platform answered');

	# past the bound it fails, and says why
	TenancyTest::reload_worker($node, "ALTER SYSTEM SET tenancy.kubernetes_url = 'http://127.0.0.1:9'; "
		  . "ALTER SYSTEM SET tenancy.unreachable_timeout = '2s'; SELECT pg_reload_conf()");
	my $down = TenancyTest::enqueue_operation($node, 'down', TenancyTest::namespace_steps('down', 0));
	# the create may have acted (no answer is no refusal), so its DELETE is
	# sent as compensation, and it meets the same outage: the operation ends
	# failed (a compensation failed), not compensated
	is(TenancyTest::wait_operation($node, $down, 30), 'failed',
		'an outage past the bound fails the operation and its compensation');
	like(sql("SELECT phase || ' ' || state || ' ' || last_error FROM tenancy.steps WHERE operation_id = $down AND ordinal = 1"),
		qr/^compensation failed .*tenancy\.unreachable_timeout/, 'the undo of the namespace failed, naming tenancy.unreachable_timeout');
	TenancyTest::reload_worker($node, 'ALTER SYSTEM RESET tenancy.kubernetes_url; '
		  . 'ALTER SYSTEM RESET tenancy.unreachable_timeout; SELECT pg_reload_conf()');
}

# ---- 5. a handler's hung request does not hold up the requests in flight
{
	TenancyTest::set_faults($sim, { rules => [
		{ service => 'kubernetes', method => 'GET', path => '^/api/v1/namespaces/hung$', kind => 'hang' },
		{ service => 'kubernetes', kind => 'latency', ms => 300, method => 'POST' } ] });
	my $seq = TenancyTest::sim_state($sim)->{journalSeq};
	my @steps = ({ target => 'kubernetes', action => 'wait', object => 'hung',
		request => { handler => 'wait_absent', path => '/api/v1/namespaces/hung' } });
	for my $i (1 .. 3)
	{
		push @steps, { target => 'kubernetes', action => 'create', object => "namespace/quick$i",
			request => { method => 'POST', path => '/api/v1/namespaces',
				body => { apiVersion => 'v1', kind => 'Namespace', metadata => { name => "quick$i" } },
				ok_status => [409] } };
	}
	my $t0 = time();
	my $op = TenancyTest::enqueue_operation($node, 'hung', \@steps);
	my $created = 0;
	for (1 .. 40)
	{
		$created = grep { $_->{method} eq 'POST' && ($_->{status} // 0) == 201 }
		  @{ TenancyTest::journal_since($sim, $seq) };
		last if $created == 3;
		usleep(100_000);
	}
	my $elapsed = time() - $t0;
	is($created, 3, 'the three requests completed while the handler\'s request hung');
	cmp_ok($elapsed, '<', 4, 'well before the hung request timed out (5 s)');
	TenancyTest::clear_faults($sim);
	is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'the operation succeeded');
}

# ---- 6. validation: transient errors on its reads use no attempt and
# never decide; six 429s in a row with 3 attempts
{
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', method => 'GET',
		path => '^/apis/helm\\.toolkit\\.fluxcd\\.io/v2/namespaces/airflow-steady/helmreleases/airflow$',
		kind => 'retry-after', status => 429, retryAfter => 1, count => 6 } ] });
	my $t0 = time();
	my $op = sql("SELECT tenancy.provision('steady', " . spec('steady') . ")");
	is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'validation outlasted six 429s with 3 attempts');
	cmp_ok(time() - $t0, '<', 20, 'without waiting towards tenancy.release_ready_timeout');
	my $faults = TenancyTest::control($sim, 'GET', '/__sim/faults');
	is($faults->{rules}[0]{injected}, 6, 'the six 429s were answered');
	TenancyTest::clear_faults($sim);
}

# ---- 7. retry after a compensated provision: immediately, the namespace
# is gone first; every object comes back; the credentials are Vault's
{
	TenancyTest::control($sim, 'POST', '/__sim/helmrelease-outcome',
		{ namespace => 'airflow-again', ready => JSON::PP::false, message => 'simulated install failure' });
	my $op = sql("SELECT tenancy.provision('again', " . spec('again') . ")");
	is(TenancyTest::wait_operation($node, $op, 60), 'compensated', 'the failed provision was compensated');
	is(tenant_objects('again'), '', 'compensation ended once the namespace was gone');
	my $versions = vault_version('tenants/again/database');
	is($versions, 1, 'the first run wrote the credentials to Vault');
	TenancyTest::control($sim, 'DELETE', '/__sim/helmrelease-outcome');
	sql("SELECT tenancy.retry($op)");
	is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'retry at once succeeded');
	my $objects = tenant_objects('again');
	has_every_object($objects, 'again', 'after retry');
	is(vault_version('tenants/again/database'), 1,
		'the credentials in Vault were reused, not written again');
	is(sql("SELECT state FROM tenancy.tenants WHERE name = 'again'"), 'ready', 'tenant ready');

	# the same with apply: not "up to date", every object back
	TenancyTest::control($sim, 'POST', '/__sim/helmrelease-outcome',
		{ namespace => 'airflow-later', ready => JSON::PP::false, message => 'simulated install failure' });
	my $first = sql("SELECT tenancy.provision('later', " . spec('later') . ")");
	is(TenancyTest::wait_operation($node, $first, 60), 'compensated', 'a second failed provision');
	TenancyTest::control($sim, 'DELETE', '/__sim/helmrelease-outcome');
	my $apply = sql("SELECT tenancy.apply('later', " . spec('later') . ")");
	ok($apply ne '', 'apply with the same spec after the failure plans work');
	is(TenancyTest::wait_operation($node, $apply, 60), 'succeeded', 'and succeeds');
	(my $later = tenant_objects('later')) =~ s/later/again/g;
	is($later, $objects, 'with the same objects as the retried tenant');
}

# ---- 8. an apply during a running provision waits for it
{
	TenancyTest::set_faults($sim, { rules => [
		{ service => 'kubernetes', kind => 'retry-after', status => 429, retryAfter => 1, count => 1,
		  path => '^/api/v1/namespaces/airflow-racing/resourcequotas/' } ] });
	my $prov = sql("SELECT tenancy.provision('racing', " . spec('racing') . ")");
	my $apply = sql("SELECT tenancy.apply('racing', " . spec('racing', '{"resources": {"kubernetes": {"quotas": {"requests": {"cpu": "2"}, "limits": {"cpu": "3"}}}}}') . ")");
	is(TenancyTest::wait_operation($node, $prov, 60), 'succeeded', 'the provision succeeded');
	is(TenancyTest::wait_operation($node, $apply, 60), 'succeeded', 'the apply succeeded');
	is(sql("SELECT (SELECT min(started_at) FROM tenancy.steps WHERE operation_id = $apply AND target <> 'database')"
		  . " >= (SELECT finished_at FROM tenancy.operations WHERE operation_id = $prov)"), 't',
		'the apply started once the provision had ended');
	my $quota = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-racing/resourcequotas/tenant-quota');
	is($quota->{spec}{hard}{'limits.cpu'}, '3', 'the cluster has the applied quota');
	is(sql("SELECT state FROM tenancy.tenants WHERE name = 'racing'"), 'ready', 'tenant ready');
	TenancyTest::clear_faults($sim);
}

# ---- 9. a deprovision ends the provision it supersedes
{
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'latency', ms => 1000,
		path => '^/api/v1/namespaces/airflow-gone' } ] });
	my $prov = sql("SELECT tenancy.provision('gone', " . spec('gone') . ")");
	for (1 .. 50) { last if sql("SELECT state FROM tenancy.operations WHERE operation_id = $prov") eq 'running'; usleep(100_000); }
	my $dep = sql("SELECT tenancy.deprovision('gone')");
	is(TenancyTest::wait_operation($node, $dep, 60), 'succeeded', 'the deprovision succeeded');
	is(sql("SELECT state FROM tenancy.operations WHERE operation_id = $prov"), 'cancelled',
		'the provision it superseded is cancelled');
	TenancyTest::clear_faults($sim);
	ok(TenancyTest::k8s_gone($sim, '/api/v1/namespaces/airflow-gone', 10), 'no namespace left');
}

# ---- 10. an operation left compensating with a pending step (what the
# previous version left behind, issue 16 item 2) ends after an upgrade
{
	# as the previous version left it: a forward step back to pending while
	# its operation compensates (no claim takes it)
	my $op = sql(q{
		WITH t AS (INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('legacy', 'legacy', '{}')
		           RETURNING tenant_id),
		     o AS (INSERT INTO tenancy.operations (tenant_id, kind, generation, state, error)
		           SELECT tenant_id, 'provision', 1, 'compensating', 'step 2 failed' FROM t
		           RETURNING operation_id),
		     s AS (INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, attempts)
		           SELECT operation_id, 1, 'kubernetes', 'get', 'never',
		                  '{"method": "GET", "path": "/api/v1/namespaces/default"}', 1 FROM o)
		SELECT operation_id FROM o});
	is(TenancyTest::wait_operation($node, $op, 20), 'compensated', 'the stuck operation ends');
	like(sql("SELECT state || ': ' || last_error FROM tenancy.steps WHERE operation_id = $op"),
		qr/^cancelled: .*not run: the operation is compensating/, 'its pending step was cancelled, saying why');
}

# ---- 11. an apply queued behind a provision that then fails: planned
# against what may exist, not against the spec last applied (issue 16,
# item 5): after the provision's compensation deleted the namespace, the
# apply re-creates every object, with the applied quota
{
	TenancyTest::set_faults($sim, { rules => [
		{ service => 'kubernetes', kind => 'latency', ms => 1000, path => '^/api/v1/namespaces/airflow-queued/serviceaccounts(/|$)' },
		{ service => 'kubernetes', kind => 'status', status => 403, count => 1,
		  path => '^/api/v1/namespaces/airflow-queued/serviceaccounts(/|$)' } ] });
	my $prov = sql("SELECT tenancy.provision('queued', " . spec('queued') . ")");
	my $apply = sql("SELECT tenancy.apply('queued', " . spec('queued', '{"resources": {"kubernetes": {"quotas": {"requests": {"cpu": "2"}, "limits": {"cpu": "3"}}}}}') . ")");
	is(TenancyTest::wait_operation($node, $prov, 60), 'compensated', 'the provision in front failed and was compensated');
	is(TenancyTest::wait_operation($node, $apply, 60), 'succeeded', 'the apply queued behind it succeeded');
	TenancyTest::clear_faults($sim);
	my $objects = tenant_objects('queued');
	has_every_object($objects, 'queued', 'after the queued apply');
	my $quota = TenancyTest::k8s_object($sim, '/api/v1/namespaces/airflow-queued/resourcequotas/tenant-quota');
	is($quota->{spec}{hard}{'limits.cpu'}, '3', 'the cluster has the applied quota');
	is(sql("SELECT state FROM tenancy.tenants WHERE name = 'queued'"), 'ready', 'tenant ready');
}

# ---- 12. one lock order: a deprovision holds the tenant's row while the
# worker records the outcome that ends the tenant's provision.  The worker
# used to change the step and the operation first and wait for the tenant
# last, while the deprovision waited for the operation: a deadlock.
{
	# validation's reads are slow: it is seen running
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'latency', ms => 1500,
		method => 'GET', path => '^/api/v1/namespaces/airflow-locked$' } ] });
	my $prov = sql("SELECT tenancy.provision('locked', " . spec('locked') . ")");
	# every step done but validation, the last: its outcome ends the provision
	my $validating = '';
	for (1 .. 600)
	{
		$validating = sql("SELECT state FROM tenancy.steps WHERE operation_id = $prov AND action = 'validate'");
		last if $validating eq 'running';
		usleep(50_000);
	}
	is($validating, 'running', 'the provision validates');
	my $log_offset = -s $node->logfile;
	my ($in, $out, $err) = ('', '', '');
	my $racer = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "BEGIN;\nSELECT 'locked' FROM tenancy.tenants WHERE name = 'locked' FOR UPDATE;\n";
	for (1 .. 100) { $racer->pump_nb; last if $out =~ /locked/; usleep(50_000); }
	like($out, qr/locked/, 'a session holds the tenant\'s row');
	# the worker comes to record an outcome of the tenant and waits
	my $waits = 0;
	for (1 .. 300)
	{
		$waits = sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tenancy worker' AND wait_event_type = 'Lock'");
		last if $waits;
		$racer->pump_nb;
		usleep(100_000);
	}
	is($waits, '1', 'the worker waits for the tenant\'s row');
	TenancyTest::clear_faults($sim);
	$in .= "SELECT tenancy.deprovision('locked') > 0;\nCOMMIT;\n";
	$racer->finish;
	is($? >> 8, 0, 'the deprovision in that session succeeded') or diag($err);
	my $dep = sql("SELECT max(operation_id) FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'locked'");
	is(TenancyTest::wait_operation($node, $dep, 60), 'succeeded', 'the deprovision ran');
	like(sql("SELECT state FROM tenancy.operations WHERE operation_id = $prov"), qr/^(succeeded|cancelled)$/,
		'the provision ended');
	my $log = substr(PostgreSQL::Test::Utils::slurp_file($node->logfile), $log_offset);
	unlike($log, qr/deadlock detected/, 'no deadlock in the server log');
}

is(sql("SELECT count(*) FROM tenancy.steps WHERE attempts > current_setting('tenancy.max_attempts')::int"), '0',
	'no step used more than tenancy.max_attempts attempts');
is(sql("SELECT count(*) FROM tenancy.running_operations"), '0', 'nothing left running');
is(sql("SELECT count(*) FROM tenancy.steps WHERE state IN ('pending', 'running', 'compensating')"), '0',
	'no step left pending, running or compensating');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
