# 030_maint_cron.pl: tenancy.schedule_maintenance registers its jobs with a
# real pg_cron, the jobs run on their schedule and their results land in
# tenancy.usage_samples and tenancy.audit_runs; without pg_cron it says so.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

# no simulator: the platform steps end skipped, the database side is real
my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'tenancy,pg_cron'",
	"tenancy.database = 'postgres'",
	"tenancy.database_host = 'platform-db.test'",
	"cron.database_name = 'postgres'",
	# pg_cron connects with libpq: through this node's socket directory
	"cron.host = '" . $node->host . "'",
	"max_worker_processes = 16") . "\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION tenancy');

# without pg_cron: an error that says what to do, and nothing scheduled
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT * FROM tenancy.schedule_maintenance()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($rc, 0, 'schedule_maintenance fails without pg_cron');
like($err, qr/ERROR:  42704: pg_cron is not installed in database postgres/, 'error names what is missing (42704)');
like($err, qr/HINT:.*CREATE EXTENSION pg_cron/, 'hint says how to install it');
is($node->safe_psql('postgres', 'SELECT tenancy.unschedule_maintenance()'), '0',
	'unschedule without pg_cron is a no-op');

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', q{
	SELECT tenancy.provision('cron-a',
		'{"tenant": {"name": "cron-a", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb);
	INSERT INTO cron_a_audit.pipeline_runs (dag_id, task_id, start_time, end_time, status)
	SELECT 'dag', 't' || i, now() - interval '1 hour', now() - interval '1 hour' + interval '2 minutes', 'success'
	  FROM generate_series(1, 7) i;
});

# the default schedules, then every minute for usage and audit
is($node->safe_psql('postgres',
	"SELECT string_agg(job_name || ' ' || schedule, ', ' ORDER BY job_name) FROM tenancy.schedule_maintenance()"),
	'tenancy-audit 17 3 * * *, tenancy-purge 47 5 * * 0, tenancy-rotation 37 4 * * *, tenancy-usage 7 * * * *',
	'four jobs with their default schedules');
$node->safe_psql('postgres',
	"SELECT count(*) FROM tenancy.schedule_maintenance(audit_schedule => '* * * * *', usage_schedule => '* * * * *')");
is($node->safe_psql('postgres',
	"SELECT string_agg(jobname || ' ' || schedule, ', ' ORDER BY jobname) FROM cron.job"),
	'tenancy-audit * * * * *, tenancy-purge 47 5 * * 0, tenancy-rotation 37 4 * * *, tenancy-usage * * * * *',
	'scheduling again replaces the jobs, with the overridden schedules');

# a bad schedule is refused by pg_cron and nothing changes
($rc, $out, $err) = $node->psql('postgres',
	"SELECT * FROM tenancy.schedule_maintenance(purge_schedule => 'every full moon')");
isnt($rc, 0, 'an invalid schedule is refused');
is($node->safe_psql('postgres', "SELECT schedule FROM cron.job WHERE jobname = 'tenancy-purge'"),
	'47 5 * * 0', 'the purge job kept its schedule');

# within a minute or so the jobs run, and pg_cron records them as succeeded
my $recorded = '';
for (1 .. 150)
{
	$recorded = $node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT j.jobname, ',' ORDER BY j.jobname)
		   FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		  WHERE d.status = 'succeeded'");
	last if $recorded eq 'tenancy-audit,tenancy-usage';
	sleep 1;
}
is($recorded, 'tenancy-audit,tenancy-usage', 'pg_cron ran the usage and audit jobs, and both succeeded');
is($node->safe_psql('postgres',
	"SELECT s.task_runs || ' runs, ' || s.compute_seconds::int || ' s'
	   FROM tenancy.usage_samples s ORDER BY s.sample_id LIMIT 1"),
	'7 runs, 840 s', 'the usage job measured the pipeline runs');
is($node->safe_psql('postgres',
	"SELECT tenants_audited || ' audited, ' || findings || ' findings' FROM tenancy.audit_runs ORDER BY run_id LIMIT 1"),
	'1 audited, 0 findings', 'the audit job audited the clean tenant');

# the next scheduled sample counts only the runs that ended since the first
$node->safe_psql('postgres', q{
	INSERT INTO cron_a_audit.pipeline_runs (dag_id, task_id, start_time, end_time, status)
	SELECT 'dag', 'later' || i, now() - interval '1 minute', now(), 'success'
	  FROM generate_series(1, 3) i});
my $second = '';
for (1 .. 150)
{
	$second = $node->safe_psql('postgres',
		"SELECT s.task_runs || ' runs, ' || s.compute_seconds::int || ' s'
		   FROM tenancy.usage_samples s WHERE s.sampled_at > (SELECT max(r.end_time) FROM cron_a_audit.pipeline_runs r)
		  ORDER BY s.sample_id LIMIT 1");
	last if $second ne '';
	sleep 1;
}
is($second, '3 runs, 180 s', 'the next scheduled sample counted the 3 runs that ended since, not the 7 before');

is($node->safe_psql('postgres', 'SELECT tenancy.unschedule_maintenance()'), '4', 'unschedule removes the four jobs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'no job left');

$node->stop;
done_testing();
