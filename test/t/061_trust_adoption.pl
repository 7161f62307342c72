# 061_trust_adoption.pl: issue 17, finding 2 (role and schema adoption).
# tenancy acts only on the roles and schemas it created for a tenant, by
# OID (tenancy.created_objects); one that merely has the name is refused
# (42710, DETAIL naming it, HINT saying what to do), never adopted:
#   - after deprovision('ops2') a DBA creates an unrelated etl_ops2, member
#     of pg_execute_server_program: apply('ops2') by a tenancy_admin is
#     refused and the role keeps no new password, membership or attribute;
#   - after deprovision('ops3', drop_data => true) a DBA's
#     tenant_ops3_owner owns schema finance: deprovision('ops3', drop_data
#     => true) again is refused and finance keeps its data;
#   - a schema of the tenant's dropped and created again by someone else
#     under the owner role is refused too;
#   - once the foreign role is gone, a new provision creates fresh roles
#     and records their new OIDs;
#   - the audit reports the foreign object instead of failing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = TenancyTest::new_node('trust_adoption');
$node->safe_psql('postgres', 'CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin');

sub spec { return qq('{"tenant": {"name": "$_[0]", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb); }
sub as_admin
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE admin1; $sql",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($rc, $out, $err);
}
# every role's attributes, memberships and password, to compare
my $roles_sql = q{SELECT string_agg(format('%s:%s%s%s%s%s%s:%s:%s', a.rolname, a.rolsuper, a.rolcreaterole,
	a.rolcreatedb, a.rolreplication, a.rolbypassrls, a.rolcanlogin, coalesce(md5(a.rolpassword), '-'),
	(SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY 1) FROM pg_auth_members m WHERE m.member = a.oid)),
	' ' ORDER BY a.rolname) FROM pg_authid a};

# 1. ops2: provisioned, deprovisioned; an unrelated etl_ops2 appears
$node->safe_psql('postgres', 'SET ROLE admin1; SELECT tenancy.provision(\'ops2\', ' . spec('ops2') . ')');
is($node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.created_objects o
	JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'ops2'}), '12',
	'provision records its 6 roles (backup_ops2 included) and 6 schemas');
$node->safe_psql('postgres', "SET ROLE admin1; SELECT tenancy.deprovision('ops2')");
is($node->safe_psql('postgres', q{SELECT string_agg(o.kind || ' ' || o.name, ', ' ORDER BY o.kind, o.name) FROM tenancy.created_objects o
	JOIN tenancy.tenants t USING (tenant_id) WHERE t.name = 'ops2' AND o.kind = 'role'}),
	'role tenant_ops2_owner', 'deprovision forgets the roles it dropped, keeps the owner it kept');
$node->safe_psql('postgres', q{CREATE ROLE etl_ops2 LOGIN IN ROLE pg_execute_server_program});
my $before = $node->safe_psql('postgres', $roles_sql);
my ($rc, $out, $err) = as_admin('SELECT tenancy.apply(\'ops2\', ' . spec('ops2') . ')');
like($err, qr/42710: role "etl_ops2" was not created by tenancy for tenant "ops2"/,
	'apply refuses the same-named role (42710)');
like($err, qr/DETAIL:.*does not record it.*\nHINT:.*drop or rename it/s, 'DETAIL and HINT say why and what to do');
is($node->safe_psql('postgres', $roles_sql), $before, 'no role gained a password, membership or attribute');
is($node->safe_psql('postgres', q{SELECT state FROM tenancy.tenants WHERE name = 'ops2'}), 'deprovisioned',
	'the tenant is left as it was');
($rc, $out, $err) = as_admin('SELECT tenancy.provision(\'ops2\', ' . spec('ops2') . ')');
like($err, qr/42710: role "etl_ops2" was not created by tenancy/, 'provision of the deprovisioned tenant refuses it too');

# 2. the foreign role gone: a new provision creates fresh ones
my $old_writer = $node->safe_psql('postgres', q{SELECT object_oid FROM tenancy.created_objects WHERE name = 'tenant_ops2_owner'});
$node->safe_psql('postgres', 'DROP ROLE etl_ops2');
($rc, $out, $err) = as_admin('SELECT tenancy.provision(\'ops2\', ' . spec('ops2') . ')');
is($rc, 0, 'provision after the DBA dropped the foreign role') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.created_objects o JOIN pg_roles r
	ON r.oid = o.object_oid AND r.rolname = o.name WHERE o.name LIKE '%ops2%'}), '6',
	'its roles are recorded with the OIDs they have now');
is($node->safe_psql('postgres', q{SELECT pg_has_role('etl_ops2', 'pg_execute_server_program', 'MEMBER')}), 'f',
	'the fresh etl_ops2 has no membership of the old one');

