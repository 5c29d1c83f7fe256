// Our grouped GEMM kernels against cuBLAS on the shapes a bundle of MLPs issues.
//
// A bundle of S slots of one model preset trains at one batch size; per dense layer the
// engine issues three forms:
//   forward         Z  = X  * W     (M=batch, N=out, K=in)
//   input gradient  dX = dZ * W^T   (M=batch, N=in,  K=out; not for the first layer)
//   weight gradient dW = X^T * dZ   (M=in,    N=out, K=batch)
// A "call" is, by default (--group form), one form for every layer of every slot, as one
// grouped call; --group layer makes it one form of one layer, --group step all layers of
// all forms at once.
//
// Contenders, on the same device buffers:
//   ours            grouped_gemm_cuda, fp32 and tf32
//   cublas_grouped  CublasGroupedGemm (cublasGemmGroupedBatchedEx), fp32 and tf32; every
//                   call uploads its pointer table, as it would in the engine
//   cublas_strided  cublasGemmStridedBatchedEx, fp32 and tf32 compute types; it needs one
//                   shape per call, which the slots share layer by layer, so it issues one
//                   strided-batched call per (form, layer) of the measured call
// Each contender is first checked against grouped_gemm_cpu on one case (the first model,
// the smallest S and batch, every call of it); one that fails is reported and not timed.
//
// Timing: cudaEvents around `reps` back-to-back calls, after warm-up; `rounds` rounds
// (7 by default), each long enough to take --round-ms; median and minimum over rounds of
// the time per call. GFLOP/s = 2 * sum(M*N*K) / median time. One JSON line per
// measurement on stdout, a table on stderr at the end. Exit status 2 without a GPU.
#include <CLI/CLI.hpp>          // flags
#include <cublas_v2.h>          // cublasGemmStridedBatchedEx
#include <cuda_runtime_api.h>   // events, memory
#include <nlohmann/json.hpp>    // output lines

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/statistics.h"
#include "engine/model_spec.h"
#include "kernels/cublas_check.h"
#include "kernels/cuda_check.h"
#include "kernels/grouped_gemm.h"
#include "kernels/grouped_gemm_cublas.h"

using namespace gpu_tune;
using kernels::GemmPrecision;
using kernels::GemmProblem;

