// Feeds the --storage text to parse_storage_location, and any text to redact_storage_url,
// which log lines and error messages go through. Only std::invalid_argument is expected.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "search/storage_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)gpu_tune::search::redact_storage_url(text);
  try {
    const gpu_tune::search::StorageLocation location = gpu_tune::search::parse_storage_location(text);
    (void)location.description();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
