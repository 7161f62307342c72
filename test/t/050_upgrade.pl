# 050_upgrade.pl: ALTER EXTENSION tenancy UPDATE from 0.1.0, with live
# tenants, the way a DBA upgrades:
#   - 0.1.0 built as it was released (its sources from git history, given by
#     test/run-tests.sh in TENANCY_RELEASE_SRC), installed into a copy of this
#     server's installation; a cluster on it provisions tenants (local and
#     placed on a warehouse server), shares a table, runs the worker;
#   - a tenant is provisioned with the worker stopped, so that its steps are
#     pending in the 0.1.0 catalog; the server stops;
#   - the new library and scripts are installed over 0.1.0's (a package
#     upgrade) and the server started: the new worker waits, logging once,
#     and touches no step until the extension is updated;
#   - ALTER EXTENSION tenancy UPDATE: the worker resumes, the pending tenant
#     converges; apply, deprovision, audit, rotation, invoices and the shared
#     table keep working;
#   - the upgraded catalog equals a fresh install of the new version: pg_dump
#     --schema-only --binary-upgrade (which dumps extension members), every
#     function's pg_get_functiondef, the members with their comments and
#     privileges (pg_init_privs too), the configuration tables.  Compared
#     dynamically: the upgrade script grows all through a release.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

# without them the test fails (a skip would let a shallow CI clone pass
# without ever testing the upgrade)
my $release_src = $ENV{TENANCY_RELEASE_SRC};
unless ($release_src && -f "$release_src/Makefile")
{
	fail('the sources of 0.1.0 are there: run through test/run-tests.sh in a git checkout that has, '
		  . 'or can fetch from origin, commit 8d35af887237a0a7203fcdc51bd4ba2a3515f190');
	done_testing();
	exit;
}

my $tmp = $PostgreSQL::Test::Utils::tmp_check;

# pg_config(OPTION, [PG_CONFIG])
sub pg_config
{
	my ($option, $pg_config) = @_;
	$pg_config //= 'pg_config';
	my $out = `$pg_config $option`;
	die "$pg_config $option failed" if $?;
	chomp $out;
	return $out;
}

# 1. A copy of this server's installation (Debian layout, relocatable:
# lib/postgresql/N and share/postgresql/N side by side, as
# test/tools/private-pg.sh makes them) with 0.1.0 instead of the new version.
my $new_lib = dirname(pg_config('--bindir'));
my $major = basename($new_lib);
my $new_share = pg_config('--sharedir');
my $new_pkglib = pg_config('--pkglibdir');
my $old_root = "$tmp/pg-0.1.0";
my $old_lib = "$old_root/usr/lib/postgresql/$major";
my $old_share = "$old_root/usr/share/postgresql/$major";
make_path("$old_root/usr/lib/postgresql", "$old_root/usr/share/postgresql");
system('cp', '-a', $new_lib, "$old_root/usr/lib/postgresql/") == 0 or die "copy $new_lib";
system('cp', '-a', $new_share, "$old_root/usr/share/postgresql/") == 0 or die "copy $new_share";
symlink(abs_path(dirname(pg_config('--includedir'))), "$old_root/usr/include") or die "symlink: $!";
my $old_pg_config = "$old_lib/bin/pg_config";
my $old_pkglib = pg_config('--pkglibdir', $old_pg_config);
unlink glob("$old_pkglib/tenancy.so $old_pkglib/bitcode/tenancy.index.bc $old_share/extension/tenancy*");
system("rm -rf '$old_pkglib/bitcode/tenancy'");
my $build = `make -C '$release_src' -s -j2 with_llvm=no PG_CONFIG='$old_pg_config' install 2>&1`;
is($?, 0, '0.1.0 builds from its released sources') or diag($build);
ok(-f "$old_share/extension/tenancy--0.1.0.sql" && !-e "$old_share/extension/tenancy--0.1.0--0.2.0.sql",
	'the copy has 0.1.0 alone');

