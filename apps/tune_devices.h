#pragma once
// Where `gpu_tune tune` trains: one worker per device, each with its own backend and bundle
// (and thread, when there are several). --devices picks them:
//   all      every GPU, or the CPU when there is none (the default): then as cpu:N with N
//            the lesser of the CPU's threads and --parallel (as cpu when that is 1)
//   cpu      the CPU as one worker, with every thread
//   cpu:N    N CPU workers, one thread each (N bundles side by side: on small models one
//            thread per bundle beats one bundle on every thread); a worker out of trials
//            hands its thread to the others (apps/cpu_core_share.h)
//   0,2      these GPUs
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/train_command.h"
#include "engine/backend.h"

namespace gpu_tune::app {

struct TuneDevice {
  std::string label;        // recorded with each trial: "cpu", "cpu:1", "cuda:0"
  std::string description;  // for the log: "NVIDIA H100 ... (GPU 0, sm_90, ...)", "CPU, 1 thread"
  std::unique_ptr<Backend> backend;
  std::optional<int> cpu_threads;  // the worker's own OpenMP thread count, when set
};

// Opens the devices `devices` names (none: "all"), honouring --backend and the backend
// options of `engine`; writes the backend notice to `log`. Throws std::invalid_argument
// naming --devices and the problem (unknown form, a GPU that is not there, a contradiction
// with --backend), std::runtime_error when a named GPU cannot be used.
// `parallel`: the trials at once, which bounds the CPU workers "all" opens (a worker without
// a trial to run would only hold a copy of the data).
std::vector<TuneDevice> open_tune_devices(const std::optional<std::string>& devices, const EngineOptions& engine,
                                          std::ostream& log, int parallel = 1);

// Slots (trials at once) per device: `slots` each when given, else `parallel` split as
// evenly as it goes (the first devices take the remainder); either way no more than
// `parallel` in all, so a device may get 0 and stay idle.
std::vector<int> slots_per_device(int devices, int parallel, std::optional<int> slots);

// The share of free device memory a bundle's slots may plan on: the rest is for the dataset's
// copy, the bundle's own buffers, cuBLAS/cuDNN workspaces, captured graphs and fragmentation.
inline constexpr double kSlotMemoryFraction = 0.8;

// Slots for a GPU of `free_bytes` free memory whose largest slot takes `slot_bytes`, when
// --slots is not given: its `share` of --parallel, fewer when kSlotMemoryFraction of the
// free memory holds fewer such slots, but at least 1 (a share of 0 stays 0: that device is
// idle). Should the estimate be off, the trainer still runs fewer slots on out of memory.
int slots_for_free_memory(size_t free_bytes, size_t slot_bytes, int share);

}  // namespace gpu_tune::app
