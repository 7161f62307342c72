#!/usr/bin/env bash
# tenancy-entrypoint.sh: entry point of the platform database image.
#
# On the first start (empty data directory) it runs initdb, starts the
# server on its socket only, creates the platform database and, in it, the
# extensions tenancy and pg_cron, and stops the server.  Then, every time,
# it replaces itself with the command (postgres ...).
#
# The superuser gets no password: it logs in only through the local socket
# as the OS user postgres (kubectl exec).  Create login roles for people and
# services and grant them tenancy_admin.
set -euo pipefail

: "${PGDATA:?PGDATA must be set}"
: "${TENANCY_DATABASE:=platform}"
config_file=${TENANCY_CONFIG_FILE:-/etc/tenancy/postgresql.conf}

# Smart, not fast: psql has gone when this runs, but its backend may still be
# exiting; a fast stop would end it with a FATAL "terminating connection due
# to administrator command" in the log.  Smart waits for it, then stops the
# background workers.
stop_server() {
	pg_ctl --pgdata="$PGDATA" --wait --timeout=120 --mode=smart stop
}

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	echo "tenancy-entrypoint: initializing $PGDATA"
	mkdir -p "$PGDATA"
	chmod 0700 "$PGDATA"
	initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 \
		--locale=C.UTF-8 --data-checksums \
		--auth-local=peer --auth-host=scram-sha-256

	# The platform database first, without the preloaded workers: they
	# would try to connect to it before it exists.
	pg_ctl --pgdata="$PGDATA" --wait --timeout=120 \
		-o "-c config_file=$config_file -c listen_addresses='' -c shared_preload_libraries=''" start
	psql -X -v ON_ERROR_STOP=1 --username=postgres --dbname=postgres \
		-v db="$TENANCY_DATABASE" <<-'SQL'
		SELECT pg_catalog.format('CREATE DATABASE %I', :'db')
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'db')
		\gexec
	SQL
	stop_server

	# Then the extensions, with the libraries preloaded as pg_cron requires.
	pg_ctl --pgdata="$PGDATA" --wait --timeout=120 \
		-o "-c config_file=$config_file -c listen_addresses=''" start
	psql -X -v ON_ERROR_STOP=1 --username=postgres --dbname="$TENANCY_DATABASE" <<-'SQL'
		CREATE EXTENSION IF NOT EXISTS pg_cron;
		CREATE EXTENSION IF NOT EXISTS tenancy;
	SQL
	stop_server
	echo "tenancy-entrypoint: database \"$TENANCY_DATABASE\" ready"
fi

exec "$@"
