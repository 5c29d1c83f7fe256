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

struct DropoutParams {
  float rate = 0.0f;     // probability of dropping an element; 0 disables dropout
  uint64_t stream = 0;   // per slot, per step, per layer: see dropout_stream()
};

GPU_TUNE_HD uint64_t dropout_stream(uint64_t seed, uint64_t step, uint32_t layer) {
  return mix64(mix64(seed ^ 0x9e3779b97f4a7c15ULL) + step * 0x632be59bd9b4e019ULL + layer);
}

// Inverted dropout: returns the factor an element is multiplied by (0 or 1/(1-rate)).
GPU_TUNE_HD float dropout_factor(const DropoutParams& dropout, uint64_t element) {
  if (dropout.rate <= 0.0f) return 1.0f;
  const uint64_t bits = mix64(dropout.stream + element * 0x9e3779b97f4a7c15ULL);
  const float uniform = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
  return uniform < dropout.rate ? 0.0f : 1.0f / (1.0f - dropout.rate);
}

}  // namespace gpu_tune::kernels
