#!/usr/bin/env bash
# test/bench/bench_rls.sh: a shared table under tenancy.share_table, as
# ratios against a baseline measured in the same run on a throwaway cluster.
#
#  3a. an indexed point query as a tenant role (row-level security with the
#      one generic policy, (SELECT tenancy.current_tenant()) as an InitPlan)
#      vs. the same query as a role that bypasses RLS.  Goal: <= 1.05x.
#  3b. planning time of that query with 10 tenants vs. 10,000 tenants
#      (roles and rows).  Goal: flat.
#
# Tenants here are what the policy sees of them: a group role
# tenant_<slug>_writer and a login role in it, and rows in the shared table
# (provisioning the full tenant is measured by bench_provision.sh).
# Environment: BENCH_SECONDS (per pgbench run, default 10), BENCH_KEEP=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
# PG_BINDIR: another installation (e.g. a private one made with DESTDIR)
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

seconds=${BENCH_SECONDS:-10}
rows_per_tenant=200
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
finish() {
	cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT
cluster_start "$dir/cluster" >/dev/null

# add_tenants FROM TO: group and login roles, and rows, of tenants tFROM..tTO
add_tenants() {
	cluster_psql -q <<SQL
DO \$\$
BEGIN
	FOR i IN $1..$2 LOOP
		EXECUTE format('CREATE ROLE %I NOLOGIN', 'tenant_t' || i || '_writer');
		EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %I', 'app_t' || i, 'tenant_t' || i || '_writer');
	END LOOP;
END
\$\$;
INSERT INTO public.shared (id, tenant, payload)
SELECT k * 100000 + i, 't' || i, md5((k * 100000 + i)::text)
  FROM generate_series($1, $2) AS i, generate_series(0, $rows_per_tenant - 1) AS k;
ANALYZE public.shared;
SQL
}

cluster_psql -q <<SQL
CREATE EXTENSION tenancy;
CREATE TABLE public.shared (id bigint PRIMARY KEY, tenant text NOT NULL, payload text);
SELECT tenancy.share_table('public.shared', 'tenant');
-- every role may query the table; the policy decides which rows it sees
GRANT SELECT ON public.shared TO PUBLIC;
CREATE ROLE bench_bypass LOGIN BYPASSRLS;
GRANT SELECT ON public.shared TO bench_bypass;
SQL

# a point query on one of tenant t7's rows, by primary key
cat >"$dir/point.sql" <<'SQL'
\set k random(0, 199)
SELECT payload FROM public.shared WHERE id = :k * 100000 + 7;
SQL

# tps ROLE: transactions per second of the point query as ROLE
tps() {
	"$cluster_bindir/pgbench" -n -M prepared -c 1 -T "$seconds" -U "$1" -f "$dir/point.sql" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# planning_ms: mean planning time of the point query as app_t7 (300 runs)
planning_ms() {
	for _ in $(seq 1 300); do
		echo "EXPLAIN (SUMMARY ON, COSTS OFF) SELECT payload FROM public.shared WHERE id = 7;"
	done | PGUSER=app_t7 cluster_psql -qAt | sed -n 's/^Planning Time: \([0-9.]*\) ms/\1/p' |
		awk '{s += $1; n++} END {printf "%.4f", s / n}'
}

add_tenants 1 10
plan10=$(planning_ms)
add_tenants 11 1000
# alternate the two roles, twice, to even out drift
rls=0; bypass=0
for _ in 1 2; do
	rls=$(awk -v a="$rls" -v b="$(tps app_t7)" 'BEGIN{print a + b}')
	bypass=$(awk -v a="$bypass" -v b="$(tps bench_bypass)" 'BEGIN{print a + b}')
done
echo "3a. point query on a shared table, 1,000 tenants x $rows_per_tenant rows, ${seconds}s x 2 per role"
echo "   tenant role (RLS):   $(awk -v t="$rls" 'BEGIN{printf "%.0f", t/2}') tps"
echo "   BYPASSRLS role:      $(awk -v t="$bypass" 'BEGIN{printf "%.0f", t/2}') tps"
echo "   ratio (time per query, RLS/bypass): $(awk -v a="$bypass" -v b="$rls" 'BEGIN{printf "%.3f", a/b}') (goal <= 1.05)"
PGUSER=app_t7 cluster_psql -qAt -c "EXPLAIN (COSTS OFF) SELECT payload FROM public.shared WHERE id = 7" | sed 's/^/   | /'

add_tenants 1001 10000
plan10000=$(planning_ms)
echo "3b. planning time of the point query as a tenant role"
echo "   10 tenants: ${plan10} ms, 10,000 tenants: ${plan10000} ms"
echo "   ratio 10,000/10: $(awk -v a="$plan10000" -v b="$plan10" 'BEGIN{printf "%.2f", a/b}') (goal: flat, ~1.0)"
