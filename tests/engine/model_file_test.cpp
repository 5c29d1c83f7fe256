// The model file: what is written reads back equal, and every kind of damage (a flipped
// byte, a truncation, a wrong magic or version, contents that do not fit together) is an
// error naming the file and the problem.
#include "engine/model_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/random.h"
#include "tests/search/temp_directory.h"

namespace gpu_tune {
namespace {

SavedModel example_model(const char* hidden = "c4k3-p-c6k5v-d8", TensorShape input = {28, 28, 1}) {
  TrainingConfig config;
  config.model = parse_model(hidden, input, 10);
  config.model.activation = kernels::Activation::kGelu;
  std::vector<float> parameters(static_cast<size_t>(config.model.storage_size()));
  SplitMix64 rng(7);
  for (float& p : parameters) p = static_cast<float>(rng.uniform() - 0.5);
  ModelOrigin origin{.study = "fm",
                     .trial = 12,
                     .dataset = "fashion-mnist",
                     .device = "cuda:1",
                     .metric = "validation_loss",
                     .value = 0.3125,
                     .best_epoch = 4,
                     .test_accuracy = 0.8871,
                     .test_loss = 0.33,
                     .test_count = 10000,
                     .description = "trial 12"};
  SavedModel model = saved_model_from(config, std::move(parameters), InputNormalization{0.0123f, -0.7f}, true, origin);
  model.precision = "tf32";
  return model;
}

// The error `decode_model` gives for `bytes`, or "" when it reads them.
std::string decode_error(std::string_view bytes) {
  try {
    decode_model(bytes, "m.gtm");
  } catch (const ModelFileError& e) {
    return e.what();
  }
  return "";
}

constexpr size_t kFixedBytes = 24;  // magic, version, file length, header length (docs/model-format.md)

TEST(ModelFile, WhatIsWrittenReadsBackEqual) {
  const SavedModel model = example_model();
  const std::string bytes = encode_model(model);
  EXPECT_EQ(decode_model(bytes, "m.gtm"), model);
  EXPECT_EQ(decode_model(bytes, "m.gtm").model().layers, parse_model("c4k3-p-c6k5v-d8").layers);

  testing::TempDirectory dir("gpu_tune_model_file");
  const std::filesystem::path path = dir.path() / "m.gtm";
  write_model_file(path, model);
  EXPECT_EQ(read_model_file(path), model);
  EXPECT_EQ(std::filesystem::file_size(path), bytes.size());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "m.gtm.partial"));
  SavedModel header_only = model;
  header_only.parameters.clear();
  EXPECT_EQ(read_model_header(path), header_only);
}

TEST(ModelFile, TheLayoutIsTheDocumentedOne) {
  const SavedModel model = example_model("16");
  const std::string bytes = encode_model(model);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89GTM\r\n\x1a\n", 8));
  auto u32_at = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
    return v;
  };
  EXPECT_EQ(u32_at(8), 1u);                                   // version
  EXPECT_EQ(u32_at(12), bytes.size());                        // file length (low half)
  EXPECT_EQ(u32_at(16), 0u);                                  // file length (high half)
  EXPECT_EQ(u32_at(kFixedBytes), 3u);                         // the architecture's length
  EXPECT_EQ(bytes.substr(kFixedBytes + 4, 3), "d16");         // ... and text
  const size_t parameters_at = kFixedBytes + u32_at(20);
  float first = 0;
  std::memcpy(&first, bytes.data() + parameters_at, 4);       // little-endian float32, as this host
  EXPECT_EQ(first, model.parameters[0]);
  EXPECT_EQ(parameters_at + 4 * model.parameters.size() + 4, bytes.size());
}

