# 013_worker_poison.pl: malformed step rows fail alone, with a message
# saying what is wrong; an operation whose steps wait for each other fails
# instead of staying pending; the worker does not restart, and other
# operations proceed.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim013");
my $node = TenancyTest::new_node('poison', $sim);
my $pid = TenancyTest::worker_pid($node);

my %poison = (
	'method-number' => [ '{"method": 42, "path": "/api/v1/namespaces"}', qr/"method" must be a string/ ],
	'method-verb' => [ '{"method": "BREW", "path": "/api/v1/namespaces"}', qr/unsupported method "BREW"/ ],
	'path-dots' => [ '{"method": "GET", "path": "/api/v1/../../etc/passwd"}', qr/"path" must be an absolute URL path/ ],
	'path-crlf' => [ '{"method": "GET", "path": "/api/v1\r\nX-Evil: 1"}', qr/"path" must be an absolute URL path/ ],
	'path-missing' => [ '{"method": "GET"}', qr/"path" must be an absolute URL path/ ],
	'path-overlong' => [ '{"method": "GET", "path": "/' . ('a' x 5000) . '"}', qr/"path" must be an absolute URL path/ ],
	'unknown-key' => [ '{"method": "GET", "path": "/api", "bodyy": {}}', qr/unknown key "bodyy"/ ],
	'query-object' => [ '{"method": "GET", "path": "/api", "query": {"a": {"b": 1}}}', qr/query parameter "a" must be/ ],
	'ok-status-text' => [ '{"method": "GET", "path": "/api", "ok_status": ["404"]}', qr/"ok_status" must be an array/ ],
	'content-type-crlf' => [ '{"method": "POST", "path": "/api", "content_type": "a\r\nb: c"}', qr/"content_type" must be/ ],
	'unknown-handler' => [ q{{"handler": "'; DROP TABLE tenancy.steps; --"}}, qr/unknown step handler "'; DROP TABLE/ ],
	'handler-number' => [ '{"handler": 7}', qr/"handler" must be a string/ ],
);

my %op;
for my $name (sort keys %poison)
{
	$op{$name} = TenancyTest::enqueue_operation($node, $name,
		[ { request => $poison{$name}[0] } ]);
}
# a step that depends on a step its operation does not have
$op{'missing-dep'} = TenancyTest::enqueue_operation($node, 'missing-dep',
	[ { request => { method => 'GET', path => '/api/v1/namespaces' }, depends_on => [7] } ]);
# helm with no handler, and a database step whose SQL fails
$op{helm} = TenancyTest::enqueue_operation($node, 'helm',
	[ { target => 'helm', request => { release => 'x' } } ]);
$op{'bad-sql'} = TenancyTest::enqueue_operation($node, 'bad-sql',
	[ { target => 'database', request => { sql => 'SELECT 1/0' } } ]);
# a dependency cycle (2 waits for 3, 3 for 2) after a step that succeeds:
# the operation must fail, not stay pending forever, and step 1 be undone
my $get = { method => 'GET', path => '/api/v1/namespaces' };
my $cycle = TenancyTest::enqueue_operation($node, 'cycle', [
	{ request => $get, compensation => $get },
	{ request => $get, depends_on => [ 1, 3 ] },
	{ request => $get, depends_on => [2] } ]);
# and good operations alongside
my @good = map { TenancyTest::enqueue_operation($node, "good$_", TenancyTest::namespace_steps("good$_", 2)) } 1 .. 3;

for my $name (sort keys %op)
{
	is(TenancyTest::wait_operation($node, $op{$name}), 'compensated', "$name: operation failed (nothing to undo)");
}
for my $name (sort keys %poison)
{
	like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op{$name}"),
		$poison{$name}[1], "$name: the error says what is wrong");
}
like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op{'missing-dep'}"),
	qr/depends on step 7, which the operation does not have/, 'missing dependency named');
like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op{helm}"),
	qr/no executor for helm steps/, 'helm without handler');
like($node->safe_psql('postgres', "SELECT last_error FROM tenancy.steps WHERE operation_id = $op{'bad-sql'}"),
	qr/division by zero/, 'failing SQL reported');
is($node->safe_psql('postgres', "SELECT count(*) FROM tenancy.steps WHERE state = 'failed' AND attempts = 1"),
	scalar(keys %op), 'each malformed step failed at its first attempt');

is(TenancyTest::wait_operation($node, $cycle), 'compensated', 'dependency cycle: the operation failed');
like($node->safe_psql('postgres', "SELECT error FROM tenancy.operations WHERE operation_id = $cycle"),
	qr/steps 2, 3 can never run: their dependencies form a cycle/, 'the error names the steps of the cycle');
is($node->safe_psql('postgres',
	"SELECT string_agg(ordinal || ':' || state || ':' || attempts, ' ' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = $cycle"),
	'1:compensated:1 2:failed:0 3:failed:0', 'the step before the cycle was undone; the cycle never ran');
is($node->safe_psql('postgres', "SELECT state FROM tenancy.tenants WHERE name = 'cycle'"),
	'failed', 'the tenant of the cycle failed');

is(TenancyTest::wait_operation($node, $_), 'succeeded', "good operation $_ succeeded") for @good;
is(TenancyTest::worker_pid($node), $pid, 'the worker never restarted');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no crash in the log');
my @requests = grep { $_->{path} =~ m{etc/passwd|X-Evil} } @{ TenancyTest::journal($sim) };
is(scalar(@requests), 0, 'no malformed request reached the simulator');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
