#!/usr/bin/env bash
# test/bench/bench_spec.sh: what reading a tenant spec costs, as a ratio
# against a baseline measured in the same run on a throwaway cluster.
#
#   tenancy.validate(tenancy.parse_spec(yaml)) on the seed spec (YAML, with
#   its comments) vs. casting the same document, written as JSON, with
#   ::jsonb.  Also parse_spec alone, and parse_spec on the JSON text.
#
# Each side runs BENCH_SPEC_LOOPS times (default 5000) inside the server (a
# PL/pgSQL loop), so client round trips do not dilute the ratio; the sides
# alternate over three rounds and the best round of each counts.
# Environment: BENCH_SPEC_LOOPS, BENCH_KEEP=1 keeps the cluster directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh

loops=${BENCH_SPEC_LOOPS:-5000}
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
finish() {
	cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT
cluster_start "$dir/cluster" >/dev/null
cluster_psql -q -c 'CREATE EXTENSION tenancy'

cluster_psql -q -v yaml="$(cat test/fixtures/acme-corp.yaml)" <<'SQL'
CREATE TABLE bench_input AS
SELECT :'yaml'::text AS yaml, tenancy.parse_spec(:'yaml')::text AS json;
SQL

# bench_time(expression, loops): best of three rounds of loops evaluations, in
# ms; $1 is the YAML text, $2 the JSON text
cluster_psql -q <<SQL
CREATE FUNCTION bench_time(expression text, loops int) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE
	yaml text;
	json text;
	started timestamptz;
	best float8 := 'Infinity';
	round int;
	i int;
BEGIN
	SELECT b.yaml, b.json INTO yaml, json FROM bench_input b;
	FOR round IN 1..3 LOOP
		started := clock_timestamp();
		FOR i IN 1..loops LOOP
			EXECUTE 'SELECT ' || expression USING yaml, json;
		END LOOP;
		best := least(best, extract(epoch FROM clock_timestamp() - started) * 1000);
	END LOOP;
	RETURN best;
END
\$\$;
SQL

cluster_psql -qAt -F ' ' <<SQL >"$dir/times"
SELECT 'cast', bench_time('\$2::jsonb', $loops);
SELECT 'validate_parse', bench_time('(SELECT count(*) FROM tenancy.validate(tenancy.parse_spec(\$1)))', $loops);
SELECT 'parse', bench_time('tenancy.parse_spec(\$1)', $loops);
SELECT 'parse_json', bench_time('tenancy.parse_spec(\$2)', $loops);
SELECT 'validate', bench_time('(SELECT count(*) FROM tenancy.validate(\$2::jsonb))', $loops);
SQL

awk -v loops="$loops" '
	{ t[$1] = $2 }
	END {
		printf "seed spec, %d evaluations per side, best of 3 rounds (per call):\n", loops
		printf "  JSON text ::jsonb (baseline)          %8.1f us\n", t["cast"] * 1000 / loops
		printf "  parse_spec(YAML)                      %8.1f us  %5.1fx\n", t["parse"] * 1000 / loops, t["parse"] / t["cast"]
		printf "  parse_spec(JSON text)                 %8.1f us  %5.1fx\n", t["parse_json"] * 1000 / loops, t["parse_json"] / t["cast"]
		printf "  validate(JSON text ::jsonb)           %8.1f us  %5.1fx\n", t["validate"] * 1000 / loops, t["validate"] / t["cast"]
		printf "  validate(parse_spec(YAML))            %8.1f us  %5.1fx\n", t["validate_parse"] * 1000 / loops, t["validate_parse"] / t["cast"]
		printf "ratio parse+validate / ::jsonb: %.1fx\n", t["validate_parse"] / t["cast"]
	}' "$dir/times"