# 2. A platform database on 0.1.0, with tenants and a shared table
my $sim = TenancyTest::start_simulator("$tmp/sim050", '--helm-ready-delay-ms', '100');
my $node = PostgreSQL::Test::Cluster->new('upgraded', install_path => $old_lib);
$node->init;
$node->append_conf('postgresql.conf',
	join("\n", TenancyTest::node_conf($sim), 'tenancy.max_attempts = 30',
		"tenancy.release_ready_timeout = '20s'") . "\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tenancy'"),
	'0.1.0', 'the cluster runs 0.1.0');
is($node->safe_psql('postgres', 'SELECT tenancy.version()'), '0.1.0', 'with the library of 0.1.0');

my $warehouse = PostgreSQL::Test::Cluster->new('upgrade_warehouse');
$warehouse->init;
$warehouse->start;
$node->safe_psql('postgres', sprintf("SELECT tenancy.register_server('wh', 'host=%s port=%d dbname=postgres', accepting_tenants => false)",
		$warehouse->host, $warehouse->port));

# spec(TENANT, TIER, SERVER): placed on SERVER only when named (wh takes no
# tenant unless named: the others stay on the platform database)
sub spec
{
	my ($tenant, $tier, $server) = @_;
	my $wh = $server ? qq({"database": {"host": "$server", "name": "warehouse"}}) : '{}';
	return qq('{"tenant": {"name": "$tenant", "tier": "$tier"}, "warehouse": $wh, "resources": {}}'::jsonb);
}

sub run_op
{
	my ($sql, $what) = @_;
	my $op = $node->safe_psql('postgres', $sql);
	is(TenancyTest::wait_operation($node, $op, 120), 'succeeded', $what);
	return $op;
}

run_op("SELECT tenancy.provision('up-local', " . spec('up-local', 'basic') . ')', '0.1.0: local tenant provisioned');
run_op("SELECT tenancy.provision('up-placed', " . spec('up-placed', 'basic', 'wh') . ')',
	'0.1.0: tenant placed on a warehouse server provisioned');
run_op("SELECT tenancy.provision('up-gone', " . spec('up-gone', 'basic') . ')', '0.1.0: a third tenant provisioned');
$node->safe_psql('postgres', q{
	CREATE TABLE public.runs (tenant text NOT NULL, n int);
	SELECT tenancy.share_table('public.runs', 'tenant');
	INSERT INTO public.runs VALUES ('up-local', 1), ('up-gone', 2), ('up-late', 3);
	GRANT SELECT ON public.runs TO PUBLIC;
});

# a tenant whose steps are pending when the server stops: the worker is
# stopped (SIGSTOP) while it is provisioned, then the server is stopped
# immediately (the postmaster kills the stopped worker)
my $worker = TenancyTest::worker_pid($node);
kill 'STOP', $worker;
my $late = $node->safe_psql('postgres', "SELECT tenancy.provision('up-late', " . spec('up-late', 'basic') . ')');
my $steps_sql = "SELECT string_agg(ordinal || ':' || state || ':' || attempts, ' ' ORDER BY ordinal)
                   FROM tenancy.steps WHERE operation_id = $late";
my $steps_before = $node->safe_psql('postgres', $steps_sql);
like($steps_before, qr/pending/, 'the last tenant has pending steps');
$node->stop('immediate');

# 3. The new version's files installed over 0.1.0's, the server started
copy("$new_pkglib/tenancy.so", "$old_pkglib/tenancy.so") or die "copy tenancy.so: $!";
copy($_, "$old_share/extension/" . basename($_)) or die "copy $_: $!"
  for glob("$new_share/extension/tenancy*");
my ($new_version) = slurp_file("$new_share/extension/tenancy.control") =~ /default_version = '([^']+)'/;
my $log_offset = -s $node->logfile;
$node->start;

