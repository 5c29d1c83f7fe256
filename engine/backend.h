#pragma once
// The operations the engine needs, at bundle level: each call covers every slot that
// takes part in it. The CPU backend is the reference; the CUDA backend must match it.
// All pointers in problems are the backend's own memory (see allocate_bytes).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>
#include <algorithm>

#include "kernels/bias_activation.h"
#include "kernels/conv2d.h"
#include "kernels/gather_batch.h"
#include "kernels/grouped_gemm.h"
#include "kernels/max_pool.h"
#include "kernels/optimizer_update.h"
#include "kernels/softmax_cross_entropy.h"

namespace gpu_tune {

// Which grouped GEMM a backend runs: gpu_tune's own kernels, or cuBLAS (CUDA only; the
// yardstick, and a fallback should ours misbehave on some GPU).
enum class GemmLibrary { kOwn, kCublas };

// Which convolution a backend runs: gpu_tune's own implicit-GEMM kernels, or cuDNN (CUDA
// builds that found cuDNN only; the yardstick for ours, as cuBLAS is for the GEMM). The CPU
// backend has only its reference and ignores this.
enum class ConvLibrary { kOwn, kCudnn };

// The device has no memory left for an allocation. Its own type because the trainer treats
// it differently from every other failure: it is a property of the device and of what else
// is on it, not of the model, so the trainer runs fewer slots instead of failing the trial.
class OutOfDeviceMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a backend computes. The defaults are the exact ones.
struct BackendOptions {
  kernels::GemmPrecision precision = kernels::GemmPrecision::kFp32;
  GemmLibrary gemm = GemmLibrary::kOwn;
  ConvLibrary conv = ConvLibrary::kOwn;
  bool cuda_graphs = true;  // CUDA: capture a bundle's step once and replay it
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;                // "cpu" or "cuda"
  virtual std::string device_description() const = 0;  // for the one-line notice

  // Memory on the backend's device. Running out of memory throws OutOfDeviceMemory naming
  // the size; any other failure std::runtime_error.
  virtual void* allocate_bytes(size_t bytes) = 0;
  virtual void free_bytes(void* pointer) noexcept = 0;
  // Bytes the device could still allocate, for sizing bundles before anything is
  // allocated; none where that is unknown or meaningless (the CPU's memory is the host's).
  virtual std::optional<size_t> free_memory_bytes() const { return std::nullopt; }
  virtual void copy_to_device(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual void copy_on_device(void* device_dst, const void* device_src, size_t bytes) = 0;
  // Queues a copy of a small host buffer in order with the operations: it lands after the
  // work issued before it and before the work issued after it. The host buffer may be
  // reused as soon as this returns; unlike copy_to_device, it need not wait for the device.
  virtual void stage_to_device(void* device_dst, const void* host_src, size_t bytes) = 0;

  virtual void gather_batch(std::span<const kernels::GatherProblem> problems) = 0;
  virtual void grouped_gemm(std::span<const kernels::GemmProblem> problems) = 0;
  virtual void bias_activation_forward(std::span<const kernels::BiasActivationForward> problems) = 0;
  virtual void bias_activation_backward(std::span<const kernels::BiasActivationBackward> problems) = 0;
  virtual void softmax_cross_entropy(std::span<const kernels::SoftmaxCrossEntropyProblem> problems) = 0;
  virtual void optimizer_update(std::span<const kernels::OptimizerProblem> problems) = 0;
  virtual void conv2d_forward(std::span<const kernels::Conv2dForward> problems) = 0;
  virtual void conv2d_backward_data(std::span<const kernels::Conv2dBackwardData> problems) = 0;
  virtual void conv2d_backward_weight(std::span<const kernels::Conv2dBackwardWeight> problems) = 0;
  virtual void max_pool_forward(std::span<const kernels::MaxPoolForward> problems) = 0;
  virtual void max_pool_backward(std::span<const kernels::MaxPoolBackward> problems) = 0;

  // Waits until every operation issued so far has finished.
  virtual void synchronize() = 0;

  // Issues the operations that `issue` issues. A backend that replays steps (the CUDA one,
  // with CUDA graphs) records them the first time it sees `key` and afterwards replays the
  // record without calling `issue`, until it is called with another key. Everything that
  // differs between two calls with one key must therefore be read from backend memory when
  // the work runs (the problems' dynamic fields), never be baked into the problems.
  virtual void issue_step(uint64_t key, const std::function<void()>& issue) {
    (void)key;
    issue();
  }
  virtual bool replays_steps() const { return false; }
};

// An array in a backend's memory, freed with it.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(Backend& backend, size_t count)
      : backend_(&backend), data_(static_cast<T*>(backend.allocate_bytes(count * sizeof(T)))), count_(count) {}
  DeviceArray(DeviceArray&& other) noexcept { swap(other); }
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    DeviceArray moved(std::move(other));
    swap(moved);
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (data_ != nullptr) backend_->free_bytes(data_);
  }

  T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  void upload(std::span<const T> host) { backend_->copy_to_device(data_, host.data(), std::min(host.size(), count_) * sizeof(T)); }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    backend_->copy_to_host(host.data(), data_, bytes());
    return host;
  }

 private:
  void swap(DeviceArray& other) noexcept {
    std::swap(backend_, other.backend_);
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
  }
  Backend* backend_ = nullptr;
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace gpu_tune
