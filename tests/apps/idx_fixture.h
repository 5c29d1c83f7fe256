#pragma once
// Writes a small learnable IDX dataset (28x28 images, 10 classes drawn as bright row
// bands) in the official file names, for tests of the commands.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace gpu_tune::testing {

inline void write_idx(const std::filesystem::path& path, uint8_t dims_count, const std::vector<uint32_t>& dims,
                      const std::vector<uint8_t>& values) {
  std::ofstream out(path, std::ios::binary);
  const uint8_t header[4] = {0, 0, 0x08, dims_count};
  out.write(reinterpret_cast<const char*>(header), 4);
  for (uint32_t d : dims) {
    const uint8_t be[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size()));
}

inline void write_idx_split(const std::filesystem::path& dir, const std::string& prefix, uint32_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> images(count * 784), labels(count);
  for (uint32_t i = 0; i < count; ++i) {
    labels[i] = static_cast<uint8_t>(rng() % 10);
    for (int p = 0; p < 784; ++p)
      images[i * 784 + p] = static_cast<uint8_t>(rng() % 60 + ((p / 28) % 10 == labels[i] ? 180 : 0));
  }
  write_idx(dir / (prefix + "-images-idx3-ubyte"), 3, {count, 28, 28}, images);
  write_idx(dir / (prefix + "-labels-idx1-ubyte"), 1, {count}, labels);
}

inline void write_idx_dataset(const std::filesystem::path& dir, uint32_t train, uint32_t test) {
  std::filesystem::create_directories(dir);
  write_idx_split(dir, "train", train, 1);
  write_idx_split(dir, "t10k", test, 2);
}

}  // namespace gpu_tune::testing
