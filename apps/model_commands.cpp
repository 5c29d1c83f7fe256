#include "apps/model_commands.h"

#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "apps/output_file.h"
#include "engine/backend_factory.h"
#include "engine/bundle.h"
#include "engine/data/dataset.h"
#include "engine/data/idx_reader.h"
#include "engine/model_file.h"

namespace gpu_tune::app {

namespace {

// The backend the model runs on, computing its matrix products in the precision it
// trained with: what exact reproduction needs besides the weights.
BackendSelection model_backend(const ModelCommandOptions& options, const SavedModel& model, std::ostream& log) {
  const std::optional<BackendChoice> choice = parse_backend_choice(options.backend);
  if (!choice) throw std::invalid_argument("--backend '" + options.backend + "' is not one of auto, cpu, cuda");
  BackendOptions backend_options;
  backend_options.precision = *kernels::parse_precision(model.precision);  // SavedModel::check made sure
  BackendSelection selection = select_backend(*choice, backend_options);
  log << "gpu_tune: " << selection.notice << "\n";
  return selection;
}

// The bundle takes the model's own normalization, not one computed from `dataset`, whose
// training split is there only because a bundle places models for training.
BundleOptions model_bundle_options(const SavedModel& model) {
  BundleOptions options;
  options.capacity = 1;
  options.normalization = model.normalization;
  return options;
}

// Places the saved model in the bundle's only slot, with its weights; returns the slot.
int place_model(Bundle& bundle, const SavedModel& model, const std::string& file) {
  TrainingConfig config;
  config.model = model.model();
  try {
    const int slot = bundle.add(config, 0);
    bundle.load_parameters(slot, model.parameters);
    return slot;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(file + ": " + e.what());
  }
}

// A bundle needs a training split to place a model; one image is enough, since nothing trains.
void keep_one_training_image(data::ImageSet& train) {
  train.count = std::min<int64_t>(train.count, 1);
  train.images.resize(static_cast<size_t>(train.count) * train.features());
  train.labels.resize(static_cast<size_t>(train.count));
}

std::string describe_origin(const SavedModel& model) {
  const ModelOrigin& o = model.origin;
  return "trial " + std::to_string(o.trial) + " of study '" + o.study + "', " + model.model().describe() + ", trained on " +
         o.device + " (" + model.precision + ") with " + o.dataset;
}

// The images of an IDX file as a dataset whose test split they are (labels 0, unused).
data::Dataset images_as_dataset(const std::string& path, const SavedModel& model) {
  data::IdxArray idx = data::read_idx_file(path);
  if (idx.dims.size() != 3)
    throw std::invalid_argument(path + ": expected an IDX file of images (3 dimensions: count, rows, columns), got " +
                                std::to_string(idx.dims.size()) + (idx.dims.size() == 1 ? " dimension" : " dimensions"));
  const ModelSpec spec = model.model();
  const int rows = static_cast<int>(idx.dims[1]), cols = static_cast<int>(idx.dims[2]);
  const bool fits = spec.is_spatial() ? rows == spec.input.height && cols == spec.input.width && spec.input.channels == 1
                                      : int64_t(rows) * cols == spec.input_features();
  if (!fits)
    throw std::invalid_argument(path + ": its images are " + std::to_string(rows) + "x" + std::to_string(cols) +
                                " but the model takes " + spec.input.describe() + " inputs");
  data::Dataset dataset;
  dataset.name = path;
  dataset.classes = model.classes;
  dataset.test.count = idx.dims[0];
  dataset.test.rows = rows;
  dataset.test.cols = cols;
  dataset.test.images = std::move(idx.values);
  dataset.test.labels.assign(static_cast<size_t>(dataset.test.count), 0);
  dataset.validation.rows = dataset.train.rows = rows;
  dataset.validation.cols = dataset.train.cols = cols;
  dataset.train.count = dataset.test.count;
  dataset.train.images = dataset.test.images;
  dataset.train.labels = dataset.test.labels;
  keep_one_training_image(dataset.train);
  return dataset;
}

}  // namespace

void add_model_commands(CLI::App& app, ModelCommandOptions& options, int& exit_code) {
  const std::string backend_help = "cpu (the default) | cuda | auto: where the model runs; the precision is the model's own";

  CLI::App* evaluate = app.add_subcommand(
      "evaluate", "measure a saved model's test accuracy again and say whether it equals the one recorded in training");
  evaluate->add_option("--model", options.model_file, "the model file (.gtm; tune keeps them in studies/STUDY/models/)")
      ->required();
  evaluate->add_option_function<std::string>(
      "--data", [&options](const std::string& dir) { options.data_dir = dir; },
      "folder holding the dataset's four IDX files (else the model's dataset, found as tune finds it)");
  evaluate->add_option("--backend", options.backend, backend_help)->capture_default_str();
  evaluate->callback([&options, &exit_code] { exit_code = run_evaluate(options, std::cout, std::cerr); });

  CLI::App* predict = app.add_subcommand("predict", "print the class a saved model predicts for each image of an IDX file");
  predict->add_option("--model", options.model_file, "the model file (.gtm)")->required();
  predict->add_option("images", options.images, "IDX file of images (count x rows x columns; gzip too)")->required();
  predict->add_option_function<std::string>(
      "-o,--output", [&options](const std::string& file) { options.output = file; },
      "write the classes to this file, one per line (else standard output)");
  predict->add_option("--backend", options.backend, backend_help)->capture_default_str();
  predict->callback([&options, &exit_code] { exit_code = run_predict(options, std::cout, std::cerr); });
}

int run_evaluate(const ModelCommandOptions& options, std::ostream& out, std::ostream& log) {
  try {
    const SavedModel model = read_model_file(options.model_file);
    BackendSelection selection = model_backend(options, model, log);
    data::DatasetOptions dataset_options;
    dataset_options.name = model.origin.dataset;
    if (options.data_dir) dataset_options.data_dir = *options.data_dir;
    dataset_options.validation_size = 0;  // only the test split is used
    data::Dataset dataset = data::load_dataset(dataset_options);
    keep_one_training_image(dataset.train);

    Bundle bundle(*selection.backend, dataset, model_bundle_options(model));
    const int slot = place_model(bundle, model, options.model_file);
    const int slots[] = {slot};
    // Bundle::evaluate over the test split, and the accuracy as the trainer computes it.
    const kernels::MetricSums sums = bundle.evaluate(slots, Split::kTest).front();
    const double accuracy = sums.count > 0 ? sums.correct / sums.count : std::nan("");
    const double loss = sums.count > 0 ? sums.loss_sum / sums.count : std::nan("");

    const ModelOrigin& recorded = model.origin;
    std::ostringstream text;
    text << options.model_file << ": " << describe_origin(model) << "\n";
    text << std::setprecision(10);  // the counts say exactly; equality is checked on the doubles
    text << "test accuracy " << accuracy << " (" << static_cast<int64_t>(sums.correct) << " of "
         << static_cast<int64_t>(sums.count) << " images from " << dataset.directory.string() << "), test loss " << loss
         << "\n";
    text << "recorded      " << recorded.test_accuracy << " (of " << recorded.test_count << " images), test loss "
         << recorded.test_loss << "\n";
    if (accuracy == recorded.test_accuracy) {
      text << "equal: the model reproduces its recorded test accuracy exactly\n";
      write_output(out, text.str(), "standard output");
      return 0;
    }
    text << "NOT equal";
    if (static_cast<int64_t>(sums.count) != recorded.test_count)
      text << ": the test split has " << static_cast<int64_t>(sums.count) << " images, the model was tested on "
           << recorded.test_count << " (other data?)";
    else if (selection.backend->name() != recorded.device.substr(0, recorded.device.find(':')))
      text << ": it trained on " << recorded.device << " and ran here on " << selection.backend->name()
           << ", whose arithmetic may differ in the last bits (try --backend)";
    text << "\n";
    write_output(out, text.str(), "standard output");
    return 1;
  } catch (const std::exception& e) {
    log << "gpu_tune evaluate: error: " << e.what() << "\n";
    return 2;
  }
}

int run_predict(const ModelCommandOptions& options, std::ostream& out, std::ostream& log) {
  try {
    const SavedModel model = read_model_file(options.model_file);
    BackendSelection selection = model_backend(options, model, log);
    const data::Dataset dataset = images_as_dataset(options.images, model);
    std::vector<int32_t> classes;
    if (dataset.test.count > 0) {  // a bundle needs at least the one image it "trains" on
      Bundle bundle(*selection.backend, dataset, model_bundle_options(model));
      const int slot = place_model(bundle, model, options.model_file);
      classes = bundle.predict(slot, Split::kTest);
    }
    std::ostringstream text;
    for (const int32_t c : classes) text << c << "\n";
    if (options.output) {
      write_output_file(*options.output, text.str());
      log << "gpu_tune: " << classes.size() << " predictions written to " << *options.output << "\n";
    } else {
      write_output(out, text.str(), "standard output");
    }
    return 0;
  } catch (const std::exception& e) {
    log << "gpu_tune predict: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace gpu_tune::app
