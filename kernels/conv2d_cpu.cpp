#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu_parallel.h"

namespace gpu_tune::kernels {

void validate_conv_geometry(const ConvGeometry& g, const std::string& what) {
  auto fail = [&](const std::string& why) { throw std::invalid_argument(what + ": " + why); };
  if (g.height < 1 || g.width < 1 || g.in_channels < 1 || g.out_channels < 1)
    fail("sizes below 1 (height " + std::to_string(g.height) + ", width " + std::to_string(g.width) +
         ", in_channels " + std::to_string(g.in_channels) + ", out_channels " + std::to_string(g.out_channels) + ")");
  if (g.kernel < 1 || g.kernel % 2 == 0) fail("kernel " + std::to_string(g.kernel) + " is not odd and at least 1");
  if (g.padding < 0 || g.padding >= g.kernel)
    fail("padding " + std::to_string(g.padding) + " outside [0, kernel " + std::to_string(g.kernel) + ")");
  // In 64 bits: the int accessors would overflow before they could report a size too large.
  const int64_t out_height = int64_t(g.height) + 2 * int64_t(g.padding) - g.kernel + 1;
  const int64_t out_width = int64_t(g.width) + 2 * int64_t(g.padding) - g.kernel + 1;
  if (out_height < 1 || out_width < 1)
    fail("output " + std::to_string(out_height) + "x" + std::to_string(out_width) + " smaller than 1x1");
  // The GEMMs take int sizes: one image's rows and the patch must fit.
  if (out_height * out_width > INT_MAX || int64_t(g.kernel) * g.kernel * g.in_channels > INT_MAX)
    fail("sizes too large for 32-bit GEMM dimensions");
}

int64_t conv2d_weight_grad_workspace(const ConvGeometry& geometry, int images) {
  // The CUDA form splits the weight gradient's sum over rows = images * OH * OW into
  // ceil(rows / 1024) blocks (at least 1, at most 64), each writing its own partial dW;
  // a second pass adds them in order. A function of the geometry and the image bound only,
  // so the engine can size the workspace when it builds the bundle.
  constexpr int64_t kRowsPerSplit = 1024, kMaxSplits = 64;
  const int64_t rows = int64_t(std::max(images, 0)) * std::max(geometry.out_height(), 0) *
                       std::max(geometry.out_width(), 0);
  const int64_t splits = std::clamp<int64_t>((rows + kRowsPerSplit - 1) / kRowsPerSplit, 1, kMaxSplits);
  return splits * std::max<int64_t>(geometry.weight_count(), 0);
}

namespace {

// ---- validation ----------------------------------------------------------------------

// Checks the bounds (not the run-time images), as the CUDA forms do on the host before
// they launch: a pointer may be null only when the bound says nothing is read or written.
class ProblemCheck {
 public:
  ProblemCheck(const char* operation, size_t index, const ConvGeometry& geometry, int images)
      : what_(std::string(operation) + " problem " + std::to_string(index)), images_(images) {
    validate_conv_geometry(geometry, what_);
    if (images < 0) fail("negative images " + std::to_string(images));
  }
  // A tensor with an image dimension: needed when the bound is above zero.
  void per_image(const void* pointer, const char* name) const {
    if (images_ > 0 && pointer == nullptr) fail(std::string("null ") + name);
  }
  void always(const void* pointer, const char* name) const {
    if (pointer == nullptr) fail(std::string("null ") + name);
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw std::invalid_argument(what_ + ": " + why); }
  std::string what_;
  int images_;
};

void validate(std::span<const Conv2dForward> problems) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dForward& p = problems[i];
    const ProblemCheck check("conv2d_forward", i, p.geometry, p.images);
    check.per_image(p.input, "input");
    check.per_image(p.weights, "weights");  // read only when there is an image to convolve
    check.per_image(p.output, "output");
  }
}

void validate(std::span<const Conv2dBackwardData> problems) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardData& p = problems[i];
    const ProblemCheck check("conv2d_backward_data", i, p.geometry, p.images);
    check.per_image(p.output_grad, "output_grad");
    check.per_image(p.weights, "weights");
    check.per_image(p.input_grad, "input_grad");
  }
}

void validate(std::span<const Conv2dBackwardWeight> problems) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardWeight& p = problems[i];
    const ProblemCheck check("conv2d_backward_weight", i, p.geometry, p.images);
    check.per_image(p.input, "input");
    check.per_image(p.output_grad, "output_grad");
    check.always(p.weight_grad, "weight_grad");  // written (zeros) even with no images
  }
}

