#pragma once
// Work splitting for the CPU forms. Results never depend on which other slots share a call,
// nor on the thread count: every split that decides how a sum is taken (a GEMM's pieces, a
// convolution's chunks and sum groups) is a function of the problem's own shape alone;
// only splits of work whose every element is computed the same way whatever its piece
// (element-wise work, whole columns' sums) follow the thread count. So a worker's threads
// may change between steps (apps/cpu_core_share.h) without changing a bit.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace gpu_tune::kernels {

// The CPU forms run the work when called, so they read the problems' run-time values
// (see run_time_value) up front; each problem type has with_run_time_values().
template <typename Problem>
std::vector<Problem> resolve_run_time_values(std::span<const Problem> problems) {
  std::vector<Problem> resolved;
  resolved.reserve(problems.size());
  for (const Problem& p : problems) resolved.push_back(with_run_time_values(p));
  return resolved;
}

// The threads a CPU form may use: 1 when called from inside a parallel_for body.
int cpu_thread_count();
// Whether the calling thread is inside a parallel_for body (for example a convolution
// chunk's GEMM): a fact of the calling code, the same whatever the thread count.
bool inside_parallel_body();

// Asks the BLAS library to run single-threaded: our own threads split the work, and a
// threaded sgemm inside them would oversubscribe the cores. Safe to call often.
void use_single_threaded_blas();

struct Range {
  int64_t begin = 0, end = 0;
};

// Part `part` of `parts` near-equal contiguous pieces of [0, n).
inline Range split_range(int64_t n, int64_t parts, int64_t part) {
  const int64_t base = n / parts, extra = n % parts;
  const int64_t begin = part * base + std::min(part, extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

// How many pieces to cut n units into: at most the thread count, and none smaller
// than min_units (work below that is not worth a thread).
inline int64_t piece_count(int64_t n, int64_t min_units, int threads) {
  return std::clamp<int64_t>(n / std::max<int64_t>(min_units, 1), 1, std::max(threads, 1));
}

// Runs body(i) for i in [0, count) across the CPU threads, dynamically scheduled, each
// body with subnormal floats flushed to zero (cpu_float_mode.h): a CPU form whose
// arithmetic runs in bodies needs nothing more; one that computes on the calling thread
// outside a body (the grouped GEMM's single-thread path) holds a FlushSubnormalsToZero.
void parallel_for(int64_t count, const std::function<void(int64_t)>& body);

}  // namespace gpu_tune::kernels
