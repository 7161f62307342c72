#!/usr/bin/env bash
# test/run-tests.sh: what 'make test' runs.
#
# Installs what is missing, builds with -Wall -Wextra -Werror, installs the
# extension, then runs every suite on throwaway instances:
#   regress     pg_regress: sql/*.sql against expected/*.out
#   isolation   pg_isolation_regress: test/isolation/specs/*.spec
#   tap         prove: test/t/*.pl (PostgreSQL::Test::Cluster)
#   platform    the platform simulator's own tests (test/platform)
#   deploy      deploy/: Helm chart, image, exact RBAC and Vault policy
#               (test/deploy; after tap, whose simulator journals it reads)
#   selftest    the runner's TAP counter and the valgrind summary against
#               inputs of known verdict (test/selftest/run.sh)
#   format      src/ laid out as pgindent would (test/tools/indent.sh), and
#               every call between its files going down the layers
#               (test/tools/layers.sh)
#
# The last line is "N passed, M failed, K skipped": TAP and the node suites
# count per assertion; a suite that cannot run or runs nothing is a failure.
#
# Usage: test/run-tests.sh [suite ...]     (default: all of them)
# Environment: REGRESS="a b", ISOLATION="x", TAP="test/t/001_x.pl" narrow a
# suite; KEEP=1 keeps the work directory.
#
# initdb refuses to run as root, and CI runs as root: the servers then run as
# the unprivileged 'postgres' user, on a copy of the test inputs in a work
# directory it owns (the checkout itself is left untouched).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(format selftest regress isolation tap platform deploy)

# TENANCY_NO_INSTALL_DEPS=1: the packages are there already (the Debian roots
# of test/pgmatrix, whose PostgreSQL is not the host's 15)
if [ "${TENANCY_NO_INSTALL_DEPS:-0}" != 1 ]; then
	"$top/test/install-deps.sh" || { echo "could not install dependencies"; exit 1; }
fi

# Several runs may share one checkout (developers in parallel): build and
# install under a lock so that no run links or installs a half-written file.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
(
	flock 9
	make -s PG_CFLAGS='-Wall -Wextra -Werror -Wshadow=compatible-local' >/dev/null || { echo "build failed"; exit 1; }
	$sudo make -s install >/dev/null || { echo "install failed"; exit 1; }
) 9>/tmp/tenancy-build.lock || exit 1

bindir=$(${PG_CONFIG:-pg_config} --bindir)
pgxs_dir=$(dirname "$(${PG_CONFIG:-pg_config} --pgxs)")/..
passed=0
failed=0
skipped=0
failures=()

work=$(mktemp -d /tmp/tenancy-test.XXXXXX)
mkdir -p "$work/src"
cp -r sql expected test tenancy.control README.md "$work/src/"
# the exporter queries that a TAP test runs against a provisioned instance,
# and the example specs that dba_day2 and TAP 023 and 060 provision as shipped
mkdir -p "$work/src/deploy" && cp -r deploy/monitoring deploy/examples "$work/src/deploy/"
# the sources of released versions, as they were (test/t/050_upgrade.pl
# builds 0.1.0 from them); from git history, so only in a git checkout
release_0_1_0=8d35af887237a0a7203fcdc51bd4ba2a3515f190
# a shallow clone (CI's git clone --depth 1) lacks it: fetch that commit
# alone; without it 050 fails, saying why (it never skips)
if [ -d "$top/.git" ] || [ -f "$top/.git" ]; then
	git -C "$top" cat-file -e "$release_0_1_0^{commit}" 2>/dev/null ||
		git -C "$top" fetch -q --depth=1 origin "$release_0_1_0" ||
		echo "could not fetch the 0.1.0 release commit $release_0_1_0: test/t/050_upgrade.pl will fail"
