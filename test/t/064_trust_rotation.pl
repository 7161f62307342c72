# 064_trust_rotation.pl: issue 17, finding 8 (rotation forgets purged
# tenants).  When a tenant's credentials were last set is kept on
# tenancy.tenants (credentials_set_at, with the request to run again and
# the release to roll out), not only in the step history:
#   - provision sets it;
#   - after purge_history removed the operation that set the credentials
#     (a later operation is the tenant's latest), rotate_due_credentials
#     still rotates the tenant once its credentials are old, end to end,
#     and moves credentials_set_at;
#   - an unknown credentials_set_at is an audit finding, not silence.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim064",
	'--helm-ready-delay-ms', '100');
my $node = TenancyTest::new_node('trust_rotation', $sim,
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'",
	"tenancy.credential_max_age = 30");

my $op = $node->safe_psql('postgres', q{
	SELECT tenancy.provision('rot-p', '{"tenant": {"name": "rot-p", "tier": "basic"},
	                                     "warehouse": {}, "resources": {}}'::jsonb)});
is(TenancyTest::wait_operation($node, $op), 'succeeded', 'provision succeeded');
is($node->safe_psql('postgres', q{SELECT credentials_set_at IS NOT NULL AND credentials_request ->> 'target' = 'vault'
	AND release_path LIKE '%/helmreleases/airflow' FROM tenancy.tenants WHERE name = 'rot-p'}),
	't', 'provision records when the credentials were set, how, and the release');

# 100 days later: the provision is history, a later operation is the latest
$node->safe_psql('postgres', q{
	UPDATE tenancy.steps SET started_at = now() - interval '100 days', finished_at = now() - interval '100 days',
		   created_at = now() - interval '100 days'
	 WHERE operation_id = (SELECT operation_id FROM tenancy.operations WHERE kind = 'provision');
	UPDATE tenancy.operations SET created_at = now() - interval '100 days', started_at = now() - interval '100 days',
		   finished_at = now() - interval '100 days' WHERE kind = 'provision';
	UPDATE tenancy.tenants SET credentials_set_at = now() - interval '100 days' WHERE name = 'rot-p';
	INSERT INTO tenancy.operations (tenant_id, kind, generation, state, started_at, finished_at)
	SELECT tenant_id, 'usage', generation, 'succeeded', now(), now() FROM tenancy.tenants WHERE name = 'rot-p';});
is($node->safe_psql('postgres', q{SELECT purged FROM tenancy.purge_history('90 days') WHERE kind = 'operations'}),
	'1', 'purge_history removes the provision operation');
is($node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.steps WHERE request ->> 'handler' = 'database_credentials'}),
	'0', 'no credentials step is left in the history');

my $rotated = $node->safe_psql('postgres', 'SELECT tenancy.rotate_due_credentials()');
is($rotated, '1', 'rotate_due_credentials still rotates the tenant');
my $rot = $node->safe_psql('postgres', q{SELECT max(operation_id) FROM tenancy.operations WHERE kind = 'rotate'});
is(TenancyTest::wait_operation($node, $rot), 'succeeded', 'the rotation succeeds end to end');
is($node->safe_psql('postgres', q{SELECT string_agg(action, ',' ORDER BY ordinal) FROM tenancy.steps WHERE operation_id = }
	. ($rot || 0)), 'rotate,rollout', 'with the rollout of the release kept on the tenant');
is($node->safe_psql('postgres', q{SELECT credentials_set_at > now() - interval '1 minute' FROM tenancy.tenants WHERE name = 'rot-p'}),
	't', 'credentials_set_at moved to the rotation');

# unknown is a finding
$node->safe_psql('postgres', q{UPDATE tenancy.tenants SET credentials_set_at = NULL WHERE name = 'rot-p'});
$node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.audit('rot-p')});
like($node->safe_psql('postgres', q{SELECT detail FROM tenancy.audit_latest WHERE check_name = 'credential_age'}),
	qr/is unknown/, 'the audit reports credentials of unknown age');

done_testing();
