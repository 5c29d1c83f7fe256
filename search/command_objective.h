#pragma once
// An objective that runs a shell command per trial, so any program can be tuned
// (--objective-command). Each trial runs `shell -c 'COMMAND --NAME=VALUE ...'`, with every
// parameter also in the environment as GPU_TUNE_<NAME>, and GPU_TUNE_TRIAL_NUMBER.
// The arguments go to the end of the shell text, so to the LAST command of a list such as
// `sleep 1; train` or of a pipeline; `{params}` in the text puts them where it stands instead
// (see objective_command_line).
//
// The command talks back on standard output:
//   gpu_tune:step=N value=V   an intermediate value (the trial may be pruned after it)
//   a line that is a number   the objective; the last such line counts
// It succeeds when it exits with status 0 having printed a finite number.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "search/objective.h"

namespace gpu_tune::search {

// Where the trial's --NAME=VALUE arguments go in the command, when it says.
inline constexpr const char* kParamsPlaceholder = "{params}";

// The shell text a trial runs: `command` with every `{params}` replaced by the trial's
// --NAME=VALUE arguments (each shell-quoted, in name order), or without one, `command`
// followed by them.
std::string objective_command_line(const std::string& command, const ParamMap& params);

// What one line of the command's standard output says: a step report, else a number, else
// nothing (any other line is the command's own chatter, ignored).
struct ObjectiveOutputLine {
  std::optional<StepRecord> step;  // "gpu_tune:step=N value=V"
  std::optional<double> number;    // a line that is a number, strtod's way (1e-3, inf, nan)
};
ObjectiveOutputLine parse_objective_output_line(std::string_view line);

struct CommandObjectiveOptions {
  std::string command;              // shell text; its {params}, else its end, takes the --NAME=VALUE arguments
  int parallel = 1;                 // how many trials run at once
  size_t stderr_tail_bytes = 4096;  // how much of its standard error a failed trial's error keeps
  std::string shell = "/bin/sh";    // the shell that runs the command, as `shell -c`; a path
  // A trial still running this long after it started fails ("timed out after ...") and its
  // process group gets SIGTERM, then SIGKILL 2 s later: a hung command costs one slot for
  // this long, not the study. None: no limit.
  std::optional<double> timeout_seconds = std::nullopt;
};

class CommandObjective final : public Objective {
 public:
  // Throws std::invalid_argument when the command or shell is empty, parallel < 1, or the
  // timeout is not a positive finite number of seconds.
  explicit CommandObjective(CommandObjectiveOptions options);

  int capacity() const override { return options_.parallel; }
  std::string device() const override { return "command"; }
  // A pruned trial's process group gets SIGTERM, then SIGKILL 2 s later if still alive.
  // When reporter.should_stop() (checked at least every 100 ms), every running command's
  // group gets the same, and run() returns without finishing those trials.
  // If next_trial or the reporter throws, every running child is killed and reaped before
  // the exception leaves; the running trials then get no finish().
  void run(const std::function<std::optional<TrialRequest>(int slot)>& next_trial, TrialReporter& reporter) override;

 private:
  CommandObjectiveOptions options_;
};

}  // namespace gpu_tune::search
