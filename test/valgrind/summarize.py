#!/usr/bin/env python3
"""test/valgrind/summarize.py: what valgrind found in tenancy's own code.

Usage: summarize.py VG_LOG_DIR SRC_DIR

Reads the per-process memcheck logs of test/valgrind/run.sh.  A record is
ours when one of its stack frames is in tenancy.so: valgrind names such a
frame by its source file when the library has debug information
("finish_completed (worker.c:526)") and by the library otherwise ("in
.../tenancy.so").  Counts "definitely lost" bytes and invalid accesses in
those records, prints up to 20 of them, and exits 1 when there is any.

It also exits 1 when no server process ran under valgrind (no log whose
header names the postgres binary): a run that never reached valgrind
must not pass as a clean one.
"""
import glob
import os
import re
import sys

log_dir, src_dir = sys.argv[1], sys.argv[2]
# every C file of the extension, in src/ and its layer folders
ours = sorted({os.path.basename(p)[:-2]
               for p in glob.glob(os.path.join(src_dir, "src", "**", "*.c"), recursive=True)})
if not ours:
    sys.exit("summarize.py: no C sources under %s/src" % src_dir)
frame = re.compile(r"(?:tenancy\.so|\((?:[^()]*/)?(?:%s)\.c:\d+\))" % "|".join(map(re.escape, ours)))
lost_re = re.compile(r"([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are definitely lost")
error_re = re.compile(r"Invalid (read|write|free)|uninitialised|Mismatched free|overlap|Source and destination")

lost_bytes = lost_records = errors = processes = shown = 0
for path in sorted(glob.glob(os.path.join(log_dir, "*.log"))):
    text = open(path, errors="replace").read()
    # the header valgrind writes for each process it runs
    if not re.search(r"^==\d+== Command: \S*postgres", text, re.M):
        continue
    processes += 1
    # records are separated by a line holding only the "==PID==" prefix
    for record in re.split(r"\n==\d+== \n", text):
        if not frame.search(record):
            continue
        m = lost_re.search(record)
        if m:
            lost_records += 1
            lost_bytes += int(m.group(1).replace(",", ""))
        elif error_re.search(record):
            errors += 1
        else:
            continue
        if shown < 20:
            shown += 1
            print("--- " + path)
            print(record.strip()[:4000])
print("valgrind: %d server process logs; in tenancy.so: %d bytes definitely lost in %d records, %d invalid accesses"
      % (processes, lost_bytes, lost_records, errors))
if processes == 0:
    print("valgrind: no server process ran under valgrind (no log in %s names the postgres binary): nothing was checked" % log_dir)
    sys.exit(1)
sys.exit(1 if lost_records or errors else 0)
