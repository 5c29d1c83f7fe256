// Feeds read_idx_file a file holding the input as is: raw IDX, or gzip (the reader decides by
// the 1f 8b magic, whatever the name), so both paths see corrupt, truncated and lying files.
// Only DataError is an expected outcome; anything else escaping, or a sanitizer report, is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/data/idx_reader.h"

namespace {

// One file per fuzzing process, rewritten for every input: the reader only takes a path.
const std::filesystem::path& scratch_file() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("gpu_tune_fuzz_idx_" + std::to_string(::getpid()));
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const gpu_tune::data::IdxArray array = gpu_tune::data::read_idx_file(scratch_file());
    // A file that reads must hold exactly the values its dimensions declare.
    size_t expected = 1;
    for (uint32_t dim : array.dims) expected *= dim;
    if (array.values.size() != expected) __builtin_trap();
  } catch (const gpu_tune::data::DataError&) {
  }
  return 0;
}
