// The space's canonical text, kept with a study so a resume can refuse a changed space.
#include "search/space_description.h"

#include <gtest/gtest.h>

#include "search/study_config.h"

namespace gpu_tune::search {
namespace {

SearchSpace space_of(const std::string& yaml_space) {
  return parse_study_config("study: s\nspace:\n" + yaml_space, "test.yaml").space;
}

TEST(SpaceDescription, DependsOnTheSpaceNotOnHowTheFileIsWritten) {
  const std::string a = describe_space(space_of(R"(
  lr: {distribution: loguniform, low: 1.0e-4, high: 0.1}
  batch: {distribution: choice, options: [32, 64]}
)"));
  const std::string b = describe_space(space_of(R"(
  batch:
    distribution: choice
    options: [32, 64]
  lr: {high: 0.1, low: 0.0001, distribution: loguniform}
)"));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, "batch: choice(32, 64)\nlr: loguniform(low=0.0001, high=0.10000000000000001)\n");
  EXPECT_EQ(space_changes(a, b), "");
}

TEST(SpaceDescription, KeepsChoiceTypesAndBranchesApart) {
  const std::string integers = describe_space(space_of("  batch: {distribution: choice, options: [32, 64]}\n"));
  const std::string strings = describe_space(space_of("  batch: {distribution: choice, options: [\"32\", \"64\"]}\n"));
  const std::string reals = describe_space(space_of("  batch: {distribution: choice, options: [32.0, 64.0]}\n"));
  EXPECT_NE(integers, strings);
  EXPECT_NE(integers, reals);
  EXPECT_NE(strings, reals);

  const std::string nested = describe_space(space_of(R"(
  model:
    distribution: choice
    options:
      - mlp_small
      - value: custom
        parameters:
          width1: {distribution: quniform, low: 8, high: 32, q: 8}
)"));
  EXPECT_NE(nested.find("width1: quniform(low=8, high=32, q=8) when model=\"custom\"\n"), std::string::npos) << nested;
}

TEST(SpaceDescription, ChangesNameEveryParameterChangedAddedOrRemoved) {
  const std::string before = describe_space(space_of(R"(
  lr: {distribution: loguniform, low: 1.0e-4, high: 0.1}
  batch: {distribution: choice, options: [32, 64]}
  momentum: {distribution: uniform, low: 0.8, high: 0.99}
)"));
  const std::string after = describe_space(space_of(R"(
  lr: {distribution: loguniform, low: 1.0e-3, high: 0.1}
  batch: {distribution: choice, options: [32, 64]}
  dropout: {distribution: uniform, low: 0, high: 0.5}
)"));
  const std::string changes = space_changes(before, after);
  EXPECT_NE(changes.find("parameter 'lr' changed from loguniform(low=0.0001, "), std::string::npos) << changes;
  EXPECT_NE(changes.find("to loguniform(low=0.001, "), std::string::npos) << changes;
  EXPECT_NE(changes.find("parameter 'momentum' removed"), std::string::npos) << changes;
  EXPECT_NE(changes.find("parameter 'dropout' added (uniform(low=0, high=0.5))"), std::string::npos) << changes;
  EXPECT_EQ(changes.find("batch"), std::string::npos) << "an unchanged parameter is not listed: " << changes;
}

}  // namespace
}  // namespace gpu_tune::search