namespace {

enum class Form { kForward = 0, kInputGrad = 1, kWeightGrad = 2 };
constexpr Form kForms[] = {Form::kForward, Form::kInputGrad, Form::kWeightGrad};

const char* form_name(Form form) {
  switch (form) {
    case Form::kForward: return "forward";
    case Form::kInputGrad: return "input_grad";
    case Form::kWeightGrad: return "weight_grad";
  }
  return "?";
}

std::optional<Form> parse_form(const std::string& text) {
  for (Form f : kForms)
    if (text == form_name(f)) return f;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Device buffers of one bundle: per layer and tensor, the S slots' matrices one after
// another at a fixed stride (a multiple of 64 floats, so every matrix is 256-byte aligned
// as cudaMalloc would give it), which is what strided-batched needs and what grouped
// calls address through per-problem pointers.

enum Tensor { kX = 0, kW, kZ, kDZ, kDX, kDW, kTensorCount };

struct Matrix {
  int rows = 0, cols = 0;
};

Matrix tensor_shape(Tensor t, int batch, int in, int out) {
  switch (t) {
    case kX: case kDX: return {batch, in};
    case kW: case kDW: return {in, out};
    case kZ: case kDZ: return {batch, out};
    default: return {};
  }
}

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

struct Layout {
  int slots = 0, batch = 0;
  std::vector<int> in, out;                   // per layer
  std::vector<std::vector<float*>> base;      // [layer][tensor]
  std::vector<std::vector<int64_t>> stride;   // [layer][tensor], floats between slots

  int layers() const { return static_cast<int>(in.size()); }
  float* matrix(int layer, Tensor t, int slot) const { return base[layer][t] + stride[layer][t] * slot; }
  int64_t elements(int layer, Tensor t) const { return stride[layer][t] * slots; }
};

Layout make_layout(const ModelSpec& model, int slots, int batch) {
  Layout l;
  l.slots = slots;
  l.batch = batch;
  for (int layer = 0; layer < model.layer_count(); ++layer) {
    l.in.push_back(static_cast<int>(model.layer_inputs(layer)));
    l.out.push_back(static_cast<int>(model.layer_outputs(layer)));
    l.base.emplace_back(kTensorCount, nullptr);
    std::vector<int64_t>& strides = l.stride.emplace_back(kTensorCount, 0);
    for (int t = 0; t < kTensorCount; ++t) {
      const Matrix m = tensor_shape(static_cast<Tensor>(t), batch, l.in.back(), l.out.back());
      strides[t] = round_up(int64_t(m.rows) * m.cols, 64);
    }
  }
  return l;
}

// splitmix64 of the element index: uniform values in [-1, 1), the same for a given seed
// whatever the launch shape.
__global__ void fill_uniform_kernel(float* values, int64_t count, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint64_t z = seed + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    values[i] = static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

// The bundle's device memory: inputs (X, W, dZ) random, outputs (Z, dX, dW) NaN.
class DeviceBundle {
 public:
  DeviceBundle(const ModelSpec& model, int slots, int batch, uint64_t seed, cudaStream_t stream)
      : layout_(make_layout(model, slots, batch)), stream_(stream) {
    for (int layer = 0; layer < layout_.layers(); ++layer)
      for (int t = 0; t < kTensorCount; ++t) {
        void* p = nullptr;
        GPU_TUNE_CUDA_CHECK(cudaMalloc(&p, layout_.elements(layer, static_cast<Tensor>(t)) * sizeof(float)));
        allocations_.push_back(p);
        layout_.base[layer][t] = static_cast<float*>(p);
        const int64_t count = layout_.elements(layer, static_cast<Tensor>(t));
        if (t == kX || t == kW || t == kDZ) {
          const int blocks = static_cast<int>(std::min<int64_t>((count + 255) / 256, 4096));
          fill_uniform_kernel<<<blocks, 256, 0, stream_>>>(static_cast<float*>(p), count,
                                                           seed + 1000003ull * (layer * kTensorCount + t));
          GPU_TUNE_CUDA_CHECK_LAUNCH(fill_uniform_kernel, stream_);
        }
      }
    poison_outputs();
    GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  ~DeviceBundle() {
    cudaStreamSynchronize(stream_);
    for (void* p : allocations_) cudaFree(p);
  }
  DeviceBundle(const DeviceBundle&) = delete;
  DeviceBundle& operator=(const DeviceBundle&) = delete;

  const Layout& layout() const { return layout_; }

  // All-ones bytes are a NaN: an output element a contender leaves unwritten shows.
  void poison_outputs() {
    for (int layer = 0; layer < layout_.layers(); ++layer)
      for (Tensor t : {kZ, kDX, kDW})
        GPU_TUNE_CUDA_CHECK(cudaMemsetAsync(layout_.base[layer][t], 0xff,
                                            layout_.elements(layer, t) * sizeof(float), stream_));
  }

  // A host copy of every tensor, with a layout whose pointers address it.
  Layout download(std::vector<std::vector<float>>& storage) const {
    Layout host = layout_;
    GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (int layer = 0; layer < layout_.layers(); ++layer)
      for (int t = 0; t < kTensorCount; ++t) {
        std::vector<float>& v = storage.emplace_back(layout_.elements(layer, static_cast<Tensor>(t)));
        GPU_TUNE_CUDA_CHECK(cudaMemcpy(v.data(), layout_.base[layer][t], v.size() * sizeof(float), cudaMemcpyDeviceToHost));
        host.base[layer][t] = v.data();
      }
    return host;
  }

 private:
  Layout layout_;
  cudaStream_t stream_;
  std::vector<void*> allocations_;
};

// ---------------------------------------------------------------------------------------
// Calls: which (form, layer) pairs one measured call covers.

struct Part {
  Form form;
  int layer;
};

struct Call {
  std::string form;  // a form's name, or "step"
  int layer = -1;    // -1: every layer
  std::vector<Part> parts;
};

bool form_applies(Form form, int layer) { return form != Form::kInputGrad || layer > 0; }

std::vector<Call> make_calls(int layers, const std::vector<Form>& forms, const std::string& group) {
  std::vector<Call> calls;
  if (group == "step") {
    Call c{"step", -1, {}};
    for (Form f : forms)
      for (int l = 0; l < layers; ++l)
        if (form_applies(f, l)) c.parts.push_back({f, l});
    if (!c.parts.empty()) calls.push_back(c);
    return calls;
  }
  for (Form f : forms) {
    if (group == "layer") {
      for (int l = 0; l < layers; ++l)
        if (form_applies(f, l)) calls.push_back({form_name(f), l, {{f, l}}});
    } else {
      Call c{form_name(f), -1, {}};
      for (int l = 0; l < layers; ++l)
        if (form_applies(f, l)) c.parts.push_back({f, l});
      if (!c.parts.empty()) calls.push_back(c);
    }
  }
  return calls;
}

// One slot's problem of one part, row-major, as the engine builds it (beta = 0).
GemmProblem part_problem(const Layout& l, const Part& part, int slot) {
  const int in = l.in[part.layer], out = l.out[part.layer], layer = part.layer;
  GemmProblem p;
  switch (part.form) {
    case Form::kForward:
      p.m = l.batch, p.n = out, p.k = in;
      p.a = l.matrix(layer, kX, slot), p.lda = in;
      p.b = l.matrix(layer, kW, slot), p.ldb = out;
      p.c = l.matrix(layer, kZ, slot), p.ldc = out;
      break;
    case Form::kInputGrad:
      p.m = l.batch, p.n = in, p.k = out;
      p.a = l.matrix(layer, kDZ, slot), p.lda = out;
      p.b = l.matrix(layer, kW, slot), p.ldb = out, p.transpose_b = true;
      p.c = l.matrix(layer, kDX, slot), p.ldc = in;
      break;
    case Form::kWeightGrad:
      p.m = in, p.n = out, p.k = l.batch;
      p.a = l.matrix(layer, kX, slot), p.lda = in, p.transpose_a = true;
      p.b = l.matrix(layer, kDZ, slot), p.ldb = out;
      p.c = l.matrix(layer, kDW, slot), p.ldc = out;
      break;
  }
  return p;
}

Tensor a_tensor(Form f) { return f == Form::kInputGrad ? kDZ : kX; }
Tensor b_tensor(Form f) { return f == Form::kWeightGrad ? kDZ : kW; }
Tensor c_tensor(Form f) { return f == Form::kForward ? kZ : f == Form::kInputGrad ? kDX : kDW; }

std::vector<GemmProblem> call_problems(const Layout& l, const Call& call) {
  std::vector<GemmProblem> problems;
  for (const Part& part : call.parts)
    for (int s = 0; s < l.slots; ++s) problems.push_back(part_problem(l, part, s));
  return problems;
}

double call_flops(const std::vector<GemmProblem>& problems) {
  double flops = 0.0;
  for (const GemmProblem& p : problems) flops += 2.0 * p.m * p.n * p.k;
  return flops;
}

// One strided-batched call per part: the slots' matrices of a (form, layer) share a shape
// and sit at fixed strides. Row-major to cuBLAS's column-major as in grouped_gemm_cublas.cu:
// C^T = op(B)^T op(A)^T, so A and B swap places, and M and N.
void strided_batched_gemm_cublas(cublasHandle_t handle, const Layout& l, const Call& call, GemmPrecision precision) {
  const float alpha = 1.0f, beta = 0.0f;
  const cublasComputeType_t compute =
      precision == GemmPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  for (const Part& part : call.parts) {
    const GemmProblem p = part_problem(l, part, 0);
    GPU_TUNE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, p.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, p.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, p.n, p.m, p.k,
        &alpha, p.b, CUDA_R_32F, p.ldb, l.stride[part.layer][b_tensor(part.form)], p.a, CUDA_R_32F, p.lda,
        l.stride[part.layer][a_tensor(part.form)], &beta, p.c, CUDA_R_32F, p.ldc,
        l.stride[part.layer][c_tensor(part.form)], l.slots, compute, CUBLAS_GEMM_DEFAULT));
  }
}

// ---------------------------------------------------------------------------------------
// Contenders and their check.

struct Contender {
  std::string name;  // ours, cublas_grouped, cublas_strided
  GemmPrecision precision;
  bool passed = false;
};

void run_contender(const Contender& c, const Layout& l, const Call& call, const std::vector<GemmProblem>& problems,
                   cudaStream_t stream, kernels::CublasGroupedGemm& cublas) {
  if (c.name == "ours") {
    kernels::grouped_gemm_cuda(problems, stream, c.precision);
  } else if (c.name == "cublas_grouped") {
    cublas.run(problems, c.precision);
  } else {
    strided_batched_gemm_cublas(cublas.handle(), l, call, c.precision);
  }
}

// ||got - ref||_2 / ||ref||_2 over every output of the call; infinity on a non-finite value.
double relative_l2(const std::vector<float>& got, const std::vector<float>& ref) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    const double d = double(got[i]) - ref[i];
    diff += d * d;
    norm += double(ref[i]) * ref[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// M x N of every problem's C, packed.
std::vector<float> gather_outputs(const std::vector<GemmProblem>& problems, bool on_device) {
  std::vector<float> out;
  std::vector<float> row;
  for (const GemmProblem& p : problems)
    for (int i = 0; i < p.m; ++i) {
      const float* src = p.c + static_cast<int64_t>(i) * p.ldc;
      if (on_device) {
        row.resize(p.n);
        GPU_TUNE_CUDA_CHECK(cudaMemcpy(row.data(), src, p.n * sizeof(float), cudaMemcpyDeviceToHost));
        out.insert(out.end(), row.begin(), row.end());
      } else {
        out.insert(out.end(), src, src + p.n);
      }
    }
  return out;
}

// Relative L2 error limits of the check. FP32: both sides sum K <= 784 products in FP32,
// differently ordered, which errs by about sqrt(K) * 2^-24 relative on random-sign data:
// 1e-5 leaves a wide margin. TF32 against the CPU's TF32 emulation: if the contender
// rounds its operands as the emulation does, the two differ like FP32 results; if it
// truncates them instead (cuBLAS does not say), each product moves by up to 2^-10
// relative, about 1e-3 in L2 on random-sign data: 2^-8 covers that and still fails a
// wrong or missing result.
double check_tolerance(GemmPrecision precision) { return precision == GemmPrecision::kTf32 ? 1.0 / 256.0 : 1e-5; }

// ---------------------------------------------------------------------------------------
// Timing.

struct Timing {
  double median_us = 0.0, min_us = 0.0;
  int reps = 0;
};

Timing time_calls(const std::function<void()>& call, cudaStream_t stream, int warmup, int rounds, double round_ms) {
  cudaEvent_t start = nullptr, stop = nullptr;
  GPU_TUNE_CUDA_CHECK(cudaEventCreate(&start));
  GPU_TUNE_CUDA_CHECK(cudaEventCreate(&stop));
  auto timed = [&](int reps) {
    GPU_TUNE_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int r = 0; r < reps; ++r) call();
    GPU_TUNE_CUDA_CHECK(cudaEventRecord(stop, stream));
    GPU_TUNE_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    GPU_TUNE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    return double(ms) * 1000.0 / reps;  // microseconds per call
  };
  Timing t;
  try {
    for (int i = 0; i < warmup; ++i) call();
    const double single_us = std::max(timed(1), 1.0);
    t.reps = static_cast<int>(std::clamp(std::ceil(round_ms * 1000.0 / single_us), 1.0, 10000.0));
    std::vector<double> per_call;
    for (int r = 0; r < rounds; ++r) per_call.push_back(timed(t.reps));
    t.median_us = benchmarks::median(per_call);
    t.min_us = *std::min_element(per_call.begin(), per_call.end());
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

struct TableRow {
  std::string model, form;
  int slots = 0, batch = 0, layer = -1;
  // [precision][ours, cublas_grouped, cublas_strided]: GFLOP/s, 0 when not measured.
  double gflops[2][3] = {};
};

int contender_column(const std::string& name) { return name == "ours" ? 0 : name == "cublas_grouped" ? 1 : 2; }

void print_table(const std::vector<TableRow>& rows) {
  std::fprintf(stderr,
               "\nGFLOP/s (median); ratio = ours / best cuBLAS; strided = one strided-batched call per layer\n"
               "%-11s %5s %5s %-12s | %9s %9s %9s %6s | %9s %9s %9s %6s\n",
               "model", "S", "batch", "form", "fp32 ours", "grouped", "strided", "ratio", "tf32 ours", "grouped",
               "strided", "ratio");
  for (const TableRow& r : rows) {
    std::string form = r.form + (r.layer >= 0 ? "[" + std::to_string(r.layer) + "]" : "");
    std::fprintf(stderr, "%-11s %5d %5d %-12s", r.model.c_str(), r.slots, r.batch, form.c_str());
    for (int p = 0; p < 2; ++p) {
      const double best = std::max(r.gflops[p][1], r.gflops[p][2]);
      std::fprintf(stderr, " | %9.1f %9.1f %9.1f ", r.gflops[p][0], r.gflops[p][1], r.gflops[p][2]);
      if (best > 0.0 && r.gflops[p][0] > 0.0) {
        std::fprintf(stderr, "%6.2f", r.gflops[p][0] / best);
      } else {
        std::fprintf(stderr, "%6s", "-");
      }
    }
    std::fprintf(stderr, "\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grouped GEMM: our kernels against cuBLAS on MLP bundle shapes"};
  std::vector<std::string> models = {"mlp_small", "mlp_medium", "mlp_large"};
  std::vector<int> slot_counts = {8, 64, 256};
  std::vector<int> batches = {32, 64, 128, 256};
  std::vector<std::string> form_names = {"forward", "input_grad", "weight_grad"};
  std::vector<std::string> contender_names = {"ours", "cublas_grouped", "cublas_strided"};
  std::vector<std::string> precision_names = {"fp32", "tf32"};
  std::string group = "form";
  int rounds = 7, warmup = 3, device = 0;
  double round_ms = 2.0;
  uint64_t seed = 1;
  app.add_option("--model", models, "model presets")->delimiter(',')->capture_default_str();
  app.add_option("--slots", slot_counts, "bundle sizes S")->delimiter(',')->capture_default_str();
  app.add_option("--batches", batches, "batch sizes")->delimiter(',')->capture_default_str();
  app.add_option("--forms", form_names, "forward, input_grad, weight_grad")->delimiter(',')->capture_default_str();
  app.add_option("--group", group, "what one call covers: form (all layers of one form), layer, step (everything)")
      ->check(CLI::IsMember({"form", "layer", "step"}))
      ->capture_default_str();
  app.add_option("--contenders", contender_names, "ours, cublas_grouped, cublas_strided")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--precisions", precision_names, "fp32, tf32")->delimiter(',')->capture_default_str();
  app.add_option("--rounds", rounds, "timed rounds per measurement")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--warmup", warmup, "untimed calls first")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--round-ms", round_ms, "minimum length of a round")->check(CLI::Range(0.01, 10000.0))->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--device", device)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  int device_count = 0;
  const cudaError_t status = cudaGetDeviceCount(&device_count);
  if (status != cudaSuccess || device_count == 0) {
    std::cerr << "grouped_gemm_benchmark: no usable CUDA GPU ("
              << (status != cudaSuccess ? std::string("CUDA reports ") + cudaGetErrorName(status)
                                        : std::string("CUDA sees no devices"))
              << "); this benchmark times GPU kernels and needs one\n";
    return 2;
  }

  try {
    std::vector<Form> forms;
    for (const std::string& f : form_names) {
      const std::optional<Form> form = parse_form(f);
      if (!form) throw std::invalid_argument("unknown form '" + f + "' (forward, input_grad, weight_grad)");
      forms.push_back(*form);
    }
    std::vector<ModelSpec> specs;
    for (const std::string& m : models) specs.push_back(parse_model(m));
    for (int s : slot_counts)
      if (s < 1) throw std::invalid_argument("--slots must be positive");
    for (int b : batches)
      if (b < 1) throw std::invalid_argument("--batches must be positive");
    if (specs.empty() || slot_counts.empty() || batches.empty() || forms.empty())
      throw std::invalid_argument("nothing to measure");

    GPU_TUNE_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    GPU_TUNE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    std::cerr << "grouped_gemm_benchmark: " << prop.name << " (compute capability " << prop.major << "."
              << prop.minor << "), cuBLAS " << CUBLAS_VER_MAJOR << "." << CUBLAS_VER_MINOR << "."
              << CUBLAS_VER_PATCH << "\n";

    std::vector<Contender> contenders;
    for (const std::string& p : precision_names) {
      const std::optional<GemmPrecision> precision = kernels::parse_precision(p);
      if (!precision) throw std::invalid_argument("unknown precision '" + p + "' (fp32, tf32)");
      if (*precision == GemmPrecision::kTf32 && prop.major < 8) {
        std::cerr << "grouped_gemm_benchmark: tf32 needs compute capability 8.0 or newer; skipped\n";
        continue;
      }
      for (const std::string& name : contender_names) {
        if (name != "ours" && name != "cublas_grouped" && name != "cublas_strided")
          throw std::invalid_argument("unknown contender '" + name + "' (ours, cublas_grouped, cublas_strided)");
        contenders.push_back({name, *precision, false});
      }
    }

    // Process-lifetime stream: the handle and the buffers below use it until the end.
    cudaStream_t stream = nullptr;
    GPU_TUNE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    kernels::CublasGroupedGemm cublas(stream);

    // The check: the first model at the smallest S and batch, every call of it.
    {
      const int slots = *std::min_element(slot_counts.begin(), slot_counts.end());
      const int batch = *std::min_element(batches.begin(), batches.end());
      DeviceBundle bundle(specs[0], slots, batch, seed, stream);
      const std::vector<Call> calls = make_calls(bundle.layout().layers(), forms, group);
      std::vector<std::vector<float>> storage;
      const Layout host = bundle.download(storage);
      for (Contender& c : contenders) {
        double worst = 0.0;
        std::string error;
        try {
          for (const Call& call : calls) {
            std::vector<GemmProblem> problems = call_problems(bundle.layout(), call);
            bundle.poison_outputs();
            run_contender(c, bundle.layout(), call, problems, stream, cublas);
            GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream));
            const std::vector<float> got = gather_outputs(problems, true);
            const std::vector<GemmProblem> reference = call_problems(host, call);
            kernels::grouped_gemm_cpu(reference, c.precision);
            worst = std::max(worst, relative_l2(got, gather_outputs(reference, false)));
          }
        } catch (const std::exception& e) {
          error = e.what();
        }
        const double tolerance = check_tolerance(c.precision);
        c.passed = error.empty() && worst < tolerance;
        std::cerr << "grouped_gemm_benchmark: check " << c.name << " " << kernels::precision_name(c.precision) << " on "
                  << specs[0].name << " S=" << slots << " batch=" << batch << ": ";
        if (!error.empty()) {
          std::cerr << "FAILED (" << error << "); not timed\n";
        } else if (!c.passed) {
          std::cerr << "FAILED (relative L2 error " << worst << ", limit " << tolerance << "); not timed\n";
        } else {
          std::cerr << "ok (relative L2 error " << worst << ")\n";
        }
      }
    }

    std::vector<TableRow> table;
    for (const ModelSpec& model : specs)
      for (int slots : slot_counts)
        for (int batch : batches) {
          DeviceBundle bundle(model, slots, batch, seed, stream);
          for (const Call& call : make_calls(bundle.layout().layers(), forms, group)) {
            const std::vector<GemmProblem> problems = call_problems(bundle.layout(), call);
            const double flops = call_flops(problems);
            TableRow row{model.name, call.form, slots, batch, call.layer};
            std::vector<nlohmann::json> lines;
            for (const Contender& c : contenders) {
              if (!c.passed) continue;
              const Timing t = time_calls(
                  [&] { run_contender(c, bundle.layout(), call, problems, stream, cublas); }, stream, warmup, rounds,
                  round_ms);
              const double gflops = flops / (t.median_us * 1e3);
              row.gflops[c.precision == GemmPrecision::kTf32 ? 1 : 0][contender_column(c.name)] = gflops;
              nlohmann::json line{{"model", model.name},
                                  {"slots", slots},
                                  {"batch", batch},
                                  {"form", call.form},
                                  {"contender", c.name},
                                  {"precision", kernels::precision_name(c.precision)},
                                  {"median_us", t.median_us},
                                  {"min_us", t.min_us},
                                  {"gflops", gflops},
                                  {"problems", problems.size()},
                                  {"rounds", rounds},
                                  {"reps", t.reps},
                                  {"device", prop.name}};
              if (call.layer >= 0) line["layer"] = call.layer;
              if (c.name == "cublas_strided") {
                line["cublas_calls"] = call.parts.size();
                line["note"] = "one strided-batched call per layer and form";
              }
              lines.push_back(std::move(line));
            }
            // ours / best cuBLAS, per precision: above 1 means ours is faster.
            for (nlohmann::json& line : lines) {
              if (line["contender"] != "ours") continue;
              const int p = line["precision"] == "tf32" ? 1 : 0;
              const double best = std::max(row.gflops[p][1], row.gflops[p][2]);
              if (best > 0.0) line["ours_over_cublas_best"] = row.gflops[p][0] / best;
            }
            for (const nlohmann::json& line : lines) std::cout << line.dump() << std::endl;
            table.push_back(row);
          }
        }
    print_table(table);
    GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream));
  } catch (const std::exception& e) {
    std::cerr << "grouped_gemm_benchmark: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
