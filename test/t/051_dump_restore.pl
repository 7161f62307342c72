# 051_dump_restore.pl: the platform database survives pg_dump and a restore
# into a fresh cluster, the way a DBA moves it: pg_dumpall --globals-only
# (the tenants' roles live outside any database), pg_dump -Fc of the platform
# database, then on the new cluster (tenancy preloaded, extension not
# created) psql of the globals and pg_restore --exit-on-error.
#   - the restore succeeds with no error (CREATE EXTENSION, then the
#     configuration tables' rows: pg_extension_config_dump);
#   - tenants, operations and steps are the same, row for row;
#   - the tenants' schemas, roles, grants and the shared table's policy work;
#   - the sequences go on: a new provision gets new ids, and the worker of
#     the new cluster runs it to the end without running old steps again.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $tmp = $PostgreSQL::Test::Utils::tmp_check;
my $sim = TenancyTest::start_simulator("$tmp/sim051", '--helm-ready-delay-ms', '100');
my $old = TenancyTest::new_node('dump_source', $sim, 'tenancy.max_attempts = 30');

sub spec
{
	my ($tenant, $tier) = @_;
	return qq('{"tenant": {"name": "$tenant", "tier": "$tier"}, "warehouse": {}, "resources": {}}'::jsonb);
}

sub run_op
{
	my ($node, $sql, $what) = @_;
	my $op = $node->safe_psql('postgres', $sql);
	is(TenancyTest::wait_operation($node, $op, 120), 'succeeded', $what);
	return $op;
}

run_op($old, "SELECT tenancy.provision('dr-a', " . spec('dr-a', 'basic') . ')', 'tenant dr-a provisioned');
run_op($old, "SELECT tenancy.provision('dr-b', " . spec('dr-b', 'basic') . ')', 'tenant dr-b provisioned');
run_op($old, "SELECT tenancy.apply('dr-a', " . spec('dr-a', 'standard') . ')', 'tenant dr-a changed');
run_op($old, "SELECT tenancy.provision('dr-c', " . spec('dr-c', 'basic') . ')', 'tenant dr-c provisioned');
run_op($old, "SELECT tenancy.deprovision('dr-c')", 'tenant dr-c deprovisioned');
$old->safe_psql('postgres', q{
	CREATE TABLE public.runs (tenant text NOT NULL, n int);
	SELECT tenancy.share_table('public.runs', 'tenant');
	INSERT INTO public.runs VALUES ('dr-a', 1), ('dr-b', 2);
	GRANT SELECT ON public.runs TO PUBLIC;
	SET ROLE etl_dr_a;
	CREATE TABLE dr_a_bronze.events (id int);
	INSERT INTO dr_a_bronze.events VALUES (1), (2), (3);
	RESET ROLE;
});

my %journal = (
	tenants => 'SELECT tenant_id, name, slug, state, generation, spec FROM tenancy.tenants ORDER BY tenant_id',
	operations => 'SELECT operation_id, tenant_id, kind, generation, state, requested_by, created_at,
	                      started_at, finished_at, error FROM tenancy.operations ORDER BY operation_id',
	steps => 'SELECT step_id, operation_id, ordinal, target, action, object, request, compensation,
	                 depends_on, state, attempts, http_status, last_error, started_at, finished_at
	            FROM tenancy.steps ORDER BY step_id',
);
my %before = map { $_ => $old->safe_psql('postgres', $journal{$_}) } keys %journal;
ok(length($before{steps}) > 0, 'the source has steps');

# dump
my $globals = "$tmp/051_globals.sql";
my $dump = "$tmp/051_platform.dump";
command_ok([ 'pg_dumpall', '--globals-only', '-h', $old->host, '-p', $old->port, '-f', $globals ],
	'pg_dumpall --globals-only');
command_ok([ 'pg_dump', '-Fc', '-h', $old->host, '-p', $old->port, '-f', $dump, 'postgres' ],
	'pg_dump -Fc of the platform database');
$old->stop;

# restore into a fresh cluster: tenancy preloaded, the extension not created
my $new = PostgreSQL::Test::Cluster->new('dump_target');
$new->init;
$new->append_conf('postgresql.conf', join("\n", TenancyTest::node_conf($sim), 'tenancy.max_attempts = 30') . "\n");
$new->start;
# the bootstrap superuser exists already: that one error is expected
my ($rc, $out, $err) = $new->psql('postgres', slurp_file($globals), on_error_stop => 0);
unlike($err =~ s/^.*role "\w+" already exists\n?//mgr, qr/ERROR/, 'the globals restore (roles) without other errors');
my ($stdout, $stderr) = ('', '');
my $restored = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-h', $new->host, '-p', $new->port,
	'-d', 'postgres', $dump ], '>', \$stdout, '2>', \$stderr);
ok($restored, 'pg_restore --exit-on-error succeeds') or diag($stderr);
is($stderr, '', 'pg_restore reports nothing');
is($new->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tenancy'"),
	$new->safe_psql('postgres', "SELECT default_version FROM pg_available_extensions WHERE name = 'tenancy'"),
	'the extension is restored');

for my $table (sort keys %journal)
{
	is($new->safe_psql('postgres', $journal{$table}), $before{$table}, "tenancy.$table restored row for row");
}

# roles and schemas have new OIDs in the new cluster: until a superuser
# declares them tenancy's, a shared table shows the tenant's roles nothing
# (current_tenant() follows only recorded roles)
my $tenant_view = q{
	SET ROLE etl_dr_a;
	SELECT coalesce((SELECT string_agg(tenant, ',') FROM public.runs), '(none)') || ' ' || (SELECT count(*) FROM dr_a_bronze.events)};
is($new->safe_psql('postgres', $tenant_view), '(none) 3',
	'before reconcile: the schema and data are there, the shared table shows the tenant nothing');

# a superuser declares them tenancy's once (issue 17: tenancy acts only on
# what it recorded)
cmp_ok($new->safe_psql('postgres', 'SELECT tenancy.reconcile_created_objects()'), '>', 0,
	'reconcile_created_objects records the restored OIDs');
is($new->safe_psql('postgres', $tenant_view),
	'dr-a 3', "the tenant's role, schema, data and the shared table's policy are restored");

# the journal goes on
my $max_op = $new->safe_psql('postgres', 'SELECT max(operation_id) FROM tenancy.operations');
my $op = run_op($new, "SELECT tenancy.provision('dr-d', " . spec('dr-d', 'basic') . ')',
	'a new tenant is provisioned on the restored database');
cmp_ok($op, '>', $max_op, 'its operation id follows the restored ones');
run_op($new, "SELECT tenancy.apply('dr-b', " . spec('dr-b', 'standard') . ')', 'a restored tenant is changed');
my $steps_old = $before{steps};
my $steps_now = $new->safe_psql('postgres', $journal{steps} =~ s/ORDER BY/WHERE operation_id <= $max_op ORDER BY/r);
is($steps_now, $steps_old, 'the restored steps were not run again');

$new->stop;
TenancyTest::stop_simulator($sim);
done_testing();
