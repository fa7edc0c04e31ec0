#!/usr/bin/env bash
# Runs a command with a PostgreSQL 15 server started on loopback for it (a
# fresh cluster in a temp folder, fsync off: tests only), and stops the
# server afterwards whatever happens. Tests find it through
# SITEINSPECT_TEST_PG_URL and make a database of their own on it
# (testenv.NewPostgresDB). `scripts/deps.sh test` installs postgresql-15.
set -euo pipefail
cd "$(dirname "$0")/.."

pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL 15 is not installed in $pgbin: run scripts/deps.sh test" >&2; exit 1; }
# As root, the server runs as the postgres user (it refuses to run as root).
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
dir=$(mktemp -d /tmp/siteinspect-pg.XXXXXX)
[ ${#as[@]} -eq 0 ] || chown postgres "$dir"
cleanup() {
  "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

if ! "${as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1; then
  echo "initdb failed:"; cat "$dir/initdb.log"; exit 1
fi
if ! "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >/dev/null; then
  echo "PostgreSQL did not start:"; cat "$dir/server.log"; exit 1
fi
echo "PostgreSQL on 127.0.0.1:$port"

export SITEINSPECT_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
"$@"
