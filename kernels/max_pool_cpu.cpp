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

// Offsets of a window's four elements from its origin, in max_pool_window_argmax's order.
struct Window {
  int64_t offset[4];
  explicit Window(const PoolGeometry& g) {
    const int64_t row = int64_t(g.width) * g.channels, column = g.channels;
    offset[0] = 0;
    offset[1] = column;
    offset[2] = row;
    offset[3] = row + column;
  }
  int64_t row_stride() const { return offset[2]; }
  int64_t column_stride() const { return offset[1]; }
};

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

void forward_image(const PoolGeometry& g, const float* input, float* output) {
  const Window window(g);
  for (int oh = 0; oh < g.out_height(); ++oh) {
    for (int ow = 0; ow < g.out_width(); ++ow) {
      const float* origin = input + (int64_t(2 * oh) * g.width + 2 * ow) * g.channels;
      float* out = output + (int64_t(oh) * g.out_width() + ow) * g.channels;
      for (int c = 0; c < g.channels; ++c) {
        const int best = max_pool_window_argmax(origin + c, window.row_stride(), window.column_stride());
        out[c] = origin[c + window.offset[best]];
      }
    }
  }
}

// Zeros the image's gradient, then gives each window's output gradient to its argmax.
// Windows do not overlap (stride 2), so each input element receives at most one value;
// an odd last row or column belongs to no window and stays zero.
void backward_image(const PoolGeometry& g, const float* input, const float* output_grad, float* input_grad) {
  const Window window(g);
  std::fill_n(input_grad, g.input_size(), 0.0f);
  for (int oh = 0; oh < g.out_height(); ++oh) {
    for (int ow = 0; ow < g.out_width(); ++ow) {
      const int64_t origin = (int64_t(2 * oh) * g.width + 2 * ow) * g.channels;
      const float* grad = output_grad + (int64_t(oh) * g.out_width() + ow) * g.channels;
      for (int c = 0; c < g.channels; ++c) {
        const int best = max_pool_window_argmax(input + origin + c, window.row_stride(), window.column_stride());
        input_grad[origin + c + window.offset[best]] = grad[c];
      }
    }
  }
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
