#!/usr/bin/env bash
# Installs every Debian and npm package that building, testing and demoing
# Omnigate needs. Idempotent: a second run on a ready machine does nothing
# but check. Target: Debian 12 (bookworm), run as root (or with sudo).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

# What building the binaries needs; deploy/Dockerfile's build stage installs
# exactly this set (`setup-deps.sh --build-only`).
BUILD_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # clang and its libFuzzer runtime for the fuzz targets (make fuzz)
  clang libclang-rt-14-dev
  # libraries (DESIGN.md §2)
  librdkafka-dev libboost1.81-all-dev libcurl4-openssl-dev libnghttp2-dev
  libssl-dev libspdlog-dev libfmt-dev libsimdjson-dev libyaml-cpp-dev
  libcli11-dev librocksdb-dev libhiredis-dev libgtest-dev libgmock-dev
  libbenchmark-dev libmimalloc-dev libcctz-dev
)

DEBIAN_PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # test peers nobody here wrote
  kcat redis-server python3-kafka curl
  # the zones the quiet-hours tests load: cctz reads /usr/share/zoneinfo, and
  # --no-install-recommends leaves out libcctz-dev's recommendation of it
  tzdata
  # benchmark plots (bench/report.py)
  python3-matplotlib
  # the dashboard's browser test (tests/e2e, driven by puppeteer-core)
  chromium
  # benchmark references
  kannel wrk nginx-light
  # static checks of the deploy kit (tests/deploy): promtool, docker-compose
  # config, systemd-analyze verify, YAML parsing
  prometheus docker-compose systemd python3-yaml
)

build_only=false
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  DEBIAN_PACKAGES=("${BUILD_PACKAGES[@]}")
fi

# Node.js and npm: the machine's own build is used when present (it conflicts
# with Debian's split npm package); otherwise Debian's.
if ! $build_only && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
  DEBIAN_PACKAGES+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup-deps: Debian packages present"
fi

# npm test peers live in tests/node (package.json + lockfile committed).
if ! $build_only && [ -f "$root/tests/node/package.json" ]; then
  if [ ! -d "$root/tests/node/node_modules" ] || \
     [ "$root/tests/node/package.json" -nt "$root/tests/node/node_modules/.stamp" ]; then
    echo "setup-deps: installing npm test peers"
    (cd "$root/tests/node" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  else
    echo "setup-deps: npm test peers present"
  fi
fi
