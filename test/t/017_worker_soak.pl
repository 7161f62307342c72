# 017_worker_soak.pl: provisions converge while the worker is killed and
# the platform fails (issue 16, "Measure").
#
# A reference tenant is provisioned without faults.  Then tenants are
# provisioned while the worker is killed (kill -9, and immediate stops of
# the server) and a share of the platform's answers are transient faults
# (503, 429 with Retry-After, connection resets, 503 after the write
# happened); one tenant meets a permanent fault (403 on its quota).
# Optionally (SOAK_OUTAGE_S) the Kubernetes API then refuses connections,
# and then hangs, for that long while more tenants are provisioned.
#
# Every operation must end succeeded, except the permanently faulted one:
# failed and compensated with its data kept, then succeeded after
# tenancy.retry once the fault is gone.  Every tenant's objects must equal
# the reference tenant's (names aside), nothing may be left running or
# pending, and the time to converge is printed.
#
# make test runs it scaled down; test/bench/bench_converge.sh runs the full
# one (30 tenants, 20 kills of which 3 immediate stops, 25% faults, a
# 2-minute outage refused and hung).  Settings (environment):
#   SOAK_TENANTS (10)  SOAK_KILLS (10)  SOAK_STOPS (1)  SOAK_FAULT_RATE (0.25)
#   SOAK_SEPARATE (0: kills and faults at once; 1: a phase each)
#   SOAK_OUTAGE_S (0)  SOAK_TIMEOUT_S (300)
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use TenancyTest;

my $tenants = $ENV{SOAK_TENANTS} // 10;
my $kills = $ENV{SOAK_KILLS} // 10;
my $stops = $ENV{SOAK_STOPS} // 1;
my $rate = $ENV{SOAK_FAULT_RATE} // 0.25;
my $separate = $ENV{SOAK_SEPARATE} // 0;
my $outage = $ENV{SOAK_OUTAGE_S} // 0;
my $timeout = $ENV{SOAK_TIMEOUT_S} // 300;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim017",
	'--helm-ready-delay-ms', '200');
# a stop of the worker costs an attempt to every step it held started (the
# journal cannot tell a kill from a step that crashes the worker), and a
# polling step (validation) is started often: leave room for every stop
my $node = TenancyTest::new_node('soak', $sim,
	"tenancy.max_attempts = " . (8 + $kills),
	"tenancy.lease_duration = '5s'",
	"tenancy.request_timeout = '3s'",
	"tenancy.retry_max_delay = '2s'",
	"tenancy.unreachable_timeout = '" . ($outage + 300) . "s'",
	"tenancy.release_ready_timeout = '120s'",
	"restart_after_crash = on");

# statements survive the restarts the kills cause
sub sql
{
	my ($query) = @_;
	for (1 .. 200)
	{
		my $out = eval { $node->safe_psql('postgres', $query) };
		return $out if defined $out;
		usleep(100_000);
	}
	die "could not run: $query";
}

sub spec
{
	my ($name) = @_;
	return "'{\"tenant\": {\"name\": \"$name\", \"tier\": \"basic\", \"environment\": \"dev\"},"
	  . " \"warehouse\": {}, \"resources\": {}}'::jsonb";
}

