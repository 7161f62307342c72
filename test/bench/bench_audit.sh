#!/usr/bin/env bash
# test/bench/bench_audit.sh: what tenancy.audit() of every tenant costs, on
# a throwaway cluster, as ratios against a baseline measured in the same run.
#
#  9a. audit of 1,000 tenants vs. 10 tenants: time per tenant.  Goal: flat
#      (ratio <= 1.5).
#  9b. audit of 5,000 tenants: total time.  Goal: <= 30 s.
#
# Each tenant is provisioned for real (roles, six schemas, the audit table,
# grants, default privileges), with one table of its own and a freshness
# check, so that every check of the audit has something to read.  No
# endpoint is configured: the platform steps end skipped and the audit
# enqueues no platform check.  Times are the median of BENCH_RUNS audits.
# Environment: BENCH_TENANTS (default 1000), BENCH_LARGE (default 5000, 0
# to skip 9b), BENCH_RUNS (default 3), BENCH_KEEP=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

tenants=${BENCH_TENANTS:-1000}
large=${BENCH_LARGE:-5000}
runs=${BENCH_RUNS:-3}
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
finish() {
	cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT
cluster_start "$dir/cluster" "shared_preload_libraries = 'tenancy'" \
	"tenancy.database = 'postgres'" "max_locks_per_transaction = 256" >/dev/null
cluster_psql -q -c 'CREATE EXTENSION tenancy'

# provision_up_to N: tenants a1..aN (those missing), each committed, each
# with a table of its own and a freshness check; then wait for the worker
provision_up_to() {
	PGOPTIONS="-c client_min_messages=warning" cluster_psql -q <<SQL
DO \$\$
DECLARE
	have integer := (SELECT count(*) FROM tenancy.tenants);
BEGIN
	FOR n IN have + 1..$1 LOOP
		PERFORM tenancy.provision('a' || n, jsonb_build_object(
			'tenant', jsonb_build_object('name', 'a' || n, 'tier', 'standard'),
			'warehouse', jsonb_build_object('data_quality', jsonb_build_object(
				'enabled', true, 'checks', jsonb_build_array(jsonb_build_object(
					'type', 'freshness', 'tables', jsonb_build_array('bronze.*'),
					'max_age_hours', 26)))),
			'resources', '{}'::jsonb));
		EXECUTE format('CREATE TABLE %I.events (id int, modified_at timestamptz DEFAULT now())',
					   'a' || n || '_bronze');
		EXECUTE format('ALTER TABLE %I.events OWNER TO %I', 'a' || n || '_bronze', 'etl_a' || n);
		EXECUTE format('INSERT INTO %I.events (id) VALUES (1)', 'a' || n || '_bronze');
		COMMIT;
	END LOOP;
END
\$\$;
SQL
	for _ in $(seq 1 600); do
		[ "$(cluster_psql -qAt -c "SELECT count(*) FROM tenancy.operations WHERE finished_at IS NULL")" = 0 ] && break
		sleep 0.5
	done
	cluster_psql -q -c 'VACUUM ANALYZE' 2>/dev/null
}

# audit_ms: median wall time of BENCH_RUNS audits of every tenant; fails if
# an audit finds anything (every tenant is clean)
audit_ms() {
	for _ in $(seq 1 "$runs"); do
		cluster_psql -qAt <<'SQL'
\timing on
SELECT count(*) FROM tenancy.audit();
SQL
	done | awk '/^Time:/ {print $2} /^[0-9]+$/ && $1 != 0 {print "findings " $1 > "/dev/stderr"; exit 1}' |
		sort -n | awk '{a[NR] = $1} END {printf "%.0f", a[int((NR + 1) / 2)]}'
}

provision_up_to 10
small=$(audit_ms)
provision_up_to "$tenants"
big=$(audit_ms)
per_small=$(awk -v t="$small" 'BEGIN{printf "%.3f", t / 10}')
per_big=$(awk -v t="$big" -v n="$tenants" 'BEGIN{printf "%.3f", t / n}')
echo "9a. audit of every tenant, each clean (median of $runs runs)"
echo "    10 tenants:     ${small} ms (${per_small} ms/tenant)"
echo "    $tenants tenants:   ${big} ms (${per_big} ms/tenant)"
echo "    ratio per tenant $tenants/10: $(awk -v a="$per_big" -v b="$per_small" 'BEGIN{printf "%.2f", a / b}') (goal: flat, <= 1.5)"

if [ "$large" -gt "$tenants" ]; then
	provision_up_to "$large"
	huge=$(audit_ms)
	echo "9b. audit of $large tenants: ${huge} ms ($(awk -v t="$huge" -v n="$large" 'BEGIN{printf "%.3f", t / n}') ms/tenant; goal <= 30000 ms)"
fi
