#!/usr/bin/env bash
# run-tests.sh — the platform simulator's own tests (node's test runner):
# API semantics, Vault, Grafana, faults, journal, and real clients
# (kubectl, python3-kubernetes, python3-hvac; skipped when absent).
# Exits non-zero on any failure. Called by the project's "make test".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules ]; then
	npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || { echo "run-tests.sh: npm ci failed" >&2; exit 1; }
fi
exec node --test test/*.test.js
