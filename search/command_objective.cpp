#include "search/command_objective.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "search/process.h"

extern char** environ;

namespace gpu_tune::search {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long a pruned trial gets between SIGTERM and SIGKILL.
constexpr auto kTerminateGrace = std::chrono::seconds(2);
// How often the poll loop wakes with no output, at least: how soon a stop is noticed.
constexpr auto kStopCheckInterval = milliseconds(100);
// How long output pipes may stay open after the command exited and its group was killed;
// only a process that left the group can hold them, and we stop waiting for it.
constexpr auto kOutputGraceAfterExit = std::chrono::seconds(1);
// A longer stdout line cannot be a step report or a number; it is skipped, not buffered.
constexpr size_t kMaxLineBytes = 64 * 1024;
constexpr std::string_view kStepPrefix = "gpu_tune:step=";

// "2.5", "30": seconds as a user wrote them.
std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// The whole text (surrounding whitespace aside) as a number, strtod's way: 1e-3, inf, nan.
std::optional<double> parse_number(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  const std::string copy(text);  // strtod needs a terminated string
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(copy.c_str(), &end, 10);
  if (errno != 0 || end != copy.c_str() + copy.size()) return std::nullopt;
  return static_cast<int64_t>(value);
}

// "gpu_tune:step=N value=V", with any whitespace between and around the two fields.
std::optional<StepRecord> parse_step_line(std::string_view line) {
  line = trim(line);
  if (line.substr(0, kStepPrefix.size()) != kStepPrefix) return std::nullopt;
  line.remove_prefix(kStepPrefix.size());
  const size_t gap = line.find_first_of(" \t");
  if (gap == std::string_view::npos) return std::nullopt;
  const std::string_view value_field = trim(line.substr(gap));
  constexpr std::string_view kValuePrefix = "value=";
  if (value_field.substr(0, kValuePrefix.size()) != kValuePrefix) return std::nullopt;
  const std::optional<int64_t> step = parse_integer(line.substr(0, gap));
  const std::optional<double> value = parse_number(value_field.substr(kValuePrefix.size()));
  if (!step || !value) return std::nullopt;
  StepRecord record;
  record.step = *step;
  record.value = *value;
  return record;
}

// Single quotes make every character literal to the shell; a quote inside becomes '\''.
std::string shell_quote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

std::string environment_name(std::string_view parameter) {
  std::string name = "GPU_TUNE_";
  for (char c : parameter) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    name += allowed ? c : '_';
  }
  return name;
}


// The parent's environment with the trial's variables added; ours replace any of the same name.
std::vector<std::string> trial_environment(const TrialRequest& trial) {
  std::vector<std::string> ours;
  for (const auto& [name, value] : trial.params) ours.push_back(environment_name(name) + "=" + to_string(value));
  ours.push_back("GPU_TUNE_TRIAL_NUMBER=" + std::to_string(trial.number));

  std::set<std::string, std::less<>> our_names;
  for (const std::string& entry : ours) our_names.insert(entry.substr(0, entry.find('=')));
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!our_names.contains(text.substr(0, text.find('=')))) env.emplace_back(text);
  }
  env.insert(env.end(), ours.begin(), ours.end());
  return env;
}

// Cuts a byte stream into lines, whatever the chunks' boundaries.
class LineSplitter {
 public:
  template <typename OnLine>
  void feed(std::string_view chunk, OnLine&& on_line) {
    while (!chunk.empty()) {
      const size_t newline = chunk.find('\n');
      const std::string_view piece = chunk.substr(0, newline);
      append(piece);
      if (newline == std::string_view::npos) return;
      end_line(on_line);
      chunk.remove_prefix(newline + 1);
    }
  }
  // The stream ended; a last line without a newline still counts.
  template <typename OnLine>
  void finish(OnLine&& on_line) {
    if (!partial_.empty() || overlong_) end_line(on_line);
  }

 private:
  void append(std::string_view piece) {
    if (overlong_) return;
    if (partial_.size() + piece.size() > kMaxLineBytes) {
      overlong_ = true;
      partial_.clear();
      partial_.shrink_to_fit();
      return;
    }
    partial_.append(piece);
  }
  template <typename OnLine>
  void end_line(OnLine&& on_line) {
    if (!overlong_) on_line(std::string_view(partial_));
    partial_.clear();
    overlong_ = false;
  }

