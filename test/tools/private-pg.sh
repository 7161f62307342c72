#!/usr/bin/env bash
# test/tools/private-pg.sh NAME: a private, relocated copy of the machine's
# PostgreSQL 15 under /opt/pgtest/NAME, and print its pg_config.
#
# Test runs install tenancy into the server's library directory; two
# checkouts testing at once (git worktrees of developers working in parallel)
# would load each other's tenancy.so.  PostgreSQL finds its share and lib
# directories relative to its binaries, so a copy of both trees is a server
# of its own:
#   export PG_CONFIG=$(test/tools/private-pg.sh mine); make test
set -euo pipefail
name=${1:?usage: private-pg.sh NAME}
major=${PG_MAJOR:-15}
root=/opt/pgtest/$name
if [ ! -x "$root/usr/lib/postgresql/$major/bin/pg_config" ]; then
	"$(dirname "$0")/../install-deps.sh" >&2
	mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
	cp -a "/usr/lib/postgresql/$major" "$root/usr/lib/postgresql/"
	cp -a "/usr/share/postgresql/$major" "$root/usr/share/postgresql/"
	ln -sfn /usr/include "$root/usr/include"
fi
echo "$root/usr/lib/postgresql/$major/bin/pg_config"