# (not wait_for_log, which dies: without the wait, the assertions below
# show what the worker did instead)
my $waiting = 0;
for (1 .. 30)
{
	last if $waiting = (substr(slurp_file($node->logfile), $log_offset)
		=~ /tenancy worker is waiting for extension tenancy to be updated from version 0\.1\.0 to \Q$new_version\E/);
	sleep 1;
}
ok($waiting, 'the new worker waits for ALTER EXTENSION UPDATE');
sleep 3;
is($node->safe_psql('postgres', $steps_sql), $steps_before,
	'while it waits, the pending steps are untouched (no claim, no attempt)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'tenancy worker'"),
	'1', 'the worker is running meanwhile');
my @waits = (substr(slurp_file($node->logfile), $log_offset) =~ /tenancy worker is waiting/g);
is(scalar(@waits), 1, 'the wait is logged once');

# in that window tenants keep working: the new library's hooks (the
# relation guard, the shared table's tenant) run against 0.1.0's catalog,
# which has no record of the roles tenancy created (names decide there)
is($node->safe_psql('postgres', q{
	SET ROLE etl_up_local;
	CREATE TABLE up_local_bronze.in_window (i int);
	INSERT INTO up_local_bronze.in_window VALUES (1);
	SELECT (SELECT count(*) FROM up_local_bronze.in_window) || ' ' || string_agg(tenant, ',' ORDER BY tenant) FROM public.runs}),
	'1 up-local', 'before the update, a tenant creates a table and the shared table shows it its rows alone');
is($node->safe_psql('postgres', q{SET ROLE etl_up_local; SELECT count(*) FROM public.runs WHERE tenant <> 'up-local'}),
	'0', 'and no other tenant\'s row');
is($node->safe_psql('postgres', $steps_sql), $steps_before, 'the worker still waits');

$node->safe_psql('postgres', 'ALTER EXTENSION tenancy UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'tenancy'"),
	$new_version, "ALTER EXTENSION UPDATE reaches $new_version");
is($node->safe_psql('postgres', 'SELECT tenancy.version()'), $new_version, 'with the new library');
$node->wait_for_log(qr/tenancy worker resumes/, $log_offset);
is(TenancyTest::wait_operation($node, $late, 120), 'succeeded',
	'the worker resumes: the pending tenant converges');

# The catalog changed under the running worker (as an ALTER EXTENSION
# UPDATE to a later version, run before the restart with its library,
# would): the worker notices in its next transaction, runs nothing, logs
# once, and resumes when the versions match again
$log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{UPDATE pg_extension SET extversion = '9.9.9' WHERE extname = 'tenancy'});
my $moved = $node->safe_psql('postgres', "SELECT tenancy.provision('up-moved', " . spec('up-moved', 'basic') . ')');
my $moved_sql = "SELECT string_agg(ordinal || ':' || state || ':' || attempts, ' ' ORDER BY ordinal)
                   FROM tenancy.steps WHERE operation_id = $moved";
my $moved_before = $node->safe_psql('postgres', $moved_sql);
$waiting = 0;
for (1 .. 30)
{
	last if $waiting = (substr(slurp_file($node->logfile), $log_offset)
		=~ /tenancy worker is waiting: extension tenancy was changed to version 9\.9\.9 in database "postgres" while the library of version \Q$new_version\E runs/);
	sleep 1;
}
ok($waiting, 'the running worker notices the catalog changed, and says so');
sleep 2;
is($node->safe_psql('postgres', $moved_sql), $moved_before,
	'a catalog of another version under the running worker: no step is claimed');
like($moved_before, qr/^[0-9:a-z ]*pending:0[0-9:a-z ]*$/, 'the steps are pending, no attempt made');
$node->safe_psql('postgres', qq{UPDATE pg_extension SET extversion = '$new_version' WHERE extname = 'tenancy'});
is(TenancyTest::wait_operation($node, $moved, 120), 'succeeded', 'the versions match again: the worker resumes');
@waits = (substr(slurp_file($node->logfile), $log_offset) =~ /tenancy worker is waiting/g);
is(scalar(@waits), 1, 'that wait was logged once');

# 4. Everything keeps working on the upgraded catalog
is($node->safe_psql('postgres', q{
	SET ROLE etl_up_local;
	SELECT string_agg(tenant, ',' ORDER BY tenant) FROM public.runs}),
	'up-local', 'the shared table shows a tenant its rows alone');
