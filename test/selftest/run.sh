#!/usr/bin/env bash
# test/selftest/run.sh: the test machinery checked against inputs whose
# verdict is known, so that a runner that cannot fail is caught:
#   - test/valgrind/summarize.py fails on no valgrind run and on a leak in
#     any source file of the extension (src/<layer>/*.c), passes a clean run;
#   - test/run-tests.sh's TAP counter counts per assertion, skips apart,
#     and a file that died without a failed assertion as a failure.
# Prints one "ok"/"not ok" line per check, then "# pass N" and "# fail M".
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/tenancy-selftest.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
check() {
	if [ "$2" = "$3" ]; then
		echo "ok - $1"; pass=$((pass + 1))
	else
		echo "not ok - $1: got '$2', expected '$3'"; fail=$((fail + 1))
	fi
}

# --- valgrind summary
mkdir -p "$work/vg/none" "$work/vg/clean" "$work/vg/leak" "$work/vg/quiet"
printf '==12== Memcheck, a memory error detector\n==12== Command: /x/bin/postgres.bin -D data\n==12== \n' >"$work/vg/clean/12.log"
cp "$work/vg/clean/12.log" "$work/vg/leak/12.log"
printf '==13== Memcheck, a memory error detector\n==13== Command: /x/bin/postgres.bin -D data\n==13== \n==13== 64 bytes in 1 blocks are definitely lost in loss record 5 of 9\n==13==    at 0x4848899: malloc (vg_replace_malloc.c:381)\n==13==    by 0x5: record_outcomes (journal.c:1020)\n==13== \n' >"$work/vg/leak/13.log"
: >"$work/vg/quiet/14.log"
for case in none:1 quiet:1 clean:0 leak:1; do
	dir=${case%%:*}
	"$top/test/valgrind/summarize.py" "$work/vg/$dir" "$top" >/dev/null 2>&1
	check "valgrind summary of a '$dir' log directory exits ${case#*:}" "$?" "${case#*:}"
done

# --- the runner's TAP counter, on prove -v output with a skip, a TODO, a
# subtest, a file that died after one assertion and a skipped file
eval "$(sed -n '/^count_tap() {/,/^}/p' "$top/test/run-tests.sh")"
cat >"$work/prove.log" <<'LOG'
[16:25:01] test/t/001_a.pl ......... 
ok 1 - a
ok 2 # skip no helm
not ok 3 - b # TODO later
    ok 1 - subtest assertion
not ok 4 - c
1..4
[16:25:02] test/t/002_b.pl ......... 
ok 1 - x
Dubious, test returned 255 (wstat 65280, 0xff00)
[16:25:03] test/t/003_c.pl ......... 
1..0 # SKIP no pgaudit

Test Summary Report
-------------------
test/t/001_a.pl (Wstat: 256 (exited 1) Tests: 4 Failed: 1)
  Failed test:  4
test/t/002_b.pl (Wstat: 65280 (exited 255) Tests: 1 Failed: 0)
  Non-zero exit status: 255
  Parse errors: No plan found in TAP output
LOG
check "TAP counted per assertion: passed failed skipped" "$(count_tap "$work/prove.log")" "2 2 2"

echo "# pass $pass"
echo "# fail $fail"
[ "$fail" -eq 0 ]
