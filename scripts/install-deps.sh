#!/usr/bin/env bash
# Installs every Debian package that gpu_tune's build, tests and data need.
# Idempotent and quiet when everything is already present.
#   scripts/install-deps.sh            build, test and data packages
#   scripts/install-deps.sh --bench    also the PyTorch comparison packages
#   scripts/install-deps.sh --fuzz     also clang, libFuzzer and clang's OpenMP (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential make cmake ninja-build pkg-config
  libcli11-dev libgtest-dev libgmock-dev
  libyaml-cpp-dev libsqlite3-dev zlib1g-dev libopenblas-dev nlohmann-json3-dev
  libpq-dev postgresql  # PostgreSQL storage; the tests start a throw-away server of their own
  dataset-fashion-mnist
  python3 python3-optuna  # a test loads the Optuna journal export with Optuna itself
  chromium  # a test opens the page `gpu_tune report` writes in headless Chromium
)
# `gpu_tune report` embeds Apache ECharts, from npm (report/package-lock.json): Debian's node
# and npm only where none is on PATH, so that a newer one installed otherwise stays in charge.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-numpy python3-torch python3-psycopg2)  # psycopg2: Optuna on PostgreSQL
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  packages+=(clang libclang-rt-14-dev libomp-14-dev)  # libFuzzer and the sanitizers; OpenMP for clang
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; refresh them once if an install fails.
  if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The charting library the build embeds in gpu_tune, exactly as report/package-lock.json pins
# it; installed again only when the lock file is newer than what is installed.
report=$(cd "$(dirname "$0")/.." && pwd)/report
if [[ ! -d $report/node_modules || $report/package-lock.json -nt $report/node_modules ]]; then
  echo "install-deps: installing report/node_modules (npm ci)"
  (cd "$report" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$report/node_modules"  # the folder's time is what the next run compares
fi