  std::string partial_;
  bool overlong_ = false;
};

// The last `limit` bytes of a stream, not counting the whitespace it ends with (so a
// final newline does not take a byte of the tail).
class Tail {
 public:
  explicit Tail(size_t limit) : limit_(limit) {}
  void append(std::string_view bytes) {
    text_.append(bytes);
    // Trim only now and then, so a chatty stream costs amortized constant time per byte.
    if (text_.size() > 2 * (limit_ + kSlack)) text_.erase(0, text_.size() - limit_ - kSlack);
  }
  std::string str() const {
    std::string_view text = trim(text_);
    if (text.size() > limit_) text = trim(text.substr(text.size() - limit_));
    return std::string(text);
  }

 private:
  static constexpr size_t kSlack = 256;  // room for trailing whitespace
  size_t limit_;
  std::string text_;
};

// One trial's child and what it has said so far.
class RunningTrial {
 public:
  RunningTrial(const CommandObjectiveOptions& options, const TrialRequest& request)
      : number_(request.number),
        child_({options.shell, "-c", objective_command_line(options.command, request.params)}, trial_environment(request)),
        stderr_tail_(options.stderr_tail_bytes),
        timeout_seconds_(options.timeout_seconds) {
    if (timeout_seconds_) {
      timeout_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout_seconds_));
    }
  }

  int64_t number() const { return number_; }
  const ChildProcess& child() const { return child_; }

  // The study is stopping: the command's process group is asked to end (SIGTERM); the
  // destructor kills what is left.
  void terminate() { child_.signal_group(SIGTERM); }
  bool has_exited() { return child_.poll_exit().has_value(); }

  // Reads what a stream has; step reports go to the reporter at once.
  void read(ChildStream stream, TrialReporter& reporter) {
    std::string chunk;
    const bool open = child_.read_available(stream, chunk);
    if (stream == ChildStream::kStderr) {
      stderr_tail_.append(chunk);
      return;
    }
    const auto on_line = [&](std::string_view line) { take_stdout_line(line, reporter); };
    stdout_lines_.feed(chunk, on_line);
    if (!open) stdout_lines_.finish(on_line);
  }

  // Moves the trial on in time: escalates a prune, notices the exit, gives up on pipes held
  // by escaped processes. Returns the outcome once the trial is over.
  std::optional<TrialOutcome> advance(Clock::time_point now, TrialReporter& reporter) {
    if (timeout_at_ && now >= *timeout_at_ && !exited_at_ && !child_.poll_exit()) {
      timed_out_ = true;
      timeout_at_.reset();
      if (!kill_at_) {
        child_.signal_group(SIGTERM);
        kill_at_ = now + kTerminateGrace;
      }
    }
    if (kill_at_ && now >= *kill_at_) {
      child_.signal_group(SIGKILL);
      kill_at_.reset();
    }
    if (!exited_at_ && child_.poll_exit()) exited_at_ = now;
    if (!exited_at_) return std::nullopt;
    if (now - *exited_at_ >= kOutputGraceAfterExit) stop_reading(reporter);
    if (child_.fd(ChildStream::kStdout) >= 0 || child_.fd(ChildStream::kStderr) >= 0) return std::nullopt;
    return outcome(*child_.poll_exit());
  }

  // When this trial next needs attention even if no output arrives.
  Clock::time_point next_deadline(Clock::time_point now) const {
    Clock::time_point deadline;
    if (exited_at_) {
      deadline = *exited_at_ + kOutputGraceAfterExit;
    } else if (child_.fd(ChildStream::kStdout) < 0 && child_.fd(ChildStream::kStderr) < 0) {
      // Its output is closed, so its exit is moments away.
      deadline = now + milliseconds(5);
    } else {
      // poll() cannot see an exit while background jobs or a dying group hold the pipes.
      deadline = now + milliseconds(100);
    }
    if (timeout_at_) deadline = std::min(deadline, *timeout_at_);
    return kill_at_ ? std::min(deadline, *kill_at_) : deadline;
  }

 private:
  // Takes what the pipes hold now and closes them: whoever still has them open left the
  // command's process group, and the trial does not wait for it.
  void stop_reading(TrialReporter& reporter) {
    for (ChildStream stream : {ChildStream::kStdout, ChildStream::kStderr}) {
      if (child_.fd(stream) < 0) continue;
      read(stream, reporter);
      if (child_.fd(stream) < 0) continue;
      child_.close_stream(stream);
      if (stream == ChildStream::kStdout) {
        stdout_lines_.finish([&](std::string_view line) { take_stdout_line(line, reporter); });
      }
    }
  }

  void take_stdout_line(std::string_view line, TrialReporter& reporter) {
    if (pruned_) return;
    const ObjectiveOutputLine said = parse_objective_output_line(line);
    if (said.step) {
      last_step_value_ = said.step->value;
      if (!reporter.report(number_, *said.step)) prune();
    } else if (said.number) {
      last_number_ = *said.number;
    }
  }

  void prune() {
    pruned_ = true;
    if (!exited_at_) {
      child_.signal_group(SIGTERM);
      kill_at_ = Clock::now() + kTerminateGrace;
    }
  }

  TrialOutcome outcome(const ExitStatus& exit) const {
    TrialOutcome result;
    if (pruned_) {
      result.state = TrialState::kPruned;
      result.value = last_step_value_;
      return result;
    }
    std::string why;
    if (timed_out_) {
      why = "timed out after " + seconds_text(*timeout_seconds_) + " s (its process group was killed)";
    } else if (exit.signaled) {
      why = "command killed by signal " + std::to_string(exit.code);
    } else if (exit.code > 128 && exit.code <= 128 + SIGRTMAX) {
      // The shell's way of saying the command it ran was killed by signal (status - 128).
      why = "command killed by signal " + std::to_string(exit.code - 128) + " (exit status " +
            std::to_string(exit.code) + ")";
    } else if (exit.code != 0) {
      why = "command exited with status " + std::to_string(exit.code);
    } else if (!last_number_) {
      why = "command printed no number on standard output";
    } else if (std::isnan(*last_number_)) {
      why = "objective is NaN";
    } else if (std::isinf(*last_number_)) {
      why = "objective is infinite";
    } else {
      result.state = TrialState::kComplete;
      result.value = last_number_;
      return result;
    }
    result.state = TrialState::kFailed;
    result.error = why;
    const std::string tail = stderr_tail_.str();
    if (!tail.empty()) result.error += "; stderr tail: " + tail;
    return result;
  }

  int64_t number_;
  ChildProcess child_;
  LineSplitter stdout_lines_;
  Tail stderr_tail_;
  std::optional<double> last_number_;
  std::optional<double> last_step_value_;
  bool pruned_ = false;
  std::optional<Clock::time_point> kill_at_;
  std::optional<Clock::time_point> exited_at_;
  std::optional<double> timeout_seconds_;
  std::optional<Clock::time_point> timeout_at_;  // until it passes or the trial ends
  bool timed_out_ = false;
};

