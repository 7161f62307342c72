# 071_backup_restore.pl: the backup of resources.database.backup, run for
# real.  Provision a tenant with backups on, give it data (tables in
# several schemas, a sequence, pipeline_runs), take the script and the
# settings from the planned ConfigMap and CronJob, and run the script
# against this server as the tenant's backup role: three backups with a
# faked clock, the oldest pruned by retention_days; restore the newest into
# a fresh database and compare every table's rows with the source.  The
# backup holds exactly the tenant's schemas (not another tenant's, not
# public); the backup role is a member of the reader group only and cannot
# write; a missing schema fails the run and leaves no backup behind.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = TenancyTest::new_node('backup', undef);
my $bindir = $node->config_data('--bindir');
my $json = JSON::PP->new;

for my $t ('shop', 'other')
{
	$node->safe_psql('postgres', qq{SELECT tenancy.provision('$t', '{"tenant": {"name": "$t", "tier": "basic"}, "warehouse": {},
		"resources": {"database": {"storage_gb": 5, "backup": {"enabled": true, "retention_days": 30}}}}'::jsonb)});
}

# what ships: the script of ConfigMap tenant-backup-script, the CronJob's environment
my ($script_json) = $node->safe_psql('postgres', q{SELECT request #> '{body,data}' FROM tenancy.steps
	WHERE object = 'configmap airflow-shop/tenant-backup-script'});
my $script = $json->decode($script_json)->{'backup.sh'};
like($script, qr/pg_dump --format=directory --strict-names/, 'the script dumps in directory format');
my $cron = $json->decode($node->safe_psql('postgres', q{SELECT request -> 'body' FROM tenancy.steps
	WHERE object = 'cronjob airflow-shop/tenant-backup'}));
my $container = $cron->{spec}{jobTemplate}{spec}{template}{spec}{containers}[0];
my %env = map { $_->{name} => $_->{value} } @{ $container->{env} };
is($env{BACKUP_SCHEMAS}, 'shop_bronze shop_silver shop_gold_mart shop_gold_reporting shop_staging shop_audit',
	'the CronJob backs up exactly the six schemas of the tenant');
is($env{RETENTION_DAYS}, '30', 'retention from the spec');
is($container->{envFrom}[0]{secretRef}{name}, 'backup-credentials', 'credentials from backup-credentials');

# the backup role: login, a member of the reader group only, cannot write
is($node->safe_psql('postgres', q{SELECT string_agg(g.rolname, ',') FROM pg_auth_members m
	JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'backup_shop'}),
	'tenant_shop_reader', 'backup_shop is a member of tenant_shop_reader only');
is($node->safe_psql('postgres', q{SELECT rolcanlogin AND NOT rolsuper AND NOT rolbypassrls FROM pg_roles WHERE rolname = 'backup_shop'}),
	't', 'backup_shop can log in, is no superuser and does not bypass RLS');

# data, created as the tenant's ETL role (default privileges give the reader SELECT)
$node->safe_psql('postgres', q{
SET ROLE etl_shop;
CREATE TABLE shop_bronze.orders (id bigserial PRIMARY KEY, customer text, amount numeric(12,2), at timestamptz, tags text[], doc jsonb);
INSERT INTO shop_bronze.orders (customer, amount, at, tags, doc)
  SELECT 'c' || i, i * 1.25, '2026-01-01'::timestamptz + i * interval '1 hour', ARRAY['a' || i % 3], jsonb_build_object('n', i, 'q', E'it''s \\ "x"')
    FROM generate_series(1, 500) i;
INSERT INTO shop_bronze.orders (customer) VALUES (NULL);
CREATE TABLE shop_silver.customers AS SELECT DISTINCT customer FROM shop_bronze.orders;
CREATE TABLE shop_gold_mart.daily AS SELECT date_trunc('day', at) AS day, sum(amount) AS total FROM shop_bronze.orders GROUP BY 1;
CREATE TABLE shop_staging.empty (x int);
INSERT INTO shop_audit.pipeline_runs (dag_id, task_id, status) VALUES ('shop_pipeline_1', 't1', 'success');
-- the tenant's code in its data: a CHECK that makes etl_shop a superuser
-- when whoever loads the rows is one (a restore as a superuser would)
CREATE FUNCTION shop_bronze.check_amount(int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE etl_shop SUPERUSER';
  END IF;
  RETURN true;
END $f$;
CREATE TABLE shop_bronze.invoices (amount int CHECK (shop_bronze.check_amount(amount)));
INSERT INTO shop_bronze.invoices VALUES (1);
RESET ROLE;
SET ROLE etl_other;
CREATE TABLE other_bronze.secret AS SELECT 'other tenant data' AS v;
RESET ROLE;
CREATE TABLE public.not_a_tenant AS SELECT 1 AS x;
});
my ($rc, $out, $err) = $node->psql('postgres', 'SET ROLE backup_shop; INSERT INTO shop_bronze.orders (customer) VALUES (\'x\')');
like($err, qr/permission denied/, 'the backup role cannot write');
($rc, $out, $err) = $node->psql('postgres', 'SET ROLE backup_shop; SELECT * FROM other_bronze.secret');
like($err, qr/permission denied/, "the backup role cannot read another tenant's schema");

# every table of the tenant, with a digest of its rows
my $tables_sql = q{SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p') AND n.nspname LIKE 'shop\_%' ORDER BY 1};
sub digests
{
	my ($db) = @_;
	my %d;
	for my $t (split /\n/, $node->safe_psql($db, $tables_sql))
	{
		$d{$t} = $node->safe_psql($db,
			"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM $t t");
	}
	return \%d;
}
my $source = digests('postgres');
is(scalar(keys %$source), 6, 'six tables in the tenant (five of its own and pipeline_runs)');

my $dir = tempdir(CLEANUP => 1);
my $backups = "$dir/backups";
mkdir $backups or die;
open my $fh, '>', "$dir/backup.sh" or die;
print $fh $script;
close $fh;

# run the script as the CronJob would, with a clock of our choosing
my $now = time();
sub run_backup
{
	my ($at, %extra) = @_;
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{PGUSER} = 'backup_shop';
	local $ENV{PATH} = "$bindir:$ENV{PATH}";
	local $ENV{BACKUP_DIR} = $backups;
	local $ENV{BACKUP_SCHEMAS} = $extra{schemas} // $env{BACKUP_SCHEMAS};
	local $ENV{RETENTION_DAYS} = $env{RETENTION_DAYS};
	local $ENV{BACKUP_NOW} = $at;
	my $output = `sh $dir/backup.sh 2>&1`;
	return ($? >> 8, $output);
}
sub backups_present { opendir my $d, $backups or die; my @b = sort grep { /^backup-/ } readdir $d; return @b; }
sub stamp { my @t = gmtime($_[0]); return sprintf('backup-%04d%02d%02dT%02d%02d%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]); }

my ($code, $log) = run_backup($now - 40 * 86400);
is($code, 0, 'backup 40 days ago succeeded') or diag($log);
($code, $log) = run_backup($now - 10 * 86400);
is($code, 0, 'backup 10 days ago succeeded') or diag($log);
mkdir "$backups/backup-by-hand" or die;	# no TAKEN_AT: never pruned
mkdir "$backups/.partial-leftover" or die;	# an interrupted run's
is_deeply([ backups_present() ], [ sort(stamp($now - 40 * 86400), stamp($now - 10 * 86400), 'backup-by-hand') ],
	'two backups and one made by hand');

($code, $log) = run_backup($now);
is($code, 0, 'backup now succeeded') or diag($log);
like($log, qr/\Q@{[ stamp($now - 40 * 86400) ]}\E pruned/, 'the run says what it pruned');
is_deeply([ backups_present() ], [ sort(stamp($now - 10 * 86400), stamp($now), 'backup-by-hand') ],
	'the backup older than retention_days (30) is pruned, the others kept');
ok(!-e "$backups/.partial-leftover", 'an interrupted run\'s partial backup is removed');

# a schema that does not exist: the run fails, no backup is added
($code, $log) = run_backup($now + 60, schemas => "$env{BACKUP_SCHEMAS} shop_missing");
isnt($code, 0, 'a missing schema fails the run');
ok(!-e "$backups/" . stamp($now + 60), 'and leaves no backup');

# restore the newest into a fresh database as the README says: as the
# tenant's owner role (--role), never as a superuser; compare every table
$node->safe_psql('postgres', 'CREATE DATABASE restored; GRANT CREATE ON DATABASE restored TO tenant_shop_owner');
# (without tenancy's audit guard, a C function only a superuser creates:
# tenancy.apply puts it back on an in-place restore)
system("$bindir/pg_restore --list $backups/@{[ stamp($now) ]} | grep -v -e pipeline_runs_guard -e tenancy_append_only > $dir/restore.list") == 0
  or die 'pg_restore --list';
my $restore = `$bindir/pg_restore --use-list=$dir/restore.list --role=tenant_shop_owner --no-owner --no-privileges --exit-on-error -h @{[ $node->host ]} -p @{[ $node->port ]} -d restored $backups/@{[ stamp($now) ]} 2>&1`;
is($?, 0, 'pg_restore succeeded') or diag($restore);
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'etl_shop'}), 'f',
	"the tenant's code ran during the restore without a superuser's rights");
is($node->safe_psql('restored', q{SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'shop\_%'}),
	'tenant_shop_owner', "everything restored belongs to the tenant's owner role");
# what the README warns against: the same archive restored by a superuser
$node->safe_psql('postgres', 'CREATE DATABASE unsafe');
`$bindir/pg_restore --no-owner --no-privileges -h @{[ $node->host ]} -p @{[ $node->port ]} -d unsafe $backups/@{[ stamp($now) ]} 2>&1`;
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'etl_shop'}), 't',
	'restored by a superuser, the same archive makes etl_shop a superuser');
