#!/usr/bin/env bash
# test/bench/run.sh: what 'make bench' runs.  Every test/bench/bench_*.sh in
# name order; each prints ratios against a baseline measured in the same run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
test/install-deps.sh
(
	flock 9
	make -s >/dev/null
	make -s install >/dev/null
) 9>/tmp/tenancy-build.lock
status=0
for bench in test/bench/bench_*.sh; do
	[ -e "$bench" ] || continue
	echo "== $bench"
	bash "$bench" || status=1
done
exit $status
