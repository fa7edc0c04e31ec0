#!/usr/bin/env bash
# The whole suite, run by `make test` inside scripts/with-minio.sh. The race
# detector runs on the packages with concurrency of their own (upload
# engine, HTTP layer, job worker); the others mostly wait on ffmpeg, MinIO
# and Chromium, where it would only cost time. Both halves always run, and
# then every fuzz target for 3 s each (~40 s; `make fuzz` runs them longer).
set -uo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
race=(./storage/ ./server/ ./pipeline/ ./signaling/)
mapfile -t rest < <($go list ./... | grep -v -e '/storage$' -e '/server$' -e '/pipeline$' -e '/signaling$')
# PostgreSQL (scripts/with-postgres.sh) for the storage tests: those that
# compare the two databases run in the first pass, and then the whole
# storage package a second time with PostgreSQL as its database.
scripts/with-postgres.sh $go test -race -count=1 -timeout 20m "${race[@]}"; a=$?
SITEINSPECT_TEST_DB=postgres scripts/with-postgres.sh $go test -race -count=1 -timeout 20m ./storage/; p=$?
$go test -count=1 -timeout 20m "${rest[@]}"; b=$?
GO=$go scripts/fuzz.sh 3s; c=$?
exit $((a | p | b | c))
