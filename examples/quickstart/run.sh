#!/usr/bin/env bash
# Starts the reference server on a temporary embedded SQLite file, runs the quickstart example
# against it, and stops the server. Used by `make quickstart`. The server's log is kept in
# quickstart-server.log (OPENINTENT_QUICKSTART_LOG) for reading afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
log=${OPENINTENT_QUICKSTART_LOG:-$PWD/quickstart-server.log}
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$dir"' EXIT
echo "==> building the server and the quickstart example (the first build downloads modules and takes a minute or two)"
go build -o "$dir/openintent-server" ./cmd/openintent-server
go build -o "$dir/quickstart" ./examples/quickstart
port=${OPENINTENT_PORT:-18765}
echo "==> starting the server on 127.0.0.1:$port (store $dir/openintent.db; log $log)"
"$dir/openintent-server" -addr "127.0.0.1:$port" -db "$dir/openintent.db" -api-keys quickstart-key 2>"$log" &
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
echo "==> running examples/quickstart"
OPENINTENT_URL="http://127.0.0.1:$port" OPENINTENT_API_KEY=quickstart-key "$dir/quickstart"
echo "==> done; the server's log is in $log"
