# 026_worker_request_limits.pl: tenancy.max_concurrent_requests and
# tenancy.max_requests_per_host hold for every request the worker sends,
# although it claims up to twice as many steps as it may have requests in
# flight: with every request slowed down, the simulator never has more of
# tenancy's requests in flight than the limits allow, and it does reach the
# per-host limit (the worker keeps its requests in flight, not fewer).
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;
use Time::Local qw(timegm);

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim026");
my $node = TenancyTest::new_node('limits', $sim,
	"tenancy.max_concurrent_requests = 6",
	"tenancy.max_requests_per_host = 4");

TenancyTest::set_faults($sim, { rules => [
	{ service => 'kubernetes', kind => 'latency', ms => 60 },
	{ service => 'vault', kind => 'latency', ms => 60 } ] });

# five tenants: a namespace, then eight configmaps in it and two Vault
# writes, all due at once
my @ops;
for my $t (map { "lim$_" } 1 .. 5)
{
	my $steps = TenancyTest::namespace_steps($t, 8);
	for my $i (1 .. 2)
	{
		push @$steps, {
			target => 'vault',
			action => 'write',
			object => "kv/tenants/$t/setting$i",
			request => {
				method => 'POST',
				path => "/v1/secret/data/tenants/$t/setting$i",
				body => { data => { value => "v$i" } }
			},
			depends_on => [1],
		};
	}
	push @ops, TenancyTest::enqueue_operation($node, $t, $steps);
}
is(TenancyTest::wait_operation($node, $_), 'succeeded', "operation $_ succeeded")
  for @ops;

# The simulator journals a request when it answers it, with its duration:
# it was in flight from time - durationMs to time.  The journal's times
# have millisecond resolution: a request's start is taken 1 ms later, so
# that the next request on a connection does not seem to overlap the one
# it followed.
sub epoch
{
	my ($t) = @_;
	my ($y, $mo, $d, $h, $mi, $s, $frac) =
	  $t =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$/ or die "bad time $t";
	return timegm($s, $mi, $h, $d, $mo - 1, $y) + ($frac // 0);
}

sub peak_in_flight
{
	my @entries = @_;
	my @events;
	for my $e (@entries)
	{
		my $end = epoch($e->{time});
		push @events, [ $end - $e->{durationMs} / 1000 + 0.001, 1 ], [ $end, -1 ];
	}
	my ($now, $peak) = (0, 0);
	for my $ev (sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @events)
	{
		$now += $ev->[1];
		$peak = $now if $now > $peak;
	}
	return $peak;
}

my @sent = grep { $_->{service} eq 'kubernetes' || $_->{service} eq 'vault' }
  @{ TenancyTest::journal($sim) };
cmp_ok(scalar(@sent), '>=', 5 * 11, 'the simulator journaled every request');
my $k8s = peak_in_flight(grep { $_->{service} eq 'kubernetes' } @sent);
my $vault = peak_in_flight(grep { $_->{service} eq 'vault' } @sent);
my $all = peak_in_flight(@sent);
cmp_ok($k8s, '<=', 4, "Kubernetes requests in flight at once: $k8s, within max_requests_per_host");
cmp_ok($vault, '<=', 4, "Vault requests in flight at once: $vault, within max_requests_per_host");
cmp_ok($all, '<=', 6, "requests in flight at once: $all, within max_concurrent_requests");
is($k8s, 4, 'the worker keeps max_requests_per_host Kubernetes requests in flight');

done_testing();
