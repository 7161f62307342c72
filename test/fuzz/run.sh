#!/usr/bin/env bash
# test/fuzz/run.sh SECONDS: build the libFuzzer harness of the tenant spec
# converter (src/spec/spec_yaml.c, with AddressSanitizer and UBSan) and run it
# for SECONDS (default 60), one process.
#
# Seeds come from test/fuzz/corpus (small, committed); what the fuzzer
# discovers goes to a scratch corpus ($FUZZ_WORK, default /tmp/tenancy-fuzz)
# so the committed one stays small.  A crash leaves test/fuzz/crash-* (git
# ignores it) and makes this script fail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
seconds=${1:-60}
work=${FUZZ_WORK:-/tmp/tenancy-fuzz}
cc=${FUZZ_CC:-clang}

"$top/test/install-deps.sh"
command -v "$cc" >/dev/null || { echo "clang is needed: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
mkdir -p "$work/corpus"

read -ra cflags <<<"$(pkg-config --cflags yaml-0.1 jansson)"
read -ra libs <<<"$(pkg-config --libs yaml-0.1 jansson)"
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$top/src/include" "${cflags[@]}" \
	"$here/fuzz_spec_yaml.c" "$top/src/spec/spec_yaml.c" \
	"${libs[@]}" -o "$here/fuzz_spec_yaml"

cd "$here"
# -rss_limit_mb: the converter's own bounds must keep it far below this
exec ./fuzz_spec_yaml "$work/corpus" "$here/corpus" \
	-dict="$here/yaml.dict" -max_total_time="$seconds" -max_len=65536 \
	-rss_limit_mb=1024 -timeout=10 -print_final_stats=1 -artifact_prefix="$here/"