TrialOutcome start_failure(const std::exception& error) {
  TrialOutcome outcome;
  outcome.state = TrialState::kFailed;
  outcome.error = error.what();
  return outcome;
}

// Sleeps in poll() until some child has output or `deadline` comes; returns which (trial
// index, stream) pairs are readable.
std::vector<std::pair<size_t, ChildStream>> wait_for_output(const std::vector<std::unique_ptr<RunningTrial>>& slots,
                                                            Clock::time_point deadline) {
  std::vector<pollfd> fds;
  std::vector<std::pair<size_t, ChildStream>> owners;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i]) continue;
    for (ChildStream stream : {ChildStream::kStdout, ChildStream::kStderr}) {
      const int fd = slots[i]->child().fd(stream);
      if (fd < 0) continue;
      fds.push_back(pollfd{fd, POLLIN, 0});
      owners.emplace_back(i, stream);
    }
  }
  const auto wait = std::chrono::ceil<milliseconds>(deadline - Clock::now());
  const int timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, kStopCheckInterval.count()));
  const int rc = ::poll(fds.data(), fds.size(), timeout_ms);
  if (rc < 0 && errno != EINTR)
    throw std::system_error(errno, std::generic_category(), "poll on objective command output");
  std::vector<std::pair<size_t, ChildStream>> ready;
  if (rc <= 0) return ready;
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents != 0) ready.push_back(owners[k]);
  }
  return ready;
}

