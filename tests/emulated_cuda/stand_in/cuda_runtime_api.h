#pragma once
// A stand-in for the CUDA runtime that runs gpu_tune's CUDA code on the CPU, for the
// emulated-CUDA tests only. It emulates one GPU: every GPU thread of a block is a fiber,
// __syncthreads a barrier between them, blocks run one after another, device and pinned
// memory are host memory, every stream operation runs when it is issued (so streams are
// trivially in order), and stream capture records kernels and copies into a graph that a
// launch replays. It checks what a CPU can check of the kernels and of CudaBackend
// (indexing, tiling, bounds, barriers, run-time values, what a captured graph replays) and
// nothing of what only a GPU shows (speed, the memory model, real warps, asynchrony).
//
// Force-included (-include) before every emulated source, with the kernels' launches
// rewritten from kernel<<<grid, block, shared, stream>>>(args) to
// emulated_launch(stream, kernel, grid, block, args) by rewrite_launches.cmake.
#include <ucontext.h>  // getcontext, makecontext, swapcontext: the fibers of a block

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// ---- errors ----------------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidDevice = 101,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorGraphExecUpdateFailure = 910,
};
inline const char* cudaGetErrorName(cudaError_t status) {
  switch (status) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorGraphExecUpdateFailure: return "cudaErrorGraphExecUpdateFailure";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t status) { return cudaGetErrorName(status); }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

// ---- the device ------------------------------------------------------------------------
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
  int multiProcessorCount;
};
inline constexpr size_t kEmulatedMemory = size_t(64) << 30;
inline cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  *props = {};
  std::strcpy(props->name, "Emulated GPU (CPU stand-in)");
  props->major = 9;
  props->minor = 0;
  props->totalGlobalMem = kEmulatedMemory;
  props->multiProcessorCount = 1;
  return cudaSuccess;
}

// ---- memory ----------------------------------------------------------------------------
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
inline cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  *pointer = bytes > kEmulatedMemory ? nullptr : std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  return *pointer != nullptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* pointer) {
  std::free(pointer);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** pointer, size_t bytes) { return cudaMalloc(pointer, bytes); }
inline constexpr unsigned cudaHostAllocDefault = 0;
inline cudaError_t cudaHostAlloc(void** pointer, size_t bytes, unsigned) { return cudaMalloc(pointer, bytes); }
inline cudaError_t cudaFreeHost(void* pointer) { return cudaFree(pointer); }
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = *total_bytes = kEmulatedMemory;
  return cudaSuccess;
}

// ---- streams, capture and graphs ---------------------------------------------------------
enum cudaStreamCaptureStatus { cudaStreamCaptureStatusNone = 0, cudaStreamCaptureStatusActive = 1 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1 };
inline constexpr unsigned cudaStreamNonBlocking = 1;
using EmulatedOperation = std::function<void()>;
struct CUstream_st {
  bool capturing = false;
  std::vector<EmulatedOperation> captured;
};
struct CUgraph_st {
  std::vector<EmulatedOperation> nodes;
};
struct CUgraphExec_st {
  std::vector<EmulatedOperation> nodes;
};
struct CUevent_st {};
typedef CUstream_st* cudaStream_t;
typedef CUgraph_st* cudaGraph_t;
typedef CUgraphExec_st* cudaGraphExec_t;
typedef CUevent_st* cudaEvent_t;
struct cudaGraphExecUpdateResultInfo {
  int result;
};
inline constexpr unsigned cudaEventDisableTiming = 2;

// Runs `operation` now, or records it when `stream` is being captured.
inline void emulated_issue(cudaStream_t stream, EmulatedOperation operation) {
  if (stream != nullptr && stream->capturing) {
    stream->captured.push_back(std::move(operation));
  } else {
    operation();
  }
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  *stream = new CUstream_st;
  return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
// Waiting for a stream that is being captured would end the capture on a GPU.
inline cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return stream != nullptr && stream->capturing ? cudaErrorStreamCaptureInvalidated : cudaSuccess;
}
inline cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status = stream != nullptr && stream->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
inline cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (stream == nullptr || stream->capturing) return cudaErrorInvalidValue;
  stream->capturing = true;
  stream->captured.clear();
  return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (stream == nullptr || !stream->capturing) return cudaErrorInvalidValue;
  stream->capturing = false;
  *graph = new CUgraph_st{std::move(stream->captured)};
  stream->captured.clear();
  return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  *exec = new CUgraphExec_st{graph->nodes};
  return cudaSuccess;
}
// As on a GPU, only a graph of the same shape can replace an executable graph's nodes.
inline cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph, cudaGraphExecUpdateResultInfo* info) {
  if (exec->nodes.size() != graph->nodes.size()) {
    if (info != nullptr) info->result = 1;
    return cudaErrorGraphExecUpdateFailure;
  }
  exec->nodes = graph->nodes;
  if (info != nullptr) info->result = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (stream != nullptr && stream->capturing) return cudaErrorInvalidValue;
  for (const EmulatedOperation& node : exec->nodes) node();
  return cudaSuccess;
}

