#include "apps/slot_spec.h"

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <type_traits>
#include <stdexcept>

namespace gpu_tune::app {

namespace {

template <typename T>
T parse_number(std::string_view key, std::string_view value) {
  // from_chars reads "-1" as no unsigned number at all; say what is wrong with it instead.
  if (std::is_unsigned_v<T> && value.starts_with('-'))
    throw std::invalid_argument(std::string(key) + "='" + std::string(value) + "' must be zero or positive");
  T result{};
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size())
    throw std::invalid_argument(std::string(key) + "='" + std::string(value) + "' is not a valid number");
  return result;
}

bool parse_bool(std::string_view key, std::string_view value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw std::invalid_argument(std::string(key) + "='" + std::string(value) + "' is not true or false");
}

using Setter = std::function<void(TrainingConfig&, std::string_view key, std::string_view value)>;

const std::map<std::string, Setter, std::less<>>& setters() {
  static const std::map<std::string, Setter, std::less<>> table = {
      {"label", [](TrainingConfig& c, auto, auto v) { c.label = std::string(v); }},
      {"model",
       [](TrainingConfig& c, auto, auto v) {
         const kernels::Activation activation = c.model.activation;
         const InitScheme init = c.model.init;
         c.model = parse_model(v, c.model.input, c.model.outputs());
         c.model.activation = activation;
         c.model.init = init;
       }},
      {"activation",
       [](TrainingConfig& c, auto k, auto v) {
         const auto a = kernels::parse_activation(v);
         if (!a || *a == kernels::Activation::kIdentity)
           throw std::invalid_argument(std::string(k) + "='" + std::string(v) + "' is not one of relu, tanh, gelu");
         c.model.activation = *a;
       }},
      {"init",
       [](TrainingConfig& c, auto k, auto v) {
         if (v == "he") c.model.init = InitScheme::kHe;
         else if (v == "glorot") c.model.init = InitScheme::kGlorot;
         else throw std::invalid_argument(std::string(k) + "='" + std::string(v) + "' is not one of he, glorot");
       }},
      {"optimizer",
       [](TrainingConfig& c, auto k, auto v) {
         const auto o = kernels::parse_optimizer(v);
         if (!o) throw std::invalid_argument(std::string(k) + "='" + std::string(v) + "' is not one of adam, adamw, sgd");
         c.optimizer.kind = *o;
       }},
      {"lr", [](TrainingConfig& c, auto k, auto v) { c.optimizer.learning_rate = parse_number<float>(k, v); }},
      {"schedule",
       [](TrainingConfig& c, auto k, auto v) {
         const auto schedule = parse_schedule(v);
         if (!schedule) throw std::invalid_argument(std::string(k) + "='" + std::string(v) + "' is not one of constant, cosine");
         c.schedule = *schedule;
       }},
      {"batch", [](TrainingConfig& c, auto k, auto v) { c.batch_size = parse_number<int>(k, v); }},
      {"beta1", [](TrainingConfig& c, auto k, auto v) { c.optimizer.beta1 = parse_number<float>(k, v); }},
      {"beta2", [](TrainingConfig& c, auto k, auto v) { c.optimizer.beta2 = parse_number<float>(k, v); }},
      {"eps", [](TrainingConfig& c, auto k, auto v) { c.optimizer.epsilon = parse_number<float>(k, v); }},
      {"wd", [](TrainingConfig& c, auto k, auto v) { c.optimizer.weight_decay = parse_number<float>(k, v); }},
      {"momentum", [](TrainingConfig& c, auto k, auto v) { c.optimizer.momentum = parse_number<float>(k, v); }},
      {"nesterov", [](TrainingConfig& c, auto k, auto v) { c.optimizer.nesterov = parse_bool(k, v); }},
      {"dropout", [](TrainingConfig& c, auto k, auto v) { c.dropout = parse_number<float>(k, v); }},
      {"seed", [](TrainingConfig& c, auto k, auto v) { c.seed = parse_number<uint64_t>(k, v); }},
      {"epochs", [](TrainingConfig& c, auto k, auto v) { c.max_epochs = parse_number<int>(k, v); }},
      {"patience", [](TrainingConfig& c, auto k, auto v) { c.early_stopping.patience = parse_number<int>(k, v); }},
      {"min_delta", [](TrainingConfig& c, auto k, auto v) { c.early_stopping.min_delta = parse_number<double>(k, v); }},
      {"restore_best", [](TrainingConfig& c, auto k, auto v) { c.early_stopping.restore_best_weights = parse_bool(k, v); }},
  };
  return table;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& slot_spec_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"model", "mlp_small | mlp_medium | mlp_large | cnn_small | cnn_medium | cnn_large | layers like 256-128 or c32-p-c64k5-p-d128"},
      {"activation", "relu | tanh | gelu"},
      {"init", "he | glorot"},
      {"optimizer", "adam | adamw | sgd"},
      {"lr", "learning rate (the schedule's base rate)"},
      {"schedule", "constant | cosine (half a cosine from lr towards 0 over the epoch budget, every step)"},
      {"batch", "batch size"},
      {"beta1, beta2, eps", "Adam's settings"},
      {"wd", "weight decay (L2 for adam and sgd, decoupled for adamw)"},
      {"momentum, nesterov", "SGD's settings"},
      {"dropout", "dropout rate after each hidden dense layer"},
      {"seed", "initialisation, shuffling and dropout seed"},
      {"epochs, patience, min_delta, restore_best", "epoch budget and early stopping on validation loss"},
      {"label", "a name for the output"},
  };
  return keys;
}

void apply_slot_setting(TrainingConfig& config, std::string_view key, std::string_view value) {
  const auto it = setters().find(key);
  if (it == setters().end()) {
    std::string known;
    for (const auto& [name, setter] : setters()) known += (known.empty() ? "" : ", ") + name;
    throw std::invalid_argument("unknown key '" + std::string(key) + "' (known: " + known + ")");
  }
  it->second(config, key, value);
}

TrainingConfig parse_slot_spec(std::string_view spec, const TrainingConfig& defaults) {
  TrainingConfig config = defaults;
  try {
    std::set<std::string, std::less<>> given;  // a key twice is a typo, never "the last one wins"
    size_t start = 0;
    while (start < spec.size()) {
      const size_t end = std::min(spec.find(',', start), spec.size());
      const std::string_view pair = spec.substr(start, end - start);
      start = end + 1;
      if (pair.empty()) continue;
      const size_t equals = pair.find('=');
      if (equals == std::string_view::npos) throw std::invalid_argument("'" + std::string(pair) + "' is not KEY=VALUE");
      const std::string_view key = pair.substr(0, equals);
      if (!given.emplace(key).second) throw std::invalid_argument("key '" + std::string(key) + "' is given twice");
      apply_slot_setting(config, key, pair.substr(equals + 1));
    }
    config.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("slot '" + std::string(spec) + "': " + e.what());
  }
  if (config.label.empty()) config.label = config.describe();
  return config;
}

}  // namespace gpu_tune::app
