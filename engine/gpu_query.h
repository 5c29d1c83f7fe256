#pragma once
// Which GPUs this process can use. No GPU is not an error: a machine with the CUDA
// toolkit but no driver reports cudaErrorInsufficientDriver, and that means "no GPU".
#include <string>
#include <vector>

namespace gpu_tune {

struct GpuQuery {
  std::vector<std::string> devices;  // "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"
  std::string why_none;              // set when devices is empty
};

GpuQuery query_gpus();

}  // namespace gpu_tune
