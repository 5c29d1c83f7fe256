#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu_parallel.h"
#include "kernels/max_pool.h"

namespace gpu_tune::kernels {

namespace {

// Checks the bounds (not the run-time images), as a CUDA form must on the host.
void validate_pool(const char* operation, size_t index, const PoolGeometry& g, int images,
                   std::initializer_list<std::pair<const void*, const char*>> tensors) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(operation) + " problem " + std::to_string(index) + ": " + why);
  };
  if (g.height < 2 || g.width < 2)
    fail("image " + std::to_string(g.height) + "x" + std::to_string(g.width) + " smaller than the 2x2 window");
  if (g.channels < 1) fail("channels " + std::to_string(g.channels) + " below 1");
  if (images < 0) fail("negative images " + std::to_string(images));
  if (images == 0) return;
  for (const auto& [pointer, name] : tensors)
    if (pointer == nullptr) fail(std::string("null ") + name);
}

struct Piece {
  size_t problem;
  Range images;
};

// Pieces of whole images: a function of each problem's own image count and the thread
// count only. Exact arithmetic makes any split give the same bits; images keep the
// backward pass's zeroing and routing of one image in one piece.
template <typename Problem>
std::vector<Piece> split_by_images(const std::vector<Problem>& problems) {
  const int threads = cpu_thread_count();
  std::vector<Piece> pieces;
  for (size_t i = 0; i < problems.size(); ++i) {
    const int64_t images = std::max(problems[i].images, 0);  // a negative run-time count: none
    if (images == 0) continue;
    const int64_t parts = piece_count(images, 1, threads);
    for (int64_t part = 0; part < parts; ++part) pieces.push_back({i, split_range(images, parts, part)});
  }
  return pieces;
}

// Rows of windows, all channels, in two steps. The fast step assumes no NaN: then the
// first maximum of (v0, v1, v2, v3) is a tournament, max(first max of v0 v1, first max of
// v2 v3) keeping the left on ties, which the compiler vectorises (plain compares and
// selects, no dependent NaN logic). A row that holds a NaN is redone element by element
// with max_pool_window_maximum itself. Either way the result is that function's.
// Separate functions so that the restrict qualifiers hold (GCC honours them on parameters).

// One window's channels. Returns whether the window held a NaN (the output is then to be
// redone).
bool forward_window_fast(int channels, const float* __restrict a, const float* __restrict b,
                         float* __restrict out) {
  int nan = 0;  // an int, not a bool: GCC 12 vectorises this form
  for (int c = 0; c < channels; ++c) {
    const float v0 = a[c], v1 = a[c + channels], v2 = b[c], v3 = b[c + channels];
    const float left = v1 > v0 ? v1 : v0, right = v3 > v2 ? v3 : v2;
    out[c] = right > left ? right : left;
    nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
  }
  return nan != 0;
}

void forward_window_row(int windows, int channels, int64_t row_stride, const float* top, float* out) {
  for (int w = 0; w < windows; ++w) {
    const float* a = top + int64_t(2 * w) * channels;
    float* o = out + int64_t(w) * channels;
    if (!forward_window_fast(channels, a, a + row_stride, o)) continue;
    for (int c = 0; c < channels; ++c)
      o[c] = max_pool_window_maximum(a[c], a[c + channels], a[c + row_stride], a[c + row_stride + channels]).value;
  }
}

bool backward_window_fast(int channels, const float* __restrict a, const float* __restrict b,
                          const float* __restrict grad, float* __restrict ga, float* __restrict gb) {
  // Comparisons written out at each use and an int accumulator: GCC 12 vectorises this
  // form, not one with bool temporaries.
  int nan = 0;
  for (int c = 0; c < channels; ++c) {
    const float v0 = a[c], v1 = a[c + channels], v2 = b[c], v3 = b[c + channels];
    const float left = v1 > v0 ? v1 : v0, right = v3 > v2 ? v3 : v2;
    const float g = grad[c];
    const float to_left = right > left ? 0.0f : g, to_right = right > left ? g : 0.0f;
    ga[c] = v1 > v0 ? 0.0f : to_left;
    ga[c + channels] = v1 > v0 ? to_left : 0.0f;
    gb[c] = v3 > v2 ? 0.0f : to_right;
    gb[c + channels] = v3 > v2 ? to_right : 0.0f;
    nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
  }
  return nan != 0;
}

