#!/usr/bin/env bash
# test/pgmatrix/make-root.sh NAME: create (once) and print the path of a
# cached Debian root used to build and test tenancy on another PostgreSQL
# major version, or to import as the image's base.
#
#   pg17      debootstrap --variant=minbase trixie, PostgreSQL 17
#   pg18      debootstrap --variant=minbase sid, PostgreSQL 18
#   bookworm  debootstrap --variant=minbase bookworm, nothing added (the base
#             image deploy/docker/Dockerfile builds FROM)
#
# Roots live under ${TENANCY_ROOTS:-/var/cache/tenancy-roots}/NAME and are
# reused when present and complete (a stamp file written last names the
# package list; a changed list rebuilds the root).  Nothing is added to the
# host's apt sources: the root has its own.  Needs root (debootstrap, chroot,
# mount).  Takes 3-6 minutes per root from nothing, most of it downloads.
set -euo pipefail

name=${1:?usage: make-root.sh pg17|pg18|bookworm}
cache=${TENANCY_ROOTS:-/var/cache/tenancy-roots}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

case "$name" in
	pg17) suite=trixie; major=17 ;;
	pg18) suite=sid; major=18 ;;
	bookworm) suite=bookworm; major= ;;
	*) echo "make-root.sh: unknown root '$name' (pg17, pg18 or bookworm)" >&2; exit 2 ;;
esac

packages=()
if [ -n "$major" ]; then
	packages=(
		postgresql-$major postgresql-server-dev-$major
		libcurl4-openssl-dev libjansson-dev libyaml-dev
		libipc-run-perl build-essential pkg-config
		ca-certificates locales-all procps
	)
	# extensions that the image and some tests load: installed when the
	# suite has them (sid may lag behind a new major)
	optional=(postgresql-$major-cron postgresql-$major-pgaudit)
fi
stamp_text="suite=$suite packages=${packages[*]} optional=${optional[*]:-}"

dir=$cache/$name
if [ -f "$dir/.tenancy-root" ] && [ "$(cat "$dir/.tenancy-root")" = "$stamp_text" ]; then
	echo "$dir"
	exit 0
fi

if ! command -v debootstrap >/dev/null; then
	echo "make-root.sh: installing debootstrap" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

mkdir -p "$cache"
tmp=$dir.tmp
# A previous interrupted run may have left mounts behind
umount -l "$tmp/proc" 2>/dev/null || true
rm -rf "$tmp"

log=$cache/$name.log
echo "make-root.sh: debootstrap $suite into $tmp (log: $log)" >&2
start=$SECONDS
debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$log" 2>&1 || {
	tail -20 "$log" >&2
	echo "make-root.sh: debootstrap $suite failed" >&2
	exit 1
}

# sid's Release files may be older than their Valid-Until on a cached root
echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99tenancy-no-valid-until"
# no daemon starts inside the root while packages install
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 755 "$tmp/usr/sbin/policy-rc.d"
# no 'main' cluster: tests create their own instances
mkdir -p "$tmp/etc/postgresql-common"
echo 'create_main_cluster = false' >"$tmp/etc/postgresql-common/createcluster.conf"

if [ ${#packages[@]} -gt 0 ]; then
	mount -t proc proc "$tmp/proc"
	trap 'umount -l "$tmp/proc" 2>/dev/null || true' EXIT
	in_root() { chroot "$tmp" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C "$@"; }
	in_root apt-get update -qq >>"$log" 2>&1
	have=()
	for p in "${optional[@]}"; do
		if in_root apt-cache show "$p" >/dev/null 2>&1; then have+=("$p"); fi
	done
	echo "make-root.sh: installing ${packages[*]} ${have[*]:-} in $name" >&2
	in_root apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confold \
		"${packages[@]}" "${have[@]}" >>"$log" 2>&1 || {
		tail -30 "$log" >&2
		echo "make-root.sh: package install in $name failed" >&2
		exit 1
	}
	in_root apt-get clean
	umount -l "$tmp/proc"
	trap - EXIT
fi

echo "$stamp_text" >"$tmp/.tenancy-root"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "make-root.sh: $name ready in $((SECONDS - start)) s" >&2
echo "$dir"
