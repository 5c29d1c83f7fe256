#include "engine/backend_factory.h"

#include <stdexcept>

#include "engine/cpu_backend.h"
#include "engine/gpu_query.h"
#ifdef GPU_TUNE_WITH_CUDA
#include "engine/cuda_backend.h"
#endif

namespace gpu_tune {

#ifndef GPU_TUNE_WITH_CUDA
GpuQuery query_gpus() { return {{}, "gpu_tune was built without CUDA"}; }
#endif

std::optional<BackendChoice> parse_backend_choice(std::string_view text) {
  if (text == "auto") return BackendChoice::kAuto;
  if (text == "cpu") return BackendChoice::kCpu;
  if (text == "cuda") return BackendChoice::kCuda;
  return std::nullopt;
}

std::optional<GemmLibrary> parse_gemm_library(std::string_view text) {
  if (text == "own") return GemmLibrary::kOwn;
  if (text == "cublas") return GemmLibrary::kCublas;
  return std::nullopt;
}

std::optional<ConvLibrary> parse_conv_library(std::string_view text) {
  if (text == "own") return ConvLibrary::kOwn;
  if (text == "cudnn") return ConvLibrary::kCudnn;
  return std::nullopt;
}

BackendSelection select_backend(BackendChoice choice, const BackendOptions& options) {
  BackendSelection selection;
  auto use_cpu = [&](const std::string& why) {
    if (options.gemm == GemmLibrary::kCublas)
      throw std::runtime_error("--gemm cublas needs the CUDA backend, but " + why);
    selection.backend = std::make_unique<CpuBackend>(options.precision);
    selection.notice = why + "; using the CPU backend (" + selection.backend->device_description() + ")";
    return std::move(selection);
  };
  if (choice == BackendChoice::kCpu) return use_cpu("--backend cpu");
  const GpuQuery gpus = query_gpus();
#ifdef GPU_TUNE_WITH_CUDA
  if (!gpus.devices.empty()) {
#ifndef GPU_TUNE_WITH_CUDNN
    // Not a reason to fall back to the CPU: the GPU is fine, the request cannot be met.
    if (options.conv == ConvLibrary::kCudnn)
      throw std::runtime_error("--conv cudnn: this build has no cuDNN (CMake did not find libcudnn with the CUDA toolkit)");
#endif
    try {
      selection.backend = std::make_unique<CudaBackend>(0, options);
      selection.notice = "using the CUDA backend on " + selection.backend->device_description();
      return selection;
    } catch (const std::runtime_error& e) {
      // A GPU that is listed but cannot be used (busy in exclusive mode, a driver fault):
      // auto falls back to the CPU saying why; an explicit --backend cuda fails.
      const std::string why = "GPU found (" + gpus.devices.front() + ") but unusable: " + e.what();
      if (choice == BackendChoice::kCuda) throw std::runtime_error("--backend cuda: " + why);
      return use_cpu(why);
    }
  }
  const std::string why = "no GPU (" + gpus.why_none + ")";
#else
  const std::string why = gpus.devices.empty() ? "no GPU (" + gpus.why_none + ")"
                                               : "GPU found (" + gpus.devices.front() + ") but this build has no CUDA backend";
#endif
  if (choice == BackendChoice::kCuda) throw std::runtime_error("--backend cuda: " + why);
  return use_cpu(why);
}

}  // namespace gpu_tune
