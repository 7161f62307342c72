--
-- spec_parse: tenancy.parse_spec reads YAML 1.2 (core schema) and JSON into
-- jsonb; the seed spec is read verbatim (comments and all); every error is
-- SQLSTATE 22P02 naming the line and column; hostile input is bounded.
--
CREATE EXTENSION tenancy;

-- the reference spec, verbatim from the source document
\getenv abs_srcdir PG_ABS_SRCDIR
\set seed_file :abs_srcdir '/test/fixtures/acme-corp.yaml'
SELECT pg_read_file(:'seed_file') AS seed \gset
CREATE TEMP TABLE seed AS SELECT tenancy.parse_spec(:'seed') AS spec;

-- its meaning, section by section
SELECT spec -> 'tenant' ->> 'name' AS name,
       spec -> 'tenant' ->> 'display_name' AS display_name,
       spec -> 'tenant' ->> 'tier' AS tier,
       spec -> 'tenant' ->> 'environment' AS environment,
       spec #>> '{tenant,contacts,technical,0,email}' AS technical_email,
       spec #>> '{tenant,contacts,business,0,role}' AS business_role
  FROM seed;
SELECT spec #> '{tenant,authentication}' AS authentication FROM seed;
SELECT spec #> '{warehouse,database}' AS database,
       jsonb_typeof(spec #> '{warehouse,database,port}') AS port_type
  FROM seed;
SELECT job ->> 'name' AS job, job ->> 'source' AS source,
       job ->> 'schedule' AS schedule, job -> 'config' AS config
  FROM seed, jsonb_array_elements(spec #> '{warehouse,bronze_jobs}') AS job;
SELECT spec #> '{warehouse,dbt}' AS dbt FROM seed;
SELECT check_ FROM seed,
       jsonb_array_elements(spec #> '{warehouse,data_quality,checks}') AS check_;
SELECT spec #> '{warehouse,data_quality,checks,0,threshold}' = '0.1'::jsonb AS threshold_is_number
  FROM seed;
SELECT spec #> '{resources,kubernetes}' AS kubernetes FROM seed;
SELECT spec #> '{resources,airflow}' AS airflow FROM seed;
SELECT spec #> '{resources,database}' AS database_resources FROM seed;
SELECT spec -> 'features' AS features FROM seed;
SELECT spec -> 'sla' AS sla FROM seed;
SELECT spec -> 'billing' AS billing FROM seed;

-- the same document written as JSON gives the same jsonb
SELECT tenancy.parse_spec(spec::text) = spec AS json_round_trip FROM seed;
SELECT tenancy.parse_spec(jsonb_pretty(spec)) = spec AS pretty_json_round_trip FROM seed;

-- YAML 1.2 core schema: plain scalars resolve, quoted ones stay strings
SELECT tenancy.parse_spec($$
null_words: [null, Null, NULL, ~, ]
empty:
booleans: [true, True, TRUE, false, False, FALSE]
yaml11_words: [yes, no, on, off, y, n, Yes, NO]
integers: [0, -17, +42, 007, 0o17, 0x1F, 0xff]
floats: [1.5, -0.25, .5, 1., 1e3, 1E-3, +2.5e+2]
not_numbers: [1_000, 0b101, 0x, 0o8, 1e, 1.2.3, -0x1F, 12:30]
quoted: ["1", '2', "true", 'null', "~", "0x1F"]
$$);

-- big integers survive exactly, as numeric
SELECT tenancy.parse_spec('n: 123456789012345678901234567890123456789') -> 'n' AS big,
       tenancy.parse_spec('n: 0xFFFFFFFFFFFFFFFFFFFFFFFF') -> 'n' AS big_hex,
       tenancy.parse_spec('n: -9223372036854775809') -> 'n' AS below_int64,
       jsonb_typeof(tenancy.parse_spec('n: 123456789012345678901234567890') -> 'n') AS type;

-- explicit tags are honoured
SELECT tenancy.parse_spec($$
s: !!str 123
t: !!str true
i: !!int "42"
f: !!float 3
b: !!bool "false"
z: !!null ""
m: !!map {a: 1}
q: !!seq [1]
bang: ! 12
$$);

-- block scalars, flow style, unicode, escapes, complex strings
SELECT tenancy.parse_spec($$
literal: |
  line one
  line two
folded: >-
  folded
  text
flow: {a: [1, {b: c}], "quoted key": 'it''s'}
unicode: "caf\u00e9 \U0001F600 日本"
escapes: "tab\there \"quoted\" back\\slash"
colon: "a: b"
hash: "not # a comment"
url: https://example.com/x?y=1#frag
$$);

-- anchors, aliases and merge keys
SELECT tenancy.parse_spec($$
defaults: &defaults {cpu: "1", memory: 2Gi}
extra: &extra {memory: 4Gi, pods: 3}
scheduler:
  <<: *defaults
  cpu: "2"
webserver:
  <<: [*extra, *defaults]
list: &l [a, b]
again: *l
redefined: &l [c]
latest: *l
$$);

-- an empty document is null; JSON input works
SELECT tenancy.parse_spec('') AS empty, tenancy.parse_spec('# only a comment') AS comment_only,
       tenancy.parse_spec('{"a": [1, 2.5, "x", null, true]}') AS json;

-- errors: SQLSTATE 22P02, line and column, what was expected
\set VERBOSITY default
SELECT tenancy.parse_spec(E'tenant:\n  name: a\n  name: b\n');
SELECT tenancy.parse_spec(E'a: [1, 2\nb: 3\n');
SELECT tenancy.parse_spec(E'a: 1\n  b: 2\n');
SELECT tenancy.parse_spec(E'a:\n\t- tab\n');
SELECT tenancy.parse_spec(E'{"a": 1,, "b": 2}');
SELECT tenancy.parse_spec(E'a: 1\n---\nb: 2\n');
SELECT tenancy.parse_spec(E'? [1, 2]\n: x\n');
SELECT tenancy.parse_spec(E'{a: 1}: x\n');
SELECT tenancy.parse_spec(E'a: .inf\n');
SELECT tenancy.parse_spec(E'a: -.Inf\n');
SELECT tenancy.parse_spec(E'a: .NaN\n');
SELECT tenancy.parse_spec(E'a: !!float .nan\n');
SELECT tenancy.parse_spec(E'a: !!binary aGVsbG8=\n');
SELECT tenancy.parse_spec(E'a: !custom x\n');
SELECT tenancy.parse_spec(E'a: !!timestamp 2001-12-14\n');
SELECT tenancy.parse_spec(E'a: !!int twelve\n');
SELECT tenancy.parse_spec(E'a: !!bool yes\n');
SELECT tenancy.parse_spec(E'a: !!null 0\n');
SELECT tenancy.parse_spec(E'a: !!map [1]\n');
SELECT tenancy.parse_spec(E'a: !!seq x\n');
SELECT tenancy.parse_spec(E'a: *missing\n');
SELECT tenancy.parse_spec(E'a: &x\n  b: *x\n');
SELECT tenancy.parse_spec(E'a: {x: 1}\nb:\n  <<: 5\n');
SELECT tenancy.parse_spec(E'a: [1]\nb:\n  <<: [*a_missing]\n');
SELECT tenancy.parse_spec(E'b:\n  <<: [[1]]\n');
SELECT tenancy.parse_spec(E'a: "nul \\0 inside"\n');
SELECT tenancy.parse_spec(E'a: 1e99999\n');
SELECT tenancy.parse_spec('a: ' || repeat('9', 1001));
SELECT tenancy.parse_spec(E'"unterminated\n');
SELECT tenancy.parse_spec(E'%YAML 1.2\n%YAML 1.2\n--- a\n');
\set VERBOSITY terse

-- explicit keys override merged ones, but a key twice in one mapping is an error
SELECT tenancy.parse_spec(E'base: &b {k: 1, k2: 2}\nm:\n  k: 0\n  <<: *b\n') -> 'm' AS merged;
SELECT tenancy.parse_spec(E'm: {<<: {k: 1}, k: 2, k: 3}');

-- hostile input is bounded, with the bound named
SELECT tenancy.parse_spec(
  'a0: &a0 [x, x, x, x, x, x, x, x, x, x]' || E'\n' ||
  string_agg(format('a%s: &a%s [%s]', i, i, rtrim(repeat(format('*a%s, ', i - 1), 10), ', ')), E'\n')
) FROM generate_series(1, 9) AS i;
SELECT tenancy.parse_spec(repeat('[', 65) || repeat(']', 65));
SELECT jsonb_typeof(tenancy.parse_spec(repeat('[', 64) || repeat(']', 64))) AS depth_64_is_fine;
SELECT tenancy.parse_spec(E'a: &a ' || repeat('[', 40) || '1' || repeat(']', 40) ||
                          E'\nb: ' || repeat('[', 40) || '*a' || repeat(']', 40));
SELECT tenancy.parse_spec(E'a: &a "' || repeat('x', 100000) || E'"\nb: [' ||
                          rtrim(repeat('*a, ', 200), ', ') || ']');
SELECT tenancy.parse_spec(repeat('x', 8 * 1024 * 1024 + 1));

-- a document of several megabytes is fine
SELECT pg_column_size(tenancy.parse_spec(
         '{' || string_agg(format('"key%s": ["%s", %s]', i, repeat('v', 200), i), ', ') || '}'
       )) > 4000000 AS four_megabytes_parsed
  FROM generate_series(1, 20000) AS i;

-- every parse error carries SQLSTATE 22P02 (invalid_text_representation)
DO $$
DECLARE
	bad text;
BEGIN
	FOREACH bad IN ARRAY ARRAY['a: [', E'a: 1\na: 2', 'a: .nan', 'a: !x 1', '*nope',
							   repeat('[', 100), E'a: 1\n---\nb: 1']
	LOOP
		BEGIN
			PERFORM tenancy.parse_spec(bad);
			RAISE NOTICE 'accepted: %', bad;
		EXCEPTION WHEN invalid_text_representation THEN
			NULL;
		END;
	END LOOP;
	RAISE NOTICE 'every bad document raised 22P02';
END
$$;

-- STRICT: NULL in, NULL out
SELECT tenancy.parse_spec(NULL) IS NULL AS strict;

DROP EXTENSION tenancy;

-- a database in another encoding: libyaml reads UTF-8, the wrapper converts
CREATE DATABASE spec_latin1 ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0;
\c spec_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION tenancy;
SELECT tenancy.parse_spec(E'name: "caf\u00e9"\ncity: Zürich') AS latin1;
SELECT tenancy.parse_spec(E'a: [1,\nb: é');
DROP EXTENSION tenancy;
\c contrib_regression
DROP DATABASE spec_latin1;