// ---- im2col and col2im ---------------------------------------------------------------

int64_t rows_per_image(const ConvGeometry& g) { return int64_t(g.out_height()) * g.out_width(); }

// Copies n floats. A plain loop on purpose: n is a kernel row's K * Cin, often 3 or 5
// floats, where a call to memmove (what std::copy_n and loop-pattern recognition make of
// it) costs more than the copy.
#if defined(__clang__)
#define GPU_TUNE_NO_MEMMOVE_IDIOM  // no such attribute; clang builds (the fuzzers) are not timed
#else
#define GPU_TUNE_NO_MEMMOVE_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
GPU_TUNE_NO_MEMMOVE_IDIOM inline void copy_short(const float* from, int n, float* to) {
  for (int i = 0; i < n; ++i) to[i] = from[i];
}

// One image's rows of im2col(X): the values im2col_element gives. A kernel row (kw = 0..K-1
// at one kh) reads K neighbouring pixels, which are contiguous in NHWC, so the inner
// pixels copy K * Cin floats at once and only the padded edges go pixel by pixel.
void im2col_image(const ConvGeometry& g, const float* image, float* col) {
  const int cin = g.in_channels, k = g.kernel;
  const int run = k * cin;  // one kernel row of a patch
  for (int oh = 0; oh < g.out_height(); ++oh) {
    for (int ow = 0; ow < g.out_width(); ++ow) {
      const int w0 = ow - g.padding;
      const bool inside = w0 >= 0 && w0 + k <= g.width;
      for (int kh = 0; kh < k; ++kh) {
        const int h = oh + kh - g.padding;
        if (h < 0 || h >= g.height) {
          std::fill_n(col, run, 0.0f);
        } else if (inside) {
          copy_short(image + (int64_t(h) * g.width + w0) * cin, run, col);
        } else {
          for (int kw = 0; kw < k; ++kw) {
            const int w = w0 + kw;
            if (w >= 0 && w < g.width)
              copy_short(image + (int64_t(h) * g.width + w) * cin, cin, col + kw * cin);
            else
              std::fill_n(col + kw * cin, cin, 0.0f);
          }
        }
        col += run;
      }
    }
  }
}

// The adjoint of im2col_image: overwrites one image's input gradient with the sum of the
// column gradients that read each pixel, added in row-major order of im2col (fixed, so
// deterministic). Columns that read the padding are dropped.
void col2im_image(const ConvGeometry& g, const float* col, float* image) {
  const int cin = g.in_channels;
  std::fill_n(image, g.input_size(), 0.0f);
  for (int oh = 0; oh < g.out_height(); ++oh) {
    for (int ow = 0; ow < g.out_width(); ++ow) {
      for (int kh = 0; kh < g.kernel; ++kh) {
        for (int kw = 0; kw < g.kernel; ++kw) {
          const int h = oh + kh - g.padding, w = ow + kw - g.padding;
          if (h >= 0 && h < g.height && w >= 0 && w < g.width) {
            float* pixel = image + (int64_t(h) * g.width + w) * cin;
            for (int ci = 0; ci < cin; ++ci) pixel[ci] += col[ci];
          }
          col += cin;
        }
      }
    }
  }
}

// ---- chunks ---------------------------------------------------------------------------

// A chunk is a run of consecutive images of one problem: the unit of work one thread takes
// whole, im2col, GEMM and col2im together. Its im2col columns are about 1 MB (kChunkFloats),
// so they are still in the core's L2 cache when the GEMM reads them (or, for the data
// gradient, when col2im reads what the GEMM wrote): measured on cnn_small's second layer,
// one GEMM over the whole batch's columns runs 15.5 ms for the data gradient, chunks of 8
// images 9.5 ms. At least one image.
constexpr int64_t kChunkFloats = int64_t(1) << 18;

// Images per chunk: a function of the geometry alone, so the weight gradient, which adds
// its chunks' sums in order, gets the same bits whatever the image bound, the run-time
// images, the neighbouring problems or the thread count.
int64_t images_per_chunk(const ConvGeometry& g) {
  return std::max<int64_t>(1, kChunkFloats / (rows_per_image(g) * g.patch_size()));
}

struct Chunk {
  size_t problem = 0;
  int64_t first_image = 0, images = 0;
};

