#!/usr/bin/env bash
# test/bench/bench_spec.sh: what reading a tenant spec costs, as a ratio
# against a baseline measured in the same run on a throwaway cluster.
#
#   tenancy.validate(tenancy.parse_spec(yaml)) on the seed spec (YAML, with
#   its comments) vs. casting the same document, written as JSON, with
#   ::jsonb.  Also parse_spec alone, and parse_spec on the JSON text.
#
# Each side runs BENCH_SPEC_LOOPS times (default 2000) inside the server (a
# PL/pgSQL loop), so client round trips do not dilute the ratio; the sides
# alternate over BENCH_SPEC_ROUNDS rounds (default 7) and the best round of
# each counts.  BENCH_KEEP=1 keeps the cluster directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh

loops=${BENCH_SPEC_LOOPS:-2000}
rounds=${BENCH_SPEC_ROUNDS:-7}
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

# bench_times(names, expressions, loops, rounds): for each expression, the
# best of `rounds` rounds of `loops` evaluations, in ms.  Rounds interleave
# the expressions, so that load from elsewhere hits every side alike.  In
# an expression, $1 is the YAML text and $2 the JSON text.
cluster_psql -q <<'SQL'
CREATE FUNCTION bench_times(names text[], expressions text[], loops int, rounds int)
RETURNS TABLE (name text, best_ms float8)
LANGUAGE plpgsql AS $$
DECLARE
	yaml text;
	json text;
	started timestamptz;
	best float8[] := array_fill('Infinity'::float8, ARRAY[cardinality(expressions)]);
	r int;
	e int;
	i int;
BEGIN
	SELECT b.yaml, b.json INTO yaml, json FROM bench_input b;
	FOR r IN 1..rounds LOOP
		FOR e IN 1..cardinality(expressions) LOOP
			started := clock_timestamp();
			FOR i IN 1..loops LOOP
				EXECUTE 'SELECT ' || expressions[e] USING yaml, json;
			END LOOP;
			best[e] := least(best[e], extract(epoch FROM clock_timestamp() - started) * 1000);
		END LOOP;
	END LOOP;
	RETURN QUERY SELECT names[k], best[k] FROM generate_subscripts(names, 1) AS k;
END
$$;
SQL

cluster_psql -qAt -F ' ' -c "
	SELECT * FROM bench_times(
		ARRAY['cast', 'validate_parse', 'parse', 'parse_json', 'validate'],
		ARRAY['\$2::jsonb',
			  '(SELECT count(*) FROM tenancy.validate(tenancy.parse_spec(\$1)))',
			  'tenancy.parse_spec(\$1)',
			  'tenancy.parse_spec(\$2)',
			  '(SELECT count(*) FROM tenancy.validate(\$2::jsonb))'],
		$loops, $rounds)" >"$dir/times"

awk -v loops="$loops" -v rounds="$rounds" '
	{ t[$1] = $2 }
	END {
		printf "seed spec, %d evaluations per side, best of %d rounds (per call):\n", loops, rounds
		printf "  JSON text ::jsonb (baseline)          %8.1f us\n", t["cast"] * 1000 / loops
		printf "  parse_spec(YAML)                      %8.1f us  %5.1fx\n", t["parse"] * 1000 / loops, t["parse"] / t["cast"]
		printf "  parse_spec(JSON text)                 %8.1f us  %5.1fx\n", t["parse_json"] * 1000 / loops, t["parse_json"] / t["cast"]
		printf "  validate(JSON text ::jsonb)           %8.1f us  %5.1fx\n", t["validate"] * 1000 / loops, t["validate"] / t["cast"]
		printf "  validate(parse_spec(YAML))            %8.1f us  %5.1fx\n", t["validate_parse"] * 1000 / loops, t["validate_parse"] / t["cast"]
		printf "ratio parse+validate / ::jsonb: %.1fx\n", t["validate_parse"] / t["cast"]
	}' "$dir/times"
