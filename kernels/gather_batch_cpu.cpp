#include <vector>

#include "kernels/cpu_parallel.h"
#include "kernels/gather_batch.h"

namespace gpu_tune::kernels {

void gather_batch_cpu(std::span<const GatherProblem> given) {
  const std::vector<GatherProblem> problems = resolve_run_time_values(given);
  const int threads = cpu_thread_count();
  struct Piece {
    size_t problem;
    Range rows;
  };
  std::vector<Piece> pieces;
  for (size_t i = 0; i < problems.size(); ++i) {
    const int64_t parts = piece_count(problems[i].rows, 16, threads);
    for (int64_t part = 0; part < parts; ++part) pieces.push_back({i, split_range(problems[i].rows, parts, part)});
  }
  parallel_for(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const GatherProblem& p = problems[pieces[i].problem];
    for (int64_t r = pieces[i].rows.begin; r < pieces[i].rows.end; ++r) {
      const int64_t image = p.indices[r];
      const uint8_t* src = p.images + image * p.features;
      float* dst = p.out + r * p.features;
      for (int f = 0; f < p.features; ++f) dst[f] = static_cast<float>(src[f]) * p.scale + p.shift;
      p.out_labels[r] = p.labels[image];
    }
  });
}

}  // namespace gpu_tune::kernels
