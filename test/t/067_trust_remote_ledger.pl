# 067_trust_remote_ledger.pl: issue 17, finding 2 for tenants placed on a
# warehouse server (platform A, warehouse B, the simulator for Vault and
# Kubernetes).  tenancy records on B, in tenancy_remote.created_objects and
# in the transaction of each CREATE, the OIDs of the roles and schemas it
# created; every later action there checks them first and refuses a role
# that merely has the tenant's name (42710, DETAIL with the object and both
# OIDs, HINT with what to do), leaving it untouched:
#   - rotation (the password statement), apply and deprovision of a tenant
#     whose airflow_ role a DBA replaced on B with a role of their own (the
#     audit reports it as foreign_object);
#   - apply after deprovision, when a DBA created an etl_ role that is a
#     member of pg_execute_server_program;
#   - the compensation of a failed provision, when the etl_ role it
#     created was replaced meanwhile.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use TenancyTest;

my $sim = TenancyTest::start_simulator("${PostgreSQL::Test::Utils::tmp_check}/sim067",
	'--helm-ready-delay-ms', '100');
my $platform = TenancyTest::new_node('ledger_a', $sim,
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '20s'");
my $wb = PostgreSQL::Test::Cluster->new('ledger_b');
$wb->init;
$wb->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$wb->start;
$platform->safe_psql('postgres', sprintf("SELECT tenancy.register_server('b', 'host=%s port=%d dbname=postgres')",
	$wb->host, $wb->port));

sub spec
{
	my ($tenant, $tier) = @_;
	$tier //= 'standard';
	return qq('{"tenant": {"name": "$tenant", "tier": "$tier"}, "warehouse": {"database": {"host": "b", "name": "warehouse"}}, "resources": {}}'::jsonb);
}
# every role of B: attributes, password, memberships, settings
my $roles_sql = q{SELECT string_agg(format('%s:%s%s%s%s%s%s:%s:%s:%s', a.rolname, a.rolsuper, a.rolcreaterole,
	a.rolcreatedb, a.rolreplication, a.rolbypassrls, a.rolcanlogin, coalesce(md5(a.rolpassword), '-'),
	(SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY 1) FROM pg_auth_members m WHERE m.member = a.oid),
	(SELECT string_agg(array_to_string(s.setconfig, ','), ';') FROM pg_db_role_setting s WHERE s.setrole = a.oid)),
	' ' ORDER BY a.rolname) FROM pg_authid a};
sub b_roles { return $wb->safe_psql('postgres', $roles_sql); }
sub error_of
{
	my ($op) = @_;
	return $platform->safe_psql('postgres', qq{SELECT string_agg(last_error, ' | ' ORDER BY ordinal)
		FROM tenancy.steps WHERE operation_id = $op AND last_error IS NOT NULL});
}
sub as_oid { return $wb->safe_psql('postgres', "SELECT oid FROM pg_roles WHERE rolname = '$_[0]'"); }

# 1. provision: B records what tenancy created there, with the OIDs
my $op = $platform->safe_psql('postgres', 'SELECT tenancy.provision(\'led\', ' . spec('led') . ')');
is(TenancyTest::wait_operation($platform, $op, 120), 'succeeded', 'tenant led provisioned on B');
is($wb->safe_psql('warehouse', q{
	SELECT count(*) FROM tenancy_remote.created_objects c
	 WHERE c.tenant = 'led' AND CASE c.kind
		WHEN 'role' THEN EXISTS (SELECT FROM pg_roles r WHERE r.oid = c.object_oid AND r.rolname = c.name)
		ELSE EXISTS (SELECT FROM pg_namespace n WHERE n.oid = c.object_oid AND n.nspname = c.name) END}),
	'12', 'B records its 6 roles and 6 schemas with the OIDs they have');
is($wb->safe_psql('warehouse', q{SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
	FROM pg_namespace WHERE nspname = 'tenancy_remote'}), 't', 'in the schema the worker owns');

