// Built only with the CUDA backend: asks the CUDA runtime for the visible GPUs.
#include <cuda_runtime_api.h>  // cudaGetDeviceCount, cudaGetDeviceProperties

#include "engine/gpu_query.h"

namespace gpu_tune {

GpuQuery query_gpus() {
  GpuQuery query;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    query.why_none = std::string("CUDA reports ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
    cudaGetLastError();  // clear the sticky error so later CUDA calls are not blamed for it
    return query;
  }
  for (int device = 0; device < count; ++device) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, device) != cudaSuccess) continue;
    query.devices.push_back(std::string(props.name) + " (sm_" + std::to_string(props.major) + std::to_string(props.minor) +
                            ", " + std::to_string(props.totalGlobalMem >> 30) + " GiB)");
  }
  if (query.devices.empty()) query.why_none = "CUDA sees no devices";
  return query;
}

}  // namespace gpu_tune
