#pragma once
// Small in-memory datasets for engine tests: images whose label is a learnable function
// of their pixels, so a model can actually fit them.
#include <cstdint>

#include "engine/data/dataset.h"
#include "engine/random.h"

namespace gpu_tune::testing {

inline data::ImageSet synthetic_images(int64_t count, int rows, int cols, int classes, uint64_t seed) {
  data::ImageSet set;
  set.count = count;
  set.rows = rows;
  set.cols = cols;
  const int features = rows * cols;
  set.images.resize(static_cast<size_t>(count * features));
  set.labels.resize(static_cast<size_t>(count));
  SplitMix64 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng.below(classes));
    set.labels[i] = static_cast<uint8_t>(label);
    for (int f = 0; f < features; ++f) {
      // Each class lights up its own band of pixels, on top of noise.
      const bool in_band = f % classes == label;
      const double value = rng.uniform() * 120.0 + (in_band ? 120.0 : 0.0);
      set.images[i * features + f] = static_cast<uint8_t>(value);
    }
  }
  return set;
}

inline data::Dataset synthetic_dataset(int64_t train, int64_t validation, int64_t test, int rows = 4, int cols = 4,
                                       int classes = 3, uint64_t seed = 1) {
  data::Dataset d;
  d.name = "synthetic";
  d.classes = classes;
  d.train = synthetic_images(train, rows, cols, classes, seed);
  d.validation = synthetic_images(validation, rows, cols, classes, seed + 1);
  d.test = synthetic_images(test, rows, cols, classes, seed + 2);
  d.pixel_mean = 0.5f;
  d.pixel_std = 0.25f;
  return d;
}

}  // namespace gpu_tune::testing