# 2. a DBA replaces airflow_led on B with a role of their own, shaped like it
my $recorded = as_oid('airflow_led');
$wb->safe_psql('warehouse', q{DROP OWNED BY airflow_led; DROP ROLE airflow_led;
	CREATE ROLE airflow_led LOGIN; GRANT tenant_led_writer TO airflow_led});
my $foreign = as_oid('airflow_led');
my $before = b_roles();

# the audit reports it (source database, through the worker)
my $detail = $platform->safe_psql('postgres',
	q{SELECT detail FROM tenancy.audit('led') WHERE check_name = 'placement'});
my ($audit_op) = $detail =~ /audit operation (\d+)/;
is(TenancyTest::wait_operation($platform, $audit_op // 0, 60), 'succeeded', 'the worker audited B');
is($platform->safe_psql('postgres', q{SELECT string_agg(check_name || ' ' || severity || ' ' || object, ', ')
	FROM tenancy.audit_findings WHERE run_id = (SELECT max(run_id) FROM tenancy.audit_runs)
	AND source = 'database' AND check_name = 'foreign_object'}),
	"foreign_object critical role airflow_led (OID $foreign)", 'the audit reports the foreign role on B');

# rotation: no password on the foreign role
$op = $platform->safe_psql('postgres', "SELECT tenancy.rotate_credentials('led')");
is(TenancyTest::wait_operation($platform, $op, 60), 'compensated', 'rotation fails');
my $error = error_of($op);
like($error, qr/role "airflow_led" was not created by tenancy for the tenant \(SQLSTATE 42710\)/,
	'rotation refuses the same-named role (42710)');
like($error, qr/DETAIL: The role .* its OID is $foreign and tenancy_remote.created_objects of database warehouse records $recorded/,
	'DETAIL names the role and both OIDs');
like($error, qr/HINT: .*drop or rename it there and retry/, 'HINT says what to do');
unlike($error, qr/SCRAM-SHA-256|ALTER ROLE/, 'no statement and no verifier in the message');
is(b_roles(), $before, 'rotation: no role of B gained a password, membership or setting');

# apply of a changed spec (other per-tier settings and connection limit)
$op = $platform->safe_psql('postgres', 'SELECT tenancy.apply(\'led\', ' . spec('led', 'enterprise') . ')');
is(TenancyTest::wait_operation($platform, $op, 60), 'compensated', 'apply fails');
like(error_of($op), qr/role "airflow_led" was not created by tenancy for tenant "led" \(SQLSTATE 42710\)/,
	'apply refuses the same-named role (42710)');
is(b_roles(), $before, 'apply: no role of B changed');

# deprovision: the foreign role is not disabled, emptied or dropped
$op = $platform->safe_psql('postgres', "SELECT tenancy.deprovision('led', drop_data => true)");
is(TenancyTest::wait_operation($platform, $op, 60), 'compensated', 'deprovision fails');
like(error_of($op), qr/role "airflow_led" was not created by tenancy for tenant "led" \(SQLSTATE 42710\)/,
	'deprovision refuses the same-named role (42710)');
is(b_roles(), $before, 'deprovision: the foreign role and every other role of B unchanged');
is($wb->safe_psql('warehouse', q{SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'led\_%'}), '6',
	'and the schemas were not dropped');

# the DBA does what the HINT says: removes the foreign role, retries
$wb->safe_psql('warehouse', 'DROP ROLE airflow_led');
$platform->safe_psql('postgres', "SELECT tenancy.retry($op)");
is(TenancyTest::wait_operation($platform, $op, 60), 'succeeded', 'the retried deprovision finishes');
is($wb->safe_psql('warehouse', q{SELECT count(*) FROM pg_roles WHERE rolname ~ 'led'}), '0', 'every role of led is gone from B');
is($wb->safe_psql('warehouse', q{SELECT count(*) FROM tenancy_remote.created_objects WHERE tenant = 'led'}), '0',
	'and B\'s ledger forgot them and the schemas');

# 3. ops: deprovisioned (row kept); a DBA creates a privileged etl_ops on B
$op = $platform->safe_psql('postgres', 'SELECT tenancy.provision(\'ops\', ' . spec('ops') . ')');
is(TenancyTest::wait_operation($platform, $op, 120), 'succeeded', 'tenant ops provisioned on B');
$op = $platform->safe_psql('postgres', "SELECT tenancy.deprovision('ops')");
is(TenancyTest::wait_operation($platform, $op, 60), 'succeeded', 'ops deprovisioned, data kept');
is($wb->safe_psql('warehouse', q{SELECT string_agg(kind || ' ' || name, ', ' ORDER BY kind, name)
	FROM tenancy_remote.created_objects WHERE tenant = 'ops' AND kind = 'role'}),
	'role tenant_ops_owner', 'B forgets the roles deprovision dropped, keeps the owner it kept');
$wb->safe_psql('postgres', 'CREATE ROLE etl_ops LOGIN IN ROLE pg_execute_server_program');
$before = b_roles();
$op = $platform->safe_psql('postgres', 'SELECT tenancy.apply(\'ops\', ' . spec('ops') . ')');
is(TenancyTest::wait_operation($platform, $op, 60), 'compensated', 'apply after deprovision fails');
like(error_of($op), qr/role "etl_ops" was not created by tenancy for tenant "ops" \(SQLSTATE 42710\) DETAIL: .*does not record it as created for the tenant \(OID \d+\)/,
	'apply refuses the DBA\'s etl_ops (42710, not recorded)');
is(b_roles(), $before, 'etl_ops keeps its membership, gets no password; no other role appeared');

# 4. compensation: a provision that fails on Kubernetes after its SQL ran on
# B and a DBA replaced the etl_ role it created (Kubernetes answers 503,
# retried without end, until the role is replaced)
TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'status', status => 503 } ] });
$op = $platform->safe_psql('postgres', 'SELECT tenancy.provision(\'cmp\', ' . spec('cmp') . ')');
my $sql_done = 0;
for (1 .. 600)
{
	$sql_done = $platform->safe_psql('postgres', qq{SELECT count(*) FILTER (WHERE state <> 'succeeded') = 0
		FROM tenancy.steps WHERE operation_id = $op AND target = 'remote_database'}) eq 't';
	last if $sql_done;
	sleep(0.1);
}
ok($sql_done, 'the SQL steps of cmp ran on B');
$wb->safe_psql('warehouse', q{DROP OWNED BY etl_cmp; DROP ROLE etl_cmp;
	CREATE ROLE etl_cmp LOGIN IN ROLE pg_execute_server_program});
# Kubernetes now refuses the namespace for good: the provision compensates
TenancyTest::set_faults($sim, { rules => [ { service => 'kubernetes', kind => 'status', status => 422 } ] });
# the compensation that would drop etl_cmp refuses it: the operation ends
# failed (a compensation failed), not compensated
is(TenancyTest::wait_operation($platform, $op, 60), 'failed', 'the provision failed and its compensation on B failed');
TenancyTest::clear_faults($sim);
like(error_of($op), qr/role "etl_cmp" was not created by tenancy for tenant "cmp" \(SQLSTATE 42710\)/,
	'its compensation refuses the same-named role (42710)');
is($platform->safe_psql('postgres', qq{SELECT string_agg(phase || ' ' || state, ', ') FROM tenancy.steps
	WHERE operation_id = $op AND last_error ~ '42710'}), 'compensation failed',
	'the refusal is the failed compensation step');
ok($wb->safe_psql('postgres', q{SELECT pg_has_role('etl_cmp', 'pg_execute_server_program', 'MEMBER')}) eq 't',
	'the DBA\'s etl_cmp is still there, with its membership');
is($wb->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'etl_cmp'}), '1', 'not dropped');

TenancyTest::stop_simulator($sim);
done_testing();
