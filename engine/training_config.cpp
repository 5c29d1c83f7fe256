#include "engine/training_config.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace gpu_tune {

namespace {
void require(bool ok, const std::string& field, double value, const std::string& allowed) {
  if (ok) return;
  std::ostringstream message;
  message << field << " = " << value << " is invalid: must be " << allowed;
  throw std::invalid_argument(message.str());
}
}  // namespace

void TrainingConfig::validate() const {
  const kernels::OptimizerSettings& o = optimizer;
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0, "learning rate", o.learning_rate, "a finite number > 0");
  require(batch_size >= 1 && batch_size <= 65536, "batch size", batch_size, "in 1..65536");
  require(dropout >= 0 && dropout < 1, "dropout", dropout, "in [0, 1)");
  require(o.beta1 >= 0 && o.beta1 < 1, "beta1", o.beta1, "in [0, 1)");
  require(o.beta2 >= 0 && o.beta2 < 1, "beta2", o.beta2, "in [0, 1)");
  require(o.epsilon > 0, "epsilon", o.epsilon, "> 0");
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), "weight decay", o.weight_decay, ">= 0");
  require(o.momentum >= 0 && o.momentum < 1, "momentum", o.momentum, "in [0, 1)");
  require(max_epochs >= 1, "max epochs", max_epochs, ">= 1");
  if (early_stopping.patience) require(*early_stopping.patience >= 0, "patience", *early_stopping.patience, ">= 0");
  require(early_stopping.min_delta >= 0, "min_delta", early_stopping.min_delta, ">= 0");
}

std::string TrainingConfig::describe() const {
  std::ostringstream text;
  text << model.name << " " << kernels::optimizer_name(optimizer.kind) << " lr=" << optimizer.learning_rate
       << " batch=" << batch_size;
  if (dropout > 0) text << " dropout=" << dropout;
  if (optimizer.weight_decay > 0) text << " wd=" << optimizer.weight_decay;
  if (optimizer.kind == kernels::OptimizerKind::kSgd) text << " momentum=" << optimizer.momentum;
  if (schedule != LearningRateSchedule::kConstant) text << " schedule=" << schedule_name(schedule);
  text << " seed=" << seed;
  return text.str();
}

}  // namespace gpu_tune
