# 031_maint_monitoring.pl: every postgres_exporter query of
# deploy/monitoring/queries.yaml runs against a provisioned instance, as a
# tenancy_admin role, returns the columns its metrics declare, and counts
# what the instance holds; the Grafana dashboard uses only those metrics.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $dir = TenancyTest::src_dir() . '/deploy/monitoring';
my $yaml = slurp_file("$dir/queries.yaml");
my $dashboard = decode_json(slurp_file("$dir/grafana-platform-dashboard.json"));

my $node = TenancyTest::new_node('monitoring', undef);
$node->safe_psql('postgres', q{
	CREATE ROLE exporter LOGIN IN ROLE tenancy_admin;
	SELECT tenancy.provision(t, jsonb_build_object('tenant', jsonb_build_object('name', t, 'tier', 'basic'),
	                         'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb))
	  FROM unnest(ARRAY['mon-a', 'mon-b']) t;
	GRANT USAGE ON SCHEMA mon_a_silver TO PUBLIC;
	SELECT count(*) FROM tenancy.audit();
	SELECT tenancy.sample_usage();
});
# the steps end skipped (no endpoint): wait until the provisions are done
# (a timeout fails the test here, not later as a wrong count)
TenancyTest::poll_until($node,
	"SELECT 'done' WHERE NOT EXISTS (SELECT FROM tenancy.operations WHERE finished_at IS NULL)",
	'the two provisions finish', 30);

# the queries, parsed by the extension's own YAML reader
my $q = $node->safe_psql('postgres',
	"SELECT tenancy.parse_spec(" . TenancyTest::sql_literal($yaml) . ")::text");
my $queries = decode_json($q);
my @names = sort keys %$queries;
is_deeply(\@names,
	[qw(tenancy_audit_findings tenancy_operations tenancy_step_latency tenancy_steps
	    tenancy_tenant_storage tenancy_tenants)],
	'six exporter queries');

my %metric_names;
for my $name (@names)
{
	my $query = $queries->{$name}{query};
	my @columns = map { keys %$_ } @{ $queries->{$name}{metrics} };
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET ROLE exporter; SELECT json_agg(q)::text FROM ($query) q",
		extra_params => ['-XAt']);
	is($rc, 0, "$name runs as a tenancy_admin role") or diag($err);
	my $rows = decode_json($out || 'null') // [];
	ok(@$rows > 0, "$name returns rows");
	for my $c (@columns)
	{
		ok(exists $rows->[0]{$c}, "$name returns its metric column $c");
		my $usage = (values %{ (grep { exists $_->{$c} } @{ $queries->{$name}{metrics} })[0] })[0]{usage};
		$metric_names{"${name}_$c"} = 1 if $usage ne 'LABEL';
	}
	$queries->{$name}{rows} = $rows;
}

# the values reflect the instance
my %tenants = map { $_->{state} => $_->{count} } @{ $queries->{tenancy_tenants}{rows} };
is($tenants{ready}, 2, 'two ready tenants');
is($tenants{failed}, 0, 'a state without tenants is reported as 0');
my %findings = map { $_->{severity} => $_->{count} } @{ $queries->{tenancy_audit_findings}{rows} };
is($findings{critical}, 1, 'the PUBLIC grant is one critical finding');
my @storage = sort { $a->{tenant} cmp $b->{tenant} } @{ $queries->{tenancy_tenant_storage}{rows} };
is(join(',', map { $_->{tenant} } @storage), 'mon-a,mon-b', 'storage of both tenants');
ok($storage[0]{bytes} > 0 && $storage[0]{quota_bytes} > 0, 'storage and quota in bytes');
my ($latency) = grep { $_->{target} eq 'database' } @{ $queries->{tenancy_step_latency}{rows} };
ok($latency->{finished} > 0, 'finished database steps are counted');

# every metric the dashboard plots is one the queries export
my @exprs = map { map { $_->{expr} } @{ $_->{targets} } } @{ $dashboard->{panels} };
ok(@exprs >= 7, 'the dashboard has its panels');
for my $expr (@exprs)
{
	for my $metric ($expr =~ /\b(tenancy_[a-z0-9_]+)\b/g)
	{
		ok($metric_names{$metric}, "dashboard metric $metric is exported");
	}
}

$node->stop;
done_testing();
