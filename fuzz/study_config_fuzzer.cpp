// Feeds parse_study_config a study file's text (YAML), as `gpu_tune tune --study` reads it.
// Its errors are std::exception subclasses naming the file and the problem; anything else
// escaping, or a sanitizer report, is a bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "search/study_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)gpu_tune::search::parse_study_config(text, "fuzz.yaml");
  } catch (const std::exception&) {
  }
  return 0;
}
