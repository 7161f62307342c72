#!/usr/bin/env bash
# test/pgmatrix/run.sh MAJOR [suite ...]: build tenancy and run its tests on
# PostgreSQL MAJOR (17 or 18) inside a cached Debian root (make-root.sh).
#
# The checkout is copied into the root (objects of another major never mix
# with the host's), the root gets /proc, a /dev/shm and the host's node
# (the platform simulator; the root shares the host's network namespace, so
# the TAP tests reach it on loopback as on the host) in a mount namespace of
# the run's own (unshare), and test/run-tests.sh
# runs there as on the host: build with -Wall -Wextra -Werror, install,
# then the suites.  Its last line is the usual 'N passed, M failed'.
#
# Default suites: regress isolation tap, with TAP narrowed to the worker and
# placement tests, the dump/restore test, and the trust tests (060-068,
# 071, 072: the role rules they attack changed in 16 — CREATEROLE keeps
# ADMIN OPTION on the roles it creates, GRANT ... WITH INHERIT/SET,
# MAINTAIN in 17 — and 068 takes another branch there; about 55 s per
# version).  TAP=... overrides; 050, the upgrade from 0.1.0, needs 0.1.0
# built, which never supported 16+.  Needs root.
set -uo pipefail

major=${1:?usage: run.sh MAJOR [suite ...]}
shift
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(regress isolation tap)
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/test/pgmatrix

root=$("$here/make-root.sh" "pg$major") || { echo "pg$major: no root"; echo "0 passed, 1 failed"; exit 1; }

# the simulator's npm modules come from the host's checkout
"$top/test/install-deps.sh" >/dev/null || true

# one build directory per run: two runs on one root do not share objects
build=/build/tenancy-$$
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	rm -rf "${root:?}$build"
}
trap cleanup EXIT
mkdir -p "$root$build"
tar -C "$top" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=tmp_check --exclude=results --exclude=log -cf - . | tar -C "$root$build" -xf -
chmod 755 "$root/build"
node=""
command -v node >/dev/null && node=$(readlink -f "$(command -v node)")
[ -e "$root/usr/local/bin/node" ] || touch "$root/usr/local/bin/node"

tap_default=$(cd "$top" && ls test/t/0[12]*_worker_*.pl test/t/04*_placement_*.pl test/t/051_dump_restore.pl \
	test/t/06*_*.pl test/t/071_*.pl test/t/072_*.pl test/t/074_*.pl 2>/dev/null | tr '\n' ' ')

# In a mount namespace of its own: /proc, /dev/shm and the host's node are
# mounted for this run alone and vanish with it (two runs, or a run and an
# interrupted one, never unmount each other's).
unshare --mount --propagation private --fork bash -c '
	root=$1 node=$2
	shift 2
	mount -t proc proc "$root/proc" || exit 1
	mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" || exit 1
	[ -z "$node" ] || mount --bind -o ro "$node" "$root/usr/local/bin/node" || exit 1
	exec chroot "$root" "$@"
' - "$root" "$node" env -i \
	PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" \
	TENANCY_NO_INSTALL_DEPS=1 \
	REGRESS="${REGRESS:-}" ISOLATION="${ISOLATION:-}" TAP="${TAP:-$tap_default}" KEEP="${KEEP:-0}" \
	bash -c 'cd "$1" && shift && test/run-tests.sh "$@"' - "$build" "${suites[@]}"
