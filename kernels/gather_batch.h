#pragma once
// Minibatch gather: each slot copies its own rows (by its own shuffled indices) out of
// the dataset's uint8 images, converting to float as x = pixel * scale + shift, and
// gathers the matching labels.
#include <cstdint>
#include <span>

#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

struct GatherProblem {
  int rows = 0;
  int features = 0;                 // pixels per image
  const uint8_t* images = nullptr;  // dataset, features bytes per image
  const uint8_t* labels = nullptr;  // dataset labels, one byte per image
  const int32_t* indices = nullptr; // rows image indices into the dataset
  float scale = 1.0f / 255.0f;
  float shift = 0.0f;
  float* out = nullptr;             // rows x features
  int32_t* out_labels = nullptr;    // rows
  // Run-time values (see run_time_size): this step's rows (rows is the bound) and an
  // offset added to `indices` (a slot's position in its epoch order).
  const int32_t* dynamic_rows = nullptr;
  const int64_t* dynamic_index_offset = nullptr;
};

inline GatherProblem with_run_time_values(GatherProblem p) {
  p.rows = run_time_size(p.dynamic_rows, p.rows);
  p.indices += run_time_value(p.dynamic_index_offset, int64_t{0});
  p.dynamic_rows = nullptr;
  p.dynamic_index_offset = nullptr;
  return p;
}

void gather_batch_cpu(std::span<const GatherProblem> problems);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA form, asynchronous on `stream`, device pointers; the same bits as the CPU form.
void gather_batch_cuda(std::span<const GatherProblem> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
