#pragma once
// Error check for cuDNN calls, the counterpart of cublas_check.h: a failure throws
// std::runtime_error naming the call, the file and line, cuDNN's status
// (CUDNN_STATUS_BAD_PARAM, ...) and, from cuDNN 9 on, cuDNN's own last error message, which
// often names the offending descriptor field, so the message says where and why on its own.
#include <cudnn.h>  // cudnnStatus_t, cudnnGetErrorString, cudnnGetLastErrorString

#include <stdexcept>
#include <string>

namespace gpu_tune::kernels::detail {

[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* what, const char* file, int line) {
  char detail[512] = {};
#if CUDNN_MAJOR >= 9  // cudnnGetLastErrorString is new in cuDNN 9
  cudnnGetLastErrorString(detail, sizeof(detail));
#endif
  std::string message = std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " +
                        cudnnGetErrorString(status);
  if (detail[0] != '\0') message += " (" + std::string(detail) + ")";
  throw std::runtime_error(message);
}

inline void check_cudnn(cudnnStatus_t status, const char* what, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_cudnn_error(status, what, file, line);
}

}  // namespace gpu_tune::kernels::detail

// Wraps one cuDNN call: GPU_TUNE_CUDNN_CHECK(cudnnCreate(&handle));
#define GPU_TUNE_CUDNN_CHECK(call) ::gpu_tune::kernels::detail::check_cudnn((call), #call, __FILE__, __LINE__)
