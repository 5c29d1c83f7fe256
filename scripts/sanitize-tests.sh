#!/usr/bin/env bash
# The test suites under the compilers' sanitizers, on any machine (no GPU needed):
#   asan  AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer: every CPU and
#         emulated-CUDA test, gpu_tune itself included where the tests run it (build-asan/)
#   tsan  ThreadSanitizer: the suites whose code runs threads of its own: storage and its
#         writer thread, the study service with several workers and its heartbeat, the
#         command objective (build-tsan/)
# Any report fails the run.
#   scripts/sanitize-tests.sh [asan|tsan|all]      (default all; run scripts/install-deps.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
jobs=${JOBS:-$(nproc)}

configure() {  # configure FOLDER SANITIZERS
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPU_TUNE_CUDA=OFF \
    -DGPU_TUNE_SANITIZE="$2" -DGPU_TUNE_BUILD_BENCHMARKS=OFF >/dev/null
}

run_asan() {
  echo "sanitize-tests: AddressSanitizer + UndefinedBehaviorSanitizer, every CPU and emulated test"
  configure build-asan address,undefined
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 GPU_TUNE_TEST_TIME_SCALE=10 \
    ctest --test-dir build-asan --output-on-failure --timeout 3600 -j "$jobs"
}

run_tsan() {
  echo "sanitize-tests: ThreadSanitizer, the threaded search suites"
  configure build-tsan thread
  cmake --build build-tsan -j "$jobs" --target search_tests
  # The suites with threads of their own; the rest of search_tests is single-threaded.
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 GPU_TUNE_TEST_TIME_SCALE=10 \
    ctest --test-dir build-tsan --output-on-failure --timeout 3600 \
      -R '^(StudyService|StudyServiceOwnership|StorageWriter|StorageTest|SqliteStorage|SqliteOwnership|MemoryStorageConcurrency|PostgresStorage|SuggestionQueue|CommandObjective|ChildProcess|StudyRunner)'
}

case "$which" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "sanitize-tests: unknown '$which' (asan, tsan or all)" >&2; exit 2 ;;
esac
