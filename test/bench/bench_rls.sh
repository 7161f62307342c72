#!/usr/bin/env bash
# test/bench/bench_rls.sh: a shared table under tenancy.share_table, as
# ratios against a baseline measured in the same run on a throwaway cluster.
#
#  3a. an indexed point query as a tenant role (row-level security with the
#      one generic policy, (SELECT tenancy.current_tenant()) as an InitPlan)
#      vs. the same query as a role that bypasses RLS.  Goal: <= 1.05x.
#      Measured in one session, on the server (no client round trip, which
#      would only dilute the difference): BENCH_ROUNDS rounds, each running
#      the query BENCH_QUERIES times as one role then as the other (which
#      goes first alternates); the ratio of each round, then their median
#      and 10th-90th percentiles.  Then the same from a client (pgbench,
#      prepared, one connection): BENCH_CLIENT_ROUNDS pairs of 2-second runs,
#      alternating, the median of the pairs' ratios.
#  3b. planning time of that query with 10 tenants vs. 10,000 tenants
#      (roles and rows).  Goal: flat.
#
# Tenants here are what the policy sees of them: a group role
# tenant_<slug>_writer and a login role in it, and rows in the shared table
# (provisioning the full tenant is measured by bench_provision.sh).
# Environment: BENCH_ROUNDS (default 40), BENCH_QUERIES (per role and round,
# default 5000), BENCH_CLIENT_ROUNDS (default 10), BENCH_KEEP=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
# PG_BINDIR: another installation (e.g. a private one made with DESTDIR)
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

rounds=${BENCH_ROUNDS:-40}
queries=${BENCH_QUERIES:-5000}
client_rounds=${BENCH_CLIENT_ROUNDS:-10}
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

# rounds of the point query on tenant t7's rows, by primary key, as each
# role in turn (SET ROLE in the session: BYPASSRLS and the policy follow the
# current role; the cached plan is re-planned when the role changes)
cluster_psql -q <<'SQL'
CREATE TABLE public.bench_rls_timing (round int, role text, us_per_query float8);
CREATE PROCEDURE public.bench_rls_rounds(rounds int, queries int) LANGUAGE plpgsql AS $$
DECLARE
	roles text[] := ARRAY['app_t7', 'bench_bypass'];
	r text;
	t0 timestamptz;
	found_rows int;
	p text;
BEGIN
	FOR round IN 1..rounds LOOP
		FOR j IN 0..1 LOOP
			r := roles[1 + (round + j) % 2];
			EXECUTE format('SET ROLE %I', r);
			found_rows := 0;
			t0 := clock_timestamp();
			FOR i IN 1..queries LOOP
				SELECT payload INTO p FROM public.shared WHERE id = (i % 200) * 100000 + 7;
				found_rows := found_rows + (p IS NOT NULL)::int;
			END LOOP;
			INSERT INTO public.bench_rls_timing
			VALUES (round, r, 1e6 * extract(epoch FROM clock_timestamp() - t0) / queries);
			RESET ROLE;
			IF found_rows <> queries THEN
				RAISE EXCEPTION 'role % found % rows of %', r, found_rows, queries;
			END IF;
		END LOOP;
	END LOOP;
END
$$;
GRANT INSERT ON public.bench_rls_timing TO PUBLIC;
SQL

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
cluster_psql -q -c "CALL public.bench_rls_rounds(3, $queries)" -c "TRUNCATE public.bench_rls_timing"	# warm-up
cluster_psql -q -c "CALL public.bench_rls_rounds($rounds, $queries)"
echo "3a. point query on a shared table, 1,000 tenants x $rows_per_tenant rows: $rounds rounds x $queries queries per role, in one session"
cluster_psql -qAt -F ' ' -c "
	WITH r AS (
		SELECT round, max(us_per_query) FILTER (WHERE role = 'app_t7') AS rls,
		       max(us_per_query) FILTER (WHERE role = 'bench_bypass') AS bypass
		  FROM public.bench_rls_timing GROUP BY round)
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY rls)::numeric, 2),
	       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY bypass)::numeric, 2),
	       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY rls / bypass)::numeric, 3),
	       round(percentile_cont(0.1) WITHIN GROUP (ORDER BY rls / bypass)::numeric, 3),
	       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY rls / bypass)::numeric, 3)
	  FROM r" | {
	read -r rls bypass ratio p10 p90
	echo "   tenant role (RLS): ${rls} us/query, BYPASSRLS role: ${bypass} us/query (medians)"
	echo "   ratio RLS/bypass: median ${ratio}, 10th-90th percentile ${p10} to ${p90} (goal <= 1.05)"
}
# the client's view: pgbench runs of 2 s, the roles alternating
cat >"$dir/point.sql" <<'SQL'
\set k random(0, 199)
SELECT payload FROM public.shared WHERE id = :k * 100000 + 7;
SQL
tps() {
	"$cluster_bindir/pgbench" -n -M prepared -c 1 -T 2 -U "$1" -f "$dir/point.sql" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
for i in $(seq 1 "$client_rounds"); do
	if [ $((i % 2)) = 1 ]; then a=$(tps app_t7); b=$(tps bench_bypass); else b=$(tps bench_bypass); a=$(tps app_t7); fi
	echo "$a $b"
done | awk '{print $2 / $1, $1, $2}' | sort -n | awk '{r[NR] = $1; t += $2; u += $3} END {
	m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2;
	printf "   from a client (pgbench, %d x 2 s per role): %.0f tps with RLS, %.0f bypassing; ratio of time per query: median %.3f, range %.3f to %.3f\n", NR, t / NR, u / NR, m, r[1], r[NR]}'
PGUSER=app_t7 cluster_psql -qAt -c "EXPLAIN (COSTS OFF) SELECT payload FROM public.shared WHERE id = 7" | sed 's/^/   | /'

add_tenants 1001 10000
plan10000=$(planning_ms)
echo "3b. planning time of the point query as a tenant role"
echo "   10 tenants: ${plan10} ms, 10,000 tenants: ${plan10000} ms"
echo "   ratio 10,000/10: $(awk -v a="$plan10000" -v b="$plan10" 'BEGIN{printf "%.2f", a/b}') (goal: flat, ~1.0)"
