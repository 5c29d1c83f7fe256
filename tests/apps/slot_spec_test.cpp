#include "apps/slot_spec.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace gpu_tune::app {
namespace {

TEST(SlotSpec, ParsesEveryKey) {
  TrainingConfig defaults;
  defaults.max_epochs = 7;
  const TrainingConfig c = parse_slot_spec(
      "model=mlp_medium,lr=3e-4,batch=128,optimizer=adamw,wd=1e-4,dropout=0.2,seed=7,activation=gelu,init=glorot,"
      "beta1=0.8,beta2=0.99,eps=1e-7,patience=3,min_delta=0.001,restore_best=false,label=mine,schedule=cosine",
      defaults);
  EXPECT_EQ(c.model.describe(), "784-256-128-10 gelu");
  EXPECT_EQ(c.model.init, InitScheme::kGlorot);
  EXPECT_FLOAT_EQ(c.optimizer.learning_rate, 3e-4f);
  EXPECT_EQ(c.schedule, LearningRateSchedule::kCosine);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.optimizer.kind, kernels::OptimizerKind::kAdamW);
  EXPECT_FLOAT_EQ(c.optimizer.weight_decay, 1e-4f);
  EXPECT_FLOAT_EQ(c.dropout, 0.2f);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_FLOAT_EQ(c.optimizer.beta1, 0.8f);
  EXPECT_FLOAT_EQ(c.optimizer.beta2, 0.99f);
  EXPECT_FLOAT_EQ(c.optimizer.epsilon, 1e-7f);
  EXPECT_EQ(c.early_stopping.patience, 3);
  EXPECT_DOUBLE_EQ(c.early_stopping.min_delta, 0.001);
  EXPECT_FALSE(c.early_stopping.restore_best_weights);
  EXPECT_EQ(c.max_epochs, 7);  // from the defaults
  EXPECT_EQ(c.label, "mine");
}

TEST(SlotSpec, SgdAndDefaultLabel) {
  const TrainingConfig c = parse_slot_spec("optimizer=sgd,momentum=0.9,nesterov=true,model=64-32", {});
  EXPECT_EQ(c.optimizer.kind, kernels::OptimizerKind::kSgd);
  EXPECT_TRUE(c.optimizer.nesterov);
  EXPECT_EQ(c.model.dense_widths(), (std::vector<int>{64, 32}));
  EXPECT_NE(c.label.find("64-32 sgd"), std::string::npos) << c.label;
  EXPECT_EQ(c.label.find("schedule"), std::string::npos) << "a constant rate is the default, not shown";
  EXPECT_NE(parse_slot_spec("schedule=cosine", {}).label.find("schedule=cosine"), std::string::npos);
}

void expect_error(const std::string& spec, const std::string& phrase) {
  try {
    parse_slot_spec(spec, {});
    ADD_FAILURE() << "accepted " << spec;
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("slot '" + spec + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(phrase), std::string::npos) << message;
  }
}

TEST(SlotSpec, BadInputNamesSpecKeyAndProblem) {
  expect_error("lr=fast", "lr='fast' is not a valid number");
  expect_error("learning_rate=0.1", "unknown key 'learning_rate'");
  expect_error("lr=-1", "learning rate = -1 is invalid");
  expect_error("batch=0", "batch size = 0 is invalid");
  expect_error("dropout=1", "dropout = 1 is invalid");
  expect_error("optimizer=rmsprop", "optimizer='rmsprop'");
  expect_error("model=mlp_huge", "model 'mlp_huge'");
  expect_error("lr", "'lr' is not KEY=VALUE");
  expect_error("nesterov=maybe", "not true or false");
  expect_error("schedule=step", "schedule='step' is not one of constant, cosine");
}

}  // namespace
}  // namespace gpu_tune::app
