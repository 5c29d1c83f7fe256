// Compresses the input with gzip before read_idx_file sees it, so the gzip path always gets a
// valid stream and the fuzzer's mutations reach the IDX parse behind it (a mutated .gz file
// mostly stops at the CRC). The first byte picks how many gzip members the data is split in,
// as `cat a.gz b.gz` makes, which the reader accepts. The same data read raw must give the
// same outcome: an equal array, or an error both ways.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <zlib.h>

#include "engine/data/idx_reader.h"

namespace {

std::filesystem::path scratch_file(const char* kind) {
  return std::filesystem::temp_directory_path() /
         ("gpu_tune_fuzz_idx_" + std::string(kind) + "_" + std::to_string(::getpid()));
}

// One complete gzip member holding `size` bytes.
void append_gzip_member(const uint8_t* data, size_t size, std::vector<uint8_t>& out) {
  z_stream zs{};
  // 16 + MAX_WBITS: a gzip wrapper (header, CRC and length trailer), not a zlib one.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    __builtin_trap();
  const size_t start = out.size();
  out.resize(start + deflateBound(&zs, size));
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data() + start;
  zs.avail_out = static_cast<uInt>(out.size() - start);
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) __builtin_trap();
  out.resize(start + zs.total_out);
  deflateEnd(&zs);
}

std::optional<gpu_tune::data::IdxArray> read(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    return gpu_tune::data::read_idx_file(path);
  } catch (const gpu_tune::data::DataError&) {
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t members = 1 + data[0] % 3;
  ++data, --size;
  std::vector<uint8_t> gzip;
  const size_t piece = size / members;
  for (size_t m = 0; m < members; ++m) {
    const size_t begin = m * piece, end = m + 1 == members ? size : begin + piece;
    append_gzip_member(data + begin, end - begin, gzip);
  }
  static const std::filesystem::path gzip_file = scratch_file("gzip"), raw_file = scratch_file("raw");
  const auto from_gzip = read(gzip_file, gzip.data(), gzip.size());
  // Data that itself starts with the gzip magic would be read as gzip again when raw.
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;
  const auto from_raw = read(raw_file, data, size);
  if (from_gzip.has_value() != from_raw.has_value()) __builtin_trap();
  if (from_gzip && (from_gzip->dims != from_raw->dims || from_gzip->values != from_raw->values)) __builtin_trap();
  return 0;
}