# the tenant's objects, as a tenant-independent canonical text per object
sub objects_of
{
	my ($name) = @_;
	my $state = TenancyTest::sim_state($sim);
	my %out;
	while (my ($key, $obj) = each %{ $state->{kubernetes}{objects} })
	{
		next unless $key =~ m{/airflow-\Q$name\E(/|$)};
		next if $key =~ m{^(pods|deployments\.apps|replicasets\.apps|events)/};
		my $meta = $obj->{metadata} // {};
		delete @$meta{qw(uid resourceVersion creationTimestamp managedFields generation selfLink)};
		delete $obj->{status};
		# the backup's minute is spread by tenant name, by design
		delete $obj->{spec}{schedule} if $key =~ m{^cronjobs\.batch/};
		(my $k = $key) =~ s/\Q$name\E/TENANT/g;
		(my $text = TenancyTest::canonical_json($obj)) =~ s/\Q$name\E/TENANT/gi;
		$out{$k} = $text;
	}
	my $dashboard = grep { ($_->{uid} // '') =~ /\Q$name\E/ } @{ $state->{grafana}{dashboards} // [] };
	$out{dashboard} = $dashboard ? 'present' : 'missing';
	return \%out;
}

# wait_all(OPS): every operation's final state, waiting up to $timeout
sub wait_all
{
	my ($ops, $deadline) = @_;
	my %state;
	while (time() < $deadline)
	{
		my $list = join(',', values %$ops);
		my $rows = sql("SELECT operation_id, state FROM tenancy.operations WHERE operation_id IN ($list)"
			  . " AND state IN ('succeeded', 'failed', 'compensated', 'cancelled')");
		%state = map { split /\|/ } split /\n/, $rows;
		return \%state if keys(%state) == keys(%$ops);
		usleep(200_000);
	}
	return \%state;
}

sub kill_worker
{
	my $pid = eval { TenancyTest::worker_pid($node) } // '';
	return 0 unless $pid =~ /^\d+$/;
	return kill('KILL', $pid);
}

my $t_start = time();

# ---- the reference tenant, without faults
my $ref = sql("SELECT tenancy.provision('soak000', " . spec('soak000') . ")");
is(TenancyTest::wait_operation($node, $ref, 120), 'succeeded', 'reference tenant provisioned');
my $reference = objects_of('soak000');
cmp_ok(scalar(keys %$reference), '>=', 15, 'the reference tenant has its objects');

# ---- faults: transient on every service at $rate, 20 ms on each request
sub transient_rules
{
	my ($r) = @_;
	my @rules;
	for my $service (qw(kubernetes vault grafana))
	{
		push @rules,
		  { service => $service, kind => 'latency', ms => 20 },
		  { service => $service, kind => 'status', status => 503, rate => $r * 0.4 },
		  { service => $service, kind => 'retry-after', status => 429, retryAfter => 1, rate => $r * 0.2 / (1 - $r * 0.4) },
		  { service => $service, kind => 'reset', rate => $r * 0.2 / (1 - $r * 0.6) },
		  { service => $service, kind => 'status', status => 503, when => 'after', rate => $r * 0.2 / (1 - $r * 0.8) };
	}
	return @rules;
}

my $n_faulted = 0;
my %ops;
my @names;
my $permanent = sprintf('soak%03d', 999);

# run_phase(FIRST, COUNT, WITH_KILLS, WITH_FAULTS): provision COUNT tenants
sub run_phase
{
	my ($first, $count, $with_kills, $with_faults) = @_;
	my @rules = ({ service => 'kubernetes', kind => 'latency', ms => $with_faults ? 20 : 50 });
	if ($with_faults)
	{
		@rules = (
			{ service => 'kubernetes', status => 403, name => 'permanent',
			  path => "^/api/v1/namespaces/airflow-$permanent/resourcequotas(/|\$)" },
			transient_rules($rate));
	}
	TenancyTest::set_faults($sim, { seed => 17 + $first, rules => \@rules });
	my @phase = map { sprintf('soak%03d', $_) } $first .. $first + $count - 1;
	push @phase, $permanent if $with_faults && !$n_faulted++;
	for my $t (@phase)
	{
		$ops{$t} = sql("SELECT tenancy.provision('$t', " . spec($t) . ")");
		push @names, $t;
	}
	if ($with_kills)
	{
		my $done = 0;
		my $stopped = 0;
		srand(17 + $first);
		while ($done < $kills)
		{
			usleep(300_000 + int(rand(1_200_000)));
			# the immediate stops are spread over the kills
			if ($stopped < $stops && $done == int(($stopped + 1) * $kills / ($stops + 1)))
			{
				$node->stop('immediate');
				$node->start;
				$stopped++;
				$done++;
				next;
			}
			$done++ if kill_worker();
			# let the postmaster bring everything back
			usleep(500_000);
			sql('SELECT 1');
		}
		is($done, $kills, "phase $first: the worker was stopped $kills times ($stopped of them immediate stops of the server)");
	}
}

my @timings;
my $t_phase = time();
if ($separate)
{
	run_phase(1, $tenants, 1, 0);
	wait_all(\%ops, time() + $timeout);
	push @timings, sprintf('%d tenants through %d stops: %.1f s', $tenants, $kills, time() - $t_phase);
	$t_phase = time();
	run_phase($tenants + 1, $tenants, 0, 1);
}
else
{
	run_phase(1, $tenants, 1, 1);
}
my $state = wait_all(\%ops, time() + $timeout);
push @timings, sprintf('%d tenants through %s%.0f%% faults: %.1f s', $tenants + 1,
	$separate ? '' : "$kills stops and ", $rate * 100, time() - $t_phase);
TenancyTest::clear_faults($sim);

# ---- an outage: connection refused, then hung requests
if ($outage > 0)
{
	my %outage_ops;
	my $first = 2 * $tenants + 1;
	sql("ALTER SYSTEM SET tenancy.kubernetes_url = 'http://127.0.0.1:9'");
	sql('SELECT pg_reload_conf()');
	for my $t (map { sprintf('soak%03d', $_) } $first .. $first + $tenants / 2 - 1)
	{
		$ops{$t} = $outage_ops{$t} = sql("SELECT tenancy.provision('$t', " . spec($t) . ")");
		push @names, $t;
	}
	sleep $outage;
	sql('ALTER SYSTEM RESET tenancy.kubernetes_url');
	sql('SELECT pg_reload_conf()');
	TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'hang' } ] });
	for my $t (map { sprintf('soak%03d', $_) } $first + $tenants / 2 .. $first + $tenants - 1)
	{
		$ops{$t} = $outage_ops{$t} = sql("SELECT tenancy.provision('$t', " . spec($t) . ")");
		push @names, $t;
	}
	sleep $outage;
	TenancyTest::clear_faults($sim);
	my $t_back = time();
	my $o = wait_all(\%outage_ops, time() + $timeout);
	$state->{$_} = $o->{$_} for keys %$o;
	push @timings, sprintf('%d tenants through %d s refused and %d s hung: converged %.1f s after the API came back',
		$tenants, $outage, $outage, time() - $t_back);
}