// Stopping: every running command's process group gets SIGTERM, and SIGKILL (from the
// destructor) if it is still there after the grace period. The trials get no finish().
void terminate_all(std::vector<std::unique_ptr<RunningTrial>>& slots) {
  for (auto& trial : slots)
    if (trial) trial->terminate();
  const Clock::time_point give_up = Clock::now() + kTerminateGrace;
  for (;;) {
    bool all_exited = true;
    for (auto& trial : slots)
      if (trial && !trial->has_exited()) all_exited = false;
    if (all_exited || Clock::now() >= give_up) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  for (auto& trial : slots) trial.reset();
}

}  // namespace

ObjectiveOutputLine parse_objective_output_line(std::string_view line) {
  ObjectiveOutputLine said;
  said.step = parse_step_line(line);
  if (!said.step) said.number = parse_number(line);
  return said;
}

std::string objective_command_line(const std::string& command, const ParamMap& params) {
  std::string arguments;
  for (const auto& [name, value] : params) {
    if (!arguments.empty()) arguments += ' ';
    arguments += shell_quote("--" + name + "=" + to_string(value));
  }
  const size_t placeholder = command.find(kParamsPlaceholder);
  if (placeholder == std::string::npos) return arguments.empty() ? command : command + " " + arguments;
  std::string line = command;
  for (size_t at = placeholder; at != std::string::npos; at = line.find(kParamsPlaceholder, at + arguments.size())) {
    line.replace(at, std::string_view(kParamsPlaceholder).size(), arguments);
  }
  return line;
}


CommandObjective::CommandObjective(CommandObjectiveOptions options) : options_(std::move(options)) {
  if (trim(options_.command).empty()) throw std::invalid_argument("objective command is empty");
  if (options_.shell.empty()) throw std::invalid_argument("objective command shell is empty");
  if (options_.parallel < 1) {
    throw std::invalid_argument("objective command parallel must be at least 1, got " +
                                std::to_string(options_.parallel));
  }
  if (options_.timeout_seconds && !(std::isfinite(*options_.timeout_seconds) && *options_.timeout_seconds > 0)) {
    throw std::invalid_argument("objective command timeout must be a positive, finite number of seconds, got " +
                                seconds_text(*options_.timeout_seconds));
  }
}

void CommandObjective::run(const std::function<std::optional<TrialRequest>(int slot)>& next_trial,
                           TrialReporter& reporter) {
  // Destroying a RunningTrial kills and reaps its child, so an exception from next_trial or
  // the reporter unwinds through here without leaving processes behind.
  std::vector<std::unique_ptr<RunningTrial>> slots(static_cast<size_t>(options_.parallel));
  bool asking = true;
  for (;;) {
    if (reporter.should_stop()) {
      terminate_all(slots);
      return;
    }
    for (size_t slot = 0; asking && slot < slots.size(); ++slot) {
      while (asking && !slots[slot]) {
        std::optional<TrialRequest> request = next_trial(static_cast<int>(slot));
        if (!request) {
          asking = false;
          break;
        }
        try {
          slots[slot] = std::make_unique<RunningTrial>(options_, *request);
        } catch (const std::system_error& error) {
          // The slot stays free and is offered again: the study decides whether to go on.
          reporter.finish(request->number, start_failure(error));
        }
      }
    }
    if (std::none_of(slots.begin(), slots.end(), [](const auto& trial) { return trial != nullptr; })) return;

    Clock::time_point deadline = Clock::time_point::max();
    const Clock::time_point before = Clock::now();
    for (const auto& trial : slots) {
      if (trial) deadline = std::min(deadline, trial->next_deadline(before));
    }
    for (const auto& [index, stream] : wait_for_output(slots, deadline)) slots[index]->read(stream, reporter);

    const Clock::time_point now = Clock::now();
    for (auto& trial : slots) {
      if (!trial) continue;
      const std::optional<TrialOutcome> outcome = trial->advance(now, reporter);
      if (!outcome) continue;
      const int64_t number = trial->number();
      trial.reset();
      reporter.finish(number, *outcome);
    }
  }
}

}  // namespace gpu_tune::search
