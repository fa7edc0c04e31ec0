#!/usr/bin/env bash
# Installs the system tools siteinspect needs, or says clearly what is missing.
#   scripts/deps.sh run    the media tools the server runs
#   scripts/deps.sh test   those, plus chromium and node/npm for tests, and MinIO in bin/
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# Media tools: ffmpeg for video, poppler for PDFs, exiftool for photo
# metadata, heif-convert for iPhone photos, prlimit to bound them all.
want=(ffmpeg:ffmpeg ffprobe:ffmpeg pdftoppm:poppler-utils pdfinfo:poppler-utils exiftool:libimage-exiftool-perl
  heif-convert:libheif-examples prlimit:util-linux)
# Fonts for the inspection report: Chinese (Droid Sans Fallback) and Latin.
fonts=(/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf:fonts-droid-fallback
  /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core)
if [ "${1:-run}" = test ]; then
  want+=(chromium:chromium node:nodejs npm:npm heif-enc:libheif-examples)
  # Independent validators of the signed report (report/pades tests).
  want+=(pdfsig:poppler-utils openssl:openssl)
  # The load balancer in front of the cluster test's replicas.
  want+=(haproxy:haproxy)
  # PostgreSQL 15, which scripts/with-postgres.sh starts for the storage
  # tests (a file to look for, like the fonts: initdb is not on PATH).
  fonts+=(/usr/lib/postgresql/15/bin/initdb:postgresql-15)
fi

missing=()
for pair in "${want[@]}"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
for pair in "${fonts[@]}"; do
  [ -f "${pair%%:*}" ] || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing $pkgs(apt-get, about a minute)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "deps: missing $pkgs— install them with: sudo apt-get install -y $pkgs" >&2
    exit 1
  fi
fi

if [ "${1:-run}" = test ] && [ ! -x bin/minio ]; then
  echo "deps: building MinIO $MINIO_VERSION into bin/ (about 3 minutes, once)"
  GOBIN="$PWD/bin" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION"
fi

# The JavaScript clients the interop tests run (tus-js-client in Node,
# whip-whep in Chromium) and axe-core (which the accessibility test injects
# into pages), installed where those tests look for them (the
# OS temp folder, never the repo), so running the tests needs no registry.
# Keep the versions in step with tusJSVersion (e2e/tusjs_test.go),
# whipWhepVersion (e2e/live_interop_test.go) and axeVersion (e2e/frontend_test.go).
if [ "${1:-run}" = test ]; then
  for spec in tus-js-client@4.3.1 whip-whep@1.2.0 axe-core@4.14.1; do
    name=${spec%@*} version=${spec##*@}
    dir="${TMPDIR:-/tmp}/siteinspect-$name-$version"
    if ! grep -qs "\"version\": \"$version\"" "$dir/node_modules/$name/package.json"; then
      echo "deps: installing $spec into $dir for the interop tests"
      work=$(mktemp -d "${TMPDIR:-/tmp}/siteinspect-$name-install-XXXXXX")
      if ! npm install --prefix "$work" --no-audit --no-fund --loglevel=error "$spec"; then
        rm -rf "$work"
        echo "deps: npm could not install $spec; the interop tests will fail without it" >&2
        exit 1
      fi
      rm -rf "$dir"
      mv "$work" "$dir"
    fi
  done
fi
