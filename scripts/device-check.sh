#!/usr/bin/env bash
# The GPU check: builds gpu_tune on a GPU machine and runs the CUDA tests beside the CPU
# suites, then the CUDA tests' short cases under compute-sanitizer, then (with --bench) the
# benchmarks beside cuBLAS and PyTorch, and prints a summary table last.
#
# The GPU machine has the CUDA toolkit, CMake, ninja and a C++ compiler but none of
# Debian's -dev packages: scripts/pack-device-deps.sh packs those (and the data) into
# .device/ on a Debian machine first, and .device/ travels with the checkout. A build
# folder cannot travel instead: 'native' CUDA architectures are those of the GPU at hand.
#
#   scripts/device-check.sh [--build-dir DIR] [--jobs N] [--arch ARCHS] [--sync-check]
#                           [--cuda-only] [--skip-sanitizers] [--skip-tests] [--bench]
#
# --bench also builds and runs benchmarks/grouped_gemm_benchmark (against cuBLAS),
# benchmarks/bundle_throughput in fp32 and tf32 (S = 1, 8, 64, 256, and without CUDA
# graphs at small S), cnn_small with our convolution and with cuDNN's (--conv own|cudnn,
# S = 8, 64, 256) and, where PyTorch sees the GPU, benchmarks/pytorch_gpu_engine.py
# in fp32 and tf32; results go to the logs folder and, when $OUT is set, are copied there.
# One build serves tests and benchmarks: GPU time is scarce.
# --arch defaults to 'native' when nvidia-smi sees a GPU, else 90 (so the script also
# builds, and the CUDA tests skip, on a machine without one). --sync-check builds with
# GPU_TUNE_CUDA_SYNC_CHECK (a synchronisation after every launch, so a failing kernel is
# named at its own launch; compute-sanitizer names it anyway); it distorts every timing,
# so --bench refuses it. Exit status: 0 when every step passed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build-device
jobs=$(nproc)
arch=""
sync_check=OFF
cuda_only=0
sanitizers=1
tests=1
bench=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --sync-check) sync_check=ON; shift ;;
    --cuda-only) cuda_only=1; shift ;;
    --skip-sanitizers) sanitizers=0; shift ;;
    --skip-tests) tests=0; sanitizers=0; shift ;;
    --bench) bench=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "device-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $bench -eq 1 && $sync_check == ON ]]; then
  echo "device-check: --sync-check distorts every timing; run --bench without it" >&2
  exit 2
fi

device=$repo/.device
# Unpacked beside the build rather than in .device/, which must stay small enough to carry.
deps=$build/device-deps
cuda_home=${CUDA_HOME:-/usr/local/cuda}
export PATH=$cuda_home/bin:$PATH
logs=$build/device-check-logs
mkdir -p "$logs"

summary=()
failed=0
# step NAME LOGFILE COMMAND...: runs COMMAND with its output in LOGFILE, records the result.
step() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  echo "== $name (log: ${log#"$repo"/})"
  "$@" >"$log" 2>&1
  local rc=$?
  local result=ok
  if [[ $rc -ne 0 ]]; then
    result="FAILED (exit $rc)"
    failed=1
    tail -n 40 "$log"
  fi
  summary+=("$(printf '%-34s %-26s %5ss' "$name" "$result" $((SECONDS - start)))")
  return $rc
}
skip() { summary+=("$(printf '%-34s %-26s %5s' "$1" "skipped: $2" -)"); }

print_summary() {
  echo
  echo "device-check summary ($(nvidia-smi -L 2>/dev/null | head -1 || echo 'no GPU visible'))"
  printf '%-34s %-26s %6s\n' step result time
  printf '%s\n' "${summary[@]}"
  if [[ -f $logs/ctest.log ]]; then
    echo
    grep -E "tests passed|tests failed" "$logs/ctest.log" || true
    grep -c '\*\*\*Skipped' "$logs/ctest.log" | sed 's/^/skipped cases: /'
    sed -n '/The following tests FAILED/,$p' "$logs/ctest.log"
  fi
  if [[ -f $logs/engine-table.md ]]; then
    echo
    cat "$logs/engine-table.md"
  fi
  [[ -f $logs/engine-conv-table.md ]] && { echo; cat "$logs/engine-conv-table.md"; }
  if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then
    cp -r "$logs" "$OUT/" 2>/dev/null || true
  fi
}
trap print_summary EXIT

# ---- dependencies ------------------------------------------------------------------------
if [[ ! -f $device/deps.tar.gz ]]; then
  echo "device-check: $device/deps.tar.gz is missing: run scripts/pack-device-deps.sh on a Debian machine" >&2
  exit 1
fi
if [[ ! -d $deps/usr || $device/deps.tar.gz -nt $deps/usr ]]; then
  rm -rf "$deps" && mkdir -p "$deps"
  step "unpack .device/deps.tar.gz" "$logs/unpack.log" tar -xzf "$device/deps.tar.gz" -C "$deps" || exit 1
  touch "$deps/usr"
