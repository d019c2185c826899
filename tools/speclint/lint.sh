#!/usr/bin/env bash
# Lints api/openapi.yaml with Redocly's `recommended` ruleset and Spectral's `spectral:oas`
# (versions pinned in package.json / package-lock.json here); fails on any error or warning.
# Used by `make lint-spec` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
if [ ! -x node_modules/.bin/redocly ] || [ ! -x node_modules/.bin/spectral ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
spec=../../api/openapi.yaml
echo "==> redocly lint (recommended)"
# --max-problems: list every problem, not the first 100. Warnings fail too (grep the summary).
out=$(node_modules/.bin/redocly lint --config ../../api/redocly.yaml --max-problems 1000 --format stylish "$spec" 2>&1) || { echo "$out" | grep -v '[║╔╚]'; exit 1; }
echo "$out" | grep -v '[║╔╚]' | grep -E 'warning|error|Woohoo|valid' || true
if echo "$out" | grep -qE '^ +[0-9]+:[0-9]+ +warning'; then
  echo "redocly: warnings are not allowed (fix them, or add an exception with its reason to api/redocly.yaml)" >&2
  exit 1
fi
echo "==> spectral lint (spectral:oas)"
node_modules/.bin/spectral lint --ruleset ../../api/.spectral.yaml --fail-severity=warn --display-only-failures "$spec"
