#!/usr/bin/env bash
# test/bench/bench_provision.sh: what provisioning costs, as ratios against a
# baseline measured in the same run on a throwaway cluster.
#
#  1. tenancy.provision() vs. the same SQL statements (taken from
#     tenancy.plan) run as a plain script, one transaction per tenant.
#     Goal: <= 1.1x.  A third baseline runs the same statements inside the
#     server (a procedure: EXECUTE per tenant, COMMIT each), without the
#     client's messages, so that provision's own overhead shows apart from
#     what psql and the socket cost the script.
#     Provision does more than the script: it validates and
#     normalizes the spec, reads the current state, places the tenant,
#     plans the platform side and records the tenant, the operation and its
#     steps; the worker then works through the platform steps (no endpoint
#     here: they end skipped) while the next provisions run.
#  2. provision of tenant #N vs. tenant #1 on the same server (default
#     N = 2000).  Goal: <= 1.3x.
#
# Environment: BENCH_TENANTS (ratio 1, default 400), BENCH_ROUNDS (ratio 1,
# default 8), BENCH_SCALE (ratio 2, default 2000), BENCH_KEEP=1 keeps the
# cluster directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
# PG_BINDIR: another installation (e.g. a private one made with DESTDIR)
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

tenants=${BENCH_TENANTS:-400}
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
# The statements for tenant pN are the plan of pN (nothing executed),
# written out before anything is timed, in two forms: as psql runs a script
# (one message per statement) and as one message per tenant (psql's \;);
# and those of xN are kept in table bench_sql for a procedure to EXECUTE
# (one CALL per round).  All are one transaction per tenant, like
# provision.  The tenants are split into BENCH_ROUNDS rounds; each round
# runs the five sides on its own tenants, in an order that rotates from
# round to round.
rounds=${BENCH_ROUNDS:-8}
per_round=$((tenants / rounds))
# the server-side baseline: tenant i's statements, run by a procedure
cluster_psql -q <<'SQL'
CREATE TABLE bench_sql (i int PRIMARY KEY, statements text NOT NULL);
CREATE PROCEDURE bench_statements(first int, last int) LANGUAGE plpgsql AS $$
DECLARE
	todo text[] := ARRAY(SELECT statements FROM bench_sql WHERE i BETWEEN first AND last ORDER BY i);
BEGIN
	FOR k IN 1 .. coalesce(array_length(todo, 1), 0) LOOP
		EXECUTE todo[k];
		COMMIT;
	END LOOP;
END
$$;
SQL
spec_sql() { echo "jsonb_build_object('tenant', jsonb_build_object('name', '$1' || i, 'tier', 'standard'), 'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb)"; }
for r in $(seq 1 "$rounds"); do
	from=$(((r - 1) * per_round + 1)); to=$((r * per_round))
	cluster_psql -qAt -c "
		SELECT format(E'BEGIN;\n%s;\nCOMMIT;', string_agg(detail, E';\n' ORDER BY ordinal))
		  FROM generate_series($from, $to) AS i, tenancy.plan('p' || i, $(spec_sql p)) AS p
		 WHERE p.target = 'database' GROUP BY i ORDER BY i" >"$dir/plain$r.sql"
	cluster_psql -qAt -c "
		SELECT format(E'BEGIN\\;\n%s\\;\nCOMMIT;', string_agg(detail, E'\\;\n' ORDER BY ordinal))
		  FROM generate_series($from, $to) AS i, tenancy.plan('q' || i, $(spec_sql q)) AS p
		 WHERE p.target = 'database' GROUP BY i ORDER BY i" >"$dir/single$r.sql"
	cluster_psql -q -c "
		INSERT INTO bench_sql
		SELECT i, string_agg(detail, E';\n' ORDER BY ordinal)
		  FROM generate_series($from, $to) AS i, tenancy.plan('x' || i, $(spec_sql x)) AS p
		 WHERE p.target = 'database' GROUP BY i"
	echo "CALL bench_statements($from, $to);" >"$dir/server$r.sql"
	for side in provision:v live:w; do
		for i in $(seq "$from" "$to"); do
			echo "SELECT tenancy.provision('${side#*:}$i', '{\"tenant\": {\"name\": \"${side#*:}$i\", \"tier\": \"standard\"}, \"warehouse\": {}, \"resources\": {}}');"
		done >"$dir/${side%:*}$r.sql"
	done
done
statements=$(($(grep -c ';$' "$dir/plain1.sql") / per_round - 2))

