#include "apps/study_commands.h"

#include <nlohmann/json.hpp>  // JSON export

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "apps/tune_command.h"
#include "search/optuna_journal.h"
#include "search/param_json.h"
#include "apps/study_location.h"
#include "search/storage_url.h"
#include "search/study_config.h"
#include "search/study_runner.h"

namespace gpu_tune::app {

namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number_text(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

std::string params_text(const search::ParamMap& params) {
  std::string text;
  for (const auto& [name, value] : params) text += (text.empty() ? "" : " ") + name + "=" + search::to_display_string(value);
  return text;
}

// Runs `body`, which writes the command's output to the stream it is given; that output goes
// to `out` whole once the body succeeded, so a failed command prints none of it. An error is
// reported under the command's name, with exit code 2.
template <typename Body>
int guarded(const char* command, std::ostream& out, std::ostream& log, Body body) {
  try {
    std::ostringstream text;
    body(text);
    write_output(out, text.str(), "standard output");
    return 0;
  } catch (const std::exception& e) {
    log << "gpu_tune " << command << ": error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

void write_trials_csv(const std::vector<search::TrialRecord>& trials, std::ostream& out) {
  std::set<std::string> param_names, metric_names, attribute_names;
  for (const auto& t : trials) {
    for (const auto& [name, value] : t.params) param_names.insert(name);
    for (const auto& [name, value] : t.metrics) metric_names.insert(name);
    for (const auto& [name, value] : t.attributes) attribute_names.insert(name);
  }
  out << "number,state,value";
  for (const auto& n : param_names) out << "," << csv_field("param_" + n);
  for (const auto& n : metric_names) out << "," << csv_field("metric_" + n);
  for (const auto& n : attribute_names) out << "," << csv_field("attribute_" + n);
  out << ",device,slot,started_at,finished_at,error\n";
  for (const auto& t : trials) {
    out << t.number << "," << search::trial_state_name(t.state) << "," << (t.value ? number_text(*t.value) : "");
    for (const auto& n : param_names) {
      const auto it = t.params.find(n);
      out << "," << (it == t.params.end() ? "" : csv_field(search::to_string(it->second)));
    }
    for (const auto& n : metric_names) {
      const auto it = t.metrics.find(n);
      out << "," << (it == t.metrics.end() ? "" : number_text(it->second));
    }
    for (const auto& n : attribute_names) {
      const auto it = t.attributes.find(n);
      out << "," << (it == t.attributes.end() ? "" : number_text(it->second));
    }
    out << "," << csv_field(t.device) << "," << t.slot << "," << number_text(t.started_at) << ","
        << number_text(t.finished_at) << "," << csv_field(t.error) << "\n";
  }
}

void write_trials_json(const std::vector<search::TrialRecord>& trials, std::ostream& out) {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json all = nlohmann::json::array();
  for (const auto& t : trials) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : t.steps) {
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [k, v] : s.metrics) metrics[k] = number(v);
      steps.push_back({{"step", s.step}, {"value", number(s.value)}, {"metrics", metrics}});
    }
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [k, v] : t.metrics) metrics[k] = number(v);
    nlohmann::json attributes = nlohmann::json::object();  // a pruner's notes, e.g. rung values
    for (const auto& [k, v] : t.attributes) attributes[k] = number(v);
    all.push_back({{"number", t.number},
                   {"state", search::trial_state_name(t.state)},
                   {"value", t.value ? number(*t.value) : nlohmann::json(nullptr)},
                   {"params", search::params_to_json(t.params)},
                   {"metrics", metrics},
                   {"steps", steps},
                   {"attributes", attributes},
                   {"device", t.device},
                   {"slot", t.slot},
                   {"started_at", t.started_at},
                   {"finished_at", t.finished_at},
                   {"error", t.error}});
  }
  out << all.dump(2) << "\n";
}

int run_status(const StudyCommandOptions& options, std::ostream& out, std::ostream& log) {
  return guarded("status", out, log, [&](std::ostream& text) {
    OpenStudy study = open_study(options.selector);
    const auto trials = study.storage->trials(study.info.id);
    const search::StudyProgress p = search::summarize(trials, study.info.direction);
    text << "study " << study.info.name << " (" << study.where << "): " << search::direction_name(study.info.direction)
         << " " << study.info.metric << "\n";
    text << "trials: " << trials.size() << " (" << p.complete << " complete, " << p.pruned << " pruned, " << p.failed
         << " failed";
    if (p.interrupted) text << " of which " << p.interrupted << " interrupted";
    text << ", " << p.running << " running)\n";
    if (p.best_value) text << "best: trial " << p.best_trial << " with " << number_text(*p.best_value) << "\n";
    for (const auto& t : trials) {
      if (t.state == search::TrialState::kRunning) {
        text << "running: trial " << t.number << " on " << t.device << " slot " << t.slot;
        if (!t.worker.empty()) text << " by " << t.worker;  // HOST:PID:RANDOM
        text << ": " << params_text(t.params) << "\n";
      } else if (t.state == search::TrialState::kWaiting) {
        text << "waiting: trial " << t.number << " (to run again): " << params_text(t.params) << "\n";
      }
    }
  });
}

