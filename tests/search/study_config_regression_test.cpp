// Inputs the study_config fuzzer (fuzz/) found, kept as regression tests.
#include <gtest/gtest.h>

#include <string>

#include "search/study_config.h"

namespace gpu_tune::search {
namespace {

// yaml-cpp 0.7's LoadAll never returned on a stream whose first line starts with ','
// (yaml-cpp issue 1040), growing memory until the process died; the file must get an error.
TEST(StudyConfigRegression, LeadingCommaIsAnErrorNotAHang) {
  // As the fuzzer found it: an example study whose comment's second line lost its '#'.
  const std::string found =
      "# Tune small CNNs alone: two convolution blocks (a convolution then 2x2 max-pooling each),\n"
      ", and how they are trained.\n"
      "study: fashion_mnist_cnn\n"
      "space:\n"
      "  lr: {distribution: loguniform, low: 3.0e-4, high: 3.0e-3}\n";
  EXPECT_THROW(parse_study_config(found, "found.yaml"), StudyConfigError);
  EXPECT_THROW(parse_study_config(",", "comma.yaml"), StudyConfigError);
  EXPECT_THROW(parse_study_config("\n,\n", "comma.yaml"), StudyConfigError);
}

// The fix reads the first document alone; a second one must still be refused, at its line.
TEST(StudyConfigRegression, SecondDocumentIsStillRefusedAtItsLine) {
  const std::string text =
      "study: s\nspace:\n  lr: {distribution: uniform, low: 0.1, high: 0.2}\n---\nstudy: t\n";
  try {
    parse_study_config(text, "two.yaml");
    FAIL() << "a file of two documents was accepted";
  } catch (const StudyConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("two.yaml:5: a study file holds one YAML document"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gpu_tune::search