my ($rc, $out, $err);
# what 0.2.0 builds and 0.1.0 did not (the backup CronJob) reaches a tenant
# of 0.1.0 with the first apply, even with its spec unchanged; once
my $cronjob = '/apis/batch/v1/namespaces/airflow-up-local/cronjobs/tenant-backup';
ok(!defined TenancyTest::k8s_object($sim, $cronjob), '0.1.0 created no backup CronJob');
my $replan = run_op("SELECT tenancy.apply('up-local', " . spec('up-local', 'basic') . ')',
	'the first apply after the upgrade, spec unchanged, runs');
ok(defined TenancyTest::k8s_object($sim, $cronjob), 'it created the backup CronJob');
is($node->safe_psql('postgres', "SELECT planned_by FROM tenancy.operations WHERE operation_id = $replan"),
	$new_version, 'the operation records the version that planned it');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT tenancy.apply('up-local', " . spec('up-local', 'basic') . ')');
like($err, qr/is up to date/, 'the next apply with the same spec plans nothing');
run_op("SELECT tenancy.apply('up-local', " . spec('up-local', 'standard') . ')', 'apply changes a tenant');
run_op("SELECT tenancy.apply('up-placed', " . spec('up-placed', 'standard', 'wh') . ')',
	'apply changes the placed tenant');
is($warehouse->safe_psql('postgres', "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'backup_up_placed'"),
	't', 'on the warehouse, that apply created the backup role 0.1.0 did not');
# drop_data is refused while the shared table holds the tenant's rows
$node->safe_psql('postgres', q{DELETE FROM public.runs WHERE tenant = 'up-gone'});
run_op("SELECT tenancy.deprovision('up-gone', true)", 'deprovision removes a tenant');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname ~ '_up_gone'"), '0',
	'its roles are gone');
run_op("SELECT tenancy.deprovision('up-placed', true)", 'deprovision removes the placed tenant of 0.1.0');
is($warehouse->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname ~ '_up_placed'")
	. ' ' . $warehouse->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname ~ '^up_placed_'"),
	'0 0', 'on the warehouse, its roles and schemas are gone');
# the audit: the tenants applied since the upgrade are clean; up-late,
# planned by 0.1.0 and not applied since, lacks what 0.2.0 plans and 0.1.0
# did not (the backup role, the audit table's billing guard, the sequence
# grant of the backup role), until its first apply
my $audit_sql = q{SELECT tenant || ' | ' || check_name || ' | ' || severity || ' | ' || object
                    FROM tenancy.audit() ORDER BY 1};
($rc, $out, $err) = $node->psql('postgres', $audit_sql);
is($rc, 0, 'audit runs') or diag($err);
is($out, join("\n",
		'up-late | billing_guard | high | up_late_audit.pipeline_runs',
		'up-late | drift | warning | up_late_audit.pipeline_runs_run_id_seq',
		'up-late | role_missing | critical | backup_up_late'),
	'the audit after the upgrade: only what 0.1.0 did not build, for the tenant not applied since');
run_op(q{SELECT tenancy.apply(name, spec) FROM tenancy.tenants WHERE name = 'up-late'},
	'apply with its stored spec');
is($node->safe_psql('postgres', $audit_sql), '', 'after it, the audit finds nothing');
run_op("SELECT tenancy.rotate_credentials('up-local')", 'rotation gives a new password end to end');
$node->safe_psql('postgres', 'SELECT tenancy.sample_usage()');
like($node->safe_psql('postgres',
	"SELECT amount FROM tenancy.invoice('up-local', now() - interval '1 day', now() + interval '1 day') WHERE line = 'total'"),
	qr/^\d+(\.\d+)?$/, 'invoice has a total');
run_op("SELECT tenancy.provision('up-new', " . spec('up-new', 'basic') . ')', 'a new tenant is provisioned');