TEST(ModelFile, TheArchitectureTextReadsBackAsTheSameLayers) {
  for (const char* text : {"mlp_small", "mlp_large", "cnn_small", "cnn_large", "c16k5v-p-c8k1-d32-16", "7"}) {
    const ModelSpec model = parse_model(text);
    EXPECT_EQ(parse_model(architecture_text(model), model.input, model.outputs()).layers, model.layers) << text;
  }
  const ModelSpec flat = parse_model("64-32", 100, 5);
  EXPECT_EQ(parse_model(architecture_text(flat), flat.input, flat.outputs()).layers, flat.layers);
}

TEST(ModelFile, AnyFlippedByteAfterTheFixedPartIsAChecksumMismatch) {
  const std::string good = encode_model(example_model("12"));
  for (size_t at = kFixedBytes; at < good.size(); at += 7) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    EXPECT_NE(decode_error(bad).find("m.gtm: checksum mismatch"), std::string::npos) << "byte " << at << ": " << decode_error(bad);
  }
}

TEST(ModelFile, ATruncatedFileSaysWhereItEnds) {
  const std::string good = encode_model(example_model("12"));
  for (size_t length : {size_t(0), size_t(5), size_t(8), size_t(11), size_t(12), size_t(19), size_t(20), size_t(23),
                        size_t(24), size_t(100), good.size() / 2, good.size() - 4, good.size() - 1}) {
    const std::string error = decode_error(std::string_view(good).substr(0, length));
    EXPECT_NE(error.find("m.gtm: truncated at byte " + std::to_string(length)), std::string::npos)
        << length << ": " << error;
  }
  EXPECT_NE(decode_error(good + "xyz").find("3 unexpected bytes after the end"), std::string::npos);
}

TEST(ModelFile, AWrongMagicOrVersionIsNamed) {
  const std::string good = encode_model(example_model("12"));
  std::string bad = good;
  bad[1] = 'X';
  EXPECT_NE(decode_error(bad).find("m.gtm: not a gpu_tune model (bad magic"), std::string::npos) << decode_error(bad);
  EXPECT_NE(decode_error("PK\x03\x04").find("bad magic"), std::string::npos);
  bad = good;
  bad[8] = 2;
  EXPECT_NE(decode_error(bad).find("m.gtm: unsupported model format version 2 (this gpu_tune reads version 1)"),
            std::string::npos)
      << decode_error(bad);
}

TEST(ModelFile, ContentsThatDoNotFitTogetherAreNamed) {
  SavedModel model = example_model("12");
  model.architecture = "12-c0";
  EXPECT_NE(decode_error(encode_model(model)).find("m.gtm: architecture '12-c0' (input 28x28x1, 10 classes) is invalid"),
            std::string::npos)
      << decode_error(encode_model(model));

  model = example_model("12");
  model.parameters.push_back(1.0f);
  EXPECT_NE(decode_error(encode_model(model)).find("m.gtm: parameter count " + std::to_string(model.parameters.size()) +
                                                   " does not match the architecture 784-12-10 gelu"),
            std::string::npos)
      << decode_error(encode_model(model));

  model = example_model("12");
  model.precision = "fp16";
  EXPECT_NE(decode_error(encode_model(model)).find("precision 'fp16'"), std::string::npos);
}

TEST(ModelFile, FileErrorsNameTheFileAndAnInvalidModelIsNotWritten) {
  testing::TempDirectory dir("gpu_tune_model_file");
  const std::filesystem::path path = dir.path() / "broken.gtm";
  std::string bytes = encode_model(example_model("12"));
  bytes[40] = static_cast<char>(bytes[40] ^ 1);
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_model_file(path);
    FAIL() << "a corrupt file was read";
  } catch (const ModelFileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": checksum mismatch", 0), 0u) << e.what();
  }
  EXPECT_THROW(read_model_file(dir.path() / "missing.gtm"), ModelFileError);

  SavedModel invalid = example_model("12");
  invalid.parameters.pop_back();
  EXPECT_THROW(write_model_file(dir.path() / "invalid.gtm", invalid), ModelFileError);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "invalid.gtm"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "invalid.gtm.partial"));
}

}  // namespace
}  // namespace gpu_tune
