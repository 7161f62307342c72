# 023_platform_helm_real.pl: tenancy.helm_mode = 'cli' with the real helm 3
# (test/tools/get-helm.sh) against a chart repository the simulator serves.
# The chart (test/charts/airflow) has the Airflow chart's name, version and
# value names and a values schema that refuses unknown keys (at the top
# level and under each component, dags, secret and redis) and wrong types,
# so each release the worker installs shows that helm accepted the command
# line, the kubeconfig, the repository and the values it generated from the
# spec, for the three example specs (one per tier).
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

$TenancyTest::HELM_CLI = 1;
my $tmp = ${PostgreSQL::Test::Utils::tmp_check};
my $src = TenancyTest::src_dir();
my $helm = `$src/test/tools/get-helm.sh`;
chomp $helm;
plan skip_all => 'no helm binary could be obtained' unless $helm && -x $helm;

# helm's own state goes to a directory of the test, never $HOME
local $ENV{HELM_CACHE_HOME} = "$tmp/helm-home";
local $ENV{HELM_CONFIG_HOME} = "$tmp/helm-home";
local $ENV{HELM_DATA_HOME} = "$tmp/helm-home";

# the chart repository: the chart packaged, and its index
my $charts = "$tmp/charts";
mkdir $charts or die "mkdir $charts: $!";
my $out = `$helm package $src/test/charts/airflow -d $charts 2>&1`;
is($?, 0, 'the test chart packages') or diag($out);
$out = `$helm repo index $charts 2>&1`;
is($?, 0, 'and is indexed') or diag($out);

# the schema refuses what the official chart's refuses: the checks below
# mean something only if a wrong value fails.  Unknown keys are refused at
# the top level and under each component, dags, secret and redis (a
# misspelt nested key the worker might send), and a secret item must name
# its variable and Secret
my @bad = (
	[ 'executor=Kubernetes', qr/executor/ ],
	[ 'workers.replicas=two', qr/workers\.replicas/ ],
	[ 'shedulerTypo.replicas=1', qr/Additional property shedulerTypo is not allowed/ ],
	[ 'scheduler.replcas=1', qr/scheduler: Additional property replcas is not allowed/ ],
	[ 'webserver.resources.request.cpu=1', qr/webserver\.resources: Additional property request is not allowed/ ],
	[ 'triggerer.replica=1', qr/triggerer: Additional property replica is not allowed/ ],
	[ 'workers.persistance.enabled=false', qr/workers: Additional property persistance is not allowed/ ],
	[ 'dags.gitSync.enabeld=true', qr/dags\.gitSync: Additional property enabeld is not allowed/ ],
	[ 'redis.persistance.enabled=false', qr/redis: Additional property persistance is not allowed/ ],
	[ 'secret[0].envName=A,secret[0].secretNam=b', qr/secret\.0: Additional property secretNam is not allowed/ ],
	[ 'secret[0].envName=A', qr/secret\.0: secretName is required/ ]);
for my $case (@bad)
{
	my ($bad, $why) = @$case;
	my $err = `$helm template t $src/test/charts/airflow --set '$bad' 2>&1`;
	like($err, qr/values don't meet the specifications of the schema.*$why/s, "the chart's schema refuses $bad");
}
# and accepts the shapes the worker sends
$out = `$helm template t $src/test/charts/airflow --set 'secret[0].envName=AIRFLOW_CONN_X,secret[0].secretName=s,secret[0].secretKey=k,redis.persistence.enabled=false,workers.persistence.enabled=false,workers.serviceAccount.create=false,workers.keda.enabled=true' 2>&1`;
is($?, 0, "the chart's schema accepts a secret item, redis and workers as the worker writes them") or diag($out);

my $sim = TenancyTest::start_simulator("$tmp/sim023", '--charts-dir', $charts);
# client-go (helm) sends no credentials over plain HTTP: the worker, and so
# the kubeconfig it writes for helm, use the simulator's TLS listener of the
# Kubernetes API (the one its own kubeconfig names)
my $kubeconfig = slurp_file("$sim->{dir}/kubeconfig");
my ($tls_server) = $kubeconfig =~ /^\s*server: (\S+)$/m;
my ($tls_ca) = $kubeconfig =~ /^\s*certificate-authority: (\S+)$/m;
my $node = TenancyTest::new_node('helmreal', $sim,
	"shared_preload_libraries = 'tenancy,pgaudit'",	# the reference spec's audit_logging
	"tenancy.kubernetes_url = '$tls_server'",
	"tenancy.kubernetes_ca_file = '$tls_ca'",
	"tenancy.helm_mode = 'cli'",
	"tenancy.helm_binary = '$helm'",
	"tenancy.airflow_chart_repository = '$sim->{control}/charts'",
	"tenancy.airflow_chart_version = '1.15.0'",
	"tenancy.max_attempts = 30",
	"tenancy.release_ready_timeout = '60s'");

TenancyTest::vault_put($sim, $_, { value => "v-$_" })
  for qw(acme/oauth/client_id acme/oauth/client_secret apis/api_catalog/key apis/api_catalog/secret
	oauth/client_id oauth/client_secret apis/salesforce/key apis/salesforce/secret apis/postgres_operational/key apis/postgres_operational/secret);

my %tenants = ('acme-corp' => 'acme-corp.yaml', globex => 'basic-globex.yaml', initech => 'standard-initech.yaml');
for my $name (sort keys %tenants)
{
	my $yaml = slurp_file("$src/deploy/examples/$tenants{$name}");
	# the warehouse stays in this database
	my $op = $node->safe_psql('postgres',
		"SELECT tenancy.provision('$name', tenancy.parse_spec(\$spec\$$yaml\$spec\$)"
		  . " #- '{warehouse,database,host}' #- '{warehouse,database,name}')");
	my $state = TenancyTest::wait_operation($node, $op, 120);
	is($state, 'succeeded', "$name: provisioned with the real helm");
	diag($node->safe_psql('postgres',
		"SELECT string_agg(object || ': ' || coalesce(last_error, ''), E'\\n') FROM tenancy.steps
		  WHERE operation_id = $op AND state <> 'succeeded'"))
	  unless $state eq 'succeeded';

	# what the chart made of the values: a Deployment per component, with
	# the replicas and resources of the spec
	my $spec = JSON::PP->new->decode($node->safe_psql('postgres',
		"SELECT spec FROM tenancy.tenants WHERE name = '$name'"));
	# the spec's namespace (acme-corp.yaml names airflow-acme), the release
	# airflow-<name>
	my $ns = $spec->{resources}{kubernetes}{namespace};
	my $release_name = "airflow-$name";
	for my $component (qw(scheduler webserver))
	{
		my $dep = TenancyTest::k8s_object($sim, "/apis/apps/v1/namespaces/$ns/deployments/$release_name-$component");
		is($dep->{spec}{replicas}, $spec->{resources}{airflow}{$component}{replicas},
			"$name: $component replicas from the spec");
		is_deeply($dep->{spec}{template}{spec}{containers}[0]{resources},
			$spec->{resources}{airflow}{$component}{resources},
			"$name: $component resources from the spec");
	}
	my $release = TenancyTest::k8s_object($sim, "/api/v1/namespaces/$ns/secrets/sh.helm.release.v1.$release_name.v1");
	is($release->{metadata}{labels}{owner}, 'helm', "$name: helm recorded its release");
}

# the worker removed each run's directory (values, kubeconfig, output)
my @left = glob('/tmp/tenancy-helm-' . $node->port . '-*');
is(scalar(@left), 0, 'every helm run directory was removed');

$node->stop;
TenancyTest::stop_simulator($sim);
done_testing();
