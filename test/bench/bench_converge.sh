#!/usr/bin/env bash
# test/bench/bench_converge.sh: the full soak of issue 16 (test/t/017_worker_soak.pl
# at full scale): 30 tenants while the worker is killed 20 times (3 of them
# immediate stops of the server, 50 ms on every request); 30 tenants with
# 25% transient faults on every service and one permanent fault; then a
# 2-minute outage of the Kubernetes API, refused and then hung, while 30
# more tenants are provisioned.  Asserts that every operation converges and
# every tenant equals a fault-free one; prints the time to converge.
# Not a timed test: the figures are printed, the assertions are the soak's.
# Settings: SOAK_TENANTS (30), SOAK_KILLS (20), SOAK_STOPS (3),
# SOAK_OUTAGE_S (120), SOAK_TIMEOUT_S (900).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
log=$(mktemp /tmp/tenancy-bench-converge.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0
SOAK_TENANTS=${SOAK_TENANTS:-30} SOAK_KILLS=${SOAK_KILLS:-20} SOAK_STOPS=${SOAK_STOPS:-3} \
SOAK_SEPARATE=1 SOAK_FAULT_RATE=0.25 SOAK_OUTAGE_S=${SOAK_OUTAGE_S:-120} \
SOAK_TIMEOUT_S=${SOAK_TIMEOUT_S:-900} TAP=test/t/017_worker_soak.pl \
	test/run-tests.sh tap >"$log" 2>&1 || status=1
grep -E '^(not ok|ok) |soak: ' "$log" | sed 's/^\[[^]]*\] *//'
[ "$status" -eq 0 ] || { echo "bench_converge: the soak failed; its output:"; tail -n 80 "$log"; }
exit $status
