#include "kernels/cpu_parallel.h"

#include <omp.h>

#include <mutex>

#include "kernels/cpu_float_mode.h"

// OpenBLAS's thread control, looked up weakly so that another CBLAS links too.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace gpu_tune::kernels {

namespace {

// How many parallel_for bodies this thread is inside. A CPU form called from one (a
// convolution chunk's GEMM) runs on that thread alone, whether the parallel_for had one
// body, run inline, or many, run by OpenMP: the same split either way, so the same bits.
thread_local int bodies_entered = 0;

struct InsideBody {
  InsideBody() { ++bodies_entered; }
  ~InsideBody() { --bodies_entered; }
  InsideBody(const InsideBody&) = delete;
  InsideBody& operator=(const InsideBody&) = delete;
};

}  // namespace

bool inside_parallel_body() { return bodies_entered > 0; }

int cpu_thread_count() { return inside_parallel_body() ? 1 : omp_get_max_threads(); }

void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (openblas_set_num_threads != nullptr) openblas_set_num_threads(1);
  });
}

void parallel_for(int64_t count, const std::function<void(int64_t)>& body) {
  if (count == 1) {
    const InsideBody inside;
    const FlushSubnormalsToZero flush;
    body(0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < count; ++i) {
    const InsideBody inside;
    const FlushSubnormalsToZero flush;  // per body: OpenMP's threads keep their own mode
    body(i);
  }
}

}  // namespace gpu_tune::kernels
