#include "search/space.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace gpu_tune::search {
namespace {


SearchSpace conditional_space() {
  Distribution model;
  model.kind = DistributionKind::kChoice;
  model.options = {{std::string("mlp_small"), {}},
                   {std::string("custom"),
                    {{"width1", bounded(DistributionKind::kQUniform, 64, 512, 32)},
                     {"dropout", bounded(DistributionKind::kUniform, 0, 0.5)}}}};
  return SearchSpace({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
                      {"layers", bounded(DistributionKind::kUniformInt, 1, 3)},
                      {"model", model}});
}

TEST(SearchSpace, FlattensParentsBeforeChildren) {
  const SearchSpace space = conditional_space();
  ASSERT_EQ(space.flat().size(), 5u);
  EXPECT_EQ(space.flat()[2].name, "model");
  EXPECT_EQ(space.flat()[3].name, "width1");
  EXPECT_EQ(space.flat()[3].parent, 2);
  EXPECT_EQ(space.flat()[3].parent_option, 1);
  EXPECT_EQ(space.index_of("dropout"), 4);
  EXPECT_EQ(space.index_of("nope"), -1);
}

TEST(SearchSpace, PriorSamplesStayInsideAndBranchesSwitchChildren) {
  const SearchSpace space = conditional_space();
  Rng rng(7);
  int custom = 0;
  for (int i = 0; i < 500; ++i) {
    const ParamMap p = assign_parameters(space, [&](const FlatParameter& f, int) { return sample_prior(f.distribution, rng); });
    std::string why;
    ASSERT_TRUE(space.contains(p, &why)) << why;
    const double lr = std::get<double>(p.at("lr"));
    EXPECT_GE(lr, 1e-4);
    EXPECT_LE(lr, 1e-1);
    const int64_t layers = std::get<int64_t>(p.at("layers"));
    EXPECT_TRUE(layers >= 1 && layers <= 3);
    if (std::get<std::string>(p.at("model")) == "custom") {
      ++custom;
      EXPECT_EQ(std::fmod(std::get<double>(p.at("width1")), 32.0), 0.0);
    } else {
      EXPECT_EQ(p.count("width1"), 0u);
    }
  }
  EXPECT_GT(custom, 150);
  EXPECT_LT(custom, 350);
}

TEST(SearchSpace, ContainsRejectsWrongTypesBoundsAndInactiveParameters) {
  const SearchSpace space = conditional_space();
  ParamMap p{{"lr", 1e-3}, {"layers", int64_t{2}}, {"model", std::string("mlp_small")}};
  EXPECT_TRUE(space.contains(p));
  std::string why;
  ParamMap extra = p;
  extra["width1"] = 64.0;
  EXPECT_FALSE(space.contains(extra, &why));
  EXPECT_NE(why.find("width1"), std::string::npos);
  ParamMap wrong_type = p;
  wrong_type["layers"] = 2.0;
  EXPECT_FALSE(space.contains(wrong_type, &why));
  ParamMap out_of_bounds = p;
  out_of_bounds["lr"] = 0.5;
  EXPECT_FALSE(space.contains(out_of_bounds, &why));
  ParamMap missing_child{{"lr", 1e-3}, {"layers", int64_t{2}}, {"model", std::string("custom")}};
  EXPECT_FALSE(space.contains(missing_child, &why));
  EXPECT_NE(why.find("missing"), std::string::npos);
}

TEST(SearchSpace, InvalidDistributionsNameTheParameter) {
  auto expect_error = [](Distribution d, const std::string& phrase) {
    try {
      SearchSpace({{"x", d}});
      ADD_FAILURE() << "accepted " << phrase;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("parameter 'x'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  expect_error(bounded(DistributionKind::kUniform, 1, 1), "must be below high");
  expect_error(bounded(DistributionKind::kLogUniform, 0, 1), "must be positive");
  expect_error(bounded(DistributionKind::kQUniform, 0, 1, 0), "q must be positive");
  Distribution empty;
  empty.kind = DistributionKind::kChoice;
  expect_error(empty, "at least one option");
  Distribution normal;
  normal.kind = DistributionKind::kNormal;
  normal.sigma = 0;
  expect_error(normal, "sigma must be positive");
}

TEST(SearchSpace, RawAndValueRoundTrip) {
  const Distribution log = bounded(DistributionKind::kLogUniform, 1e-4, 1e-1);
  EXPECT_NEAR(std::get<double>(value_from_raw(log, raw_from_value(log, 3e-3))), 3e-3, 1e-15);
  const Distribution randint = bounded(DistributionKind::kRandInt, 0, 5);
  EXPECT_EQ(std::get<int64_t>(value_from_raw(randint, 7.0)), 4);  // [low, high)
  Distribution choice;
  choice.kind = DistributionKind::kChoice;
  choice.options = {{int64_t{32}, {}}, {int64_t{64}, {}}};
  EXPECT_EQ(raw_from_value(choice, int64_t{64}), 1.0);
  EXPECT_EQ(raw_from_value(choice, 64.0), 1.0);  // numbers compare by value
  EXPECT_THROW(raw_from_value(choice, int64_t{48}), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
