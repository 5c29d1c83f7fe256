#pragma once
// How the CUDA forms hand a span of problems to one kernel launch: by value, as a kernel
// parameter, together with each problem's first block. A launch therefore needs no
// device-side descriptor buffer and no copy before it, so it stays a plain kernel node
// that a CUDA-graph capture can replay.
//
// Each block finds its problem by a binary search over the first-block offsets; the
// search is uniform across the block (every thread takes the same path), so it costs a
// few constant-cache reads and no divergence.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace gpu_tune::kernels::cuda_detail {

// Kernel parameters may take 32 KB on Volta and newer since CUDA 12.1, 4 KB before.
// 8 KB leaves headroom, holds about a hundred problems of any of our kinds (a bundle of
// 64 slots needs at most two launches per call), and the driver copies the parameter
// block with every launch, so a larger one would cost every small launch too.
inline constexpr size_t kKernelParameterBudget = 8 * 1024;

template <typename Descriptor>
inline constexpr int batch_capacity() {
  return static_cast<int>((kKernelParameterBudget - 64) / (sizeof(Descriptor) + sizeof(int)));
}

template <typename Descriptor>
struct ProblemBatch {
  static constexpr int kCapacity = batch_capacity<Descriptor>();
  int count = 0;
  int first_block[kCapacity + 1];  // first_block[count] = blocks in the launch
  Descriptor problems[kCapacity];
};

// The problem that owns `block`: first_block[p] <= block < first_block[p + 1]. Problems
// without blocks are never added, so the answer is unique.
template <typename Batch>
__device__ __forceinline__ int find_problem(const Batch& batch, int block) {
  int lo = 0, hi = batch.count;  // invariant: first_block[lo] <= block < first_block[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (batch.first_block[mid] <= block) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Fills batches on the host and launches each one when it is full (or at finish()).
// `launch(const Batch&)` issues the kernel for one batch.
template <typename Descriptor, typename Launch>
class BatchLauncher {
 public:
  using Batch = ProblemBatch<Descriptor>;
  explicit BatchLauncher(Launch launch) : launch_(launch) { batch_.count = 0; batch_.first_block[0] = 0; }

  // `blocks` blocks for this problem; a problem with none is skipped.
  void add(const Descriptor& descriptor, int64_t blocks, const char* op, size_t problem_index) {
    if (blocks <= 0) return;
    if (blocks > INT_MAX) {
      throw std::invalid_argument(std::string(op) + " problem " + std::to_string(problem_index) +
                                  ": too large for one launch (" + std::to_string(blocks) + " blocks)");
    }
    const int64_t total = batch_.first_block[batch_.count];
    if (batch_.count == Batch::kCapacity || total + blocks > INT_MAX) flush();
    batch_.problems[batch_.count] = descriptor;
    batch_.first_block[batch_.count + 1] = batch_.first_block[batch_.count] + static_cast<int>(blocks);
    batch_.count += 1;
  }

  void finish() { flush(); }

 private:
  void flush() {
    if (batch_.count > 0) launch_(batch_);
    batch_.count = 0;
    batch_.first_block[0] = 0;
  }

  Launch launch_;
  Batch batch_;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace gpu_tune::kernels::cuda_detail
