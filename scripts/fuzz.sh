#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang) in build-fuzz and runs each for a fixed time
# on a scratch copy of its committed corpus, so a run never grows fuzz/corpus/. Fails when
# any target finds a crash, leak, hang or sanitizer report; the input that did it is kept
# in build-fuzz/crashes/ (fuzz/README.md says how to turn it into a regression test).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
#   FUZZ_TARGETS="idx model_file" scripts/fuzz.sh 60   only these targets
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
build=build-fuzz

scripts/install-deps.sh --fuzz
if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPU_TUNE_CUDA=OFF \
    -DGPU_TUNE_FUZZ=ON -DGPU_TUNE_BUILD_TESTS=OFF -DGPU_TUNE_BUILD_BENCHMARKS=OFF >/dev/null
fi
nice cmake --build $build --target gpu_tune_fuzzers -j "$(nproc)"

targets=${FUZZ_TARGETS:-$(cd fuzz && ls ./*_fuzzer.cpp | sed 's|^\./||; s|_fuzzer\.cpp$||')}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p $build/crashes
# A sanitizer report stops the target with its stack; a second's worth of stuck input is a hang.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
printf '%-18s %10s %10s %8s %6s\n' target executions exec/s seconds cov
for target in $targets; do
  cp -r fuzz/corpus/$target "$scratch/$target"
  dict=()
  [[ -f fuzz/dictionaries/$target.dict ]] && dict=(-dict=fuzz/dictionaries/$target.dict)
  log=$scratch/$target.log
  start=$(date +%s)
  status=0
  $build/fuzz_$target -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$build/crashes/$target-" "$scratch/$target" >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-18s %10s %10s %8s %6s\n' "$target" "${runs:-?}" "${rate:-?}" "$elapsed" "${cov:-?}"
  if [[ $status -ne 0 ]]; then
    failed+=("$target")
    echo "--- fuzz_$target failed (exit $status); its log ends:" >&2
    tail -n 40 "$log" >&2
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${failed[*]} found a problem; the inputs are in $build/crashes/" >&2
  exit 1
fi
