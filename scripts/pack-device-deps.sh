#!/usr/bin/env bash
# Packs, on a Debian machine with scripts/install-deps.sh done, what a GPU machine needs to
# build and test gpu_tune but lacks: the headers, CMake package files and libraries of the
# -dev packages, and the Fashion-MNIST files. The GPU machine has the CUDA toolkit, CMake,
# ninja and a C++ compiler, but none of Debian's -dev packages. (Not libpq: its dependencies
# would not fit; scripts/device-check.sh builds without PostgreSQL storage.)
#
# Result, in .device/ (git-ignored):
#   deps.tar.gz          a usr/ tree in Debian's layout (include/, lib/x86_64-linux-gnu/,
#                        share/cmake/); scripts/device-check.sh unpacks it into its build folder
#   data/fashion-mnist/  the four IDX files, for $GPU_TUNE_DATA
#   echarts/             the charting library the build embeds in `gpu_tune report`
#   MANIFEST.txt         package versions, and the compiler and C library they were built
#                        with (the first suspects when linking fails on the GPU machine)
#
# Shared libraries rather than static ones where the static one is big (OpenBLAS: 58 MB
# static, 37 MB shared, 11 MB gzipped), found at run time through LD_LIBRARY_PATH. The
# whole folder must stay under 60 MiB, the budget for files carried to the GPU machine.
#
#   scripts/pack-device-deps.sh [OUTPUT_DIR]     (default: .device in the repository)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/.device}
limit_mib=60
arch=x86_64-linux-gnu
lib=/usr/lib/$arch

packages=(libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-cpp0.7
          libsqlite3-dev libsqlite3-0 zlib1g-dev zlib1g libopenblas-pthread-dev libopenblas0-pthread
          libgfortran5 libquadmath0 dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "pack-device-deps: missing packages: ${missing[*]} (run scripts/install-deps.sh first)" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/usr

# put SOURCE [DEST]: copies a file (symlinks resolved) or a folder to DEST under the
# staged usr/ tree; DEST defaults to SOURCE's own path below /usr.
put() {
  local src=$1 dest=${2:-${1#/usr/}}
  [[ -e $src ]] || { echo "pack-device-deps: $src not found" >&2; exit 1; }
  mkdir -p "$(dirname "$root/$dest")"
  cp -RL "$src" "$root/$dest"
}
# link NAME TARGET: a relative symlink in the staged library folder, as the -dev and
# runtime packages make them (a copy would cost the same bytes twice in the archive).
link() { ln -sfn "$2" "$root/lib/$arch/$1"; }

# Headers.
for dir in gtest gmock CLI nlohmann yaml-cpp; do put /usr/include/$dir; done
for header in sqlite3.h sqlite3ext.h zlib.h zconf.h; do put /usr/include/$header; done
for header in cblas.h openblas_config.h f77blas.h; do put /usr/include/$arch/openblas-pthread/$header; done

# CMake package files; all of them locate their prefix relative to themselves.
put $lib/cmake/GTest
put $lib/cmake/yaml-cpp
put /usr/share/cmake/CLI11
put /usr/share/cmake/nlohmann_json

# GoogleTest is small as a static library, and only the tests link it.
for a in libgtest.a libgtest_main.a libgmock.a libgmock_main.a; do put $lib/$a; done

# Shared libraries, each under its real name with the usual links.
put $lib/libyaml-cpp.so.0.7.0
link libyaml-cpp.so.0.7 libyaml-cpp.so.0.7.0
link libyaml-cpp.so libyaml-cpp.so.0.7
put $lib/libsqlite3.so.0.8.6
link libsqlite3.so.0 libsqlite3.so.0.8.6
link libsqlite3.so libsqlite3.so.0
put $lib/libz.so.1.2.13
link libz.so.1 libz.so.1.2.13
link libz.so libz.so.1
# Debian reaches OpenBLAS through its alternatives system; here the pthread build sits
# directly where FindBLAS looks for libopenblas.so.
put $lib/openblas-pthread/libopenblas.so.0 lib/$arch/libopenblas.so.0
link libopenblas.so libopenblas.so.0
put $lib/libgfortran.so.5.0.0
link libgfortran.so.5 libgfortran.so.5.0.0
put $lib/libquadmath.so.0.0.0
link libquadmath.so.0 libquadmath.so.0.0.0

rm -rf "$out"
mkdir -p "$out/data"
tar -czf "$out/deps.tar.gz" -C "$stage" usr
cp -R /usr/share/datasets/fashion-mnist "$out/data/fashion-mnist"
# The charting library `gpu_tune report` embeds (from npm, report/package-lock.json).
echarts=$repo/report/node_modules/echarts
[[ -f $echarts/dist/echarts.min.js ]] || { echo "pack-device-deps: $echarts is missing (run scripts/install-deps.sh)" >&2; exit 1; }
mkdir -p "$out/echarts/dist"
cp "$echarts/dist/echarts.min.js" "$out/echarts/dist/"
cp "$echarts/package.json" "$out/echarts/"

{
  echo "Packed by scripts/pack-device-deps.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "C library: $(ldd --version | head -1)"
  echo "C++ compiler: $(c++ --version | head -1)"
  echo
  dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}"
  echo
  echo "deps.tar.gz:"
  tar -tzvf "$out/deps.tar.gz" | awk '$3 > 100000 {print "  " $6 " " $3 " bytes"}'
} > "$out/MANIFEST.txt"

size_kib=$(du -sk "$out" | cut -f1)
echo "pack-device-deps: $out holds $((size_kib / 1024)) MiB ($(du -sh "$out/deps.tar.gz" | cut -f1) libraries and headers, $(du -sh "$out/data" | cut -f1) data)"
if (( size_kib > limit_mib * 1024 )); then
  echo "pack-device-deps: over the ${limit_mib} MiB budget" >&2
  exit 1
fi
