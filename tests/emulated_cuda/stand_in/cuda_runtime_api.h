#pragma once
// A stand-in for the CUDA runtime that runs gpu_tune's kernels on the CPU, for the
// emulated-CUDA tests only: every GPU thread of a block is a CPU thread, __syncthreads is
// a barrier, blocks run one after another, "device" memory is host memory. It checks
// what a CPU can check of a kernel (indexing, bounds, tiling, barriers, run-time values)
// and nothing of what only a GPU shows (speed, memory model, real warps).
//
// Force-included (-include) before every emulated source, with the kernels' launches
// rewritten from kernel<<<grid, block, shared, stream>>>(args) to
// emulated_launch(kernel, grid, block, args) by rewrite_launches.cmake.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

typedef struct CUstream_st* cudaStream_t;
enum cudaError_t { cudaSuccess = 0 };
enum cudaStreamCaptureStatus { cudaStreamCaptureStatusNone = 0 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaSuccess"; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamIsCapturing(cudaStream_t, cudaStreamCaptureStatus* status) {
  *status = cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float4 {
  float x, y, z, w;
};
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
inline thread_local std::barrier<>* emulated_block_barrier = nullptr;
inline void __syncthreads() { emulated_block_barrier->arrive_and_wait(); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
[[noreturn]] inline void __trap() { __builtin_trap(); }
using std::max;
using std::min;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
// One block runs at a time, so a function-static array is exactly one block's shared memory.
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

template <typename Kernel, typename... Args>
void emulated_launch(Kernel kernel, dim3 grid, dim3 block, const Args&... args) {
  for (unsigned b = 0; b < grid.x; ++b) {
    std::barrier<> barrier(static_cast<std::ptrdiff_t>(block.x));
    std::vector<std::thread> threads;
    threads.reserve(block.x);
    for (unsigned t = 0; t < block.x; ++t) {
      threads.emplace_back([&, b, t] {
        threadIdx = dim3(t);
        blockIdx = dim3(b);
        blockDim = block;
        gridDim = grid;
        emulated_block_barrier = &barrier;
        kernel(args...);
        barrier.arrive_and_drop();  // an exited thread takes no part in later barriers, as on a GPU
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
}
