#!/usr/bin/env bash
# test/bench/bench_placement.sh: what placing tenants on other servers costs,
# as a ratio against tenants in the platform database, in the same run.
#
#  A platform cluster and three warehouse clusters on this machine.  Time
#  per tenant, from the first provision call until the worker has finished
#  every operation (no platform endpoints: external steps end skipped):
#   - local: BENCH_TENANTS tenants in the platform database (SQL in the
#     caller's transaction);
#   - placed: as many tenants spread over the three registered servers (the
#     same SQL, run by the worker through libpq: one step per phase, each
#     one transaction and two round trips, plus its step bookkeeping).
#  Printed: ms per tenant each, the ratio placed/local, and the spread.
#
# Environment: BENCH_TENANTS (default 100), BENCH_KEEP=1 keeps the clusters.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

tenants=${BENCH_TENANTS:-100}
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
warehouses=()
finish() {
	for w in "${warehouses[@]}"; do CLUSTER_DIR=$w cluster_stop; done
	CLUSTER_DIR=$dir/platform cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT

# the warehouse servers first (cluster_start exports the last one's PG*)
conninfos=()
for w in w1 w2 w3; do
	cluster_start "$dir/$w" >/dev/null
	warehouses+=("$dir/$w")
	conninfos+=("host=$dir/$w port=$PGPORT dbname=postgres")
done
cluster_start "$dir/platform" "tenancy.poll_interval = '1s'" \
	"tenancy.retry_base_delay = '50ms'" "max_worker_processes = 16" >/dev/null
cluster_psql -q -c 'CREATE EXTENSION tenancy'

now_ms() { date +%s%3N; }

# provision_all PREFIX WAREHOUSE: provision the tenants one transaction
# each, then wait for the worker; prints the elapsed milliseconds
provision_all() {
	local prefix=$1 warehouse=$2 t0 t1
	for i in $(seq 1 "$tenants"); do
		echo "SELECT tenancy.provision('$prefix$i', '{\"tenant\": {\"name\": \"$prefix$i\", \"tier\": \"standard\"}, \"warehouse\": $warehouse, \"resources\": {}}');"
	done >"$dir/$prefix.sql"
	t0=$(now_ms)
	cluster_psql -q -o /dev/null -f "$dir/$prefix.sql"
	until [ "$(cluster_psql -qAt -c "SELECT count(*) FROM tenancy.operations WHERE state NOT IN ('succeeded', 'failed', 'compensated', 'cancelled')")" = 0 ]; do
		sleep 0.05
	done
	t1=$(now_ms)
	echo $((t1 - t0))
}

local_ms=$(provision_all l '{}')
for i in 0 1 2; do
	cluster_psql -q -o /dev/null -c "SELECT tenancy.register_server('w$((i + 1))', '${conninfos[$i]}')"
done
# placed: a database of their own on the servers (postgres, the platform
# database's name here, is refused as a tenant's database)
placed_ms=$(provision_all r '{"database": {"name": "wh"}}')

failed=$(cluster_psql -qAt -c "SELECT count(*) FROM tenancy.operations WHERE state <> 'succeeded'")
spread=$(cluster_psql -qAt -c "SELECT string_agg(server || '=' || tenants, ' ' ORDER BY server) FROM tenancy.server_load")
remote_steps=$(cluster_psql -qAt -c "SELECT count(*) / $tenants FROM tenancy.steps WHERE target = 'remote_database'")
statements=$(cluster_psql -qAt -c "SELECT sum(array_length(regexp_split_to_array(request ->> 'sql', E';\n'), 1)) / $tenants FROM tenancy.steps WHERE target = 'remote_database'")
per() { awk -v t="$1" -v n="$tenants" 'BEGIN{printf "%.1f", t/n}'; }
echo "placement: $tenants tenants local vs. $tenants over 3 servers ($remote_steps remote steps per tenant carrying its $statements statements)"
echo "   local:  ${local_ms} ms ($(per "$local_ms") ms/tenant)"
echo "   placed: ${placed_ms} ms ($(per "$placed_ms") ms/tenant), spread $spread"
echo "   ratio placed/local: $(awk -v a="$placed_ms" -v b="$local_ms" 'BEGIN{printf "%.2f", a/b}')"
[ "$failed" = 0 ] || { echo "   $failed operations did not succeed"; exit 1; }
