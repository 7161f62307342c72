#!/usr/bin/env bash
# test/tools/layers.sh [--check]: the calls between src/'s files, checked
# against the layer rule of doc/architecture.md: a file calls only files of
# its own layer or of lower ones.
#
# Layers, lowest first (a file's layer is the first pattern it matches):
#   0 util       guc.c and the leaf helpers (*_util.c)
#   1 spec       spec/
#   2 plan       plan/, and platform/'s object builders (the bodies the
#                planner puts in steps)
#   3 record     maintenance_record.c: what the maintenance handlers record
#                (audit findings, usage samples)
#   4 execute    exec/, placement/, platform/handler_*.c, owner_record.c,
#                maintenance/handler_audit.c and audit_remote.c: what runs
#                one step and says its outcome
#   5 journal    worker/journal.c, journal_write.c, worker_wake.c: records
#                the outcomes
#   6 worker     worker/worker.c: the loop
#   7 commands   commands/, maintenance/ (the SQL entry points)
#   8 module     tenancy.c (_PG_init)
#
# The calls are read from the objects' symbol tables (nm), so build first.
# Prints every call from a lower layer into a higher one; --check exits 1
# if there is any.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
check=0
[ "${1:-}" = --check ] && check=1

layer_of() {
	case "$1" in
		guc | */*_util) echo "0 util" ;;
		spec/*) echo "1 spec" ;;
		plan/* | platform/k8s_objects | platform/airflow_release | platform/dag_render | \
			platform/monitoring | platform/backup | platform/platform_json) echo "2 plan" ;;
		maintenance/maintenance_record) echo "3 record" ;;
		exec/* | placement/* | platform/* | maintenance/handler_audit | maintenance/audit_remote)
			echo "4 execute" ;;
		worker/journal | worker/journal_write | worker/worker_wake) echo "5 journal" ;;
		worker/*) echo "6 worker" ;;
		commands/* | maintenance/*) echo "7 commands" ;;
		tenancy) echo "8 module" ;;
		*) echo "? unknown" ;;
	esac
}

cd "$top/src" || exit 2
mapfile -t objects < <(find . -name '*.o' | sed 's|^\./||' | sort)
if [ ${#objects[@]} -eq 0 ]; then
	echo "no objects in src/: build first" >&2
	exit 2
fi

work=$(mktemp -d /tmp/tenancy-layers.XXXXXX)
trap 'rm -rf "$work"' EXIT
for o in "${objects[@]}"; do
	f=${o%.o}
	nm --defined-only -g "$o" | awk -v f="$f" '$2 ~ /^[TDBRC]$/ { print $3, f }'
done | sort >"$work/defined"
for o in "${objects[@]}"; do
	f=${o%.o}
	nm -u "$o" | awk -v f="$f" '{ print $2, f }'
done | sort >"$work/used"

violations=0
unknown=0
while read -r symbol caller callee; do
	[ "$caller" = "$callee" ] && continue
	read -r from_rank from_name < <(layer_of "$caller")
	read -r to_rank to_name < <(layer_of "$callee")
	if [ "$from_rank" = "?" ] || [ "$to_rank" = "?" ]; then
		echo "unknown layer: $caller or $callee (add it to test/tools/layers.sh)"
		unknown=$((unknown + 1))
	elif [ "$from_rank" -lt "$to_rank" ]; then
		echo "$caller ($from_name) calls $callee ($to_name): $symbol"
		violations=$((violations + 1))
	fi
done < <(join "$work/used" "$work/defined")

if [ "$check" = 1 ]; then
	if [ $((violations + unknown)) -gt 0 ]; then
		echo "not ok - $violations calls from a lower layer into a higher one, $unknown files of no layer"
		exit 1
	fi
	echo "ok - every call goes to the caller's layer or a lower one (${#objects[@]} files)"
fi