# The worker works through the platform steps of each provision after its
# COMMIT (here: marks them skipped), on the other core of a 2-core machine,
# about three times the provision's own CPU time.  Side "provision" pauses
# it (SIGSTOP while it is idle, SIGCONT after the script) to measure the
# caller's transactions alone; side "live" lets it run, as it would.
worker=$(cluster_psql -qAt -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy worker'")
wait_idle() {
	until [ "$(cluster_psql -qAt -c "SELECT count(*) FROM tenancy.steps WHERE state IN ('pending', 'running')")" = 0 ]; do
		sleep 0.1
	done
}
# run_side SIDE ROUND: milliseconds per tenant of SIDE's script of ROUND
run_side() {
	local t0 t1
	wait_idle
	[ "$1" != provision ] || kill -STOP "$worker"
	t0=$(date +%s%N)
	cluster_psql -q -o /dev/null -f "$dir/$1$2.sql"
	t1=$(date +%s%N)
	[ "$1" != provision ] || kill -CONT "$worker"
	awk -v ns=$((t1 - t0)) -v n="$per_round" 'BEGIN{printf "%.3f", ns / 1e6 / n}'
}
trap 'kill -CONT "$worker" 2>/dev/null; finish' EXIT
sides=(plain single server provision live)
for r in $(seq 1 "$rounds"); do
	for k in 0 1 2 3 4; do
		side=${sides[$(((r + k) % 5))]}
		echo "$side $(run_side "$side" "$r")"
	done
done >"$dir/times"
# median MS/TENANT of a side over the rounds
median() { awk -v s="$1" '$1 == s {print $2}' "$dir/times" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
plain=$(median plain); single=$(median single); server=$(median server)
prov=$(median provision); live=$(median live)
echo "1. provision vs plain script: $tenants tenants in $rounds rounds, $statements statements each (medians of the rounds, ms/tenant)"
echo "   plain script, one message per statement: $plain"
echo "   plain script, one message per tenant:    $single"
echo "   the statements inside the server:        $server"
echo "   provision (worker paused):               $prov"
echo "   provision (worker running alongside):    $live"
echo "   ratio provision/plain: $(awk -v a="$prov" -v b="$plain" 'BEGIN{printf "%.2f", a/b}'), provision/one message: $(awk -v a="$prov" -v b="$single" 'BEGIN{printf "%.2f", a/b}') (goal <= 1.10)"
echo "   with the worker running: $(awk -v a="$live" -v b="$plain" 'BEGIN{printf "%.2f", a/b}')"
echo "   provision's own overhead, provision/statements inside the server: $(awk -v a="$prov" -v b="$server" 'BEGIN{printf "%.2f", a/b}')"
echo "   rounds (side ms/tenant):" $(tr '\n' ' ' <"$dir/times")

# 2. tenant #1 vs tenant #N: one procedure provisions them all, committing
# each, and records each provision's duration
cluster_psql -q <<SQL
CREATE TABLE bench_timing (n int PRIMARY KEY, ms double precision);
CREATE PROCEDURE bench_scale(first int, last int) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
BEGIN
	FOR n IN first..last LOOP
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
# a fresh cluster state for the scale run: drop the tenants of part 1, one
# transaction each (all in one would need a lock per object dropped)
PGOPTIONS="-c client_min_messages=warning" cluster_psql -q -o /dev/null <<'SQL'
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT name FROM tenancy.tenants ORDER BY name LOOP
		PERFORM tenancy.deprovision(t.name, true);
		COMMIT;
	END LOOP;
END
$$;
SQL
cluster_psql -q -c "CALL bench_scale(1, $scale)"
# 20 more in a new session: is any growth the catalog's or the session's
# (a backend that created thousands of schemas has big caches to invalidate)?
cluster_psql -q -c "CALL bench_scale($scale + 1, $scale + 20)"
cluster_psql -qAt -F ' ' -c "
	WITH w AS (SELECT 20 AS k)
	SELECT round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timing, w WHERE n <= k)::numeric, 2),
	       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timing, w WHERE n > $scale - k AND n <= $scale)::numeric, 2),
	       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timing WHERE n > $scale)::numeric, 2),
	       (SELECT count(*) FROM pg_class),
	       (SELECT count(*) FROM pg_namespace)" | {
	read -r first last fresh relations schemas
	echo "2. provision of tenant #$scale vs tenant #1 (median of 20 at each end, one session)"
	echo "   first: ${first} ms, last: ${last} ms; pg_class: $relations rows, $schemas schemas"
	echo "   ratio last/first: $(awk -v a="$last" -v b="$first" 'BEGIN{printf "%.2f", a/b}') (goal <= 1.30)"
	echo "   tenants #$((scale + 1))-#$((scale + 20)) in a new session: ${fresh} ms, ratio to #1: $(awk -v a="$fresh" -v b="$first" 'BEGIN{printf "%.2f", a/b}')"
}
