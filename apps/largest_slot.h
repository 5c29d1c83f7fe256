#pragma once
// The memory of the largest slot a study can ask for, so that a GPU is given no more slots
// than its free memory holds (see slots_for_free_memory in tune_devices.h).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "apps/engine_objective.h"
#include "search/space.h"

namespace gpu_tune::app {

// Slot::bytes_needed of the largest trial configuration `space` can produce, built the way
// trials are (trial_training_config, with `options`' training defaults), on a training
// split of `train_count` images in a bundle with the engine objective's bundle options.
// Only the model and the batch size size a slot, so:
//   - batch, widthN, convN and kernel take the upper bound of their range (three sigmas
//     above mu when unbounded) or their largest option;
//   - every option of `model` and of any choice that holds parameters of its own is
//     tried, in every combination with the other such choices;
//   - the other parameters stay where the study check tried them first (a range's lower
//     bound, a choice's first option), which it found trainable.
// That is an upper bound, since a slot grows with each of those numbers (more units,
// channels, kernel taps or rows take more memory), except past kMaxCombinations
// combinations: each choice then takes its largest option in turn, given those before it,
// a close estimate but not a bound. Trials that cannot be built are left out (they fail
// before taking a slot); none when no trial can be built.
std::optional<size_t> largest_slot_bytes(const search::SearchSpace& space, const EngineObjectiveOptions& options,
                                         int64_t train_count);

inline constexpr int64_t kMaxCombinations = 4096;

// What slots may take on one device, and where that number comes from (for the error).
struct MemoryLimit {
  size_t bytes = 0;
  std::string source;  // "the free memory of cuda:0", "this machine's physical memory (sysconf)"
};

// The device's free memory when its backend reports one (a GPU); else, for the CPU backend,
// which allocates from the machine, its physical memory from sysconf; none when neither is known.
std::optional<MemoryLimit> slot_memory_limit(std::optional<size_t> free_bytes, const std::string& device_label);

// `count` slots of `each` bytes, saturating instead of wrapping around.
size_t slots_bytes(int64_t count, size_t each);

// "12.3 GiB".
std::string gib_text(size_t bytes);

// Throws std::invalid_argument "WHAT needs about X GiB, the limit is Y GiB (SOURCE); ADVICE"
// when `needed` is over the limit, before anything that large is allocated (which would end
// in a bare std::bad_alloc or the system's out-of-memory killer).
void require_memory(size_t needed, const MemoryLimit& limit, const std::string& what, const std::string& advice);

}  // namespace gpu_tune::app