$node->safe_psql('postgres', 'ALTER ROLE etl_shop NOSUPERUSER; DROP DATABASE unsafe');
my $restored = digests('restored');
is_deeply($restored, $source, 'every table restored with the same rows');
is($node->safe_psql('restored', q{SELECT string_agg(nspname, ' ' ORDER BY nspname) FROM pg_namespace
	WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public')}),
	'shop_audit shop_bronze shop_gold_mart shop_gold_reporting shop_silver shop_staging',
	'exactly the tenant\'s six schemas');
is($node->safe_psql('restored', q{SELECT count(*) FROM pg_class WHERE relname IN ('secret', 'not_a_tenant')}),
	'0', "neither another tenant's table nor public's");
is($node->safe_psql('restored', q{SELECT nextval('shop_bronze.orders_id_seq')}), '502',
	'the sequence continues where it was');

# in place, as README "Restoring a backup" step 5 says: drop the six
# schemas, restore into the tenant's database as its owner role, reconcile
# (the schemas have new OIDs), apply with the stored spec, audit
my @schemas = split / /, $env{BACKUP_SCHEMAS};
$node->safe_psql('postgres', join('', map { "DROP SCHEMA $_ CASCADE; " } @schemas)
	. 'GRANT CREATE ON DATABASE postgres TO tenant_shop_owner');
$restore = `$bindir/pg_restore --use-list=$dir/restore.list --role=tenant_shop_owner --no-owner --no-privileges --exit-on-error -h @{[ $node->host ]} -p @{[ $node->port ]} -d postgres $backups/@{[ stamp($now) ]} 2>&1`;
is($?, 0, 'in place: pg_restore into the tenant\'s database succeeded') or diag($restore);
$node->safe_psql('postgres', 'REVOKE CREATE ON DATABASE postgres FROM tenant_shop_owner');
my $apply = q{SELECT tenancy.apply('shop', spec) FROM tenancy.tenants WHERE name = 'shop'};
($rc, $out, $err) = $node->psql('postgres', $apply);
like($err, qr/schema "shop_bronze" was not created by tenancy/,
	'in place: apply before reconcile_created_objects is refused (the restored schemas have new OIDs)');
is($node->safe_psql('postgres', 'SELECT tenancy.reconcile_created_objects() > 0'), 't',
	'in place: reconcile_created_objects records the restored schemas');
($rc, $out, $err) = $node->psql('postgres', $apply);
is($rc, 0, 'in place: then apply with the stored spec succeeds') or diag($err);
is_deeply(digests('postgres'), $source, 'in place: every table back with the same rows');
# the restored run log got the writer's default privileges on new tables;
# it is append-only (README step 5 says to revoke them)
$node->safe_psql('postgres', 'REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON shop_audit.pipeline_runs FROM tenant_shop_writer');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop_audit.pipeline_runs'::regclass
	AND tgname IN ('tenancy_append_only', 'tenancy_append_only_truncate')}), '2',
	'in place: apply put the audit guard back');
