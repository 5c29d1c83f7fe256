#pragma once
// Shared by the CUDA tests: the skip when no GPU is present, and device buffers through
// the CUDA backend (so every test exercises its allocation and copies as well).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>  // cudaGetDeviceCount

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/cuda_backend.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune::cuda_test {

// Why the CUDA tests cannot run here, or nothing when a GPU is usable. Any failure of the
// query counts as "no GPU": without a driver CUDA reports cudaErrorInsufficientDriver.
inline std::optional<std::string> no_gpu_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::string("no GPU: CUDA reports ") + cudaGetErrorName(status);
  }
  if (count == 0) return std::string("no GPU: CUDA sees no devices");
  return std::nullopt;
}

// One backend per test process: creating a context per test would dominate the run time.
inline CudaBackend& backend() {
  static std::unique_ptr<CudaBackend> instance = std::make_unique<CudaBackend>(0);
  return *instance;
}

// First statement of every test that needs the GPU.
#define GPU_TUNE_REQUIRE_GPU()                                                        \
  do {                                                                                \
    if (const std::optional<std::string> why = ::gpu_tune::cuda_test::no_gpu_reason()) \
      GTEST_SKIP() << *why;                                                           \
  } while (0)

template <typename T>
DeviceArray<T> to_device(std::span<const T> host) {
  DeviceArray<T> array(backend(), std::max<size_t>(host.size(), 1));
  array.upload(host);
  return array;
}
template <typename T>
DeviceArray<T> to_device(const std::vector<T>& host) {
  return to_device(std::span<const T>(host));
}

// Values as doubles, the reference type of relative_l2_error.
inline std::vector<double> as_double(std::span<const float> values) { return {values.begin(), values.end()}; }

// Same bits in the same places where `a` is exactly zero (dropout masks, dead ReLUs).
inline size_t zero_pattern_mismatches(std::span<const float> a, std::span<const float> b) {
  size_t mismatches = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) mismatches += (a[i] == 0.0f) != (b[i] == 0.0f) ? 1 : 0;
  return mismatches + (a.size() > b.size() ? a.size() - b.size() : b.size() - a.size());
}

inline constexpr double kFp32Tolerance = 1e-5;

}  // namespace gpu_tune::cuda_test
