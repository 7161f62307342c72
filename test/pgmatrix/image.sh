#!/usr/bin/env bash
# test/pgmatrix/image.sh: build deploy/docker/Dockerfile with podman and boot
# the image it built.
#
#   base   a debootstrapped bookworm (make-root.sh bookworm) imported as
#          docker.io/library/debian:bookworm-slim, once (podman keeps it);
#          no registry is reachable here
#   build  podman --cgroup-manager=cgroupfs build --isolation=chroot
#          --pull=never: both stages, apt-get inside them, make with -Werror
#   boot   this sandbox refuses to start containers (crun cannot set
#          rlimits), so the image's file system is exported from a created
#          container and booted with chroot: the chart's postgresql.conf and
#          pg_hba.conf (helm template, as the ConfigMap mounts them at
#          /etc/tenancy), then the image's own ENTRYPOINT, CMD and ENV, as
#          uid 999 (the chart's securityContext).  Checked: the server
#          starts with that configuration file, tenancy and pg_cron are
#          preloaded and installed in the platform database, the tenancy
#          worker shows in pg_stat_activity, the library is the checkout's
#          version.
#
# Not tested here: the container runtime itself (cgroups, rlimits, a
# read-only root file system, the pod's volumes and probes).
#
# Prints ok / not ok lines, then 'N passed, M failed'.  Needs root.
# Environment: IMAGE (default localhost/tenancy/postgres:test), IMAGE_BUILD
# (its first stage, default localhost/tenancy/postgres-build:test), KEEP=1.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/test/pgmatrix
image=${IMAGE:-localhost/tenancy/postgres:test}
build_image=${IMAGE_BUILD:-localhost/tenancy/postgres-build:test}
base=docker.io/library/debian:bookworm-slim
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
finish() {
	echo "image: $pass passed, $fail failed"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

if ! command -v podman >/dev/null; then
	echo "image: installing podman"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null; } ||
		{ not_ok "podman could not be installed"; finish; }
fi
podman=(podman --cgroup-manager=cgroupfs)

# base image
start=$SECONDS
if ! "${podman[@]}" image exists "$base"; then
	root=$("$here/make-root.sh" bookworm) || { not_ok "bookworm root (debootstrap)"; finish; }
	tar -C "$root" --exclude=./.tenancy-root -c . | "${podman[@]}" import - "$base" >/dev/null 2>&1 ||
		{ not_ok "import of the debootstrapped bookworm as $base"; finish; }
fi
ok "base image $base ($((SECONDS - start)) s)"

# build
start=$SECONDS
built_after=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# prune_older: remove the untagged images no other image builds on that
# were made before this build: the image this tag named before, the final
# image of an earlier build's first stage (1.6 GB each, one per run that
# changed src/).  This build's own layers stay (the cache of the next:
# the first stage is built and tagged $build_image first, so that its
# final image is never untagged), and so does whatever a build in
# progress uses (no --external).
prune_older() {
	local n
	n=$("${podman[@]}" image prune -f --filter dangling=true --filter "until=$built_after" 2>/dev/null | grep -c .)
	echo "image: pruned $n untagged image(s) older than this build"
}
log=$(mktemp /tmp/tenancy-image-build.XXXXXX)
if "${podman[@]}" build --isolation=chroot --pull=never -f "$top/deploy/docker/Dockerfile" \
	--target build -t "$build_image" "$top" >"$log" 2>&1 &&
	"${podman[@]}" build --isolation=chroot --pull=never -f "$top/deploy/docker/Dockerfile" \
		-t "$image" "$top" >>"$log" 2>&1; then
	ok "podman build of deploy/docker/Dockerfile ($((SECONDS - start)) s)"
	rm -f "$log"
	prune_older
else
	tail -40 "$log"
	not_ok "podman build of deploy/docker/Dockerfile (log: $log)"
	prune_older
	finish
fi