my $t_converged = time() - $t_start;

# ---- every operation ended; the permanently faulted one compensated
my @bad = grep { ($state->{ $ops{$_} } // 'unfinished') ne ($_ eq $permanent ? 'compensated' : 'succeeded') } @names;
is(join(', ', map { "$_: " . ($state->{ $ops{$_} } // 'unfinished') } @bad), '',
	'every provision succeeded, the permanently faulted one was compensated')
  or diag(sql("SELECT o.operation_id, o.state, s.ordinal, s.object, s.state, s.attempts, s.last_error"
	  . " FROM tenancy.operations o JOIN tenancy.steps s USING (operation_id)"
	  . " WHERE o.state <> 'succeeded' AND s.state NOT IN ('succeeded', 'skipped') ORDER BY 1, 3"));

# the permanent fault: data kept, then retried once the fault is gone
if ($n_faulted)
{
	is(sql("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '${permanent}\\_%'"), '6',
		'the compensated tenant kept its schemas');
	sql("SELECT tenancy.retry($ops{$permanent})");
	is(TenancyTest::wait_operation($node, $ops{$permanent}, 120), 'succeeded',
		'retried without the fault, it succeeded');
}

# every tenant's objects equal the reference tenant's
my @differ;
for my $t (@names)
{
	my $objects = objects_of($t);
	my @keys = sort(keys %$reference, grep { !exists $reference->{$_} } keys %$objects);
	my @diff = grep { ($objects->{$_} // 'missing') ne ($reference->{$_} // 'extra') } @keys;
	push @differ, "$t: " . join(' ', @diff) if @diff;
}
is(join('; ', @differ), '', 'every tenant has exactly the reference tenant\'s objects, with the same content');

is(sql("SELECT count(*) FROM tenancy.running_operations"), '0', 'no operation left running');
is(sql("SELECT count(*) FROM tenancy.steps WHERE state IN ('pending', 'running', 'compensating')"), '0',
	'no step left pending, running or compensating');
is(sql("SELECT count(*) FROM tenancy.tenants WHERE state <> 'ready'"), '0', 'every tenant ready');

my $faults = TenancyTest::journal($sim);
my %kinds;
$kinds{ $_->{fault}{kind} // 'none' }++ for grep { $_->{fault} && $_->{fault}{kind} ne 'latency' } @$faults;
# attempts never exceed the bound (the full soak's "9 attempts" was with
# max_attempts 8 + 20 stops = 28: see above)
is(sql("SELECT count(*) FROM tenancy.steps WHERE attempts > current_setting('tenancy.max_attempts')::int"), '0',
	'no step used more than tenancy.max_attempts attempts');
my $attempts = sql("SELECT max(attempts) || ' (tenancy.max_attempts ' || current_setting('tenancy.max_attempts') || ')' FROM tenancy.steps");
diag("soak: $_") for @timings;
diag(sprintf("soak: %d tenants converged in %.1f s in all (stops %d of which %d immediate, fault rate %.0f%%, outage %d s); "
	  . "faults injected: %s; most attempts of a step: %s",
	  scalar(@names), $t_converged, $kills, $stops, $rate * 100, $outage,
	  join(', ', map { "$_ $kinds{$_}" } sort keys %kinds) || 'none', $attempts));

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
