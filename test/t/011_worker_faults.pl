# 011_worker_faults.pl: with injected faults (20% 5xx, 5% 429 with
# Retry-After, 5% hung requests, connection resets, answers lost after the
# change was made) every operation still completes, and every object ends
# with the content asked for.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::Local ();
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim011");
my $node = TenancyTest::new_node('faults', $sim,
	"tenancy.max_attempts = 40",
	"tenancy.request_timeout = '1s'",
	"tenancy.retry_max_delay = '3s'");

TenancyTest::set_faults($sim, {
	seed => 11,
	rules => [
		{ service => 'kubernetes', kind => 'status', status => 503, rate => 0.2 },
		{ service => 'kubernetes', kind => 'retry-after', status => 429, retryAfter => 1, rate => 0.05 },
		{ service => 'kubernetes', kind => 'hang', rate => 0.05 },
		{ service => 'kubernetes', kind => 'reset', rate => 0.05 },
		{ service => 'kubernetes', kind => 'reset', when => 'after', rate => 0.05 },
	] });

my @tenants = map { "fault$_" } 1 .. 10;
my %op;
$op{$_} = TenancyTest::enqueue_operation($node, $_, TenancyTest::namespace_steps($_, 3))
  for @tenants;

my @states = map { TenancyTest::wait_operation($node, $op{$_}, 180) } @tenants;
is_deeply(\@states, [ ('succeeded') x @tenants ], 'every operation completed despite the faults');

TenancyTest::clear_faults($sim);
my $journal = TenancyTest::journal($sim);
my %faults;
$faults{ $_->{fault} // 'none' }++ for @$journal;
note explain \%faults;
ok(keys(%faults) >= 4, 'several kinds of faults were injected');
# 5xx, 429, resets and hangs use no attempt (tenancy.unreachable_timeout
# bounds them): the retries show as more requests than steps
cmp_ok(scalar(grep { $_->{service} eq 'kubernetes' } @$journal), '>',
	$node->safe_psql('postgres', 'SELECT count(*) FROM tenancy.steps'),
	'some steps were sent more than once');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.steps WHERE state <> 'succeeded' OR lease_until IS NOT NULL"),
	'0', 'no step left behind');

# a 429 with Retry-After: 2 delays the retry by two seconds, not by the
# (shorter) backoff
TenancyTest::set_faults($sim, { rules => [
	{ service => 'kubernetes', kind => 'retry-after', status => 429, retryAfter => 2, count => 1 } ] });
TenancyTest::clear_journal($sim);
my $ra = TenancyTest::enqueue_operation($node, 'retry-after', TenancyTest::namespace_steps('retry-after', 0));
is(TenancyTest::wait_operation($node, $ra), 'succeeded', 'operation after a 429 succeeded');
my @tries = @{ TenancyTest::journal($sim) };
is(join(',', map { $_->{status} } @tries), '429,201', 'one 429, then created');
cmp_ok(iso_ms($tries[1]{time}) - iso_ms($tries[0]{time}), '>=', 1900, 'Retry-After honoured');
TenancyTest::clear_faults($sim);

# every object exists once, with the content asked for
my $bad = 0;
for my $t (@tenants)
{
	for my $i (1 .. 3)
	{
		my ($status, $cm) = TenancyTest::k8s_get($sim, "/api/v1/namespaces/airflow-$t/configmaps/cm$i");
		$bad++ unless $status == 200 && $cm->{data}{tenant} eq $t && $cm->{data}{index} eq "$i";
	}
}
is($bad, 0, 'every configmap exists with its content');

# iso_ms(ISO 8601 UTC time): milliseconds since the epoch, date included
# (a retry that crosses midnight UTC must not count as negative)
sub iso_ms
{
	my ($t) = @_;
	my ($y, $mo, $d, $h, $m, $s, $frac) =
	  $t =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$/
	  or die "not an ISO 8601 UTC time: $t";
	return (Time::Local::timegm($s, $m, $h, $d, $mo - 1, $y) + ($frac // 0)) * 1000;
}

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
