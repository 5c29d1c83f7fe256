// The CUDA backend's memory and copies, and the backend choice: CUDA when a GPU is
// present, the CPU with a one-line reason when not.
#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/backend_factory.h"
#include "engine/cuda_backend.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune {
namespace {

using cuda_test::backend;

TEST(CudaBackendTest, NamesItselfAndItsGpu) {
  GPU_TUNE_REQUIRE_GPU();
  EXPECT_EQ(backend().name(), "cuda");
  EXPECT_NE(backend().device_description().find("sm_"), std::string::npos) << backend().device_description();
  EXPECT_NE(backend().stream(), nullptr);
}

TEST(CudaBackendTest, CopiesRoundTripAndCopyOnDevice) {
  GPU_TUNE_REQUIRE_GPU();
  std::vector<int32_t> values(100003);
  std::iota(values.begin(), values.end(), -5000);
  DeviceArray<int32_t> a(backend(), values.size()), b(backend(), values.size());
  a.upload(values);
  backend().copy_on_device(b.data(), a.data(), a.bytes());
  EXPECT_EQ(b.download(), values);
  // Zero bytes is a no-op everywhere, even with null pointers.
  EXPECT_NO_THROW(backend().copy_to_device(nullptr, nullptr, 0));
  EXPECT_NO_THROW(backend().copy_to_host(nullptr, nullptr, 0));
  EXPECT_NO_THROW(backend().copy_on_device(nullptr, nullptr, 0));
}

TEST(CudaBackendTest, DistinctAllocationsEvenOfZeroBytes) {
  GPU_TUNE_REQUIRE_GPU();
  void* a = backend().allocate_bytes(0);
  void* b = backend().allocate_bytes(0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  backend().free_bytes(a);
  backend().free_bytes(b);
  backend().free_bytes(nullptr);
}

// Out of memory names the size and leaves the backend usable.
TEST(CudaBackendTest, AllocationFailureNamesTheSizeAndIsNotSticky) {
  GPU_TUNE_REQUIRE_GPU();
  const size_t absurd = size_t(1) << 50;  // 1 PiB
  try {
    backend().allocate_bytes(absurd);
    ADD_FAILURE() << "a 1 PiB allocation succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(absurd)), std::string::npos) << e.what();
  }
  DeviceArray<float> after(backend(), 1000);
  after.upload(std::vector<float>(1000, 2.5f));
  EXPECT_EQ(after.download()[999], 2.5f);
}

TEST(CudaBackendTest, BadDeviceIndexThrows) {
  GPU_TUNE_REQUIRE_GPU();
  EXPECT_THROW(CudaBackend(-1), std::runtime_error);
  EXPECT_THROW(CudaBackend(1 << 20), std::runtime_error);
}

TEST(BackendChoiceTest, AutoAndCudaChooseTheGpu) {
  GPU_TUNE_REQUIRE_GPU();
  for (BackendChoice choice : {BackendChoice::kAuto, BackendChoice::kCuda}) {
    const BackendSelection selection = select_backend(choice);
    ASSERT_NE(selection.backend, nullptr);
    EXPECT_EQ(selection.backend->name(), "cuda");
    EXPECT_NE(selection.notice.find("using the CUDA backend on "), std::string::npos) << selection.notice;
  }
  EXPECT_EQ(select_backend(BackendChoice::kCpu).backend->name(), "cpu");
}

// The other side, which CI (toolkit without a driver) runs: no GPU is not an error for
// auto, and an explicit cuda says why it cannot be had.
TEST(BackendChoiceTest, WithoutAGpuAutoUsesTheCpuAndCudaExplains) {
  if (!cuda_test::no_gpu_reason()) GTEST_SKIP() << "a GPU is present; this case is for machines without one";
  const BackendSelection selection = select_backend(BackendChoice::kAuto);
  EXPECT_EQ(selection.backend->name(), "cpu");
  EXPECT_NE(selection.notice.find("no GPU"), std::string::npos) << selection.notice;
  try {
    select_backend(BackendChoice::kCuda);
    ADD_FAILURE() << "--backend cuda without a GPU did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no GPU"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CudaBackend(0), std::runtime_error);
}

}  // namespace
}  // namespace gpu_tune