fi
libdir=$deps/usr/lib/x86_64-linux-gnu
# The packed shared libraries (OpenBLAS, its Fortran runtime, yaml-cpp, SQLite, zlib) are
# found through LD_LIBRARY_PATH at link time (their own dependencies), when the build runs
# the test executables to list their cases, and when the tests run.
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[[ -d $device/data/fashion-mnist ]] && export GPU_TUNE_DATA=$device/data/fashion-mnist

for tool in cmake ninja nvcc c++; do
  command -v "$tool" >/dev/null || { echo "device-check: '$tool' not found on PATH" >&2; exit 1; }
done
if [[ -z $arch ]]; then
  if nvidia-smi -L >/dev/null 2>&1; then arch=native; else arch=90; fi
fi

# ---- configure and build -----------------------------------------------------------------
step "configure (arch $arch)" "$logs/configure.log" \
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGPU_TUNE_CUDA=ON -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu \
  -DGPU_TUNE_POSTGRES=OFF -DGPU_TUNE_ECHARTS_JS="$device/echarts/dist/echarts.min.js" \
  -DGPU_TUNE_BUILD_BENCHMARKS=$([[ $bench -eq 1 ]] && echo ON || echo OFF) \
  -DGPU_TUNE_CUDA_SYNC_CHECK=$sync_check || exit 1
# Where each dependency was found: all of them should be under .device/root.
grep -E "^(BLAS_openblas_LIBRARY|GPU_TUNE_CBLAS_INCLUDE_DIR|GTest_DIR|CLI11_DIR|nlohmann_json_DIR|yaml-cpp_DIR|SQLite3_LIBRARY|ZLIB_LIBRARY_RELEASE):" \
  "$build/CMakeCache.txt" | sed 's/^/  found: /'

targets=()
if [[ $tests -eq 1 ]]; then
  targets+=(cuda_tests)
  [[ $cuda_only -eq 0 ]] && targets+=(kernel_tests engine_tests)
