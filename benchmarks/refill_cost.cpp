// What refilling one slot costs the rest of the bundle: the median time of a plain bundle
// step, against a step that follows the refill of one slot (its model removed, another added
// in its place, as the trainer does when a trial ends). Two refills are timed: a model of the
// same shape (the slot's memory is reused and a replayed step keeps its pointers) and one
// with another batch size (new memory). The cost is reported in seconds and in plain steps; the
// scheduler's target is about one step. One JSON line per (model, S).
#include <CLI/CLI.hpp>        // flags
#include <nlohmann/json.hpp>  // output lines

#include <chrono>
#include <iostream>
#include <vector>

#include "benchmarks/statistics.h"
#include "engine/backend_factory.h"
#include "engine/bundle.h"
#include "engine/data/dataset.h"

using namespace gpu_tune;

namespace {

using Clock = std::chrono::steady_clock;
using gpu_tune::benchmarks::median;

TrainingConfig config(const std::string& model, int batch, uint64_t seed) {
  TrainingConfig c;
  c.model = parse_model(model);
  c.batch_size = batch;
  c.optimizer.learning_rate = 1e-3f * static_cast<float>(1 + seed % 4);
  c.seed = seed;
  return c;
}

// Seconds of one step, `before` included: a refill's cost is what it adds to the step that
// follows it (on CUDA, that step is captured anew).
template <typename Before>
double timed_step(Backend& backend, Bundle& bundle, Before&& before) {
  backend.synchronize();
  const auto start = Clock::now();
  before();
  bundle.step();
  backend.synchronize();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the cost of refilling one slot of a bundle"};
  std::vector<std::string> models = {"mlp_medium", "cnn_small"};
  std::vector<int> sizes = {8};
  int batch = 64, repeats = 21;
  const int warmup = 10;
  std::string backend_name = "auto";
  data::DatasetOptions data_options;
  app.add_option("--model", models, "models to time")->delimiter(',');
  app.add_option("--slots", sizes, "bundle sizes S")->delimiter(',');
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--repeats", repeats, "timed steps of each kind")->capture_default_str();
  app.add_option("--backend", backend_name, "auto | cpu | cuda")->capture_default_str();
  app.add_option_function<std::string>("--data", [&](const std::string& d) { data_options.data_dir = d; });
  CLI11_PARSE(app, argc, argv);

  try {
    const data::Dataset dataset = data::load_dataset(data_options);
    const auto choice = parse_backend_choice(backend_name);
    if (!choice) throw std::invalid_argument("--backend '" + backend_name + "' is not auto, cpu or cuda");
    BackendSelection selection = select_backend(*choice, BackendOptions{});
    Backend& backend = *selection.backend;
    std::cerr << "refill_cost: " << selection.notice << "\n";
    for (const std::string& model : models) {
      for (int s : sizes) {
        Bundle bundle(backend, dataset, BundleOptions{.capacity = s});
        uint64_t next_seed = 0;
        const auto refill_with = [&](const TrainingConfig& c) { bundle.add(c, c.seed); };
        for (int i = 0; i < s; ++i) refill_with(config(model, batch, next_seed++));
        for (int i = 0; i < warmup; ++i) bundle.step();
        std::vector<double> plain, same_shape, other_shape;
        for (int r = 0; r < repeats; ++r) {
          plain.push_back(timed_step(backend, bundle, [] {}));
          same_shape.push_back(timed_step(backend, bundle, [&] {
            bundle.remove(0);
            refill_with(config(model, batch, next_seed++));
          }));
          bundle.step();  // the next step replays (CUDA) as the one after a refill does
          TrainingConfig different = config(model, batch, next_seed++);
          different.batch_size = batch + 1 + r % 2;  // other buffers: new memory every time
          other_shape.push_back(timed_step(backend, bundle, [&] {
            bundle.remove(0);
            refill_with(different);
          }));
          bundle.step();
        }
        const double step = median(plain);
        const double same = median(same_shape) - step, other = median(other_shape) - step;
        std::cout << nlohmann::json{{"framework", "gpu_tune"},
                                    {"backend", backend.name()},
                                    {"device", backend.device_description()},
                                    {"replayed_steps", backend.replays_steps()},
                                    {"model", model},
                                    {"slots", s},
                                    {"batch", batch},
                                    {"step_seconds", step},
                                    {"same_shape_refill_seconds", same},
                                    {"same_shape_refill_steps", same / step},
                                    {"other_shape_refill_seconds", other},
                                    {"other_shape_refill_steps", other / step},
                                    {"repeats", repeats}}
                         .dump()
                  << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "refill_cost: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
