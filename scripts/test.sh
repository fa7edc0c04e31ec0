#!/usr/bin/env bash
# The whole suite, run by `make test` inside scripts/with-minio.sh. The race
# detector runs on the packages with concurrency of their own (upload
# engine, HTTP layer, job worker); the others mostly wait on ffmpeg, MinIO
# and Chromium, where it would only cost time. Both halves always run, and
# then every fuzz target for 3 s each (~40 s; `make fuzz` runs them longer).
set -uo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
# One PostgreSQL cluster for the whole run (see below).
[ -n "${SITEINSPECT_TEST_PG_URL:-}" ] || exec scripts/with-postgres.sh "$PWD/scripts/test.sh" "$@"
race=(./storage/ ./server/ ./pipeline/ ./signaling/)
mapfile -t rest < <($go list ./... | grep -v -e '/storage$' -e '/server$' -e '/pipeline$' -e '/signaling$')
# PostgreSQL (scripts/with-postgres.sh) for every pass: the
# tests that compare the two databases run in the first pass, copy-db and
# the two-server test in the last. The second pass runs the storage, server
# and pipeline packages again with PostgreSQL as their database, storage
# with -race beside the other two without it (the first pass raced them):
# ~41 s where storage alone took ~32 s (measured on the shared 2 cores).
$go test -race -count=1 -timeout 20m "${race[@]}"; a=$?
export SITEINSPECT_TEST_DB=postgres
$go test -race -count=1 -timeout 20m ./storage/ & s=$!
$go test -count=1 -timeout 20m ./server/ ./pipeline/; p=$?
wait $s; p=$((p | $?))
unset SITEINSPECT_TEST_DB
$go test -count=1 -timeout 20m "${rest[@]}"; b=$?
GO=$go scripts/fuzz.sh 3s; c=$?
exit $((a | p | b | c))