# 3. ops3: deprovisioned with its data; a DBA's same-named owner owns finance
$node->safe_psql('postgres', 'SET ROLE admin1; SELECT tenancy.provision(\'ops3\', ' . spec('ops3') . ')');
$node->safe_psql('postgres', "SET ROLE admin1; SELECT tenancy.deprovision('ops3', drop_data => true)");
$node->safe_psql('postgres', q{
	CREATE ROLE tenant_ops3_owner;
	CREATE SCHEMA finance AUTHORIZATION tenant_ops3_owner;
	CREATE TABLE finance.ledger (amount numeric);
	ALTER TABLE finance.ledger OWNER TO tenant_ops3_owner;
	INSERT INTO finance.ledger VALUES (42)});
($rc, $out, $err) = as_admin("SELECT tenancy.deprovision('ops3', drop_data => true)");
like($err, qr/42710: role "tenant_ops3_owner" was not created by tenancy for tenant "ops3"/,
	'deprovision refuses to drop the same-named owner role');
is($node->safe_psql('postgres', 'SELECT sum(amount) FROM finance.ledger'), '42', 'finance keeps its data');

# 4. a schema of a live tenant dropped and created again by someone else
$node->safe_psql('postgres', 'SET ROLE admin1; SELECT tenancy.provision(\'ops4\', ' . spec('ops4') . ')');
$node->safe_psql('postgres', q{DROP SCHEMA ops4_staging; CREATE SCHEMA ops4_staging AUTHORIZATION tenant_ops4_owner});
($rc, $out, $err) = as_admin('SELECT tenancy.apply(\'ops4\', \'{"tenant": {"name": "ops4", "tier": "basic"}, "warehouse": {}, "resources": {}}\'::jsonb)');
like($err, qr/42710: schema "ops4_staging" was not created by tenancy for tenant "ops4".*OID is \d+ and tenancy.created_objects records \d+/s,
	'a schema created again under the tenant\'s name is refused, both OIDs named');

# 5. the audit reports foreign objects as findings
$node->safe_psql('postgres', 'SELECT count(*) FROM tenancy.audit()');
like($node->safe_psql('postgres', q{SELECT string_agg(tenant || ' ' || detail, E'\n' ORDER BY tenant) FROM tenancy.audit_latest WHERE check_name = 'foreign_object'}),
	qr/ops4 The schema ops4_staging \(OID \d+\) has a name tenancy derives/, 'the audit reports the foreign schema');

# 6. a shared table keeps no row of a tenant whose data was dropped: the
# next tenant of that name would see it (current_tenant() knows names)
$node->safe_psql('postgres', q{CREATE TABLE public.notes (tenant text NOT NULL, note text);
	SELECT tenancy.share_table('public.notes', 'tenant')});
my $op = $node->safe_psql('postgres', 'SET ROLE admin1; SELECT tenancy.provision(\'ops5\', ' . spec('ops5') . ')');
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'ops5 provisioned');
$node->safe_psql('postgres', q{GRANT SELECT, INSERT ON public.notes TO tenant_ops5_writer;
	SET ROLE etl_ops5; INSERT INTO public.notes (tenant, note) VALUES ('ops5', 'customer one')});
($rc, $out, $err) = as_admin("SELECT tenancy.deprovision('ops5', drop_data => true)");
like($err, qr/55000: cannot drop the data of tenant "ops5": shared tables hold its rows.*public\.notes.*HINT:  Delete them/s,
	'deprovision with drop_data is refused while a shared table holds its rows, the table named');
is($node->safe_psql('postgres', q{SELECT rolcanlogin FROM pg_roles WHERE rolname = 'etl_ops5'}), 't',
	'and changes nothing');
$node->safe_psql('postgres', q{DELETE FROM public.notes WHERE tenant = 'ops5'});
$op = $node->safe_psql('postgres', "SET ROLE admin1; SELECT tenancy.deprovision('ops5', drop_data => true)");
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'once they are deleted, it drops the data');
# a row under the name after the data went (committed while it ran)
$node->safe_psql('postgres', q{INSERT INTO public.notes VALUES ('ops5', 'left behind')});
($rc, $out, $err) = as_admin('SELECT tenancy.provision(\'ops5\', ' . spec('ops5') . ')');
like($err, qr/55000: shared tables still hold rows of a former tenant "ops5"/,
	'a new ops5 is refused while rows of the former one are there');
$node->safe_psql('postgres', q{DELETE FROM public.notes WHERE tenant = 'ops5'});
$op = $node->safe_psql('postgres', 'SET ROLE admin1; SELECT tenancy.provision(\'ops5\', ' . spec('ops5') . ')');
is(TenancyTest::wait_operation($node, $op, 60), 'succeeded', 'and provisioned once they are gone');
is($node->safe_psql('postgres', q{GRANT SELECT ON public.notes TO tenant_ops5_writer; SET ROLE etl_ops5; SELECT count(*) FROM public.notes}), '0',
	'the new ops5 sees no row of the former one');

done_testing();