// Every problem's chunks over its run-time images, in order.
template <typename Problem>
std::vector<Chunk> chunks_of(const std::vector<Problem>& problems) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < problems.size(); ++i) {
    const int64_t images = std::max(problems[i].images, 0);  // a negative run-time count: none
    const int64_t per_chunk = images_per_chunk(problems[i].geometry);
    for (int64_t first = 0; first < images; first += per_chunk)
      chunks.push_back({.problem = i, .first_image = first, .images = std::min(per_chunk, images - first)});
  }
  return chunks;
}

// The calling thread's im2col scratch, kept between calls, so a training step neither
// allocates nor zeroes it (im2col writes every element a GEMM reads; a GEMM with beta 0
// overwrites its output).
float* thread_scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < floats) scratch.resize(static_cast<size_t>(floats));
  return scratch.data();
}

int64_t chunk_columns(const ConvGeometry& g, const Chunk& c) { return c.images * rows_per_image(g) * g.patch_size(); }
int chunk_rows(const ConvGeometry& g, const Chunk& c) { return static_cast<int>(c.images * rows_per_image(g)); }

// One chunk's im2col rows, image after image, into `col`.
void im2col_chunk(const ConvGeometry& g, const float* input, const Chunk& c, float* col) {
  for (int64_t n = 0; n < c.images; ++n)
    im2col_image(g, input + (c.first_image + n) * g.input_size(), col + n * rows_per_image(g) * g.patch_size());
}

// One GEMM on this thread (inside a chunk's task the CPU forms see one thread).
void gemm(const GemmProblem& problem, GemmPrecision precision) { grouped_gemm_cpu(std::span(&problem, 1), precision); }

// The weight gradient's unit of work: consecutive chunks of one problem whose terms one
// thread adds into one sum, chunk after chunk. A problem has at most kMaxSums of them, so
// the partial sums held at once stay a few weight tensors per problem however many images
// it has. The grouping depends on the problem's geometry and run-time images only.
constexpr int64_t kMaxSums = 8;

struct SumGroup {
  size_t problem = 0;
  int64_t index = 0;               // among its problem's groups: 0 sums straight into dW
  size_t first_chunk = 0, chunks = 0;
  int64_t partial_offset = -1;     // where a later group's sum lives in the partials
};

std::vector<SumGroup> sum_groups(const std::vector<Chunk>& chunks) {
  std::vector<SumGroup> groups;
  for (size_t first = 0; first < chunks.size();) {
    size_t end = first;
    while (end < chunks.size() && chunks[end].problem == chunks[first].problem) ++end;
    const int64_t count = static_cast<int64_t>(end - first);
    const int64_t per_group = (count + kMaxSums - 1) / kMaxSums;
    for (int64_t index = 0; index * per_group < count; ++index)
      groups.push_back({.problem = chunks[first].problem, .index = index,
                        .first_chunk = first + static_cast<size_t>(index * per_group),
                        .chunks = static_cast<size_t>(std::min(per_group, count - index * per_group))});
    first = end;
  }
  return groups;
}

// The weight gradient's last pass: each problem's dW += the sums of its groups 1, 2, ...
// in order, split across threads by weights (never along the sum).
void add_partials_in_order(const std::vector<Conv2dBackwardWeight>& problems, const std::vector<SumGroup>& groups,
                           const float* partials) {
  struct Addition {
    float* weight_grad;
    std::vector<const float*> partials;
    Range weights;
  };
  constexpr int64_t kWeightsPerTask = 4096;
  std::vector<Addition> additions;
  for (size_t t = 0; t < groups.size(); ++t) {
    if (groups[t].index != 1) continue;  // a problem's second group: its partials begin here
    const Conv2dBackwardWeight& p = problems[groups[t].problem];
    std::vector<const float*> sums;
    for (size_t u = t; u < groups.size() && groups[u].problem == groups[t].problem; ++u)
      sums.push_back(partials + groups[u].partial_offset);
    const int64_t count = p.geometry.weight_count();
    const int64_t pieces = (count + kWeightsPerTask - 1) / kWeightsPerTask;
    for (int64_t piece = 0; piece < pieces; ++piece)
      additions.push_back({p.weight_grad, sums, split_range(count, pieces, piece)});
  }
  parallel_for(static_cast<int64_t>(additions.size()), [&](int64_t a) {
    const Addition& addition = additions[a];
    for (const float* partial : addition.partials)
      for (int64_t e = addition.weights.begin; e < addition.weights.end; ++e) addition.weight_grad[e] += partial[e];
  });
}

}  // namespace

