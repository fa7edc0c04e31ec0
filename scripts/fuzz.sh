#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzX in a package's fuzz_test.go)
# for the given time each: `scripts/fuzz.sh 3s` is a step of `make test`,
# `make fuzz` gives each 60 s. Go fuzzes one target per process, so they
# run one after another, from one instrumented test binary per package
# (linking it once instead of per target saves ~3 s a target). The run
# fails if any target fails; the input that failed is left in the
# package's testdata/fuzz/FuzzX/, where every later `go test` replays it.
set -uo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${1:-60s}
tmp=$(mktemp -d /tmp/siteinspect-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cache=$($go env GOCACHE)/fuzz
fail=0
for dir in $(find . -name fuzz_test.go -not -path './bin/*' -not -path './.git/*' -exec dirname {} \; | sort -u); do
  pkg=$($go list "$dir") && bin=$tmp/$(basename "$dir").test &&
    $go test -c -fuzz=. -o "$bin" "$dir" >"$tmp/log" 2>&1 || { echo "FAIL $dir: build"; cat "$tmp/log"; fail=1; continue; }
  for target in $(cd "$dir" && "$bin" -test.list '^Fuzz'); do
    start=$SECONDS
    for try in 1 2; do
      before=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | wc -l)
      # The test binary runs in its package's folder, as go test runs it.
      (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^$target\$" -test.fuzztime "$fuzztime" \
        -test.fuzzcachedir "$cache/$pkg" -test.timeout 30m) >"$tmp/log" 2>&1
      rc=$?
      after=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | wc -l)
      # Go 1.26's coordinator can fail a target at the end of -fuzztime
      # with a bare "context deadline exceeded" when a starved worker
      # answers late (go.dev/issue/75804, fixed in Go 1.27). Such a
      # failure writes no input; it is run once more, and a second
      # failure of any kind fails the run. A written input never retries.
      if [ $rc -ne 0 ] && [ $try = 1 ] && [ "$after" = "$before" ] &&
        grep -q '^    context deadline exceeded$' "$tmp/log" && ! grep -q 'panic:\|Failing input' "$tmp/log"; then
        echo "again $target $dir: a bare 'context deadline exceeded' with no input written (go.dev/issue/75804)"
        continue
      fi
      break
    done
    if [ $rc = 0 ]; then
      echo "ok   $target $dir ($((SECONDS - start)) s, $(grep -o 'execs: [0-9]*' "$tmp/log" | tail -1))"
    else
      echo "FAIL $target $dir"
      tail -n 40 "$tmp/log"
      fail=1
    fi
  done
done
exit $fail