int run_best(const StudyCommandOptions& options, std::ostream& out, std::ostream& log) {
  return guarded("best", out, log, [&](std::ostream& text) {
    OpenStudy study = open_study(options.selector);
    const auto trials = study.storage->trials(study.info.id);
    const search::StudyProgress p = search::summarize(trials, study.info.direction);
    if (!p.best_value) throw std::runtime_error("study '" + study.info.name + "' has no complete trial yet");
    const search::TrialRecord& best = trials.at(static_cast<size_t>(p.best_trial));
    if (options.format == "json") {
      write_trials_json({best}, text);
      return;
    }
    text << "best trial " << best.number << ": " << study.info.metric << " " << number_text(*best.value) << "\n";
    for (const auto& [name, value] : best.params) text << "  " << name << " = " << search::to_display_string(value) << "\n";
    for (const auto& [name, value] : best.metrics) text << "  " << name << ": " << number_text(value) << "\n";
  });
}

namespace {

// `trials` and `export`: every trial, to standard output or to --output.
int list_trials(const char* command, const StudyCommandOptions& options, std::ostream& out, std::ostream& log) {
  return guarded(command, out, log, [&](std::ostream& listing) {
    OpenStudy study = open_study(options.selector);
    const auto trials = study.storage->trials(study.info.id);
    // Written whole, to the file or to `listing`, once it is complete: a study Optuna cannot
    // hold, or any other error, leaves no file behind.
    std::ostringstream text;
    if (options.format == "optuna-journal") {
      search::write_optuna_journal(study.info, study_space(study, options.selector), trials, text);
    } else if (options.format == "csv") {
      write_trials_csv(trials, text);
    } else if (options.format == "json") {
      write_trials_json(trials, text);
    } else {
      char line[64];
      for (const auto& t : trials) {
        std::snprintf(line, sizeof line, "%5lld  %-8s  %12s  ", static_cast<long long>(t.number),
                      std::string(search::trial_state_name(t.state)).c_str(), t.value ? number_text(*t.value).c_str() : "-");
        text << line << params_text(t.params);
        if (const auto it = t.metrics.find("test_accuracy"); it != t.metrics.end()) text << "  test_accuracy " << number_text(it->second);
        if (t.state == search::TrialState::kPruned && !t.steps.empty()) text << "  pruned at step " << t.steps.back().step;
        if (!t.error.empty()) text << "  error: " << t.error;
        text << "\n";
      }
    }
    if (options.output) {
      write_output_file(*options.output, text.str());
    } else {
      listing << text.str();
    }
  });
}

}  // namespace

int run_trials(const StudyCommandOptions& options, std::ostream& out, std::ostream& log) {
  return list_trials("trials", options, out, log);
}

int run_export(const StudyCommandOptions& options, std::ostream& out, std::ostream& log) {
  return list_trials("export", options, out, log);
}

void add_study_commands(CLI::App& app, StudyCommandOptions& options, int& exit_code) {
  CLI::App* status = app.add_subcommand("status", "a study's trial counts, best trial and running trials");
  add_study_selector(*status, options.selector);
  status->callback([&] { exit_code = run_status(options, std::cout, std::cerr); });

  CLI::App* best = app.add_subcommand("best", "the best trial's parameters and metrics");
  add_study_selector(*best, options.selector);
  best->add_flag_callback("--json", [&] { options.format = "json"; }, "as JSON");
  best->callback([&] { exit_code = run_best(options, std::cout, std::cerr); });

  CLI::App* trials = app.add_subcommand("trials", "every trial of a study");
  add_study_selector(*trials, options.selector);
  trials->add_flag_callback("--csv", [&] { options.format = "csv"; }, "as CSV");
  trials->add_flag_callback("--json", [&] { options.format = "json"; }, "as JSON");
  trials->callback([&] { exit_code = run_trials(options, std::cout, std::cerr); });

  CLI::App* exporter = app.add_subcommand("export", "write every trial to a file (or standard output)");
  add_study_selector(*exporter, options.selector);
  exporter->add_option("--format", options.format, "csv | json | optuna-journal (Optuna's JournalStorage file)")
      ->check(CLI::IsMember({"csv", "json", "optuna-journal"}))
      ->required();
  exporter->add_option_function<std::string>("--output,-o", [&](const std::string& f) { options.output = f; }, "file to write");
  exporter->callback([&] { exit_code = run_export(options, std::cout, std::cerr); });
}

}  // namespace gpu_tune::app
