#!/usr/bin/env bash
# Builds the reference server, starts it on a temporary embedded store, generates the TypeScript
# types from api/openapi.yaml, type-checks the example with `tsc --strict` and runs it against
# the server; stops the server. Used by `make example-ts` and .ci/run. Needs Go, Node.js 20+ and
# npm (the packages are pinned in package-lock.json).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
log=${OPENINTENT_EXAMPLE_LOG:-$root/example-ts-server.log}
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$dir"' EXIT
echo "==> installing the pinned packages (npm ci) and generating the types from api/openapi.yaml"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run -s generate
echo "==> type-checking with tsc --strict"
npm run -s build
echo "==> building and starting the server on a temporary store (log $log)"
(cd "$root" && go build -o "$dir/openintent-server" ./cmd/openintent-server)
port=${OPENINTENT_PORT:-18766}
"$dir/openintent-server" -addr "127.0.0.1:$port" -db "$dir/openintent.db" -api-keys example-key 2>"$log" &
pid=$!
ready=
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the server exited; its log:" >&2; cat "$log" >&2; exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "the server did not start listening; its log is $log" >&2; exit 1; }
echo "==> running examples/typescript"
OPENINTENT_URL="http://127.0.0.1:$port" OPENINTENT_API_KEY=example-key node dist/main.js
