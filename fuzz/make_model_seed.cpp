// Writes a tiny valid model file with the project's own writer, for the model_file fuzzer's
// corpus: `fuzz_make_model_seed OUT.gtm`. One hidden dense layer of 3 units over a 2x2 image,
// 2 classes, so the file stays well under a kilobyte and every field holds a real value.
#include <cstdio>
#include <vector>

#include "engine/model_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.gtm\n", argv[0]);
    return 2;
  }
  gpu_tune::SavedModel model;
  model.architecture = "d3";
  model.input = gpu_tune::TensorShape{2, 2, 1};
  model.classes = 2;
  model.parameters.resize(static_cast<size_t>(model.model().storage_size()));
  for (size_t i = 0; i < model.parameters.size(); ++i) model.parameters[i] = 0.125f * static_cast<float>(i) - 1.0f;
  model.origin.study = "seed";
  model.origin.trial = 3;
  model.origin.dataset = "fashion-mnist";
  model.origin.device = "cpu";
  model.origin.metric = "validation_loss";
  model.origin.value = 0.5;
  model.origin.best_epoch = 2;
  model.origin.test_accuracy = 0.75;
  model.origin.test_loss = 0.6;
  model.origin.test_count = 4;
  model.origin.description = "d3 adam lr=0.001";
  gpu_tune::write_model_file(argv[1], model);
  return 0;
}
