#!/usr/bin/env bash
# Starts the reference server on a temporary embedded SQLite file, runs the quickstart example
# against it, and stops the server. Used by `make quickstart`.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
go build -o "$dir/openintent-server" ./cmd/openintent-server
port=${OPENINTENT_PORT:-18765}
"$dir/openintent-server" -addr "127.0.0.1:$port" -db "$dir/openintent.db" -api-keys quickstart-key 2>"$dir/server.log" &
pid=$!
for _ in $(seq 1 50); do
  if command -v curl >/dev/null; then curl -fs "http://127.0.0.1:$port/.well-known/openintent.json" >/dev/null 2>&1 && break; else sleep 1; break; fi
  sleep 0.1
done
OPENINTENT_URL="http://127.0.0.1:$port" OPENINTENT_API_KEY=quickstart-key go run ./examples/quickstart
