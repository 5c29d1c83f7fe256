#pragma once
// GPU_TUNE_HD marks per-element math that the CPU reference and the CUDA kernels share,
// so the CPU tests exercise the very arithmetic the GPU runs.
#if defined(__CUDACC__)
#define GPU_TUNE_HD __host__ __device__ __forceinline__
#else
#define GPU_TUNE_HD inline
#endif
