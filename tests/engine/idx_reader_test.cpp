#include "engine/data/idx_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gpu_tune::data::DataError;
using gpu_tune::data::IdxArray;
using gpu_tune::data::read_idx_file;

namespace {

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values,
                               uint8_t type = 0x08) {
  std::vector<uint8_t> bytes = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), values.begin(), values.end());
  return bytes;
}

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 37 + 5);
  return v;
}

void write_raw(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gzip(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

std::vector<uint8_t> read_raw(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class IdxReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gpu_tune_idx_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Reads `path`, requiring a DataError whose message names the file and contains every phrase.
  void expect_error(const fs::path& path, const std::vector<std::string>& phrases) {
    try {
      read_idx_file(path);
      ADD_FAILURE() << "no error reading " << path;
    } catch (const DataError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path.filename().string()), std::string::npos) << message;
      for (const auto& phrase : phrases) EXPECT_NE(message.find(phrase), std::string::npos) << message;
    }
  }

  fs::path dir_;
};

TEST_F(IdxReaderTest, RawRoundTrip) {
  const auto values = iota_bytes(3 * 2 * 4);
  write_raw(dir_ / "a-idx3-ubyte", idx_bytes({3, 2, 4}, values));
  const IdxArray array = read_idx_file(dir_ / "a-idx3-ubyte");
  EXPECT_EQ(array.dims, (std::vector<uint32_t>{3, 2, 4}));
  EXPECT_EQ(array.values, values);
}

TEST_F(IdxReaderTest, GzipRoundTripFourDims) {
  const auto values = iota_bytes(2 * 3 * 1 * 5);
  write_gzip(dir_ / "b.gz", idx_bytes({2, 3, 1, 5}, values));
  const IdxArray array = read_idx_file(dir_ / "b.gz");
  EXPECT_EQ(array.dims, (std::vector<uint32_t>{2, 3, 1, 5}));
  EXPECT_EQ(array.values, values);
}

TEST_F(IdxReaderTest, LargeDimensionsAreBigEndian) {
  const auto values = iota_bytes(70000);
  write_gzip(dir_ / "labels", idx_bytes({70000}, values));
  const IdxArray array = read_idx_file(dir_ / "labels");
  EXPECT_EQ(array.dims, (std::vector<uint32_t>{70000}));
  EXPECT_EQ(array.values, values);
}

TEST_F(IdxReaderTest, CompressionIsDetectedByContentNotName) {
  const auto bytes = idx_bytes({4}, {9, 8, 7, 6});
  write_gzip(dir_ / "plain-name", bytes);
  write_raw(dir_ / "looks-compressed.gz", bytes);
  EXPECT_EQ(read_idx_file(dir_ / "plain-name").values, (std::vector<uint8_t>{9, 8, 7, 6}));
  EXPECT_EQ(read_idx_file(dir_ / "looks-compressed.gz").values, (std::vector<uint8_t>{9, 8, 7, 6}));
}

TEST_F(IdxReaderTest, ConcatenatedGzipMembersAreOneFile) {
  const auto bytes = idx_bytes({2, 3}, iota_bytes(6));
  write_gzip(dir_ / "head.gz", {bytes.begin(), bytes.begin() + 7});
  write_gzip(dir_ / "tail.gz", {bytes.begin() + 7, bytes.end()});
  auto joined = read_raw(dir_ / "head.gz");
  const auto tail = read_raw(dir_ / "tail.gz");
  joined.insert(joined.end(), tail.begin(), tail.end());
  write_raw(dir_ / "joined.gz", joined);
  EXPECT_EQ(read_idx_file(dir_ / "joined.gz").values, iota_bytes(6));
}

TEST_F(IdxReaderTest, EmptyArrayIsAllowed) {
  write_raw(dir_ / "empty", idx_bytes({0, 28, 28}, {}));
  const IdxArray array = read_idx_file(dir_ / "empty");
  EXPECT_EQ(array.dims, (std::vector<uint32_t>{0, 28, 28}));
  EXPECT_TRUE(array.values.empty());
}

