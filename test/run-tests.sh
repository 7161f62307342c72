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
[ ${#suites[@]} -gt 0 ] || suites=(regress isolation tap platform deploy)

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
	make -s PG_CFLAGS='-Wall -Wextra -Werror' >/dev/null || { echo "build failed"; exit 1; }
	$sudo make -s install >/dev/null || { echo "install failed"; exit 1; }
) 9>/tmp/tenancy-build.lock || exit 1

bindir=$(${PG_CONFIG:-pg_config} --bindir)
pgxs_dir=$(dirname "$(${PG_CONFIG:-pg_config} --pgxs)")/..
passed=0
failed=0
failures=()

work=$(mktemp -d /tmp/tenancy-test.XXXXXX)
mkdir -p "$work/src"
cp -r sql expected test tenancy.control "$work/src/"
# the exporter queries that a TAP test runs against a provisioned instance
mkdir -p "$work/src/deploy" && cp -r deploy/monitoring "$work/src/deploy/"
# the sources of released versions, as they were (test/t/050_upgrade.pl
# builds 0.1.0 from them); from git history, so only in a git checkout
release_0_1_0=8d35af887237a0a7203fcdc51bd4ba2a3515f190
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

regress_list=${REGRESS:-$(make -s print-tests | sed -n 's/^REGRESS=//p')}
isolation_list=${ISOLATION:-$(make -s print-tests | sed -n 's/^ISOLATION=//p')}

for suite in "${suites[@]}"; do
	case "$suite" in
	regress)
		[ -n "$regress_list" ] || continue
		echo "== pg_regress: $regress_list"
		# shellcheck disable=SC2086
		run_regress_suite regress regress/pg_regress "$work/src" contrib_regression $regress_list
		;;
	isolation)
		[ -n "$isolation_list" ] || continue
		echo "== isolation: $isolation_list"
		# shellcheck disable=SC2086
		run_regress_suite isolation isolation/pg_isolation_regress "$work/src/test/isolation" \
			isolation_regression $isolation_list
		;;
	tap)
		tap_list=${TAP:-$(cd "$work/src" && ls test/t/*.pl 2>/dev/null)}
		[ -n "$tap_list" ] || continue
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
		# a file failed when prove's summary report names it
		total=$(echo "$tap_list" | wc -w)
		bad=$(grep -cE '^test/t/[^ ]+\.pl +\(Wstat' "$out/run.log" || true)
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=$total
		passed=$((passed + total - bad))
		failed=$((failed + bad))
		[ "$bad" -eq 0 ] || failures+=(tap)
		if [ "$bad" -gt 0 ]; then
			for log in "$out"/tmp_check/log/*; do
				[ -f "$log" ] && { echo "--- tail of $log"; tail -n 30 "$log"; }
			done
		fi
		;;
	platform)
		[ -x test/platform/run-tests.sh ] || continue
		echo "== platform simulator"
		out="$work/platform.log"
		test/platform/run-tests.sh >"$out" 2>&1
		rc=$?
		cat "$out"
		ok=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		bad=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		passed=$((passed + ok))
		failed=$((failed + bad))
		[ "$bad" -eq 0 ] || failures+=(platform)
		;;
	deploy)
		[ -x test/deploy/run-tests.sh ] || continue
		echo "== deploy (chart, image, permissions against the TAP journals)"
		out="$work/deploy.log"
		JOURNAL_DIR="$work/tap/journals" test/deploy/run-tests.sh >"$out" 2>&1
		rc=$?
		cat "$out"
		ok=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		bad=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
		[ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
		passed=$((passed + ok))
		failed=$((failed + bad))
		[ "$bad" -eq 0 ] || failures+=(deploy)
		;;
	*)
		echo "unknown suite: $suite"
		failed=$((failed + 1))
		;;
	esac
done

[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
