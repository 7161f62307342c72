#!/usr/bin/env bash
# test/valgrind/run.sh: the worker's TAP tests with every server process
# under valgrind memcheck; reports leaks and invalid accesses in our code.
#
# Usage: test/valgrind/run.sh [test/t/NNN_x.pl ...]
#        (default: 010_worker_happy.pl and 013_worker_poison.pl)
# Environment: KEEP=1 keeps the work directory (valgrind logs in vg/);
# VALGRIND_SUPP=FILE adds a suppression file (e.g. PostgreSQL's
# src/tools/valgrind.supp); VALGRIND_OPTS is passed on to valgrind.
#
# How: the PostgreSQL installation is copied into the work directory
# (PostgreSQL finds its lib and share directories relative to its binaries,
# so the copy is self-contained), tenancy is installed into the copy, and
# the copy's postgres binary is replaced by a script that runs the real one
# under valgrind.  Every backend and background worker is a fork of the
# postmaster, so valgrind follows them all; each process writes its own log
# (vg/PID.log) and checks for leaks at exit.  initdb's bootstrap runs, and
# 'postgres -V', run without valgrind.
#
# A record counts against us when its stack passes through tenancy.so
# (summarize.py): "definitely lost" blocks (malloc'd memory nobody points to
# any more) and invalid reads, writes, frees and uses of uninitialised
# values.  Memory in
# palloc'd contexts is invisible to memcheck (PostgreSQL is not built with
# USE_VALGRIND here); contexts are covered by the VmRSS figures of
# test/bench/bench_worker.sh.  Exits non-zero when anything counts.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
"$top/test/install-deps.sh" || { echo "could not install dependencies"; exit 1; }

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/t/010_worker_happy.pl test/t/013_worker_poison.pl)

bindir=$(${PG_CONFIG:-pg_config} --bindir)
pkglibdir=$(${PG_CONFIG:-pg_config} --pkglibdir)
sharedir=$(${PG_CONFIG:-pg_config} --sharedir)
pgxs_dir=$(dirname "$(${PG_CONFIG:-pg_config} --pgxs)")/..

work=$(mktemp -d /tmp/tenancy-valgrind.XXXXXX)
chmod 755 "$work"
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# the PostgreSQL installation, relocated into $work/pg
pg="$work/pg"
mkdir -p "$pg$(dirname "$bindir")" "$pg$(dirname "$pkglibdir")" "$pg$(dirname "$sharedir")"
cp -a "$bindir" "$pg$bindir"
[ -d "$pg$pkglibdir" ] || cp -a "$pkglibdir" "$pg$pkglibdir"
[ -d "$pg$sharedir" ] || cp -a "$sharedir" "$pg$sharedir"

# build with the flags CI uses, install into the copy (under the lock that
# test/run-tests.sh takes, since several runs share one checkout)
(
	flock 9
	make -s PG_CFLAGS='-Wall -Wextra -Werror' >/dev/null || { echo "build failed"; exit 1; }
	make -s install DESTDIR="$pg" >/dev/null || { echo "install failed"; exit 1; }
) 9>/tmp/tenancy-build.lock || exit 1

supp=(--suppressions="$top/test/valgrind/tenancy.supp")
[ -z "${VALGRIND_SUPP:-}" ] || supp+=(--suppressions="$VALGRIND_SUPP")
mkdir -p "$work/vg" "$work/tap"
mv "$pg$bindir/postgres" "$pg$bindir/postgres.bin"
cat >"$pg$bindir/postgres" <<WRAP
#!/bin/sh
# run the server under valgrind; not initdb's bootstrap nor version checks
case "\$1" in
--boot|--single|-V|--version|-C|--describe-config)
	exec "\$(dirname "\$0")/postgres.bin" "\$@" ;;
esac
exec valgrind --trace-children=yes --leak-check=full \\
	--show-leak-kinds=definite --errors-for-leak-kinds=definite \\
	--num-callers=40 --read-var-info=no --error-limit=no \\
	${supp[*]} ${VALGRIND_OPTS:-} --log-file="$work/vg/%p.log" \\
	"\$(dirname "\$0")/postgres.bin" "\$@"
WRAP
chmod 755 "$pg$bindir/postgres"

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	as_pg=(runuser -u postgres --)
fi
mkdir -p "$work/src"
cp -r sql expected test tenancy.control README.md "$work/src/"
mkdir -p "$work/src/deploy" && cp -r deploy/monitoring deploy/examples "$work/src/deploy/"
[ "$(id -u)" -ne 0 ] || chown -R postgres: "$work/src"

echo "== TAP under valgrind: ${tests[*]}"
# shellcheck disable=SC2086
(cd "$work/src" && "${as_pg[@]}" env PATH="$pg$bindir:$PATH" \
	PERL5LIB="$pgxs_dir/test/perl:$work/src/test/perl" \
	TESTDIR="$work/tap" PG_REGRESS="$pgxs_dir/test/regress/pg_regress" \
	TENANCY_SRC="$work/src" PG_TEST_TIMEOUT_DEFAULT=600 \
	prove -v --timer "${tests[@]}") >"$work/tap.log" 2>&1
tap_rc=$?
tail -n 5 "$work/tap.log"
[ "$tap_rc" -eq 0 ] || { grep -E '^not ok|^# ' "$work/tap.log" | head -40; }

# what memcheck found in our code
"$top/test/valgrind/summarize.py" "$work/vg" "$top"
vg_rc=$?
[ "$tap_rc" -eq 0 ] && [ "$vg_rc" -eq 0 ]
