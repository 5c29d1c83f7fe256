#include "kernels/cpu_parallel.h"

#include <omp.h>

#include <mutex>

// OpenBLAS's thread control, looked up weakly so that another CBLAS links too.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace gpu_tune::kernels {

int cpu_thread_count() { return omp_get_max_threads(); }

void use_single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (openblas_set_num_threads != nullptr) openblas_set_num_threads(1);
  });
}

void parallel_for(int64_t count, const std::function<void(int64_t)>& body) {
  if (count == 1) {
    body(0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace gpu_tune::kernels
