#!/usr/bin/env bash
# test/bench/bench_worker.sh: the worker against the platform simulator.
#   1. commit -> first request at the simulator: p50 / p99 (200 commits)
#   2. throughput: 200 tenants x 10 steps, no latency: steps per second,
#      and the CPU time the worker and the simulator spent per step; the same
#      against a minimal HTTP server (what the worker alone can do); with
#      20 ms latency per request: max_concurrent_requests 32 vs 1
#   3. worker memory (VmRSS) after 1k and after 10k steps
#   4. the cost of the per-tenant ordering check: provisions vs usage
#      operations, the same steps; BENCH_ONLY=ordering runs only that
# Not a timed test: prints figures and ratios measured in this run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib/cluster.sh"

work=$(mktemp -d /tmp/tenancy-bench-worker.XXXXXX)
chmod 755 "$work"
sim="$work/sim"
mkdir -p "$sim"
"$top/test/platform/simctl" start "$sim" >/dev/null
chmod -R a+rX "$sim"
cleanup() {
	[ -z "${null_pid:-}" ] || kill "$null_pid" 2>/dev/null || true
	cluster_stop
	"$top/test/platform/simctl" stop "$sim" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

endpoint() { python3 -c "import json,sys; print(json.load(open('$sim/endpoints.json'))[sys.argv[1]])" "$1"; }
k8s=$(endpoint kubernetes)
control=$(endpoint control)

cluster_start "$work/pg" \
	"tenancy.kubernetes_url = '$k8s'" \
	"tenancy.kubernetes_token_file = '$sim/k8s-token'" \
	"tenancy.max_requests_per_host = 32" \
	"tenancy.retry_base_delay = '50ms'" \
	"synchronous_commit = off" >/dev/null
cluster_psql -q -c 'CREATE EXTENSION tenancy'

faults() { curl -s -XPOST "$control/__sim/faults" -H 'content-type: application/json' -d "$1" >/dev/null; }
clear_journal() { curl -s -XDELETE "$control/__sim/journal" >/dev/null; }
set_guc() { cluster_psql -q -c "ALTER SYSTEM SET $1 = '$2'" -c 'SELECT pg_reload_conf()' >/dev/null; sleep 0.3; }
worker_pid() { cluster_psql -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tenancy worker'"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)
# rate PREFIX: steps per second from the first claim to the last result
rate() {
	cluster_psql -Atc "SELECT count(*) || ' steps in ' || round(extract(epoch FROM max(s.finished_at) - min(s.started_at))::numeric, 2)
		|| ' s = ' || round(count(*) / extract(epoch FROM max(s.finished_at) - min(s.started_at))::numeric) || ' steps/s'
		FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id) JOIN tenancy.tenants t USING (tenant_id)
		WHERE t.name LIKE '$1%' AND s.state = 'succeeded'"
}

# enqueue TENANT_PREFIX N_TENANTS N_CONFIGMAPS [KIND [HISTORY]]: one
# transaction, one operation of KIND (provision) per tenant: a namespace,
# then configmaps applied in it; each tenant first gets HISTORY (0)
# operations that ended
enqueue() {
	cluster_psql -q -o /dev/null -v p="$1" -v n="$2" -v m="$3" -v k="${4:-provision}" -v h="${5:-0}" <<'SQL'
BEGIN;
INSERT INTO tenancy.tenants (name, slug, spec)
	SELECT :'p' || i, replace(:'p', '-', '_') || i, '{}' FROM generate_series(1, :n) i;
INSERT INTO tenancy.operations (tenant_id, kind, generation, state, started_at, finished_at)
	SELECT tenant_id, :'k', 1, 'succeeded', now(), now()
	  FROM tenancy.tenants, generate_series(1, :h) WHERE name LIKE :'p' || '%' ORDER BY tenant_id;
INSERT INTO tenancy.operations (tenant_id, kind, generation)
	SELECT tenant_id, :'k', 1 FROM tenancy.tenants WHERE name LIKE :'p' || '%' ORDER BY tenant_id;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request, depends_on)
	SELECT o.operation_id, 1, 'kubernetes', 'create', 'namespace',
		   jsonb_build_object('method', 'POST', 'path', '/api/v1/namespaces', 'ok_status', '[409]'::jsonb,
			   'body', jsonb_build_object('apiVersion', 'v1', 'kind', 'Namespace',
				   'metadata', jsonb_build_object('name', 'airflow-' || t.name))), '{}'::int[]
	  FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id)
	 WHERE t.name LIKE :'p' || '%' AND o.state = 'pending'
	UNION ALL
	SELECT o.operation_id, 1 + c, 'kubernetes', 'apply', 'configmap',
		   jsonb_build_object('method', 'PATCH', 'path', '/api/v1/namespaces/airflow-' || t.name || '/configmaps/cm' || c,
			   'query', '{"fieldManager": "tenancy", "force": "true"}'::jsonb,
			   'content_type', 'application/apply-patch+yaml',
			   'body', jsonb_build_object('apiVersion', 'v1', 'kind', 'ConfigMap',
				   'metadata', jsonb_build_object('name', 'cm' || c), 'data', jsonb_build_object('c', c::text))), '{1}'::int[]
	  FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id), generate_series(1, :m) c
	 WHERE t.name LIKE :'p' || '%' AND o.state = 'pending';