// Writes all four gradients of each window: the output's gradient at the first maximum,
// zero elsewhere. Windows do not overlap (stride 2).
void backward_window_row(int windows, int channels, int64_t row_stride, const float* top, const float* grad,
                         float* top_grad) {
  const int64_t offsets[4] = {0, channels, row_stride, row_stride + channels};
  for (int w = 0; w < windows; ++w) {
    const int64_t origin = int64_t(2 * w) * channels;
    const float* a = top + origin;
    const float* g = grad + int64_t(w) * channels;
    float* ga = top_grad + origin;
    if (!backward_window_fast(channels, a, a + row_stride, g, ga, ga + row_stride)) continue;
    for (int c = 0; c < channels; ++c) {
      const int best =
          max_pool_window_maximum(a[c], a[c + channels], a[c + row_stride], a[c + row_stride + channels]).index;
      for (int k = 0; k < 4; ++k) ga[c + offsets[k]] = k == best ? g[c] : 0.0f;
    }
  }
}

void forward_image(const PoolGeometry& g, const float* input, float* output) {
  const int64_t row_stride = int64_t(g.width) * g.channels;
  for (int oh = 0; oh < g.out_height(); ++oh)
    forward_window_row(g.out_width(), g.channels, row_stride, input + 2 * oh * row_stride,
                       output + int64_t(oh) * g.out_width() * g.channels);
}

// Gives each window's output gradient to its first maximum and zero to the window's other
// elements; an odd last row or column belongs to no window and gets zero.
void backward_image(const PoolGeometry& g, const float* input, const float* output_grad, float* input_grad) {
  const int64_t row_stride = int64_t(g.width) * g.channels;
  const int64_t covered = int64_t(2 * g.out_width()) * g.channels;  // of each row
  for (int oh = 0; oh < g.out_height(); ++oh) {
    float* rows = input_grad + 2 * oh * row_stride;
    backward_window_row(g.out_width(), g.channels, row_stride, input + 2 * oh * row_stride,
                        output_grad + int64_t(oh) * g.out_width() * g.channels, rows);
    if (covered < row_stride) {  // the odd last column
      std::fill(rows + covered, rows + row_stride, 0.0f);
      std::fill(rows + row_stride + covered, rows + 2 * row_stride, 0.0f);
    }
  }
  if (g.height % 2 == 1) std::fill_n(input_grad + (g.height - 1) * row_stride, row_stride, 0.0f);  // the odd last row
}

}  // namespace

void max_pool_forward_cpu(std::span<const MaxPoolForward> given) {
  for (size_t i = 0; i < given.size(); ++i)
    validate_pool("max_pool_forward", i, given[i].geometry, given[i].images,
                  {{given[i].input, "input"}, {given[i].output, "output"}});
  const std::vector<MaxPoolForward> problems = resolve_run_time_values(given);
  const std::vector<Piece> pieces = split_by_images(problems);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const MaxPoolForward& p = problems[pieces[i].problem];
    for (int64_t n = pieces[i].images.begin; n < pieces[i].images.end; ++n)
      forward_image(p.geometry, p.input + n * p.geometry.input_size(), p.output + n * p.geometry.output_size());
  });
}

void max_pool_backward_cpu(std::span<const MaxPoolBackward> given) {
  for (size_t i = 0; i < given.size(); ++i)
    validate_pool("max_pool_backward", i, given[i].geometry, given[i].images,
                  {{given[i].input, "input"}, {given[i].output_grad, "output_grad"}, {given[i].input_grad, "input_grad"}});
  const std::vector<MaxPoolBackward> problems = resolve_run_time_values(given);
  const std::vector<Piece> pieces = split_by_images(problems);
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const MaxPoolBackward& p = problems[pieces[i].problem];
    const PoolGeometry& g = p.geometry;
    for (int64_t n = pieces[i].images.begin; n < pieces[i].images.end; ++n)
      backward_image(g, p.input + n * g.input_size(), p.output_grad + n * g.output_size(),
                     p.input_grad + n * g.input_size());
  });
}

}  // namespace gpu_tune::kernels