fi
[[ $bench -eq 1 ]] && targets+=(grouped_gemm_benchmark bundle_throughput)
if [[ ${#targets[@]} -gt 0 ]]; then
  step "build (${#targets[@]} targets)" "$logs/build.log" cmake --build "$build" --target "${targets[@]}" -j "$jobs" || exit 1
fi

# ---- tests -------------------------------------------------------------------------------
# Suites that were not built are listed by ctest as *_NOT_BUILT; leave them out. CPU suites
# use every core through OpenMP, so only a few test processes run at once.
exclude='_NOT_BUILT$'
if [[ $tests -eq 0 ]]; then
  skip "ctest" "--skip-tests"
elif [[ $cuda_only -eq 1 ]]; then
  step "ctest cuda_tests" "$logs/ctest.log" \
    ctest --test-dir "$build" --output-on-failure -j 4 -E "$exclude" --timeout 600 -R 'Cuda|Cudnn|BackendChoice'
else
  step "ctest cuda+kernel+engine tests" "$logs/ctest.log" \
    ctest --test-dir "$build" --output-on-failure -j 4 -E "$exclude" --timeout 600
fi

# ---- compute-sanitizer -------------------------------------------------------------------
# Short cases that still reach every kernel with many problems, edges and several launches.
memcheck_cases='GroupedGemmCudaTest.ThirtySevenMixedProblemsInOneCall:GroupedGemmCudaTest.EmptyAndZeroKProblemsAmongOthers'
memcheck_cases+=':BiasActivationCudaTest.ForwardThirtySevenProblemsInOneCall:BiasActivationCudaTest.BackwardThirtySevenProblemsInOneCall'
memcheck_cases+=':SoftmaxCrossEntropyCudaTest.ThirtySevenProblemsInOneCall:OptimizerUpdateCudaTest.ThirtySevenSlotsInOneCall'
memcheck_cases+=':GatherBatchCudaTest.ThirtySevenSlotsInOneCall:BundleCudaTest.BestParametersSaveAndRestoreOnTheGpu'
memcheck_cases+=':GroupedGemmCudaTest.RunTimeSizesBelowTheBounds:BundleCudaTest.GraphReplayEqualsStepsIssuedAfresh'
memcheck_cases+=':Precisions/Conv2dCudaPrecisionTest.ManyShapesInOneCallMatchCpu/fp32:Conv2dCudaTest.RunTimeImagesBelowTheBound'
memcheck_cases+=':MaxPoolCudaTest.ManyShapesInOneCallMatchCpuBitForBit:MaxPoolCudaTest.RunTimeImagesBelowTheBound'
memcheck_cases+=':Precisions/CudnnConv2dPrecisionTest.ManyShapesInOneCallMatchCpu/fp32:CudnnConv2dTest.RunTimeImagesBelowTheBound'
# Racecheck follows every shared-memory access, so fewer and smaller cases: the kernels
# that use shared memory (GEMM and convolution tiles, bias-gradient partials, softmax sums).
racecheck_cases='GroupedGemmCudaTest.EmptyAndZeroKProblemsAmongOthers:BiasActivationCudaTest.BackwardWithoutRowsWritesZeroBiasGradient'
racecheck_cases+=':SoftmaxCrossEntropyCudaTest.SumsAreDeterministic:GroupedGemmCudaTest.ThirtySevenMixedProblemsInOneCallTf32'
racecheck_cases+=':Conv2dCudaTest.NoImagesWritesZeroWeightGradient'

sanitizer=$(command -v compute-sanitizer || true)
[[ -z $sanitizer && -x $cuda_home/compute-sanitizer/compute-sanitizer ]] && sanitizer=$cuda_home/compute-sanitizer/compute-sanitizer
if [[ $sanitizers -eq 0 ]]; then
  skip "compute-sanitizer" "$([[ $tests -eq 0 ]] && echo --skip-tests || echo --skip-sanitizers)"
elif [[ -z $sanitizer ]]; then
  skip "compute-sanitizer" "not found"
elif ! nvidia-smi -L >/dev/null 2>&1; then
  skip "compute-sanitizer" "no GPU"
else
  step "memcheck (16 cases)" "$logs/memcheck.log" \
    timeout 600 "$sanitizer" --tool memcheck --error-exitcode 99 \
    "$build/tests/cuda_tests" --gtest_filter="$memcheck_cases"
  step "racecheck (5 cases)" "$logs/racecheck.log" \
    timeout 600 "$sanitizer" --tool racecheck --error-exitcode 99 \
    "$build/tests/cuda_tests" --gtest_filter="$racecheck_cases"
fi

# ---- benchmarks --------------------------------------------------------------------------
if [[ $bench -eq 1 ]]; then
  bench_build=$build
  rm -f "$logs"/*.jsonl "$logs/engine-conv-table.md"  # results of this run only
  step "grouped GEMM vs cuBLAS" "$logs/grouped-gemm.log" \
    sh -c "timeout 300 '$bench_build/benchmarks/grouped_gemm_benchmark' > '$logs/grouped-gemm.jsonl'"
  for precision in fp32 tf32; do
    step "engine ($precision, S=1..256)" "$logs/engine-$precision.log" \
      sh -c "timeout 300 '$bench_build/benchmarks/bundle_throughput' --backend cuda --precision $precision \
             --model mlp_small,mlp_medium,mlp_large --slots 1,8,64,256 --steps 100 --warmup 20 --repeats 3 \
             >> '$logs/engine.jsonl'"
  done
  # Batch 64 is memory-bound by the optimizer's traffic (see RESULTS.md); batch 256 less so.
  step "engine (tf32, batch 256)" "$logs/engine-batch256.log" \
    sh -c "timeout 300 '$bench_build/benchmarks/bundle_throughput' --backend cuda --precision tf32 --batch 256 \
           --model mlp_medium --slots 8,64,256 --steps 50 --warmup 10 --repeats 3 >> '$logs/engine.jsonl'"
  # What replaying the step as a CUDA graph gains, where launches matter most (small S).
  step "engine (fp32, no CUDA graphs)" "$logs/engine-no-graphs.log" \
    sh -c "timeout 300 '$bench_build/benchmarks/bundle_throughput' --backend cuda --no-cuda-graphs \
           --model mlp_small,mlp_medium --slots 1,8,64 --steps 100 --warmup 20 --repeats 3 >> '$logs/engine.jsonl'"
  # Our convolution (steps replayed as CUDA graphs) against cuDNN's (steps issued afresh:
  # cuDNN takes sizes on the host), in a file and table of their own.
  for conv in own cudnn; do
    step "engine (cnn_small, conv $conv)" "$logs/engine-conv-$conv.log" \
      sh -c "timeout 300 '$bench_build/benchmarks/bundle_throughput' --backend cuda --conv $conv \
             --model cnn_small --slots 8,64,256 --steps 20 --warmup 5 --repeats 3 >> '$logs/engine-conv.jsonl'"
  done
  [[ -s $logs/engine-conv.jsonl ]] && python3 -c '
import json, sys
print("| model | S | conv | replayed steps | samples/s |\n| --- | --- | --- | --- | --- |")
for r in map(json.loads, open(sys.argv[1])):
    print("| {model} | {slots} | {conv} | {replayed_steps} | {samples_per_second:,.0f} |".format(**r))
' "$logs/engine-conv.jsonl" > "$logs/engine-conv-table.md" 2>&1
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    for flag in "" --tf32; do
      step "PyTorch sequential+vmap ${flag:-fp32}" "$logs/pytorch${flag}.log" \
        sh -c "timeout 300 python3 '$repo/benchmarks/pytorch_gpu_engine.py' $flag >> '$logs/pytorch.jsonl'"
    done
  else
    skip "PyTorch comparison" "no PyTorch with CUDA"
  fi
  python3 "$repo/benchmarks/summarize_gpu_benchmark.py" "$logs/engine.jsonl" \
    $([[ -s $logs/pytorch.jsonl ]] && echo "$logs/pytorch.jsonl") > "$logs/engine-table.md" 2>&1
fi

exit $failed
