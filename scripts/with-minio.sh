#!/usr/bin/env bash
# Runs a command with a MinIO server started on loopback for it, and stops
# the server afterwards whatever happens. Tests find it through
# SITEINSPECT_TEST_S3_*.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
console=$(free_port)
dir=$(mktemp -d /tmp/siteinspect-minio.XXXXXX)
export MINIO_ROOT_USER=siteinspect-test MINIO_ROOT_PASSWORD=siteinspect-test-secret MINIO_BROWSER=off
bin/minio server "$dir" --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" >"$dir.log" 2>&1 &
minio_pid=$!
cleanup() { kill "$minio_pid" 2>/dev/null || true; wait "$minio_pid" 2>/dev/null || true; rm -rf "$dir" "$dir.log"; }
trap cleanup EXIT INT TERM

for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/minio/health/live" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$minio_pid" 2>/dev/null; then echo "MinIO exited:"; cat "$dir.log"; exit 1; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/minio/health/live" >/dev/null || { echo "MinIO did not start"; cat "$dir.log"; exit 1; }
echo "MinIO on 127.0.0.1:$port"

export SITEINSPECT_TEST_S3_ENDPOINT="127.0.0.1:$port"
export SITEINSPECT_TEST_S3_ACCESS_KEY="$MINIO_ROOT_USER" SITEINSPECT_TEST_S3_SECRET_KEY="$MINIO_ROOT_PASSWORD"
"$@"
