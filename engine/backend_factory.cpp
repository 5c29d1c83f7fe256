#include "engine/backend_factory.h"

#include <stdexcept>

#include "engine/cpu_backend.h"
#include "engine/gpu_query.h"

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

BackendSelection select_backend(BackendChoice choice) {
  BackendSelection selection;
  auto use_cpu = [&](const std::string& why) {
    selection.backend = std::make_unique<CpuBackend>();
    selection.notice = why + "; using the CPU backend (" + selection.backend->device_description() + ")";
    return std::move(selection);
  };
  if (choice == BackendChoice::kCpu) return use_cpu("--backend cpu");
  const GpuQuery gpus = query_gpus();
  // The CUDA backend itself is not part of this build yet: a GPU is reported, not used.
  const std::string why = gpus.devices.empty() ? "no GPU (" + gpus.why_none + ")"
                                               : "GPU found (" + gpus.devices.front() + ") but this build has no CUDA backend";
  if (choice == BackendChoice::kCuda) throw std::runtime_error("--backend cuda: " + why);
  return use_cpu(why);
}

}  // namespace gpu_tune