SELECT tenancy.wake_worker();
COMMIT;
SQL
}

# wait_done PREFIX: until every operation of those tenants ended
wait_done() {
	while [ "$(cluster_psql -Atc "SELECT count(*) FROM tenancy.operations o JOIN tenancy.tenants t USING (tenant_id)
		WHERE t.name LIKE '$1%' AND o.state NOT IN ('succeeded', 'failed', 'compensated', 'cancelled')")" != 0 ]; do
		sleep 0.05
	done
}

now() { date +%s.%N; }

# steps_per_s PREFIX: first claim to last result, as a number
steps_per_s() {
	cluster_psql -Atc "SELECT round(count(*) / extract(epoch FROM max(s.finished_at) - min(s.started_at))::numeric)
		FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id) JOIN tenancy.tenants t USING (tenant_id)
		WHERE t.name LIKE '$1%' AND s.state = 'succeeded'"
}

# ordering: the cost of the per-tenant ordering check (run last, or alone
# with BENCH_ONLY=ordering: its 50k operations would slow the sections
# measured after it)
ordering() {
	echo "-- 4. the per-tenant ordering check (EARLIER_CONVERGE_DONE, issue 16): 200 tenants x 10 steps as"
	echo "   provisions (checked) and as usage operations (not a converge kind: not checked), 6 rounds, each kind first in 3;"
	echo "   without and with 20 ended operations per tenant before (what the check reads)"
	for history in 0 20; do
		declare -A rates=()
		for round in 1 2 3 4 5 6; do
			# each kind goes first in every other round: the runs get slower as
			# the tables grow, which must not count against one kind
			order="usage provision"
			[ $((round % 2)) -eq 1 ] || order="provision usage"
			for kind in $order; do
				p="ord$history-$kind-$round-"
				enqueue "$p" 200 9 "$kind" "$history"
				wait_done "$p"
				rates[$kind]+="$(steps_per_s "$p") "
			done
		done
		python3 -c '
import statistics, sys
u = [float(x) for x in sys.argv[2].split()]
p = [float(x) for x in sys.argv[3].split()]
r = [b / a for a, b in zip(u, p)]
print("history %s: usage %s steps/s, provision %s steps/s; medians %.0f vs %.0f; provision/usage per round %s, median %.2f"
      % (sys.argv[1], sys.argv[2].strip(), sys.argv[3].strip(), statistics.median(u), statistics.median(p),
         " ".join("%.2f" % x for x in r), statistics.median(r)))' "$history" "${rates[usage]}" "${rates[provision]}"
	done
}
if [ "${BENCH_ONLY:-}" = ordering ]; then
	ordering
	exit 0
fi

echo "-- 1. commit -> first request at the simulator (200 commits, one GET step each)"
clear_journal
lat=()
for i in $(seq 1 200); do
	t0=$(cluster_psql -Atq -v i="$i" <<'SQL'
BEGIN;
INSERT INTO tenancy.tenants (name, slug, spec) VALUES ('lat' || :i, 'lat' || :i, '{}');
INSERT INTO tenancy.operations (tenant_id, kind, generation) SELECT max(tenant_id), 'provision', 1 FROM tenancy.tenants;
INSERT INTO tenancy.steps (operation_id, ordinal, target, action, object, request)
	SELECT max(operation_id), 1, 'kubernetes', 'get', 'namespaces', '{"method": "GET", "path": "/api/v1/namespaces/default"}' FROM tenancy.operations;
SELECT tenancy.wake_worker();
SELECT extract(epoch FROM clock_timestamp());
COMMIT;
SQL
)
	wait_done "lat$i"
	lat+=("$t0")
