#include "apps/training_log.h"

#include <nlohmann/json.hpp>  // JSON lines output

#include <cmath>
#include <cstdio>
#include <string>

namespace gpu_tune::app {

namespace {
// JSON has no NaN: failed runs report null.
nlohmann::json number(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr); }

std::string format(const char* pattern, auto... values) {
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), pattern, values...);
  return buffer;
}
}  // namespace

void TrainingLog::on_slot_started(const TrainingJob& job, int slot) {
  if (json_) {
    out_ << nlohmann::json{{"event", "start"},
                           {"job", job.id},
                           {"slot", slot},
                           {"label", job.config.label},
                           {"model", job.config.model.describe()},
                           {"parameters", job.config.model.parameter_count()}}
                .dump()
         << "\n";
  } else {
    out_ << "[job " << job.id << "] slot " << slot << ": " << job.config.label << " (" << job.config.model.describe()
         << ", " << job.config.model.parameter_count() << " parameters)\n";
  }
  out_.flush();
}

bool TrainingLog::on_epoch_end(const TrainingJob& job, const EpochMetrics& m) {
  if (json_) {
    out_ << nlohmann::json{{"event", "epoch"},
                           {"job", job.id},
                           {"epoch", m.epoch},
                           {"train_loss", number(m.train_loss)},
                           {"train_accuracy", number(m.train_accuracy)},
                           {"validation_loss", number(m.validation_loss)},
                           {"validation_accuracy", number(m.validation_accuracy)},
                           {"learning_rate", number(m.learning_rate)},
                           {"seconds", m.seconds}}
                .dump()
         << "\n";
  } else {
    out_ << format("[job %llu] epoch %3d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  lr %.3g  %.1f s\n",
                   static_cast<unsigned long long>(job.id), m.epoch, job.config.max_epochs, m.train_loss,
                   m.train_accuracy, m.validation_loss, m.validation_accuracy, m.learning_rate, m.seconds);
  }
  out_.flush();
  return true;
}

void TrainingLog::on_slot_finished(const SlotResult& r) {
  if (json_) {
    nlohmann::json line{{"event", "finished"},
                        {"job", r.job_id},
                        {"slot", r.slot},
                        {"label", r.config.label},
                        {"outcome", outcome_name(r.outcome)},
                        {"epochs", r.history.size()},
                        {"best_epoch", r.best_epoch},
                        {"best_validation_loss", number(r.best_validation_loss)},
                        {"best_validation_accuracy", number(r.best_validation_accuracy)},
                        {"test_loss", number(r.test_loss)},
                        {"test_accuracy", number(r.test_accuracy)},
                        {"seconds", r.seconds}};
    if (!r.error.empty()) line["error"] = r.error;
    out_ << line.dump() << "\n";
  } else if (r.outcome == SlotOutcome::kFailed) {
    out_ << "[job " << r.job_id << "] failed: " << r.error << "\n";
  } else {
    out_ << format("[job %llu] %s after %zu epochs: best epoch %d (val loss %.4f acc %.4f), test loss %.4f acc %.4f, %.1f s\n",
                   static_cast<unsigned long long>(r.job_id), std::string(outcome_name(r.outcome)).c_str(),
                   r.history.size(), r.best_epoch, r.best_validation_loss, r.best_validation_accuracy, r.test_loss,
                   r.test_accuracy, r.seconds);
  }
  out_.flush();
}

}  // namespace gpu_tune::app
