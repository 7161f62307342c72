#!/usr/bin/env bash
# test/install-deps.sh: install what building and testing tenancy needs and
# is missing (Debian 12).  Idempotent and quiet when everything is present.
# debootstrap and podman: the PostgreSQL 17/18 roots and the image
# (test/pgmatrix, run by .ci/run).
set -euo pipefail

packages=(
	build-essential pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgaudit
	libcurl4-openssl-dev libjansson-dev libyaml-dev libpq-dev libssl-dev
	libipc-run-perl
	python3 python3-kubernetes python3-hvac
	openssl unzip nodejs npm
	shellcheck pg-bsd-indent
	clang libclang-rt-14-dev
	valgrind
	debootstrap podman
)

missing=()
for p in "${packages[@]}"; do
	# nodejs/npm may come from elsewhere than Debian: a working binary counts
	case "$p" in
		nodejs) command -v node >/dev/null && continue ;;
		npm) command -v npm >/dev/null && continue ;;
	esac
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's postgresql-15 creates and starts a 'main' cluster; the tests use
# their own throwaway instances and need nothing from it.

# npm dependencies of the platform simulator, pinned by its package-lock.json
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$top/test/platform/package-lock.json" ] && [ ! -d "$top/test/platform/node_modules" ]; then
	echo "install-deps: npm ci in test/platform"
	(cd "$top/test/platform" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
exit 0