// Copies read their source when they run: recorded into a graph, when the graph replays.
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  emulated_issue(stream, [=] { std::memcpy(dst, src, bytes); });
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  emulated_issue(stream, [=] { std::memset(dst, value, bytes); });
  return cudaSuccess;
}

// Events order nothing here: every operation has finished when it returns or replays.
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  *event = new CUevent_st;
  return cudaSuccess;
}
inline cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t stream) {
  return stream != nullptr && stream->capturing ? cudaErrorStreamCaptureInvalidated : cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

// ---- kernels ----------------------------------------------------------------------------
// A block's threads are fibers (ucontext) on the calling thread: each runs until it
// reaches __syncthreads or returns, then the next one runs; once every live thread of the
// block has arrived, they all go on. A thread that has returned takes no part in later
// barriers, as on a GPU. Live threads waiting at different __syncthreads calls (a barrier
// in divergent code, undefined on a GPU) throw, as compute-sanitizer's synccheck reports
// them. One OS thread, so the emulation is deterministic and cheap.
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct float4 {
  float x, y, z, w;
};
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

struct EmulatedBlock {
  static constexpr size_t kStackBytes = 64 * 1024;
  ucontext_t scheduler{};
  std::vector<ucontext_t> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;  // kept from launch to launch, never cleared
  std::vector<bool> finished;
  std::vector<const char*> barrier_file;  // where each waiting thread called __syncthreads
  std::vector<int> barrier_line;
  unsigned running = 0;
  const std::function<void()>* body = nullptr;
};
inline thread_local EmulatedBlock* emulated_block = nullptr;

inline void emulated_fiber_entry() {
  (*emulated_block->body)();
  emulated_block->finished[emulated_block->running] = true;
  // Returning ends the fiber and resumes uc_link, the scheduler.
}

inline void emulated_syncthreads(const char* file, int line) {
  EmulatedBlock& block = *emulated_block;
  block.barrier_file[block.running] = file;
  block.barrier_line[block.running] = line;
  swapcontext(&block.fibers[block.running], &block.scheduler);
}
#define __syncthreads() emulated_syncthreads(__FILE__, __LINE__)

inline void emulated_run_block(EmulatedBlock& block, unsigned threads, const std::function<void()>& body) {
  block.fibers.resize(threads);
  while (block.stacks.size() < threads) block.stacks.emplace_back(new char[EmulatedBlock::kStackBytes]);
  block.finished.assign(threads, false);
  block.barrier_file.assign(threads, nullptr);
  block.barrier_line.assign(threads, 0);
  block.body = &body;
  for (unsigned t = 0; t < threads; ++t) {
    getcontext(&block.fibers[t]);
    block.fibers[t].uc_stack.ss_sp = block.stacks[t].get();
    block.fibers[t].uc_stack.ss_size = EmulatedBlock::kStackBytes;
    block.fibers[t].uc_link = &block.scheduler;
    makecontext(&block.fibers[t], emulated_fiber_entry, 0);
  }
  // One round per barrier phase: every live thread runs to the barrier or to its end.
  for (bool live = true; live;) {
    live = false;
    int waiting = -1;  // the first thread found waiting at a barrier this round
    for (unsigned t = 0; t < threads; ++t) {
      if (block.finished[t]) continue;
      block.running = t;
      threadIdx = dim3(t);
      swapcontext(&block.scheduler, &block.fibers[t]);
      if (block.finished[t]) continue;
      live = true;
      if (waiting < 0) {
        waiting = static_cast<int>(t);
      } else if (block.barrier_line[t] != block.barrier_line[waiting] ||
                 std::strcmp(block.barrier_file[t], block.barrier_file[waiting]) != 0) {
        throw std::logic_error(std::string("divergent __syncthreads in block ") + std::to_string(blockIdx.x) +
                               ": thread " + std::to_string(waiting) + " waits at " + block.barrier_file[waiting] +
                               ":" + std::to_string(block.barrier_line[waiting]) + ", thread " + std::to_string(t) +
                               " at " + block.barrier_file[t] + ":" + std::to_string(block.barrier_line[t]));
      }
    }
  }
}

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
void emulated_run(Kernel kernel, dim3 grid, dim3 block, const Args&... args) {
  static thread_local EmulatedBlock state;  // kernels launch no kernels: one at a time per thread
  emulated_block = &state;
  const std::function<void()> body = [&] { kernel(args...); };
  blockDim = block;
  gridDim = grid;
  for (unsigned b = 0; b < grid.x; ++b) {
    blockIdx = dim3(b);
    emulated_run_block(state, block.x, body);
  }
}

// A launch: the kernel's arguments are copied, as the real launch copies its parameters.
template <typename Kernel, typename... Args>
void emulated_launch(cudaStream_t stream, Kernel kernel, dim3 grid, dim3 block, const Args&... args) {
  emulated_issue(stream, [=] { emulated_run(kernel, grid, block, args...); });
}
