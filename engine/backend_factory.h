#pragma once
// Chooses the backend: the CUDA one when a GPU is present (and the CUDA backend is built),
// else the CPU one, with a one-line notice saying which and why.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/backend.h"

namespace gpu_tune {

enum class BackendChoice { kAuto, kCpu, kCuda };

std::optional<BackendChoice> parse_backend_choice(std::string_view text);
std::optional<GemmLibrary> parse_gemm_library(std::string_view text);  // "own" or "cublas"
std::optional<ConvLibrary> parse_conv_library(std::string_view text);  // "own" or "cudnn"

struct BackendSelection {
  std::unique_ptr<Backend> backend;
  std::string notice;  // one line for the user
};

// kCuda when no GPU or no CUDA backend is available throws std::runtime_error saying why,
// as does a CPU choice with options only the CUDA backend has (the cuBLAS GEMM), and the
// cuDNN convolution on a GPU when this build has no cuDNN. The CPU backend ignores the
// convolution library: it has only its reference.
BackendSelection select_backend(BackendChoice choice, const BackendOptions& options = {});

}  // namespace gpu_tune
