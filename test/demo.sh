#!/usr/bin/env bash
# test/demo.sh: what 'make demo' runs.
#
# Installs what is missing, builds and installs the extension, starts a
# throwaway cluster (and the platform simulator, once it exists) in a
# temporary directory on a free port, and shows the main job: provisioning
# acme-corp from the source document's spec.  Everything it started is
# stopped on exit or Ctrl-C; DEMO_KEEP=1 leaves it running and prints how to
# connect.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "installing what is missing, building, installing the extension"
test/install-deps.sh
(
	flock 9
	make -s >/dev/null
	make -s install >/dev/null
) 9>/tmp/tenancy-build.lock

demo_dir=$(mktemp -d /tmp/tenancy-demo.XXXXXX)
chmod 755 "$demo_dir"
sim_dir="$demo_dir/platform"

# shellcheck source=test/lib/cluster.sh
. test/lib/cluster.sh

cleanup() {
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		step "left running (DEMO_KEEP=1)"
		echo "connect:  psql -h $PGHOST -p $PGPORT -U postgres postgres"
		[ -f "$sim_dir/endpoints.json" ] && echo "platform: kubectl --kubeconfig $sim_dir/kubeconfig get ns"
		echo "stop:     $(${PG_CONFIG:-pg_config} --bindir)/pg_ctl -D $CLUSTER_DIR/data stop; test/platform/simctl stop $sim_dir; rm -rf $demo_dir"
		return
	fi
	[ -x test/platform/simctl ] && test/platform/simctl stop "$sim_dir" >/dev/null 2>&1 || true
	cluster_stop
	rm -rf "$demo_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the reference spec asks for features.audit_logging, which needs pgaudit
settings=("shared_preload_libraries = 'tenancy,pg_cron,pgaudit'")
if [ -x test/platform/simctl ]; then
	step "starting the platform simulator (Kubernetes API, Vault, Grafana)"
	mkdir -p "$sim_dir"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$sim_dir"
	test/platform/simctl start "$sim_dir" --helm-ready-delay-ms 1500
	chmod 644 "$sim_dir"/*token "$sim_dir"/sa.jwt 2>/dev/null || true
	endpoint() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$sim_dir/endpoints.json" "$1"; }
	# what the spec's {{ vault.get(...) }} references and its api_catalog
	# source read: an operator stores these in Vault before provisioning
	for ref in acme/oauth/client_id acme/oauth/client_secret apis/api_catalog/key apis/api_catalog/secret; do
		curl -sf -X POST -H "X-Vault-Token: $(cat "$sim_dir/vault-token")" \
			-d "{\"data\": {\"value\": \"demo-${ref//\//-}\"}}" \
			"$(endpoint vault)/v1/secret/data/$ref" >/dev/null
	done
	settings+=(
		"tenancy.kubernetes_url = '$(endpoint kubernetes)'"
		"tenancy.kubernetes_token_file = '$sim_dir/k8s-token'"
		"tenancy.vault_url = '$(endpoint vault)'"
		"tenancy.vault_token_file = '$sim_dir/vault-token'"
		"tenancy.grafana_url = '$(endpoint grafana)'"
		"tenancy.grafana_token_file = '$sim_dir/grafana-token'"
	)
fi

step "starting a throwaway PostgreSQL 15 cluster"
cluster_start "$demo_dir/pg" "${settings[@]}"
echo "cluster on port $PGPORT, data in $CLUSTER_DIR"

step "CREATE EXTENSION tenancy"
cluster_psql -q -c "CREATE EXTENSION tenancy" -c "SELECT tenancy.version()"

spec="$top/deploy/examples/acme-corp.yaml"
[ -f "$spec" ] || spec=/work/shared/seed/acme-corp.yaml

has_function() {
	[ "$(cluster_psql -Atc "SELECT count(*) FROM pg_proc WHERE proname = '$1' AND pronamespace = 'tenancy'::regnamespace")" -gt 0 ]
}

if has_function parse_spec; then
	step "parse and validate $spec"
	cluster_psql -v spec="$(cat "$spec")" <<'SQL'
SELECT jsonb_pretty(tenancy.parse_spec(:'spec') -> 'tenant') AS tenant;
SELECT count(*) AS problems FROM tenancy.validate(tenancy.parse_spec(:'spec'));
SQL
fi

if has_function provision; then
	# The seed names a remote warehouse host; this demo keeps the warehouse
	# in the platform database (placement on other servers is its own step).
	step "SELECT tenancy.provision('acme-corp', spec)"
	cluster_psql -v spec="$(cat "$spec")" <<'SQL'
\set ON_ERROR_STOP 1
SELECT tenancy.provision('acme-corp',
	tenancy.parse_spec(:'spec') #- '{warehouse,database,host}' #- '{warehouse,database,name}') AS operation;
SELECT name, state, generation FROM tenancy.tenants;
\dn acme_*
\du *acme_corp*
SQL
fi

if has_function wait; then
	step "waiting for the worker"
	cluster_psql -c "SELECT tenancy.wait('acme-corp', '60 s')"
	cluster_psql -c "SELECT target, state, count(*) AS steps FROM tenancy.status('acme-corp') GROUP BY 1, 2 ORDER BY 1, 2"
	cluster_psql -c "SELECT ordinal, target, action, object, state, attempts FROM tenancy.status('acme-corp') WHERE target <> 'database'"
fi

if [ -f "$sim_dir/kubeconfig" ]; then
	step "what exists on the platform side (kubectl against the simulator)"
	k() { kubectl --kubeconfig "$sim_dir/kubeconfig" "$@" 2>&1 || true; }
	k get namespace airflow-acme --show-labels
	k -n airflow-acme get serviceaccounts,rolebindings,resourcequotas,limitranges,networkpolicies,secrets,configmaps,helmrepositories,helmreleases,servicemonitors,deployments,pods
	step "the Airflow pods' permissions: a RoleBinding to the chart's ClusterRole"
	k -n airflow-acme get rolebinding airflow-worker -o jsonpath='{.roleRef.kind}/{.roleRef.name} -> {.subjects[0].kind}/{.subjects[0].name}'
	echo
	step "the quota and the DAG files, from the spec"
	k -n airflow-acme get resourcequota tenant-quota -o jsonpath='{.spec.hard}'
	echo
	k -n airflow-acme get configmap tenant-dags -o jsonpath='{.data}' |
		python3 -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin))))'
	step "Vault and Grafana"
	curl -s "$(endpoint control)/__sim/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("vault:  ", ", ".join(sorted(s["vault"]["secrets"])))
print("grafana:", ", ".join("%s (%s)" % (d["uid"], d["title"]) for d in s["grafana"]["dashboards"]))'
fi

step "done"