# 5. The upgraded catalog equals a fresh install of the new version
my $fresh = PostgreSQL::Test::Cluster->new('fresh');
$fresh->init;
$fresh->append_conf('postgresql.conf', join("\n", TenancyTest::node_conf(undef)) . "\n");
$fresh->start;
$fresh->safe_psql('postgres', 'CREATE EXTENSION tenancy');

# catalog(NODE, SQL): one row per line, sorted
sub catalog
{
	my ($n, $sql) = @_;
	return $n->safe_psql('postgres', $sql);
}

my $ext = "(SELECT oid FROM pg_extension WHERE extname = 'tenancy')";
my %queries = (
	'member objects, comments and privileges' => qq{
		SELECT pg_describe_object(d.classid, d.objid, 0)
		       || ' | ' || coalesce(c.description, '(no comment)')
		       || ' | ' || coalesce(CASE d.classid
		            WHEN 'pg_class'::regclass THEN (SELECT relacl::text FROM pg_class WHERE oid = d.objid)
		            WHEN 'pg_proc'::regclass THEN (SELECT proacl::text FROM pg_proc WHERE oid = d.objid)
		            WHEN 'pg_namespace'::regclass THEN (SELECT nspacl::text FROM pg_namespace WHERE oid = d.objid)
		            WHEN 'pg_type'::regclass THEN (SELECT typacl::text FROM pg_type WHERE oid = d.objid)
		          END, '(default privileges)')
		  FROM pg_depend d
		  LEFT JOIN pg_description c ON c.classoid = d.classid AND c.objoid = d.objid AND c.objsubid = 0
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = $ext AND d.deptype = 'e'
		 ORDER BY 1},
	'columns, their comments and privileges' => qq{
		SELECT a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		       || ' | ' || coalesce(col_description(a.attrelid, a.attnum), '(no comment)')
		       || ' | ' || coalesce(a.attacl::text, '')
		  FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
		 WHERE r.relnamespace = 'tenancy'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
		 ORDER BY 1},
	'column order of every relation' => q{
		SELECT r.oid::regclass || ': ' || string_agg(a.attname, ', ' ORDER BY a.attnum)
		  FROM pg_class r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE r.relnamespace = 'tenancy'::regnamespace
		 GROUP BY r.oid ORDER BY 1},
	'function definitions' => qq{
		SELECT p.oid::regprocedure || E'\\n' || pg_get_functiondef(p.oid)
		  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		 WHERE d.refobjid = $ext AND d.deptype = 'e' AND p.prokind <> 'a'
		 ORDER BY p.oid::regprocedure::text},
	'initial privileges (pg_init_privs)' => q{
		SELECT pg_describe_object(classoid, objoid, objsubid) || ' ' || privtype::text || ' ' || initprivs::text
		  FROM pg_init_privs
		 WHERE pg_describe_object(classoid, objoid, objsubid) ~ 'tenancy'
		 ORDER BY 1},
	'configuration tables (pg_extension_config_dump)' => q{
		SELECT c.oid::regclass || ' ' || coalesce(e.extcondition[i], '')
		  FROM pg_extension e, generate_subscripts(e.extconfig, 1) AS i
		  JOIN pg_class c ON true
		 WHERE e.extname = 'tenancy' AND c.oid = e.extconfig[i]
		 ORDER BY 1},
	'event triggers' => q{
		SELECT evtname || ' ' || evtevent || ' ' || evtfoid::regproc || ' ' || evtenabled::text || ' ' || coalesce(evttags::text, '')
		  FROM pg_event_trigger ORDER BY 1},
	'policies, triggers, indexes, constraints' => q{
		SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' '
		       || coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')
		  FROM pg_policy WHERE polrelid::regclass::text LIKE 'tenancy.%'
		UNION ALL
		SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger
		 WHERE tgrelid::regclass::text LIKE 'tenancy.%' AND NOT tgisinternal
		UNION ALL
		SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index
		 WHERE indrelid::regclass::text LIKE 'tenancy.%'
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		  FROM pg_constraint WHERE connamespace = 'tenancy'::regnamespace
		ORDER BY 1},
);
for my $what (sort keys %queries)
{
	my $want = catalog($fresh, $queries{$what});
	my $got = catalog($node, $queries{$what});
	ok(length($want) > 0, "fresh install: $what listed") unless $what eq 'event triggers';
	is($got, $want, "upgraded catalog equals a fresh install: $what");
}