fi
if git -C "$top" cat-file -e "$release_0_1_0^{commit}" 2>/dev/null; then
	mkdir -p "$work/release-0.1.0"
	git -C "$top" archive "$release_0_1_0" | tar -x -C "$work/release-0.1.0"
	export TENANCY_RELEASE_SRC="$work/release-0.1.0"
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	as_pg=(runuser -u postgres --)
fi
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# count_results FILE OKPATTERN FAILPATTERN SUITE RC: tally one runner's
# output; a runner that failed without naming a failed test (its server did
# not start, say) counts as one failure
count_results() {
	local ok bad
	ok=$(grep -cE "$2" "$1" || true)
	bad=$(grep -cE "$3" "$1" || true)
	[ "$5" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
	[ $((ok + bad)) -gt 0 ] || { bad=1; echo "$4 ran no test"; }
	passed=$((passed + ok))
	failed=$((failed + bad))
	[ "$bad" -eq 0 ] || failures+=("$4")
}

# show_failure DIR: what a developer needs to see when a pg_regress run fails
show_failure() {
	[ -f "$1/regression.diffs" ] && head -c 20000 "$1/regression.diffs"
	for log in "$1"/log/postmaster.log "$1"/tmp_check/log/postmaster.log; do
		[ -f "$log" ] && { echo "--- tail of $log"; tail -n 40 "$log"; }
	done
}

# run_regress_suite SUITE RUNNER INPUTDIR DBNAME TEST...: one pg_regress-style
# runner (pg_regress or pg_isolation_regress) on a temporary instance
run_regress_suite() {
	local suite=$1 runner=$2 inputdir=$3 dbname=$4 out="$work/$1" rc
	shift 4
	"${as_pg[@]}" mkdir -p "$out"
	"${as_pg[@]}" "$pgxs_dir/test/$runner" \
		--inputdir="$inputdir" --outputdir="$out" --bindir="$bindir" \
		--temp-instance="$out/tmp_check" \
		--temp-config="$work/src/test/regress.conf" \
		--dbname="$dbname" "$@" >"$out/run.log" 2>&1
	rc=$?
	cat "$out/run.log"
	count_results "$out/run.log" '^(ok|test) .*\.\.\. ok|^ok [0-9]+ ' '\.\.\. FAILED|^not ok|failed \(ignored\)' "$suite" "$rc"
	[ "$rc" -eq 0 ] || show_failure "$out"
}

regress_list=$(echo ${REGRESS:-$(make -s print-tests | sed -n 's/^REGRESS=//p')})
isolation_list=$(echo ${ISOLATION:-$(make -s print-tests | sed -n 's/^ISOLATION=//p')})

# count_tap FILE: "PASSED FAILED SKIPPED" of prove -v output, one per
# top-level assertion ("ok 3 # skip ..." and "1..0 # SKIP" are skips, a
# "not ok ... # TODO" counts neither way); a file that prove's summary says
# failed (died, bad plan) without a failed assertion counts as one failure
count_tap() {
	awk '
		/^(\[[0-9:]+\] )?test\/t\/[^ ]+\.pl \.\./ { for (i = 1; i <= NF; i++) if ($i ~ /\.pl$/) cur = $i }
		/^ok [0-9]+/ { if (tolower($0) ~ /# skip/) s++; else p++; next }
		/^not ok [0-9]+/ { if ($0 ~ /# TODO/) next; f++; bad[cur]++; next }
		/^1\.\.0 # / { s++; next }
		/^test\/t\/[^ ]+\.pl +\(Wstat/ { if (!bad[$1]) { f++; bad[$1] = 1 } }
		END { printf "%d %d %d\n", p, f, s }' "$1"
}

# no_suite NAME WHY: a suite that cannot run is a failure, never a silent skip
no_suite() {
	echo "== $1: not run: $2"
	failed=$((failed + 1))
	failures+=("$1")
}

for suite in "${suites[@]}"; do
	case "$suite" in
	regress)
		[ -n "$regress_list" ] || { no_suite regress "no pg_regress test listed (REGRESS)"; continue; }
		echo "== pg_regress: $regress_list"
		# shellcheck disable=SC2086
		run_regress_suite regress regress/pg_regress "$work/src" contrib_regression $regress_list
		;;
	isolation)
		[ -n "$isolation_list" ] || { no_suite isolation "no isolation spec listed (ISOLATION)"; continue; }
		echo "== isolation: $isolation_list"
		# shellcheck disable=SC2086
		run_regress_suite isolation isolation/pg_isolation_regress "$work/src/test/isolation" \
			isolation_regression $isolation_list
		;;
	tap)
		tap_list=${TAP:-$(cd "$work/src" && ls test/t/*.pl 2>/dev/null)}
		[ -n "$tap_list" ] || { no_suite tap "no test/t/*.pl found"; continue; }
		echo "== TAP: $tap_list"
		out="$work/tap"
		"${as_pg[@]}" mkdir -p "$out"
		# TESTDIR for 15's PostgreSQL::Test::Utils, TESTDATADIR and
		# TESTLOGDIR for 16's and later (tmp_check would be relative)
		# shellcheck disable=SC2086
		(cd "$work/src" && "${as_pg[@]}" env PATH="$bindir:$PATH" \
			PERL5LIB="$pgxs_dir/test/perl:$work/src/test/perl" \
			TESTDIR="$out" PG_REGRESS="$pgxs_dir/test/regress/pg_regress" \
			TESTDATADIR="$out/tmp_check" TESTLOGDIR="$out/tmp_check/log" \
			TENANCY_SRC="$work/src" TENANCY_RELEASE_SRC="${TENANCY_RELEASE_SRC:-}" \
			prove -v --timer $tap_list) >"$out/run.log" 2>&1
		rc=$?
		cat "$out/run.log"
		read -r ok bad skip < <(count_tap "$out/run.log")
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		[ $((ok + bad)) -gt 0 ] || { bad=1; echo "TAP ran no assertion"; }
		passed=$((passed + ok))
		failed=$((failed + bad))
		skipped=$((skipped + skip))
		[ "$bad" -eq 0 ] || failures+=(tap)
		if [ "$bad" -gt 0 ]; then
			for log in "$out"/tmp_check/log/*; do
				[ -f "$log" ] && { echo "--- tail of $log"; tail -n 30 "$log"; }
			done
		fi
		;;
	format)
		echo "== format (pg_bsd_indent with pgindent's options, make indent fixes it; the layer rule)"
		for check in test/tools/indent.sh test/tools/layers.sh; do
			if "$check" --check; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				failures+=(format)
			fi
		done
		;;
	selftest)
		[ -x test/selftest/run.sh ] || { no_suite selftest "test/selftest/run.sh is missing or not executable"; continue; }
		echo "== selftest (runner and valgrind summary)"
		out="$work/selftest.log"
		test/selftest/run.sh >"$out" 2>&1
		rc=$?
		cat "$out"
		ok=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
		bad=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
		ok=${ok:-0} bad=${bad:-0}
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		[ $((ok + bad)) -gt 0 ] || { bad=1; echo "the selftest suite ran no check"; }
		passed=$((passed + ok))
		failed=$((failed + bad))
		[ "$bad" -eq 0 ] || failures+=(selftest)
		;;
	platform)
		[ -x test/platform/run-tests.sh ] || { no_suite platform "test/platform/run-tests.sh is missing or not executable"; continue; }
		echo "== platform simulator"
		out="$work/platform.log"
		test/platform/run-tests.sh >"$out" 2>&1
		rc=$?
		cat "$out"
		ok=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		bad=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		skip=$(sed -n 's/^# skipped \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		[ $((ok + bad)) -gt 0 ] || { bad=1; echo "the platform suite ran no test"; }
		passed=$((passed + ok))
		failed=$((failed + bad))
		skipped=$((skipped + skip))
		[ "$bad" -eq 0 ] || failures+=(platform)
		;;
	deploy)
		[ -x test/deploy/run-tests.sh ] || { no_suite deploy "test/deploy/run-tests.sh is missing or not executable"; continue; }
		echo "== deploy (chart, image, permissions against the TAP journals)"
		out="$work/deploy.log"
		JOURNAL_DIR="$work/tap/journals" test/deploy/run-tests.sh >"$out" 2>&1
		rc=$?
		cat "$out"
		ok=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
		bad=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
		skip=$(sed -n 's/^# skip \([0-9]*\)$/\1/p' "$out" | tail -n 1)
		ok=${ok:-0} bad=${bad:-0} skip=${skip:-0}
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		[ $((ok + bad)) -gt 0 ] || { bad=1; echo "the deploy suite ran no check"; }
		passed=$((passed + ok))
		failed=$((failed + bad))
		skipped=$((skipped + skip))
		[ "$bad" -eq 0 ] || failures+=(deploy)
		;;
	*)
		echo "unknown suite: $suite"
		failed=$((failed + 1))
		;;
	esac
done

[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
