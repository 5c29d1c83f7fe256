#include "apps/tune_devices.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string_view>

#include "engine/backend_factory.h"
#include "engine/gpu_query.h"
#include "kernels/cpu_parallel.h"
#ifdef GPU_TUNE_WITH_CUDA
#include "engine/cuda_backend.h"
#endif

namespace gpu_tune::app {
namespace {

constexpr const char* kForms = "all, cpu, cpu:N or GPU numbers such as 0,2";

std::optional<int> parse_count(std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

std::vector<TuneDevice> open_cpu(const std::string& spec, const BackendOptions& options) {
  int workers = 1;
  if (spec != "cpu") {
    const std::optional<int> n = parse_count(std::string_view(spec).substr(4));
    if (!n || *n < 1) throw std::invalid_argument("--devices '" + spec + "': N in cpu:N must be a whole number, at least 1");
    workers = *n;
  }
  std::vector<TuneDevice> devices;
  for (int i = 0; i < workers; ++i) {
    TuneDevice device;
    // The factory, so the CPU's limits (no cuBLAS) are checked the one way.
    device.backend = select_backend(BackendChoice::kCpu, options).backend;
    if (spec == "cpu") {
      device.label = "cpu";
      device.description = device.backend->device_description();
    } else {
      device.label = "cpu:" + std::to_string(i);
      device.description = "CPU, 1 thread";
      device.cpu_threads = 1;
    }
    devices.push_back(std::move(device));
  }
  return devices;
}

TuneDevice open_gpu([[maybe_unused]] int ordinal, [[maybe_unused]] const BackendOptions& options) {
#ifdef GPU_TUNE_WITH_CUDA
  TuneDevice device;
  device.label = "cuda:" + std::to_string(ordinal);
  device.backend = std::make_unique<CudaBackend>(ordinal, options);
  device.description = device.backend->device_description();
  return device;
#else
  throw std::runtime_error("this build has no CUDA backend");
#endif
}

std::vector<TuneDevice> open_all(BackendChoice choice, const BackendOptions& options, std::ostream& log) {
  // GPU 0 (or the CPU) through the factory, which says why when there is no GPU.
  BackendSelection first = select_backend(choice, options);
  log << "gpu_tune: " << first.notice << "\n";
  std::vector<TuneDevice> devices(1);
  devices[0].backend = std::move(first.backend);
  devices[0].description = devices[0].backend->device_description();
  if (devices[0].backend->name() == "cpu") {
    devices[0].label = "cpu";
    return devices;
  }
  devices[0].label = "cuda:0";
  const GpuQuery gpus = query_gpus();
  for (int ordinal = 1; ordinal < static_cast<int>(gpus.devices.size()); ++ordinal) {
    try {
      devices.push_back(open_gpu(ordinal, options));
    } catch (const std::runtime_error& e) {
      log << "gpu_tune: GPU " << ordinal << " (" << gpus.devices[static_cast<size_t>(ordinal)]
          << ") cannot be used and is left out: " << e.what() << "\n";
    }
  }
  return devices;
}

std::vector<TuneDevice> open_listed(const std::string& spec, const BackendOptions& options) {
  std::vector<int> ordinals;
  std::set<int> seen;
  for (size_t start = 0; start <= spec.size();) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::optional<int> ordinal = parse_count(std::string_view(spec).substr(start, comma - start));
    if (!ordinal) throw std::invalid_argument("--devices '" + spec + "' is not one of " + kForms);
    if (!seen.insert(*ordinal).second)
      throw std::invalid_argument("--devices '" + spec + "' names GPU " + std::to_string(*ordinal) + " twice");
    ordinals.push_back(*ordinal);
    start = comma + 1;
  }
  const GpuQuery gpus = query_gpus();
  if (gpus.devices.empty()) throw std::invalid_argument("--devices '" + spec + "' names GPUs, but there is no GPU (" + gpus.why_none + ")");
  std::vector<TuneDevice> devices;
  for (const int ordinal : ordinals) {
    if (ordinal >= static_cast<int>(gpus.devices.size()))
      throw std::invalid_argument("--devices '" + spec + "': there is no GPU " + std::to_string(ordinal) + " (this machine has " +
                                  std::to_string(gpus.devices.size()) + ", numbered from 0)");
    try {
      devices.push_back(open_gpu(ordinal, options));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("--devices '" + spec + "': GPU " + std::to_string(ordinal) + " cannot be used: " + e.what());
    }
  }
  return devices;
}

}  // namespace

std::vector<TuneDevice> open_tune_devices(const std::optional<std::string>& devices, const EngineOptions& engine,
                                          std::ostream& log, int parallel) {
  const BackendChoice choice = engine_backend_choice(engine);
  const BackendOptions options = engine_backend_options(engine);
  const std::string spec = devices.value_or("all");
  if (spec == "cpu" || spec.starts_with("cpu:")) {
    if (choice == BackendChoice::kCuda) throw std::invalid_argument("--devices '" + spec + "' contradicts --backend cuda");
    return open_cpu(spec, options);
  }
  if (spec == "all") {
    std::vector<TuneDevice> found = choice == BackendChoice::kCpu ? open_cpu("cpu", options) : open_all(choice, options, log);
    if (found.size() != 1 || found[0].backend->name() != "cpu") return found;
    // No GPU: one single-threaded worker per CPU thread. Measured on two cores, two
    // one-thread bundles train 1.02-1.07x the samples of one two-thread bundle on a quiet
    // machine, and several times as many on a busy one, where OpenMP's threads wait on
    // each other at every barrier (benchmarks/RESULTS.md).
    const int workers = std::min(kernels::cpu_thread_count(), std::max(parallel, 1));
    return workers > 1 ? open_cpu("cpu:" + std::to_string(workers), options) : std::move(found);
  }
  if (choice == BackendChoice::kCpu) throw std::invalid_argument("--devices '" + spec + "' contradicts --backend cpu");
  return open_listed(spec, options);
}

std::vector<int> slots_per_device(int devices, int parallel, std::optional<int> slots) {
  std::vector<int> result(static_cast<size_t>(std::max(devices, 0)), 0);
  int left = parallel;
  for (int i = 0; i < devices; ++i) {
    const int wanted = slots ? *slots : parallel / devices + (i < parallel % devices ? 1 : 0);
    result[static_cast<size_t>(i)] = std::clamp(wanted, 0, std::max(left, 0));
    left -= result[static_cast<size_t>(i)];
  }
  return result;
}

int slots_for_free_memory(size_t free_bytes, size_t slot_bytes, int share) {
  if (share <= 0) return 0;
  if (slot_bytes == 0) return share;
  const double fitting = std::floor(kSlotMemoryFraction * static_cast<double>(free_bytes) / static_cast<double>(slot_bytes));
  return static_cast<int>(std::clamp(fitting, 1.0, static_cast<double>(share)));
}

}  // namespace gpu_tune::app
