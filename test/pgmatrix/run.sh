#!/usr/bin/env bash
# test/pgmatrix/run.sh MAJOR [suite ...]: build tenancy and run its tests on
# PostgreSQL MAJOR (17 or 18) inside a cached Debian root (make-root.sh).
#
# The checkout is copied into the root (objects of another major never mix
# with the host's), the root gets /proc, a /dev/shm and the host's node
# (the platform simulator; the root shares the host's network namespace, so
# the TAP tests reach it on loopback as on the host), and test/run-tests.sh
# runs there as on the host: build with -Wall -Wextra -Werror, install,
# then the suites.  Its last line is the usual 'N passed, M failed'.
#
# Default suites: regress isolation tap, with TAP narrowed to the worker and
# placement tests (TAP=... overrides).  Needs root.
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
mounts=()
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount -l "${mounts[$i]}" 2>/dev/null || true
	done
	rm -rf "${root:?}$build"
}
trap cleanup EXIT
mkdir -p "$root$build"
tar -C "$top" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=tmp_check --exclude=results --exclude=log -cf - . | tar -C "$root$build" -xf -
chmod 755 "$root/build"

mount_into() {	# mount_into TARGET MOUNT-ARGS...
	local target=$root$1
	shift
	mount "$@" "$target" || return 1
	mounts+=("$target")
}
grep -q " $root/proc " /proc/mounts || mount_into /proc -t proc proc
grep -q " $root/dev/shm " /proc/mounts || { mkdir -p "$root/dev/shm"; mount_into /dev/shm -t tmpfs -o mode=1777 tmpfs; }
if [ -x /usr/bin/node ] || command -v node >/dev/null; then
	node=$(readlink -f "$(command -v node)")
	[ -e "$root/usr/local/bin/node" ] || touch "$root/usr/local/bin/node"
	grep -q " $root/usr/local/bin/node " /proc/mounts || mount_into /usr/local/bin/node --bind -o ro "$node"
fi

tap_default=$(cd "$top" && ls test/t/01*_worker_*.pl test/t/04*_placement_*.pl 2>/dev/null | tr '\n' ' ')
chroot "$root" env -i \
	PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	PG_CONFIG=/usr/lib/postgresql/$major/bin/pg_config \
	TENANCY_NO_INSTALL_DEPS=1 \
	REGRESS="${REGRESS:-}" ISOLATION="${ISOLATION:-}" TAP="${TAP:-$tap_default}" KEEP="${KEEP:-0}" \
	bash -c 'cd "$1" && shift && test/run-tests.sh "$@"' - "$build" "${suites[@]}"
