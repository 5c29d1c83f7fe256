// cuBLAS is not emulated: the stand-in's CublasGroupedGemm refuses to be made, so the
// emulated CudaBackend runs gpu_tune's own GEMM only (the cuBLAS cases are left out).
#include <stdexcept>

#include "kernels/grouped_gemm_cublas.h"

namespace gpu_tune::kernels {

struct CublasGroupedGemm::State {};

CublasGroupedGemm::CublasGroupedGemm(cudaStream_t) {
  throw std::runtime_error("cuBLAS is not part of the emulated CUDA runtime");
}
CublasGroupedGemm::~CublasGroupedGemm() = default;
void CublasGroupedGemm::run(std::span<const GemmProblem>, GemmPrecision) {
  throw std::runtime_error("cuBLAS is not part of the emulated CUDA runtime");
}
cudaStream_t CublasGroupedGemm::stream() const { return nullptr; }
cublasHandle_t CublasGroupedGemm::handle() const { return nullptr; }

}  // namespace gpu_tune::kernels
