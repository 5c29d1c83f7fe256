#pragma once
// Counter-based dropout masks: a keep/drop decision is a pure function of
// (seed, step, layer, element), so the backward pass regenerates the forward mask
// instead of storing it, and the CPU and CUDA forms draw identical masks.
#include <cstdint>

#include "kernels/host_device.h"

namespace gpu_tune::kernels {

// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche behaviour.
GPU_TUNE_HD uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// A slot's dropout base for one step; the step's layers draw from streams derived from it.
GPU_TUNE_HD uint64_t dropout_base(uint64_t seed, uint64_t step) {
  return mix64(seed ^ 0x9e3779b97f4a7c15ULL) + step * 0x632be59bd9b4e019ULL;
}
GPU_TUNE_HD uint64_t dropout_stream_of_base(uint64_t base, uint32_t layer) { return mix64(base + layer); }

GPU_TUNE_HD uint64_t dropout_stream(uint64_t seed, uint64_t step, uint32_t layer) {
  return dropout_stream_of_base(dropout_base(seed, step), layer);
}

struct DropoutParams {
  float rate = 0.0f;     // probability of dropping an element; 0 disables dropout
  uint64_t stream = 0;   // per slot, per step, per layer: see dropout_stream()
  // Run-time form (see run_time_value): when set, the stream is
  // dropout_stream_of_base(*dynamic_base, layer) and `stream` is ignored.
  const uint64_t* dynamic_base = nullptr;
  uint32_t layer = 0;
};

GPU_TUNE_HD uint64_t run_time_stream(const DropoutParams& dropout) {
  return dropout.dynamic_base != nullptr ? dropout_stream_of_base(*dropout.dynamic_base, dropout.layer)
                                         : dropout.stream;
}

// Inverted dropout: returns the factor an element is multiplied by (0 or 1/(1-rate)).
// `stream` is run_time_stream(dropout), read once per problem rather than per element.
GPU_TUNE_HD float dropout_factor(const DropoutParams& dropout, uint64_t stream, uint64_t element) {
  if (dropout.rate <= 0.0f) return 1.0f;
  const uint64_t bits = mix64(stream + element * 0x9e3779b97f4a7c15ULL);
  const float uniform = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
  return uniform < dropout.rate ? 0.0f : 1.0f / (1.0f - dropout.rate);
}
GPU_TUNE_HD float dropout_factor(const DropoutParams& dropout, uint64_t element) {
  return dropout_factor(dropout, dropout.stream, element);
}

}  // namespace gpu_tune::kernels
