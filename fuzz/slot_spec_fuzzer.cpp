// Feeds parse_slot_spec the text after `gpu_tune train --slot`. Only std::invalid_argument
// (which names the spec, the key and the problem) is an expected outcome.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "apps/slot_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gpu_tune::TrainingConfig defaults;
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    const gpu_tune::TrainingConfig config = gpu_tune::app::parse_slot_spec(spec, defaults);
    (void)config.describe();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
