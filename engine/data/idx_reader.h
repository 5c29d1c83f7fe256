#pragma once
// Reader for the IDX format that MNIST-style datasets ship in, raw or gzip-compressed.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace gpu_tune::data {

// Every problem with dataset files surfaces as this one type, and its message always names
// the file, so a bad download is diagnosed without a debugger.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Only unsigned-byte IDX (type code 0x08) is supported: the image datasets we train on use
// nothing else, and widening would only add untested paths.
struct IdxArray {
  std::vector<uint32_t> dims;    // 1 to 4 extents, outermost first
  std::vector<uint8_t> values;   // product(dims) values, row-major
};

// Reads the whole file, decompressing it when it starts with the gzip magic (1f 8b) whatever
// its name. Throws DataError for a missing, unreadable, truncated, corrupt or over-long file.
IdxArray read_idx_file(const std::filesystem::path& path);

}  // namespace gpu_tune::data
