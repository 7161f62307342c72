#!/usr/bin/env bash
# test/deploy/run-tests.sh: checks of deploy/ (the "deploy" suite of make test).
#
#   chart      helm lint --strict and helm template of deploy/helm/tenancy with
#              a real helm 3 (test/tools/get-helm.sh), every rendered manifest
#              validated against the Kubernetes schemas, RBAC and settings
#              assertions, hostile values refused (node --test test/deploy/test)
#   boot       the chart's postgresql.conf and the image's entrypoint on a
#              throwaway server: initdb, platform database, CREATE EXTENSION
#              tenancy and pg_cron, every tenancy.* setting known and set
#   image      the Dockerfile's packages exist in Debian 12; shellcheck of the
#              shell scripts (no Docker engine here: the image is not built)
#   journal    the ClusterRole and the Vault policy grant exactly what the
#              worker used, per the simulator journals in JOURNAL_DIR (the TAP
#              tests save them; only the worker's own requests count); the
#              chart is rendered with the Vault reference prefixes of the TAP
#              tests' specs (TAP_REFERENCE_PREFIXES); skipped, and said so,
#              when there are none
#
# Prints one "ok"/"not ok"/"skip" line per check, then "# pass N" and
# "# fail M"; exits non-zero on any failure.
# Environment: JOURNAL_DIR (default: $TESTDIR/journals), KEEP=1 keeps the
# boot test's directory.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
chart="$top/deploy/helm/tenancy"
pass=0
fail=0
skipped=0

ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
skip() { echo "skip - $*"; skipped=$((skipped + 1)); }

finish() {
	echo "# pass $pass"
	echo "# fail $fail"
	echo "# skip $skipped"
	[ "$fail" -eq 0 ]
	exit $?
}

# --- tools --------------------------------------------------------------------
if ! helm=$("$top/test/tools/get-helm.sh"); then
	not_ok "obtain helm 3 (test/tools/get-helm.sh)"
	finish
fi
ok "helm: $("$helm" version --short)"

# again when package-lock.json is newer than what npm ci installed
if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
		{ not_ok "npm ci in test/deploy"; finish; }
fi

# --- chart: node tests --------------------------------------------------------
log=$(mktemp)
(cd "$here" && HELM="$helm" node --test test/) >"$log" 2>&1
rc=$?
n_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -n 1)
n_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -n 1)
n_skip=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$log" | tail -n 1)
# Keep node's own summary lines from being counted twice by a caller.
grep -E '^(not )?ok [0-9]+ - ' "$log" | sed 's/^/  node: /'
if [ "${n_fail:-1}" -ne 0 ] || [ "$rc" -ne 0 ]; then
	sed -n '/^not ok/,/^  \.\.\./p' "$log" | head -n 200
fi
rm -f "$log"
pass=$((pass + ${n_pass:-0}))
fail=$((fail + ${n_fail:-0}))
skipped=$((skipped + ${n_skip:-0}))
if [ "$rc" -ne 0 ] && [ "${n_fail:-0}" -eq 0 ]; then
	not_ok "node --test test/deploy/test exited with $rc"
fi

# --- boot: the rendered postgresql.conf on a real server ------------------------
"$here/boot-test.sh" "$helm"
rc=$?
case "$rc" in
	0) ok "boot: the chart's postgresql.conf and the image's entrypoint start a server with tenancy and pg_cron" ;;
	77) skip "boot: see the reason above" ;;
	*) not_ok "boot: the chart's postgresql.conf and the image's entrypoint (output above)" ;;
esac

# --- image --------------------------------------------------------------------
# The packages each stage installs, from the Dockerfile's apt-get lines.
packages=$(sed -n '/apt-get install/,/rm -rf/p' "$top/deploy/docker/Dockerfile" |
	tr -s ' \t\134' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
	grep -vxE 'apt-get|install|rm' | sort -u)
unknown=()
for p in $packages; do
	apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || unknown+=("$p")
done
if [ -z "$packages" ]; then
	not_ok "image: no packages found in deploy/docker/Dockerfile"
elif [ ${#unknown[@]} -eq 0 ]; then
	ok "image: the Dockerfile's $(echo "$packages" | wc -w) packages exist in this Debian's archive"
else
	not_ok "image: packages unknown to apt: ${unknown[*]}"
fi
if command -v shellcheck >/dev/null; then
	if shellcheck "$top/deploy/docker/tenancy-entrypoint.sh" "$top/deploy/vault/configure.sh" \
		"$top/test/tools/get-helm.sh" "$here/run-tests.sh" "$here/boot-test.sh"; then
		ok "shellcheck of the deploy scripts"
	else
		not_ok "shellcheck of the deploy scripts"
	fi
else
	skip "shellcheck is not installed"
fi

# --- journal: exact permissions -------------------------------------------------
journals=${JOURNAL_DIR:-${TESTDIR:-/nonexistent}/journals}
if compgen -G "$journals/*.json" >/dev/null; then
	# The specs of test/t/020 reference acme/oauth/... (the source document's
	# acme-corp) and its api_* source reads apis/<source>/...
	prefixes=${TAP_REFERENCE_PREFIXES:-'["acme/","apis/"]'}
	manifests=$(mktemp)
	if "$helm" template tenancy "$chart" --namespace platform \
		--set-json "tenancy.vault.referencePrefixes=$prefixes" >"$manifests" &&
		node "$here/check-permissions.js" "$journals" "$manifests"; then
		ok "journal: the ClusterRole and the Vault policy (reference prefixes $prefixes) grant exactly what the worker used"
	else
		not_ok "journal: the ClusterRole or the Vault policy differ from what the worker used (above)"
	fi
	rm -f "$manifests"
else
	skip "journal: no simulator journals in $journals (the TAP tests save them); exact RBAC and Vault policy not checked"
fi

finish
