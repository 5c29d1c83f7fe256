// Trained samples per second of a bundle of S identical-shape models (different seeds and
// learning rates) on the chosen backend. One JSON line per (model, S) for the comparison
// script; medians over repeats, since the machines are shared and noisy.
#include <CLI/CLI.hpp>          // flags
#include <nlohmann/json.hpp>    // output lines

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "benchmarks/statistics.h"
#include "engine/backend_factory.h"
#include "engine/bundle.h"
#include "engine/data/dataset.h"

using namespace gpu_tune;

namespace {

using gpu_tune::benchmarks::median;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bundle training throughput"};
  std::vector<std::string> models = {"mlp_small", "mlp_medium", "mlp_large"};
  std::vector<int> sizes = {1, 4, 8};
  int batch = 64, steps = 200, warmup = 20, repeats = 3;
  std::string backend_name = "cpu", precision_name = "fp32", gemm_name = "own", conv_name = "own";
  bool no_cuda_graphs = false;
  data::DatasetOptions data_options;
  app.add_option("--model", models, "models to time")->delimiter(',');
  app.add_option("--slots", sizes, "bundle sizes S")->delimiter(',');
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--steps", steps, "timed bundle steps per repeat")->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("--repeats", repeats)->capture_default_str();
  app.add_option("--backend", backend_name, "auto | cpu | cuda")->capture_default_str();
  app.add_option("--precision", precision_name, "fp32 | tf32")->capture_default_str();
  app.add_option("--gemm", gemm_name, "own | cublas")->capture_default_str();
  app.add_option("--conv", conv_name, "own | cudnn (CUDA backend; the CPU has only its reference)")
      ->capture_default_str();
  app.add_flag("--no-cuda-graphs", no_cuda_graphs, "issue every step afresh");
  app.add_option_function<std::string>("--data", [&](const std::string& d) { data_options.data_dir = d; });
  CLI11_PARSE(app, argc, argv);

  try {
    const data::Dataset dataset = data::load_dataset(data_options);
    const auto choice = parse_backend_choice(backend_name);
    const auto precision = kernels::parse_precision(precision_name);
    const auto gemm = parse_gemm_library(gemm_name);
    const auto conv = parse_conv_library(conv_name);
    if (!choice || !precision || !gemm || !conv)
      throw std::invalid_argument("--backend, --precision, --gemm or --conv has a value it does not take (see --help)");
    BackendSelection selection = select_backend(
        *choice, BackendOptions{.precision = *precision, .gemm = *gemm, .conv = *conv, .cuda_graphs = !no_cuda_graphs});
    std::cerr << "bundle_throughput: " << selection.notice << "\n";
    for (const std::string& model : models) {
      for (int s : sizes) {
        Bundle bundle(*selection.backend, dataset, BundleOptions{.capacity = s});
        for (int i = 0; i < s; ++i) {
          TrainingConfig c;
          c.model = parse_model(model);
          c.batch_size = batch;
          c.optimizer.learning_rate = 1e-3f * static_cast<float>(1 + i % 4);
          c.seed = static_cast<uint64_t>(i);
          bundle.add(c, static_cast<uint64_t>(i));
        }
        for (int i = 0; i < warmup; ++i) bundle.step();
        std::vector<double> rates;
        for (int r = 0; r < repeats; ++r) {
          selection.backend->synchronize();
          const auto start = std::chrono::steady_clock::now();
          for (int i = 0; i < steps; ++i) bundle.step();
          selection.backend->synchronize();
          const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          rates.push_back(double(steps) * batch * s / seconds);
        }
        const double rate = median(rates);
        std::cout << nlohmann::json{{"framework", "gpu_tune"},
                                    {"backend", selection.backend->name()},
                                    {"device", selection.backend->device_description()},
                                    {"precision", precision_name},
                                    {"gemm", gemm_name},
                                    {"conv", conv_name},
                                    {"replayed_steps", selection.backend->replays_steps()},
                                    {"model", model},
                                    {"slots", s},
                                    {"batch", batch},
                                    {"samples_per_second", rate},
                                    {"model_epochs_per_second", rate / static_cast<double>(dataset.train.count)},
                                    {"repeats", repeats}}
                         .dump()
                  << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bundle_throughput: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
