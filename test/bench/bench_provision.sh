#!/usr/bin/env bash
# test/bench/bench_provision.sh: what provisioning costs, as ratios against a
# baseline measured in the same run on a throwaway cluster.
#
#  1. tenancy.provision() vs. the same SQL statements (taken from
#     tenancy.plan) run as a plain script, one transaction per tenant.
#     Goal: <= 1.1x.
#  2. provision of tenant #N vs. tenant #1 on the same server (default
#     N = 2000).  Goal: <= 1.3x.
#
# Environment: BENCH_TENANTS (ratio 1, default 100), BENCH_SCALE (ratio 2,
# default 2000), BENCH_KEEP=1 keeps the cluster directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
# PG_BINDIR: another installation (e.g. a private one made with DESTDIR)
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

tenants=${BENCH_TENANTS:-100}
scale=${BENCH_SCALE:-2000}
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
finish() {
	cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT
cluster_start "$dir/cluster" >/dev/null
cluster_psql -q -c 'CREATE EXTENSION tenancy'

# now_ms: wall clock in milliseconds
now_ms() { date +%s%3N; }

# 1. provision vs. the planned statements as a plain script
# The script for tenant pN is the plan of pN (nothing executed), written out
# before anything is timed; provision runs for tenants vN.
cluster_psql -qAt -c "
	SELECT format(E'BEGIN;\n%s;\nCOMMIT;', string_agg(detail, E';\n' ORDER BY ordinal))
	  FROM generate_series(1, $tenants) AS i,
	       tenancy.plan('p' || i, jsonb_build_object('tenant', jsonb_build_object('name', 'p' || i, 'tier', 'standard'), 'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb)) AS p
	 WHERE p.target = 'database'
	 GROUP BY i ORDER BY i" >"$dir/plain.sql"
for i in $(seq 1 "$tenants"); do
	echo "SELECT tenancy.provision('v$i', '{\"tenant\": {\"name\": \"v$i\", \"tier\": \"standard\"}, \"warehouse\": {}, \"resources\": {}}');"
done >"$dir/provision.sql"
statements=$(grep -c ';$' "$dir/plain.sql")

# alternate halves so that neither side profits from a warmer cluster
half=$((tenants / 2))
split_half() { awk -v h="$2" -v part="$3" 'BEGIN{RS="COMMIT;\n"; ORS="COMMIT;\n"} (part==1 && NR<=h) || (part==2 && NR>h)' "$1"; }
split_half "$dir/plain.sql" "$half" 1 >"$dir/plain1.sql"
split_half "$dir/plain.sql" "$half" 2 >"$dir/plain2.sql"
head -n "$half" "$dir/provision.sql" >"$dir/provision1.sql"
tail -n +"$((half + 1))" "$dir/provision.sql" >"$dir/provision2.sql"

plain_ms=0
prov_ms=0
for part in 1 2; do
	t0=$(now_ms); cluster_psql -q -o /dev/null -f "$dir/plain$part.sql"; t1=$(now_ms)
	plain_ms=$((plain_ms + t1 - t0))
	t0=$(now_ms); cluster_psql -q -o /dev/null -f "$dir/provision$part.sql"; t1=$(now_ms)
	prov_ms=$((prov_ms + t1 - t0))
done
echo "1. provision vs plain script: $tenants tenants, $((statements / tenants)) statements each"
echo "   plain script: ${plain_ms} ms ($(awk -v t="$plain_ms" -v n="$tenants" 'BEGIN{printf "%.1f", t/n}') ms/tenant)"
echo "   provision:    ${prov_ms} ms ($(awk -v t="$prov_ms" -v n="$tenants" 'BEGIN{printf "%.1f", t/n}') ms/tenant)"
echo "   ratio provision/plain: $(awk -v a="$prov_ms" -v b="$plain_ms" 'BEGIN{printf "%.2f", a/b}') (goal <= 1.10)"

# 2. tenant #1 vs tenant #N: one procedure provisions them all, committing
# each, and records each provision's duration
cluster_psql -q <<SQL
CREATE TABLE bench_timing (n int PRIMARY KEY, ms double precision);
CREATE PROCEDURE bench_scale(total int) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
BEGIN
	FOR n IN 1..total LOOP
		t0 := clock_timestamp();
		PERFORM tenancy.provision('s' || n, jsonb_build_object('tenant',
			jsonb_build_object('name', 's' || n, 'tier', 'standard'),
			'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb));
		INSERT INTO bench_timing VALUES (n, 1000 * extract(epoch FROM clock_timestamp() - t0));
		COMMIT;
	END LOOP;
END
\$\$;
SQL
# a fresh cluster state for the scale run: drop the tenants of part 1
PGOPTIONS="-c client_min_messages=warning" cluster_psql -q -o /dev/null -c "SELECT tenancy.deprovision(name, true) FROM tenancy.tenants"
cluster_psql -q -c "CALL bench_scale($scale)"
cluster_psql -qAt -F ' ' -c "
	WITH w AS (SELECT 20 AS k)
	SELECT round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timing, w WHERE n <= k)::numeric, 2),
	       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timing, w WHERE n > $scale - k)::numeric, 2),
	       (SELECT count(*) FROM pg_class),
	       (SELECT count(*) FROM pg_namespace)" | {
	read -r first last relations schemas
	echo "2. provision of tenant #$scale vs tenant #1 (median of 20 at each end)"
	echo "   first: ${first} ms, last: ${last} ms; pg_class: $relations rows, $schemas schemas"
	echo "   ratio last/first: $(awk -v a="$last" -v b="$first" 'BEGIN{printf "%.2f", a/b}') (goal <= 1.30)"
}
