# test/lib/cluster.sh: start and stop a throwaway PostgreSQL cluster, for the
# demo and the benchmarks (pg_regress and TAP start their own).
#
#   . test/lib/cluster.sh
#   cluster_start DIR ["extra postgresql.conf line" ...]   # sets PGHOST, PGPORT
#   cluster_psql -c 'SELECT 1'                             # psql as superuser
#   cluster_stop
#
# As root the server runs as the 'postgres' user (initdb refuses root), in a
# directory that user owns.

cluster_bindir=$(${PG_CONFIG:-pg_config} --bindir)

# cluster_as_owner CMD...: run CMD as the cluster's owner
cluster_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster_free_port: a TCP port nobody listens on right now
cluster_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cluster_start() {
	CLUSTER_DIR=$1
	shift
	mkdir -p "$CLUSTER_DIR"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$CLUSTER_DIR"
	cluster_as_owner "$cluster_bindir/initdb" -D "$CLUSTER_DIR/data" -U postgres \
		--auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
		|| { cat "$CLUSTER_DIR/initdb.log"; return 1; }
	PGPORT=$(cluster_free_port)
	{
		echo "port = $PGPORT"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$CLUSTER_DIR'"
		echo "shared_preload_libraries = 'tenancy,pg_cron'"
		echo "cron.database_name = 'postgres'"
		echo "tenancy.database = 'postgres'"
		echo "tenancy.database_host = 'platform-db.test'"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} | cluster_as_owner tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
	cluster_as_owner "$cluster_bindir/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w start >/dev/null || { tail -20 "$CLUSTER_DIR/server.log"; return 1; }
	export PGHOST=$CLUSTER_DIR PGPORT PGUSER=postgres PGDATABASE=postgres
}

cluster_psql() {
	"$cluster_bindir/psql" -X -v ON_ERROR_STOP=1 "$@"
}

cluster_stop() {
	[ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
	cluster_as_owner "$cluster_bindir/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