is($node->safe_psql('postgres', q{SET ROLE backup_shop; SELECT count(*) FROM shop_bronze.orders}), '501',
	'in place: the tenant\'s groups read the restored tables again (the backup role does)');
$node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.audit('shop')});
is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(check_name || ' ' || object, ', ' ORDER BY check_name, object), '')
	FROM tenancy.audit_findings WHERE run_id = (SELECT max(run_id) FROM tenancy.audit_runs)
	AND tenant = 'shop' AND severity IN ('critical', 'high')}), '',
	'in place: the audit finds nothing high or critical afterwards')
  or diag($node->safe_psql('postgres', q{SELECT string_agg(check_name || ': ' || detail, E'\n') FROM tenancy.audit_findings
	WHERE run_id = (SELECT max(run_id) FROM tenancy.audit_runs) AND tenant = 'shop'}));

# README step 1's pod: what the "restricted" Pod Security level requires,
# as the CronJob's pod has it, in the image of the server's major version
my $readme = slurp_file(TenancyTest::src_dir() . "/README.md");
my ($overrides) = $readme =~ /--overrides='(\{.*?\})'/s;
ok($overrides, 'README step 1 has the restore pod\'s overrides');
my $restore_pod = $json->decode($overrides // '{}')->{spec};
my $cron_pod = $cron->{spec}{jobTemplate}{spec}{template}{spec};
is_deeply($restore_pod->{securityContext}, $cron_pod->{securityContext},
	'README step 1: the pod\'s securityContext is the backup pod\'s (non-root, seccomp RuntimeDefault)');
my $rc_sc = $restore_pod->{containers}[0]{securityContext} // {};
is_deeply([ $rc_sc->{allowPrivilegeEscalation}, $rc_sc->{capabilities} ],
	[ JSON::PP::false, { drop => ['ALL'] } ], 'README step 1: no privilege escalation, every capability dropped');
is($container->{image}, 'postgres:' . int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000),
	'the backup runs in the image of the server\'s major version');

# backups off: the role goes, the CronJob and its script and Secret are deleted, the volume stays
$node->safe_psql('postgres', q{SELECT tenancy.apply('shop', '{"tenant": {"name": "shop", "tier": "basic"}, "warehouse": {},
	"resources": {"database": {"storage_gb": 5, "backup": {"enabled": false, "retention_days": 30}}}}'::jsonb)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'backup_shop'}), '0',
	'backup.enabled false drops the backup role');
is($node->safe_psql('postgres', q{SELECT string_agg(action || ' ' || object, ', ' ORDER BY ordinal) FROM tenancy.steps
	WHERE operation_id = (SELECT max(operation_id) FROM tenancy.operations) AND target = 'kubernetes' AND action = 'delete'}),
	'delete configmap airflow-shop/tenant-backup-script, delete cronjob airflow-shop/tenant-backup, delete secret airflow-shop/backup-credentials',
	'and deletes the CronJob, its script and the Secret, not the volume');

$node->stop;
done_testing();
