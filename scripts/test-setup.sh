#!/usr/bin/env bash
# Installs what the test suite checks fluxdump against: the system's archive tools
# (tar, bsdtar, cpio, unzip, xorriso, isoinfo, ...), python3-lz4 as the reference LZ4,
# and flux-core 0.88 under /opt/flux-core for the real-broker tests. `npm test` runs this
# first, and so does CI. The product itself needs none of it.
#
# As root with apt it installs what is missing; otherwise it prints exactly what to
# install and exits 1 before any test runs. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="sqlite3 libarchive-tools cpio xorriso genisoimage pigz pbzip2 python3-lz4 zip unzip xz-utils bzip2 gzip util-linux tar"
FLUX_PREFIX="${FLUX_CORE_PREFIX:-/opt/flux-core}"
# flux-core 0.88 built for Debian 12 x86_64, shipped beside the project (never in the package).
FLUX_INSTALLER="${FLUX_CORE_INSTALLER:-../shared/flux-core/install.sh}"

missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
can_apt=0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then can_apt=1; fi

if [ -n "$missing" ]; then
  if [ "$can_apt" = 1 ]; then
    echo "test-setup: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
  else
    echo "test-setup: the tests need these Debian packages:$missing" >&2
    echo "test-setup: install them (as root: apt-get install$missing), then run npm test again" >&2
    exit 1
  fi
fi

if ! "$FLUX_PREFIX/bin/flux" version >/dev/null 2>&1; then
  if [ -x "$FLUX_INSTALLER" ] && [ "$can_apt" = 1 ]; then
    bash "$FLUX_INSTALLER" >&2
  else
    echo "test-setup: the real-broker tests need flux-core 0.88 at $FLUX_PREFIX (or set FLUX_CORE_PREFIX)" >&2
    echo "test-setup: as root, run $FLUX_INSTALLER, or build flux-core 0.88 with ./configure --prefix=$FLUX_PREFIX" >&2
    exit 1
  fi
fi

# Both xz engines are tested: the native addon where npm skipped its binding (Node 20,
# below the bindings' engines range) is installed here; the WASM one always ships.
node scripts/xz-native.mjs >&2