TEST_F(IdxReaderTest, MissingFile) { expect_error(dir_ / "nowhere-idx1-ubyte", {"not found"}); }

TEST_F(IdxReaderTest, UnreadableFile) {
  fs::create_directory(dir_ / "a-directory");
  expect_error(dir_ / "a-directory", {"unreadable"});
}

TEST_F(IdxReaderTest, EmptyFileIsTruncated) {
  write_raw(dir_ / "zero", {});
  expect_error(dir_ / "zero", {"truncated", "found 0"});
}

TEST_F(IdxReaderTest, TruncatedDimensionHeader) {
  auto bytes = idx_bytes({5, 6, 7}, {});
  bytes.resize(4 + 4 + 2);
  write_raw(dir_ / "short-header", bytes);
  expect_error(dir_ / "short-header", {"truncated header", "need 12", "found 6"});
}

TEST_F(IdxReaderTest, TruncatedData) {
  auto bytes = idx_bytes({2, 3, 4}, iota_bytes(24));
  bytes.resize(bytes.size() - 4);
  write_raw(dir_ / "short-data", bytes);
  expect_error(dir_ / "short-data", {"truncated", "2x3x4", "need 24", "found 20"});
  write_gzip(dir_ / "short-data.gz", bytes);
  expect_error(dir_ / "short-data.gz", {"truncated", "need 24", "found 20"});
}

TEST_F(IdxReaderTest, BadMagic) {
  auto bytes = idx_bytes({4}, {1, 2, 3, 4});
  bytes[0] = 0x50;
  bytes[1] = 0x4b;
  write_raw(dir_ / "zip-not-idx", bytes);
  expect_error(dir_ / "zip-not-idx", {"bad magic", "0x50 0x4B"});
}

TEST_F(IdxReaderTest, DimensionCountOutOfRange) {
  auto bytes = idx_bytes({4}, {1, 2, 3, 4});
  bytes[3] = 0;
  write_raw(dir_ / "no-dims", bytes);
  expect_error(dir_ / "no-dims", {"magic", "dimension count 0"});
  bytes[3] = 5;
  write_raw(dir_ / "five-dims", bytes);
  expect_error(dir_ / "five-dims", {"magic", "dimension count 5"});
}

TEST_F(IdxReaderTest, UnsupportedElementType) {
  write_raw(dir_ / "floats", idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  expect_error(dir_ / "floats", {"unsupported element type 0x0D"});
}

TEST_F(IdxReaderTest, TrailingGarbage) {
  auto bytes = idx_bytes({2, 2}, {1, 2, 3, 4});
  bytes.insert(bytes.end(), {7, 7, 7});
  write_raw(dir_ / "long", bytes);
  expect_error(dir_ / "long", {"trailing garbage", "3 unexpected bytes"});
  write_gzip(dir_ / "long.gz", bytes);
  expect_error(dir_ / "long.gz", {"trailing garbage", "3 unexpected bytes"});
}

TEST_F(IdxReaderTest, CorruptGzip) {
  const auto bytes = idx_bytes({64}, iota_bytes(64));
  write_gzip(dir_ / "good.gz", bytes);
  const auto good = read_raw(dir_ / "good.gz");

  auto bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0xff;  // the CRC-32 trailer
  write_raw(dir_ / "bad-crc.gz", bad_crc);
  expect_error(dir_ / "bad-crc.gz", {"corrupt gzip"});

  auto bad_method = good;
  bad_method[2] = 0x07;  // only deflate (8) exists
  write_raw(dir_ / "bad-method.gz", bad_method);
  expect_error(dir_ / "bad-method.gz", {"corrupt gzip"});

  auto cut = good;
  cut.resize(cut.size() - 12);
  write_raw(dir_ / "cut.gz", cut);
  expect_error(dir_ / "cut.gz", {"corrupt gzip", "truncated"});

  auto junk_after = good;
  junk_after.insert(junk_after.end(), {'j', 'u', 'n', 'k'});
  write_raw(dir_ / "junk-after.gz", junk_after);
  expect_error(dir_ / "junk-after.gz", {"corrupt gzip", "4 bytes of non-gzip data"});
}

}  // namespace