# pg_dump --binary-upgrade dumps the members of an extension one by one (a
# plain dump only says CREATE EXTENSION).  Kept: the entries of schema
# tenancy and of the extension itself (the upgraded database also has
# tenants' schemas and a shared table); left out: the OIDs binary-upgrade
# preserves, comments, settings, the values of sequences (data), the
# frozen xids of tables and toast tables.
sub schema_dump
{
	my ($n) = @_;
	my $dump = `pg_dump --schema-only --binary-upgrade -h '@{[$n->host]}' -p @{[$n->port]} postgres 2>&1`;
	die "pg_dump: $dump" if $?;
	my @entries = grep { /^Name: [^;]*; Type: [^;]*; Schema: tenancy;/ || /^Name: tenancy; Type: (SCHEMA|EXTENSION);/ }
	  split /^-- (?=Name: )/m, $dump;
	my @lines = grep {
		!/binary_upgrade_set_|^--|^Name: |^SET |^SELECT pg_catalog\.(set_config|setval)\(|^\\(un)?restrict |^\s*$/
		  # the frozen xids pg_upgrade restores, by table and toast table OID
		  && !/^UPDATE pg_catalog\.pg_class$|relfrozenxid|relminmxid|^WHERE oid = '[^']*'(::pg_catalog\.regclass)?;$/
	} map { split /\n/ } @entries;
	# the OIDs of the configuration tables (compared by name above)
	s/^(SELECT pg_catalog\.binary_upgrade_create_empty_extension\(.*?)'\{[0-9,]*\}'/$1'{...}'/ for @lines;
	return join("\n", @lines);
}
my ($dump_fresh, $dump_upgraded) = (schema_dump($fresh), schema_dump($node));
like($dump_fresh, qr/CREATE TABLE tenancy\.tenants/, 'the binary-upgrade dump has the extension\'s tables');
is($dump_upgraded, $dump_fresh, 'pg_dump --schema-only of schema tenancy: upgraded equals fresh');
if ($dump_upgraded ne $dump_fresh)
{
	open my $fh, '>', "$tmp/050_fresh.sql";
	print $fh $dump_fresh;
	open $fh, '>', "$tmp/050_upgraded.sql";
	print $fh $dump_upgraded;
	diag(`diff -u $tmp/050_fresh.sql $tmp/050_upgraded.sql | head -60`);
}

# Without the extension the worker idles (a look at pg_extension per pass,
# at the poll interval), it does not loop: its CPU time over 5 s stays
# small; once the extension is created again it claims as before
$fresh->safe_psql('postgres', 'DROP EXTENSION tenancy');
my $fresh_worker = TenancyTest::worker_pid($fresh);
# cpu_ticks(PID): user + system time of a process, in clock ticks
sub cpu_ticks
{
	my @f = split / /, (slurp_file("/proc/$_[0]/stat") =~ s/^.*\) //sr);
	return $f[11] + $f[12];
}
my $ticks = cpu_ticks($fresh_worker);
sleep 5;
$ticks = cpu_ticks($fresh_worker) - $ticks;
cmp_ok($ticks, '<', 25, "without the extension the worker idles ($ticks clock ticks of CPU in 5 s)");
$fresh->safe_psql('postgres', 'CREATE EXTENSION tenancy');
is(TenancyTest::wait_operation($fresh,
		$fresh->safe_psql('postgres', "SELECT tenancy.provision('again', " . spec('again', 'basic') . ')'), 60),
	'succeeded', 'created again, the worker runs operations (steps without endpoints are skipped)');

$fresh->stop;
$node->stop;
$warehouse->stop;
TenancyTest::stop_simulator($sim);
done_testing();
