#!/usr/bin/env bash
# test/deploy/boot-test.sh HELM: start PostgreSQL the way the chart and the
# image do, on a throwaway data directory, and check the result.
#
# The chart's ConfigMap is rendered with helm; postgresql.conf is used as
# rendered except for where things live (port, socket directory, pg_hba.conf
# path, no TCP listener), which a test must change.  The image's entrypoint
# (deploy/docker/tenancy-entrypoint.sh) runs initdb, creates the platform
# database and the extensions, and execs postgres.  Then:
#   - shared_preload_libraries is tenancy,pg_cron and both are loaded;
#   - tenancy and pg_cron are installed in the platform database;
#   - every tenancy.* line of the file is a setting the server knows, with
#     the value the file gives (a typo would be a silently dropped setting);
#   - the server log has no WARNING, ERROR or FATAL.
# Exit 0 on success, 1 on failure, 77 when it cannot run here (said why).
set -uo pipefail

helm=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bindir=$(${PG_CONFIG:-pg_config} --bindir)
pkglibdir=$(${PG_CONFIG:-pg_config} --pkglibdir)

for lib in tenancy pg_cron; do
	if [ ! -f "$pkglibdir/$lib.so" ]; then
		echo "# boot: $pkglibdir/$lib.so is not installed (make install; test/install-deps.sh)"
		exit 77
	fi
done

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	as_pg=(runuser -u postgres --)
elif [ "$(id -un)" != postgres ]; then
	echo "# boot: must run as root or as postgres (initdb refuses root; the image runs as postgres)"
	exit 77
fi

work=$(mktemp -d /tmp/tenancy-deploy-boot.XXXXXX)
pid=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1
		wait "$pid" 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "# boot: kept $work"; else rm -rf "$work"; fi
}
# shellcheck disable=SC2317  # invoked by the trap
trap cleanup EXIT

"$helm" template tenancy "$top/deploy/helm/tenancy" --namespace platform \
	--show-only templates/configmap.yaml >"$work/configmap.yaml" || exit 1
(cd "$here" && node -e '
	const fs = require("node:fs");
	const { parse } = require("yaml");
	const cm = parse(fs.readFileSync(process.argv[1], "utf8"));
	for (const k of ["postgresql.conf", "pg_hba.conf"])
		fs.writeFileSync(process.argv[2] + "/" + k, cm.data[k]);
' "$work/configmap.yaml" "$work") || exit 1

# Where things live on this machine instead of in the pod.
port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work/run"
sed -i -e "s|^listen_addresses = .*|listen_addresses = ''|" \
	-e "s|^port = .*|port = $port|" \
	-e "s|^unix_socket_directories = .*|unix_socket_directories = '$work/run'|" \
	-e "s|^hba_file = .*|hba_file = '$work/pg_hba.conf'|" "$work/postgresql.conf"
grep -q "^port = $port$" "$work/postgresql.conf" || { echo "# boot: could not relocate the port"; exit 1; }
chown -R postgres: "$work" 2>/dev/null || true

db=$(sed -n "s/^tenancy.database = '\(.*\)'$/\1/p" "$work/postgresql.conf")
"${as_pg[@]}" env PATH="$bindir:$PATH" PGDATA="$work/data" TENANCY_DATABASE="$db" \
	TENANCY_CONFIG_FILE="$work/postgresql.conf" PGHOST="$work/run" PGPORT="$port" \
	"$top/deploy/docker/tenancy-entrypoint.sh" \
	postgres -D "$work/data" -c config_file="$work/postgresql.conf" >"$work/server.log" 2>&1 &
pid=$!

psql_pg() {
	"${as_pg[@]}" "$bindir/psql" -X -At -v ON_ERROR_STOP=1 -h "$work/run" -p "$port" "$@"
}

ready=0
for _ in $(seq 1 120); do
	if ! kill -0 "$pid" 2>/dev/null; then break; fi
	if grep -q 'ready$' "$work/server.log" && "${as_pg[@]}" "$bindir/pg_isready" -q -h "$work/run" -p "$port"; then
		ready=1
		break
	fi
	sleep 0.5
done
if [ "$ready" -ne 1 ]; then
	echo "# boot: the server did not start; its output:"
	sed 's/^/#   /' "$work/server.log" | tail -n 40
	exit 1
fi

failed=0
check() {
	if [ "$2" = "$3" ]; then
		echo "#   ok: $1"
	else
		echo "#   not ok: $1: got '$2', expected '$3'"
		failed=1
	fi
}

check "shared_preload_libraries" "$(psql_pg -d "$db" -c 'SHOW shared_preload_libraries')" "tenancy,pg_cron"
check "extensions in $db" "$(psql_pg -d "$db" -c "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('tenancy', 'pg_cron')")" "pg_cron,tenancy"
check "pg_cron launcher running" "$(psql_pg -d "$db" -c "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")" "t"

# Every tenancy.* line: known to the server, with the file's value (compared
# by the server itself, units included).
while IFS= read -r line; do
	name=${line%% = *}
	value=${line#* = \'}
	value=${value%\'}
	known=$(psql_pg -d "$db" -v n="$name" -v v="$value" <<-'SQL'
		SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = :'n') THEN 'unknown setting'
		            WHEN current_setting(:'n') = :'v' OR current_setting(:'n') = replace(:'v', '''''', '''') THEN 'as in the file'
		            ELSE 'differs: ' || current_setting(:'n') END
	SQL
	)
	check "$name" "$known" "as in the file"
done < <(grep -E "^tenancy\.[a-z_]+ = '" "$work/postgresql.conf")

# The example specs are valid for this build of the extension (when it has
# tenancy.validate; the spec issue adds it).
if [ "$(psql_pg -d "$db" -c "SELECT to_regprocedure('tenancy.validate(jsonb)') IS NOT NULL AND to_regprocedure('tenancy.parse_spec(text)') IS NOT NULL")" = t ]; then
	for spec in "$top"/deploy/examples/*.yaml; do
		# (psql interpolates :'spec' only in input, not in -c)
		problems=$(psql_pg -d "$db" -v spec="$(cat "$spec")" 2>&1 <<<"SELECT path || ': ' || message FROM tenancy.validate(tenancy.parse_spec(:'spec'))")
		check "$(basename "$spec") passes tenancy.validate" "$problems" ""
	done
else
	echo "#   skip: tenancy.validate is not in this build: example specs not validated"
fi

# Not problems: pg_isready's probes while the server starts, and the
# workers' exit when the entrypoint stops its temporary server.
problems=$(grep -E '(WARNING|ERROR|FATAL|PANIC):' "$work/server.log" |
	grep -vE 'FATAL:  (the database system is (starting up|shutting down)|terminating background worker ".*" due to administrator command)$')
if [ -n "$problems" ]; then
	echo "#   not ok: the server log has warnings or errors:"
	echo "$problems" | sed 's/^/#     /' | head -n 20
	failed=1
else
	echo "#   ok: no warning or error in the server log"
fi

exit "$failed"
