# The two commands of the README: `make run` and `make test`.
GO ?= go
export GOFLAGS := -buildvcs=false

.PHONY: run test bench fuzz build minio deps-run deps-test check

## run: the service on the embedded default (SQLite + ./data), with demo users
run: deps-run
	$(GO) run . serve --demo

## test: the whole suite against a real MinIO, SQLite, PostgreSQL 15, ffmpeg and Chromium
test: deps-test check
	scripts/with-minio.sh scripts/test.sh

## bench: upload/download vs direct minio-go, media time to ready and to playable, annotation latency, live fan-out, the report of 100 frames; ends with one table of every figure against its target (docs/BENCHMARKS.md)
bench: deps-test
	scripts/with-minio.sh scripts/with-postgres.sh $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/

## fuzz: every Go fuzz target (fuzz_test.go: tus headers, JSON bodies, SDP, trickle ICE, room messages, the sniffer) for 60 s each
fuzz:
	GO=$(GO) scripts/fuzz.sh 60s

build:
	$(GO) build -o siteinspect .

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

minio: deps-test