void conv2d_forward_cpu(std::span<const Conv2dForward> given, GemmPrecision precision) {
  validate(given);
  const std::vector<Conv2dForward> problems = resolve_run_time_values(given);
  const std::vector<Chunk> chunks = chunks_of(problems);
  parallel_for(static_cast<int64_t>(chunks.size()), [&](int64_t t) {
    const Chunk& c = chunks[t];
    const Conv2dForward& p = problems[c.problem];
    const ConvGeometry& g = p.geometry;
    float* output = p.output + c.first_image * g.output_size();
    float* col = thread_scratch(chunk_columns(g, c));
    im2col_chunk(g, p.input, c, col);
    // Y[rows, Cout] = im2col(X)[rows, patch] * W[patch, Cout]
    gemm({.m = chunk_rows(g, c), .n = g.out_channels, .k = g.patch_size(), .a = col, .lda = g.patch_size(),
          .b = p.weights, .ldb = g.out_channels, .c = output, .ldc = g.out_channels},
         precision);
  });
}

void conv2d_backward_data_cpu(std::span<const Conv2dBackwardData> given, GemmPrecision precision) {
  validate(given);
  const std::vector<Conv2dBackwardData> problems = resolve_run_time_values(given);
  const std::vector<Chunk> chunks = chunks_of(problems);
  parallel_for(static_cast<int64_t>(chunks.size()), [&](int64_t t) {
    const Chunk& c = chunks[t];
    const Conv2dBackwardData& p = problems[c.problem];
    const ConvGeometry& g = p.geometry;
    float* col = thread_scratch(chunk_columns(g, c));
    // dcol[rows, patch] = dY[rows, Cout] * W^T (W stored patch x Cout)
    gemm({.m = chunk_rows(g, c), .n = g.patch_size(), .k = g.out_channels,
          .a = p.output_grad + c.first_image * g.output_size(), .lda = g.out_channels, .b = p.weights,
          .ldb = g.out_channels, .transpose_b = true, .c = col, .ldc = g.patch_size()},
         precision);
    for (int64_t n = 0; n < c.images; ++n)
      col2im_image(g, col + n * rows_per_image(g) * g.patch_size(),
                   p.input_grad + (c.first_image + n) * g.input_size());
  });
}

void conv2d_backward_weight_cpu(std::span<const Conv2dBackwardWeight> given, GemmPrecision precision) {
  validate(given);
  const std::vector<Conv2dBackwardWeight> problems = resolve_run_time_values(given);
  // No images, no terms: the sum is zero.
  for (const Conv2dBackwardWeight& p : problems)
    if (p.images <= 0) std::fill_n(p.weight_grad, p.geometry.weight_count(), 0.0f);
  const std::vector<Chunk> chunks = chunks_of(problems);
  std::vector<SumGroup> groups = sum_groups(chunks);

  // Each group's sum goes to its own partial dW, the first group's straight into dW, so the
  // groups run on any thread at once; dW then adds the others in order.
  int64_t partial_floats = 0;
  for (SumGroup& group : groups) {
    if (group.index == 0) continue;
    group.partial_offset = partial_floats;
    partial_floats += problems[group.problem].geometry.weight_count();
  }
  thread_local std::vector<float> partial_storage;  // the calling thread's, kept between calls
  if (static_cast<int64_t>(partial_storage.size()) < partial_floats)
    partial_storage.resize(static_cast<size_t>(partial_floats));
  float* partials = partial_storage.data();

  parallel_for(static_cast<int64_t>(groups.size()), [&](int64_t t) {
    const SumGroup& group = groups[t];
    const Conv2dBackwardWeight& p = problems[group.problem];
    const ConvGeometry& g = p.geometry;
    float* sum = group.index == 0 ? p.weight_grad : partials + group.partial_offset;
    for (size_t k = 0; k < group.chunks; ++k) {
      const Chunk& c = chunks[group.first_chunk + k];
      float* col = thread_scratch(chunk_columns(g, c));
      im2col_chunk(g, p.input, c, col);
      // sum[patch, Cout] (+)= im2col(X)^T * dY over the chunk's rows: the group's first
      // chunk overwrites, the others add in order.
      gemm({.m = g.patch_size(), .n = g.out_channels, .k = chunk_rows(g, c), .a = col, .lda = g.patch_size(),
            .transpose_a = true, .b = p.output_grad + c.first_image * g.output_size(), .ldb = g.out_channels,
            .c = sum, .ldc = g.out_channels, .beta = k == 0 ? 0.0f : 1.0f},
           precision);
    }
  });

  add_partials_in_order(problems, groups, partials);
}

}  // namespace gpu_tune::kernels