done
curl -s "$control/__sim/journal" | python3 -c '
import json, sys, datetime
t0 = [float(x) for x in sys.argv[1:]]
j = [e for e in json.load(sys.stdin) if e["method"] == "GET"]
ts = [datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() for e in j]
d = sorted((b - a) * 1000 for a, b in zip(t0, ts))
print("commit->request ms: p50 %.2f  p99 %.2f  (n=%d; simulator clock has 1 ms resolution; goal p50 <= 2 ms)" % (d[len(d)//2], d[int(len(d)*0.99)-1], len(d)))
' "${lat[@]}"

echo "-- 2. throughput: 200 tenants x 10 steps (namespace + 9 configmaps), no latency"
pid=$(worker_pid)
sim_pid=$(cat "$sim/sim.pid")
rss0=$(rss_kb "$pid")
wcpu0=$(cpu_ticks "$pid")
scpu0=$(cpu_ticks "$sim_pid")
start=$(now)
enqueue tp 200 9
wait_done tp
end=$(now)
wcpu1=$(cpu_ticks "$pid")
scpu1=$(cpu_ticks "$sim_pid")
steps=$(cluster_psql -Atc "SELECT count(*) FROM tenancy.steps s JOIN tenancy.operations o USING (operation_id) JOIN tenancy.tenants t USING (tenant_id) WHERE t.name LIKE 'tp%' AND s.state = 'succeeded'")
python3 -c "print('steps: %d in %.2f s from enqueue to last result = %.0f steps/s (goal >= 2000/s on 2 cores)' % ($steps, $end - $start, $steps / ($end - $start)))"
echo "first claim to last result: $(rate tp)"
python3 -c "print('CPU per step: worker %.2f ms, simulator %.2f ms' % (($wcpu1 - $wcpu0) * 1000.0 / $ticks_per_s / $steps, ($scpu1 - $scpu0) * 1000.0 / $ticks_per_s / $steps))"

echo "-- 2a. the worker alone: the same against a minimal HTTP server (answers at once, no validation)"
node -e '
const http = require("http");
const srv = http.createServer((req, res) => {
	req.resume();
	req.on("end", () => { res.writeHead(req.method === "POST" ? 201 : 200, {"content-type": "application/json"}); res.end("{}"); });
});
srv.keepAliveTimeout = 60000;
srv.listen(0, "127.0.0.1", () => console.log(srv.address().port));
' >"$work/null.port" &
null_pid=$!
for _ in $(seq 1 50); do [ -s "$work/null.port" ] && break; sleep 0.1; done
set_guc tenancy.kubernetes_url "http://127.0.0.1:$(cat "$work/null.port")"
wcpu0=$(cpu_ticks "$pid")
enqueue np 200 9
wait_done np
wcpu1=$(cpu_ticks "$pid")
echo "first claim to last result: $(rate np); worker CPU per step: $(python3 -c "print('%.2f' % (($wcpu1 - $wcpu0) * 1000.0 / $ticks_per_s / 2000))") ms"
set_guc tenancy.kubernetes_url "$k8s"
kill "$null_pid"
null_pid=

echo "-- 2b. 20 ms latency per request: max_concurrent_requests 32 vs 1 (20 tenants x 5 steps)"
faults '{"rules": [{"kind": "latency", "ms": 20}]}'
declare -A took
for c in 1 32; do
	set_guc tenancy.max_concurrent_requests "$c"
	start=$(now)
	enqueue "lc$c-" 20 4
	wait_done "lc$c-"
	end=$(now)
	took[$c]=$(python3 -c "print($end - $start)")
	echo "max_concurrent_requests=$c: 100 steps in ${took[$c]} s"
done
python3 -c "print('speed-up of 32 over 1: %.1fx' % (${took[1]} / ${took[32]}))"
faults '{"rules": []}'
set_guc tenancy.max_concurrent_requests 32

echo "-- 3. worker memory: private (RssAnon, not the shared buffers it touched) and its memory contexts"
# mem_report: RssAnon of the worker, and the grand total of its memory
# contexts (pg_log_backend_memory_contexts writes them to the server log)
mem_report() {
	local before after total
	before=$(grep -c 'Grand total' "$CLUSTER_DIR/server.log" || true)
	cluster_psql -Atq -c "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null
	for _ in $(seq 1 50); do
		after=$(grep -c 'Grand total' "$CLUSTER_DIR/server.log" || true)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	total=$(grep "\[$pid\].*Grand total" "$CLUSTER_DIR/server.log" | tail -1 | sed 's/.*Grand total: \([0-9]*\) bytes.*/\1/')
	echo "$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status") $(( ${total:-0} / 1024 ))"
}
read -r anon1 cxt1 < <(mem_report)
done1=$(cluster_psql -Atc "SELECT count(*) FROM tenancy.steps")
echo "after ${done1} steps: RssAnon ${anon1} kB, memory contexts ${cxt1} kB (VmRSS $(rss_kb "$pid") kB; at start ${rss0} kB)"
for round in 1 2 3 4; do
	enqueue "mem$round-" 200 9
	wait_done "mem$round-"
done
read -r anon2 cxt2 < <(mem_report)
done2=$(cluster_psql -Atc "SELECT count(*) FROM tenancy.steps")
[ "$(worker_pid)" = "$pid" ] || echo "warning: the worker restarted during the run"
echo "after ${done2} steps: RssAnon ${anon2} kB, memory contexts ${cxt2} kB (VmRSS $(rss_kb "$pid") kB)"
echo "growth over the last $(( done2 - done1 )) steps: RssAnon $(( anon2 - anon1 )) kB, memory contexts $(( cxt2 - cxt1 )) kB (goal < 10 MB)"

ordering