# the image's configuration, as a container would get it
env_lines=$("${podman[@]}" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image")
user=$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")
entrypoint=$("${podman[@]}" image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$image")
cmd=$("${podman[@]}" image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$image")
if [ "$user" = "999:999" ]; then ok "the image runs as 999:999"; else not_ok "the image runs as '$user', not 999:999"; fi

# its file system
fs=$(mktemp -d /var/tmp/tenancy-image-fs.XXXXXX)
chmod 755 "$fs"
ctr=""
mounts=()
pid=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		chroot --userspec=999:999 "$fs" env -i PATH="$path" pg_ctl -D "$pgdata" -m fast -w stop >/dev/null 2>&1 ||
			kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null; done
	[ -n "$ctr" ] && "${podman[@]}" rm -f "$ctr" >/dev/null 2>&1
	if [ "${KEEP:-0}" = 1 ]; then echo "# kept $fs"; else rm -rf "$fs"; fi
}
trap cleanup EXIT
ctr=$("${podman[@]}" create "$image") && "${podman[@]}" export "$ctr" | tar --numeric-owner -C "$fs" -xf - ||
	{ not_ok "export of the image's file system"; finish; }

# the chart's configuration files, where the ConfigMap puts them; the server
# listens on its socket only (the chroot shares the host's network)
helm=$("$top/test/tools/get-helm.sh") || { not_ok "helm (test/tools/get-helm.sh)"; finish; }
if [ ! -d "$top/test/deploy/node_modules" ]; then
	(cd "$top/test/deploy" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		{ not_ok "npm ci in test/deploy"; finish; }
fi
mkdir -p "$fs/etc/tenancy"
"$helm" template tenancy "$top/deploy/helm/tenancy" --namespace platform \
	--show-only templates/configmap.yaml >"$fs/etc/tenancy/configmap.yaml" &&
	(cd "$top/test/deploy" && node -e '
		const fs = require("node:fs");
		const { parse } = require("yaml");
		const cm = parse(fs.readFileSync(process.argv[1], "utf8"));
		for (const k of ["postgresql.conf", "pg_hba.conf"])
			fs.writeFileSync(process.argv[2] + "/" + k, cm.data[k]);
	' "$fs/etc/tenancy/configmap.yaml" "$fs/etc/tenancy") ||
	{ not_ok "the chart's postgresql.conf (helm template)"; finish; }
sed -i -e "s|^listen_addresses = .*|listen_addresses = ''|" "$fs/etc/tenancy/postgresql.conf"
chmod 644 "$fs/etc/tenancy/"*
db=$(sed -n "s/^tenancy.database = '\(.*\)'$/\1/p" "$fs/etc/tenancy/postgresql.conf")

mount -t proc proc "$fs/proc" && mounts+=("$fs/proc")
mount --bind /dev "$fs/dev" && mounts+=("$fs/dev")
mount -t tmpfs -o mode=1777 tmpfs "$fs/dev/shm" && mounts+=("$fs/dev/shm")
mount -t tmpfs -o mode=1777 tmpfs "$fs/tmp" && mounts+=("$fs/tmp")

# the image's ENV, ENTRYPOINT and CMD
env_args=()
path=/usr/bin:/bin
pgdata=/var/lib/postgresql/data/pgdata
while IFS= read -r line; do
	[ -n "$line" ] || continue
	env_args+=("$line")
	case "$line" in
		PATH=*) path=${line#PATH=} ;;
		PGDATA=*) pgdata=${line#PGDATA=} ;;
	esac
done <<<"$env_lines"
mapfile -t argv < <(printf '%s\n%s\n' "$entrypoint" "$cmd" | sed '/^$/d')

chroot --userspec=999:999 "$fs" env -i HOME=/var/lib/postgresql "${env_args[@]}" "${argv[@]}" \
	>"$fs/tmp/server.log" 2>&1 &
pid=$!
psql_in() {
	chroot --userspec=999:999 "$fs" env -i PATH="$path" psql -X -At -v ON_ERROR_STOP=1 \
		-h /var/run/postgresql "$@"
}
up=""
for _ in $(seq 1 120); do
	if ! kill -0 "$pid" 2>/dev/null; then break; fi
	# connect only once the entrypoint is done (its own short-lived
	# servers would log our attempts as FATAL)
	if grep -q "tenancy-entrypoint: database \"$db\" ready" "$fs/tmp/server.log" &&
		psql_in -d "$db" -c 'SELECT 1' >/dev/null 2>&1; then
		up=1
		break
	fi
	sleep 1
done
if [ -z "$up" ]; then
	tail -40 "$fs/tmp/server.log"
	not_ok "the image's entrypoint starts the server as uid 999"
	finish
fi
ok "the image's entrypoint ran initdb, created database \"$db\" and started the server as uid 999"

check() {	# check WHAT SQL EXPECTED
	local got
	got=$(psql_in -d "$db" -c "$2" 2>&1)
	if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1: got '$got', expected '$3'"; fi
}
check "the server runs with the chart's postgresql.conf" "SHOW config_file" "/etc/tenancy/postgresql.conf"
postmaster=$(head -1 "$fs$pgdata/postmaster.pid" 2>/dev/null)
if [ -n "$postmaster" ] && [ "$(stat -c %u "/proc/$postmaster")" = 999 ]; then
	ok "the postmaster runs as uid 999"
else
	not_ok "the postmaster (pid '$postmaster') does not run as uid 999"
fi
check "tenancy and pg_cron are preloaded" \
	"SELECT '{tenancy,pg_cron}'::text[] <@ string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')" "t"
check "extensions tenancy and pg_cron exist in database \"$db\"" \
	"SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('tenancy', 'pg_cron')" \
	"pg_cron,tenancy"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/tenancy.control")
check "the library is the checkout's ($version)" "SELECT tenancy.version()" "$version"
worker=""
for _ in $(seq 1 30); do
	worker=$(psql_in -d "$db" -c "SELECT datname FROM pg_stat_activity WHERE backend_type = 'tenancy worker'" 2>/dev/null)
	[ -n "$worker" ] && break
	sleep 1
done
if [ "$worker" = "$db" ]; then
	ok "the tenancy worker shows in pg_stat_activity, connected to \"$db\""
else
	not_ok "no tenancy worker in pg_stat_activity (got '$worker')"
	tail -20 "$fs/tmp/server.log"
fi
# the entrypoint stops its own servers: their workers' exits are expected
fatal=$(grep -E '(FATAL|PANIC):' "$fs/tmp/server.log" | grep -v 'terminating background worker')
if [ -n "$fatal" ]; then
	not_ok "the server log has FATAL lines"
	echo "$fatal" | head -5
else
	ok "the server log has no FATAL or PANIC line"
fi
finish
