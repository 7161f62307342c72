#!/usr/bin/env bash
# test/bench/bench_budget.sh: what the relation budget costs a tenant's DDL,
# as ratios against a baseline measured in the same run on a throwaway
# cluster.  The guard counts the tenant's relations in pg_class before a
# statement that creates one and after every statement that may create
# some (ALTER TABLE included); DML is never counted.
#
# Workloads, each BENCH_STATEMENTS pairs of statements per round, timed in
# one DO block on the server:
#   create_drop  CREATE TABLE t (id int) and DROP TABLE t
#   alter_pair   ALTER TABLE ... ADD CONSTRAINT u UNIQUE (id) and
#                ALTER TABLE ... DROP CONSTRAINT u
# Configurations, in an order that rotates each round:
#   superuser    the same statements as a superuser (no guard at all)
#   no_budget    as the tenant's etl role, its tier not in
#                tenancy.max_relations_per_tenant (the tier is looked up,
#                nothing counted)
#   budget       as the tenant's etl role with a budget (counted)
# Prints, per workload and configuration, the median µs per pair over the
# rounds and its ratio to superuser.  pg_class holds BENCH_FILLER extra
# relations of another role (the count scans pg_class: its cost grows with
# the catalog).
# Environment: BENCH_ROUNDS (default 7), BENCH_STATEMENTS (default 300),
# BENCH_FILLER (default 5000), BENCH_KEEP=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. test/lib/cluster.sh
cluster_bindir=${PG_BINDIR:-$cluster_bindir}

rounds=${BENCH_ROUNDS:-7}
statements=${BENCH_STATEMENTS:-300}
filler=${BENCH_FILLER:-5000}
dir=$(mktemp -d /tmp/tenancy-bench.XXXXXX)
chmod 755 "$dir"
finish() {
	cluster_stop
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir"
}
trap finish EXIT
cluster_start "$dir/cluster" >/dev/null

cluster_psql -q >/dev/null <<SQL
CREATE EXTENSION tenancy;
SELECT tenancy.provision('bud', '{"tenant": {"name": "bud", "tier": "basic"}, "warehouse": {}, "resources": {}}'::jsonb) > 0;
CREATE SCHEMA filler;
DO \$\$ BEGIN FOR i IN 1..$filler LOOP EXECUTE format('CREATE TABLE filler.f%s (id int)', i); END LOOP; END \$\$;
CREATE TABLE bud_bronze.t_su (id int);
CREATE TABLE public.bench_budget_timing (round int, workload text, config text, us_per_pair float8);
SQL
cluster_psql -q -c "SET ROLE etl_bud" -c "CREATE TABLE bud_bronze.t_etl (id int)"

# run_round ROUND WORKLOAD CONFIG: one timed DO block
run_round() {
	local round=$1 workload=$2 config=$3 role_sql="" budget="basic=1000000" table=bud_bronze.t_etl
	case $config in
		superuser) table=bud_bronze.t_su ;;
		no_budget) role_sql="SET ROLE etl_bud;"; budget="standard=5000" ;;
		budget) role_sql="SET ROLE etl_bud;" ;;
	esac
	local body
	case $workload in
		create_drop)
			body="EXECUTE 'CREATE TABLE bud_bronze.cd (id int)'; EXECUTE 'DROP TABLE bud_bronze.cd';" ;;
		alter_pair)
			body="EXECUTE 'ALTER TABLE $table ADD CONSTRAINT u UNIQUE (id)'; EXECUTE 'ALTER TABLE $table DROP CONSTRAINT u';" ;;
	esac
	cluster_psql -q -At <<SQL
SET tenancy.max_relations_per_tenant = '$budget';
$role_sql
DO \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..$statements LOOP
		$body
	END LOOP;
	RAISE NOTICE '%', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $statements;
END
\$\$;
SQL
}

configs=(superuser no_budget budget)
for ((r = 0; r < rounds; r++)); do
	for workload in create_drop alter_pair; do
		for ((k = 0; k < 3; k++)); do
			config=${configs[$(((r + k) % 3))]}
			us=$(run_round "$r" "$workload" "$config" 2>&1 | sed -n 's/^NOTICE:  //p')
			cluster_psql -q -c "INSERT INTO public.bench_budget_timing VALUES ($r, '$workload', '$config', $us)"
		done
	done
done

cluster_psql -P footer=off <<SQL
WITH med AS (
	SELECT workload, config,
		   percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_pair) AS us
	  FROM public.bench_budget_timing GROUP BY 1, 2)
SELECT m.workload, m.config, round(m.us::numeric, 1) AS median_us_per_pair,
	   round((m.us / s.us)::numeric, 2) AS ratio_to_superuser,
	   (SELECT count(*) FROM pg_class) AS pg_class_rows
  FROM med m JOIN med s ON s.workload = m.workload AND s.config = 'superuser'
 ORDER BY m.workload, array_position(ARRAY['superuser', 'no_budget', 'budget'], m.config);
SQL
