#pragma once
// GPU_TUNE_HD marks per-element math that the CPU reference and the CUDA kernels share,
// so the CPU tests exercise the very arithmetic the GPU runs.
#if defined(__CUDACC__)
#define GPU_TUNE_HD __host__ __device__ __forceinline__
#else
#define GPU_TUNE_HD inline
#endif

namespace gpu_tune::kernels {

// Run-time values (see "dynamic" fields of the problems): a problem may name a value in
// the backend's memory that is read when the work runs, not when it is issued, so a
// captured training step replays with the next step's values. A size read this way is
// capped by the bound the work was sized for.
template <typename T>
GPU_TUNE_HD T run_time_value(const T* dynamic, T fixed) {
  return dynamic != nullptr ? *dynamic : fixed;
}
template <typename T>
GPU_TUNE_HD T run_time_size(const T* dynamic, T bound) {
  return dynamic != nullptr && *dynamic < bound ? *dynamic : bound;
}

}  // namespace gpu_tune::kernels
