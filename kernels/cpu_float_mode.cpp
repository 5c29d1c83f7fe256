#include "kernels/cpu_float_mode.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace gpu_tune::kernels {

namespace {

#if defined(__x86_64__) || defined(__i386__)
// MXCSR: FTZ (bit 15) writes subnormal results as zero, DAZ (bit 6) reads subnormal inputs
// as zero. AVX and AVX-512 arithmetic follows the same register.
constexpr uint64_t kFlushBits = (1u << 15) | (1u << 6);
uint64_t read_mode() { return _mm_getcsr(); }
void write_mode(uint64_t mode) { _mm_setcsr(static_cast<unsigned>(mode)); }
#elif defined(__aarch64__)
// FPCR.FZ (bit 24) flushes both inputs and results for single and double precision.
constexpr uint64_t kFlushBits = uint64_t{1} << 24;
uint64_t read_mode() {
  uint64_t mode;
  asm volatile("mrs %0, fpcr" : "=r"(mode));
  return mode;
}
void write_mode(uint64_t mode) { asm volatile("msr fpcr, %0" : : "r"(mode)); }
#else
// Elsewhere the mode is left as it is: slower on subnormals, the same results to rounding.
constexpr uint64_t kFlushBits = 0;
uint64_t read_mode() { return 0; }
void write_mode(uint64_t) {}
#endif

}  // namespace

FlushSubnormalsToZero::FlushSubnormalsToZero() : saved_mode_(read_mode()) {
  if ((saved_mode_ & kFlushBits) != kFlushBits) write_mode(saved_mode_ | kFlushBits);
}

FlushSubnormalsToZero::~FlushSubnormalsToZero() {
  if ((saved_mode_ & kFlushBits) != kFlushBits) write_mode(saved_mode_);
}

bool subnormals_flushed_on_this_thread() { return kFlushBits != 0 && (read_mode() & kFlushBits) == kFlushBits; }

}  // namespace gpu_tune::kernels
