#include "engine/data/idx_reader.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>

#define ZLIB_CONST
#include <zlib.h>

namespace gpu_tune::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr size_t kMaxDims = 4;
// Chunks keep zlib's 32-bit avail_in/avail_out counters from overflowing on huge inputs.
constexpr size_t kZlibChunk = size_t{1} << 30;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw DataError(path.string() + ": " + problem);
}

std::string hex_byte(uint8_t byte) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", static_cast<unsigned>(byte));
  return text;
}

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, "file not found");
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) fail(path, std::string("unreadable: cannot open (") + std::strerror(errno) + ")");

  std::vector<uint8_t> bytes;
  const auto size_hint = std::filesystem::file_size(path, ec);
  if (!ec) bytes.reserve(static_cast<size_t>(size_hint));
  uint8_t buffer[1 << 16];
  for (;;) {
    const size_t got = std::fread(buffer, 1, sizeof buffer, file.get());
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (got < sizeof buffer) break;
  }
  if (std::ferror(file.get())) {
    fail(path, std::string("unreadable: read failed (") + std::strerror(errno) + ")");
  }
  return bytes;
}

// Hands out the file's content a piece at a time, so a gzip file is only inflated as far as
// its header says it should go and a lying header cannot make us allocate without bound.
class Source {
 public:
  virtual ~Source() = default;
  // Appends up to n bytes to out; returns how many were appended (fewer only at the end).
  virtual size_t read(size_t n, std::vector<uint8_t>& out) = 0;
  // Consumes and counts whatever is left, so trailing garbage can be reported by size.
  size_t drain() {
    size_t total = 0;
    std::vector<uint8_t> scratch;
    for (;;) {
      scratch.clear();
      const size_t got = read(1 << 20, scratch);
      total += got;
      if (got == 0) return total;
    }
  }
};

class RawSource final : public Source {
 public:
  explicit RawSource(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  size_t read(size_t n, std::vector<uint8_t>& out) override {
    const size_t got = std::min(n, bytes_.size() - pos_);
    out.insert(out.end(), bytes_.begin() + pos_, bytes_.begin() + pos_ + got);
    pos_ += got;
    return got;
  }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t pos_ = 0;
};

class GzipSource final : public Source {
 public:
  GzipSource(const std::filesystem::path& path, const std::vector<uint8_t>& bytes)
      : path_(path), bytes_(bytes) {
    // 16 + MAX_WBITS: expect a gzip wrapper and check its CRC and length trailer.
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail(path_, "corrupt gzip: cannot initialise zlib");
  }
  ~GzipSource() override { inflateEnd(&zs_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  size_t read(size_t n, std::vector<uint8_t>& out) override {
    const size_t start = out.size();
    size_t produced = 0;
    while (produced < n && !finished_) {
      if (zs_.avail_in == 0 && unfed() > 0) feed();
      // Grow gradually: the output is bounded by what the stream really holds.
      const size_t step = std::min(n - produced, size_t{1} << 22);
      out.resize(start + produced + step);
      zs_.next_out = out.data() + start + produced;
      zs_.avail_out = static_cast<uInt>(step);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      produced += step - zs_.avail_out;
      out.resize(start + produced);
      if (rc == Z_STREAM_END) {
        next_member();
      } else if (rc == Z_BUF_ERROR) {
        // Output space was offered and input was all fed, so no progress means no more data.
        fail(path_, "corrupt gzip: compressed data ends early (truncated .gz file)");
      } else if (rc != Z_OK) {
        fail(path_, std::string("corrupt gzip: ") + (zs_.msg ? zs_.msg : "inflate error " + std::to_string(rc)));
      }
    }
    return produced;
  }

 private:
  size_t unfed() const { return bytes_.size() - fed_; }

  void feed() {
    const size_t chunk = std::min(unfed(), kZlibChunk);
    zs_.next_in = bytes_.data() + fed_;
    zs_.avail_in = static_cast<uInt>(chunk);
    fed_ += chunk;
  }

  // gzip allows several members back to back (as `cat a.gz b.gz` makes); anything else after
  // a member is not gzip data, and we refuse it rather than silently ignore it.
  void next_member() {
    const size_t left = zs_.avail_in + unfed();
    if (left == 0) {
      finished_ = true;
      return;
    }
    const size_t at = bytes_.size() - left;
    if (left < 2 || bytes_[at] != 0x1f || bytes_[at + 1] != 0x8b) {
      fail(path_, "corrupt gzip: " + std::to_string(left) + " bytes of non-gzip data after the compressed stream");
    }
    inflateReset(&zs_);
  }

  const std::filesystem::path& path_;
  const std::vector<uint8_t>& bytes_;
  z_stream zs_{};
  size_t fed_ = 0;
  bool finished_ = false;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

IdxArray parse(const std::filesystem::path& path, Source& source) {
  std::vector<uint8_t> header;
  if (const size_t got = source.read(4, header); got < 4) {
    fail(path, "truncated: header needs 4 bytes for the magic number, found " + std::to_string(got));
  }
  if (header[0] != 0 || header[1] != 0) {
    fail(path, "bad magic number " + hex_byte(header[0]) + " " + hex_byte(header[1]) + " " + hex_byte(header[2]) +
                   " " + hex_byte(header[3]) + " (an IDX file starts with 00 00 <type> <dimension count>)");
  }
  const uint8_t type = header[2];
  const size_t ndims = header[3];
  if (ndims < 1 || ndims > kMaxDims) {
    fail(path, "bad magic number: dimension count " + std::to_string(ndims) + " is outside 1.." +
                   std::to_string(kMaxDims));
  }
  if (type != kUnsignedByte) {
    fail(path, "unsupported element type " + hex_byte(type) + " (only unsigned byte, 0x08, is supported)");
  }
  if (const size_t got = source.read(4 * ndims, header); got < 4 * ndims) {
    fail(path, "truncated header: " + std::to_string(ndims) + " dimensions need " + std::to_string(4 * ndims) +
                   " bytes of sizes, found " + std::to_string(got));
  }

  IdxArray array;
  size_t expected = 1;
  std::string shape;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t dim = big_endian_u32(header.data() + 4 + 4 * i);
    array.dims.push_back(dim);
    shape += (i ? "x" : "") + std::to_string(dim);
    if (dim != 0 && expected > static_cast<size_t>(PTRDIFF_MAX) / dim) {
      fail(path, "declared dimensions " + shape + "... are too large to hold in memory");
    }
    expected *= dim;
  }

  if (const size_t got = source.read(expected, array.values); got < expected) {
    fail(path, "truncated: dimensions " + shape + " need " + std::to_string(expected) + " data bytes, found " +
                   std::to_string(got));
  }
  if (const size_t extra = source.drain(); extra > 0) {
    fail(path, "trailing garbage: " + std::to_string(extra) + " unexpected bytes after the " +
                   std::to_string(expected) + " data bytes that dimensions " + shape + " declare");
  }
  return array;
}

}  // namespace

IdxArray read_idx_file(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
    GzipSource source(path, bytes);
    return parse(path, source);
  }
  RawSource source(bytes);
  return parse(path, source);
}

}  // namespace gpu_tune::data
