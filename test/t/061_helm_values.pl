# 061_helm_values.pl: the Airflow values the worker generates for each
# example spec pass `helm template` (the real helm 3 the deploy suite uses)
# against a chart whose values.schema.json has the Airflow chart's value
# names and refuses unknown keys (test/fixtures/airflow-chart); a misspelt
# key is refused, so the check can fail.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use TenancyTest;

plan skip_all => 'no real helm (HELM unset: test/tools/get-helm.sh failed)'
  unless $ENV{HELM} && -x $ENV{HELM};

my $src = TenancyTest::src_dir();
my $chart = "$src/test/fixtures/airflow-chart";
my $node = TenancyTest::new_node('helmvalues', undef,
	"shared_preload_libraries = 'tenancy,pgaudit'");

my $home = "$PostgreSQL::Test::Utils::tmp_check/helm";
mkdir $home;
local $ENV{HELM_CACHE_HOME} = $home;
local $ENV{HELM_CONFIG_HOME} = $home;
local $ENV{HELM_DATA_HOME} = $home;

# helm_template(RELEASE, VALUES_JSON): exit code and stderr of helm template
sub helm_template
{
	my ($release, $values) = @_;
	my $file = "$home/$release.json";
	open(my $f, '>', $file) or die;
	print $f $values;
	close $f;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $ENV{HELM}, 'template', $release, $chart, '-f', $file ],
		'>', \$out, '2>', \$err);
	return ($?, $err);
}

my $values;
for my $example (sort glob("$src/deploy/examples/*.yaml"))
{
	my $spec = slurp_file($example);
	my ($name) = $spec =~ /^  name: (\S+)$/m;
	$node->safe_psql('postgres',
		"SELECT tenancy.provision('$name', " . TenancyTest::sql_literal($spec) . ')');
	$values = $node->safe_psql('postgres', qq{
		SELECT s.request #> '{body,spec,values}'
		  FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id)
		  JOIN tenancy.tenants t USING (tenant_id)
		 WHERE t.name = '$name' AND s.object LIKE 'helmrelease %'});
	isnt($values, '', "$name: the plan has HelmRelease values");
	my ($rc, $err) = helm_template("airflow-$name", $values);
	is($rc, 0, "$name: helm template accepts the generated values") or diag($err);
}

# the check bites: a misspelt key and a wrong type are refused
(my $typo = $values) =~ s/"scheduler"/"schedular"/;
my ($rc, $err) = helm_template('typo', $typo);
isnt($rc, 0, 'a misspelt value name is refused');
like($err, qr/Additional property schedular is not allowed/, 'with the schema\'s reason');
(my $wrong = $values) =~ s/"replicas": (\d+)/"replicas": "$1"/;
($rc, $err) = helm_template('wrongtype', $wrong);
isnt($rc, 0, 'a replica count given as a string is refused');

$node->stop;
done_testing();
