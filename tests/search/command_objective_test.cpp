#include "search/command_objective.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "search/process.h"

namespace gpu_tune::search {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Running and not a zombie. A process reparented away from us may linger as a zombie when
// nothing reaps orphans, which is not a stray process.
bool is_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const size_t after_name = text.rfind(')');
  return after_name != std::string::npos && after_name + 2 < text.size() && text[after_name + 2] != 'Z';
}

bool stops_running_within(pid_t pid, double seconds) {
  const Clock::time_point start = Clock::now();
  while (is_running(pid)) {
    if (seconds_since(start) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

pid_t read_pid(const std::filesystem::path& path) { return static_cast<pid_t>(std::stol(read_text(path))); }

// Records everything the objective tells it; prunes at a chosen step, or throws on demand.
class RecordingReporter final : public TrialReporter {
 public:
  std::optional<int64_t> prune_at_step;
  bool throw_on_report = false;
  std::map<int64_t, std::vector<StepRecord>> steps;
  std::map<int64_t, TrialOutcome> outcomes;
  std::map<int64_t, int> finish_calls;
  std::function<bool()> stop_when;  // should_stop(), when set

  bool should_stop() const override { return stop_when && stop_when(); }
  bool report(int64_t number, const StepRecord& step) override {
    if (throw_on_report) throw std::runtime_error("reporter failed");
    steps[number].push_back(step);
    return !(prune_at_step && step.step >= *prune_at_step);
  }
  void finish(int64_t number, const TrialOutcome& outcome) override {
    outcomes[number] = outcome;
    ++finish_calls[number];
  }
};

class CommandObjectiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "command_objective_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A shell script in the test's directory; $DIR inside it names that directory.
  std::string script(const std::string& name, const std::string& body) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\nDIR='" << dir_.string() << "'\n" << body << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return "'" + path.string() + "'";
  }

  // Runs trials 0, 1, ... with the given parameters, then checks what every run must hold:
  // one finish per started trial, slots within capacity, and no child left unreaped.
  void run_trials(CommandObjective& objective, const std::vector<ParamMap>& params, RecordingReporter& reporter) {
    size_t handed_out = 0;
    objective.run(
        [&](int slot) -> std::optional<TrialRequest> {
          EXPECT_GE(slot, 0);
          EXPECT_LT(slot, objective.capacity());
          if (handed_out == params.size()) return std::nullopt;
          TrialRequest request;
          request.number = static_cast<int64_t>(handed_out);
          request.params = params[handed_out++];
          return request;
        },
        reporter);
    ASSERT_EQ(handed_out, params.size());
    for (size_t number = 0; number < params.size(); ++number) {
      EXPECT_EQ(reporter.finish_calls[static_cast<int64_t>(number)], 1) << "trial " << number;
    }
    EXPECT_EQ(reporter.finish_calls.size(), params.size());
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD) << "a child of the test process was left unreaped";
  }

  std::filesystem::path dir_;
};

TEST_F(CommandObjectiveTest, RejectsBadOptions) {
  EXPECT_THROW(CommandObjective({.command = "", .parallel = 1}), std::invalid_argument);
  EXPECT_THROW(CommandObjective({.command = "  ", .parallel = 1}), std::invalid_argument);
  EXPECT_THROW(CommandObjective({.command = "true", .parallel = 0}), std::invalid_argument);
  for (const double timeout : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    EXPECT_THROW(CommandObjective({.command = "true", .parallel = 1, .timeout_seconds = timeout}), std::invalid_argument)
        << timeout;
  }
  const CommandObjective objective({.command = "true", .parallel = 4});
  EXPECT_EQ(objective.capacity(), 4);
  EXPECT_EQ(objective.device(), "command");
}

TEST_F(CommandObjectiveTest, PassesParametersAsArgumentsAndEnvironment) {
  ASSERT_EQ(::setenv("GPU_TUNE_TEST_INHERITED", "from parent", 1), 0);
  const std::string command = script("train.sh", R"sh(
printf '%s\n' "$@" > "$DIR/args_$GPU_TUNE_TRIAL_NUMBER"
printf '%s\n' "$GPU_TUNE_MODEL" "$GPU_TUNE_LR" "$GPU_TUNE_LAYERS" "$GPU_TUNE_USE_BN" "$GPU_TUNE_DROP_OUT" \
  "$GPU_TUNE_TRIAL_NUMBER" "$GPU_TUNE_TEST_INHERITED" > "$DIR/env_$GPU_TUNE_TRIAL_NUMBER"
if read -r line; then echo "stdin gave $line"; else echo "stdin empty"; fi >> "$DIR/env_$GPU_TUNE_TRIAL_NUMBER"
echo 0.75)sh");
  const std::string tricky = "it's a \"b\" $HOME `id` \\n";
  const ParamMap params = {
      {"model", std::string(tricky)}, {"lr", 0.25}, {"layers", int64_t{3}}, {"use_bn", true}, {"drop-out", 0.5}};
  CommandObjective objective({.command = command});
  RecordingReporter reporter;
  run_trials(objective, {params}, reporter);
  ::unsetenv("GPU_TUNE_TEST_INHERITED");

  ASSERT_EQ(reporter.outcomes[0].state, TrialState::kComplete) << reporter.outcomes[0].error;
  EXPECT_EQ(reporter.outcomes[0].value, 0.75);
  // Arguments come in parameter-name order, each value exactly as given.
  EXPECT_EQ(read_lines(dir_ / "args_0"), (std::vector<std::string>{"--drop-out=0.5", "--layers=3", "--lr=0.25",
                                                                   "--model=" + tricky, "--use_bn=true"}));
  EXPECT_EQ(read_lines(dir_ / "env_0"),
            (std::vector<std::string>{tricky, "0.25", "3", "true", "0.5", "0", "from parent", "stdin empty"}));
}

TEST(CommandObjectiveLine, ArgumentsGoToTheEndOrWhereParamsStands) {
  const ParamMap params = {{"lr", 0.5}, {"model", std::string("it's")}};
  EXPECT_EQ(objective_command_line("./train", params), "./train '--lr=0.5' '--model=it'\\''s'");
  EXPECT_EQ(objective_command_line("./train {params} | tail -1", params),
            "./train '--lr=0.5' '--model=it'\\''s' | tail -1");
  EXPECT_EQ(objective_command_line("a {params}; b {params}", {{"x", int64_t{1}}}), "a '--x=1'; b '--x=1'");
  EXPECT_EQ(objective_command_line("./train", {}), "./train");
}

TEST_F(CommandObjectiveTest, ParamsPlaceholderReachesACommandBeforeTheLast) {
  // Without {params} the arguments would go to `echo 0.5`, the list's last command.
  CommandObjective objective({.command = "printf '%s\\n' {params} > '" + (dir_ / "args").string() + "'; echo 0.5"});
  RecordingReporter reporter;
  run_trials(objective, {{{"lr", 0.25}, {"batch", int64_t{32}}}}, reporter);
  ASSERT_EQ(reporter.outcomes[0].state, TrialState::kComplete) << reporter.outcomes[0].error;
  EXPECT_EQ(reporter.outcomes[0].value, 0.5);
  EXPECT_EQ(read_lines(dir_ / "args"), (std::vector<std::string>{"--batch=32", "--lr=0.25"}));
}

TEST_F(CommandObjectiveTest, ReportsIntermediateValuesInOrder) {
  const std::string command = script("steps.sh", R"sh(
echo "gpu_tune:step=1 value=0.5"
echo "training..."
echo "gpu_tune:step=2   value=0.25"
echo "gpu_tune:step=3 value=1e-1"
echo "gpu_tune:step=x value=9"
echo 0.125)sh");
  CommandObjective objective({.command = command});
  RecordingReporter reporter;
  run_trials(objective, {ParamMap{}}, reporter);

  const std::vector<StepRecord>& steps = reporter.steps[0];
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].step, 1);
  EXPECT_EQ(steps[0].value, 0.5);
  EXPECT_EQ(steps[1].step, 2);
  EXPECT_EQ(steps[1].value, 0.25);
  EXPECT_EQ(steps[2].step, 3);
  EXPECT_EQ(steps[2].value, 0.1);
  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kComplete);
  EXPECT_EQ(reporter.outcomes[0].value, 0.125);
}

TEST_F(CommandObjectiveTest, PrunedTrialIsStoppedAtOnce) {
  const std::string command = script("slow.sh", R"sh(
echo $$ > "$DIR/pid"
echo "gpu_tune:step=1 value=0.5"
echo "gpu_tune:step=2 value=0.4"
sleep 30
echo "gpu_tune:step=3 value=0.3"
echo 0.3)sh");
  CommandObjective objective({.command = command});
  RecordingReporter reporter;
  reporter.prune_at_step = 2;
  const Clock::time_point start = Clock::now();
  run_trials(objective, {ParamMap{}}, reporter);

  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_EQ(reporter.steps[0].size(), 2u);
  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kPruned);
  EXPECT_EQ(reporter.outcomes[0].value, 0.4);
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "pid"), 2.0));
}

TEST_F(CommandObjectiveTest, PruneKillsACommandThatIgnoresTerm) {
  // exec, so that the shell that gets SIGTERM is the one that ignores it.
  const std::string command = "exec " + script("stubborn.sh", R"sh(
trap '' TERM
echo "gpu_tune:step=1 value=2.5"
sleep 30)sh");
  CommandObjective objective({.command = command});
  RecordingReporter reporter;
  reporter.prune_at_step = 1;
  const Clock::time_point start = Clock::now();
  run_trials(objective, {ParamMap{}}, reporter);

  const double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 1.9) << "SIGKILL came before the 2 s grace";
  EXPECT_LT(elapsed, 4.0);
  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kPruned);
  EXPECT_EQ(reporter.outcomes[0].value, 2.5);
}

TEST_F(CommandObjectiveTest, FailuresSayWhyAndTheStudyGoesOn) {
  const std::string command = script("flaky.sh", R"sh(
case "$GPU_TUNE_MODE" in
  status) echo 0.5; echo "out of memory" >&2; exit 3 ;;
  silence) echo "nothing numeric" ;;
  nan) echo nan ;;
  inf) echo -inf ;;
  signal) echo 0.5; kill -9 $$ ;;
  ok) echo 0.9 ;;
esac)sh");
  std::vector<ParamMap> params;
  for (const char* mode : {"status", "silence", "nan", "inf", "signal", "ok"})
    params.push_back({{"mode", std::string(mode)}});
  CommandObjective objective({.command = command, .parallel = 2});
  RecordingReporter reporter;
  run_trials(objective, params, reporter);

  for (int64_t number = 0; number < 5; ++number) {
    EXPECT_EQ(reporter.outcomes[number].state, TrialState::kFailed) << "trial " << number;
    EXPECT_FALSE(reporter.outcomes[number].value.has_value()) << "trial " << number;
  }
  EXPECT_THAT(reporter.outcomes[0].error, HasSubstr("exited with status 3; stderr tail: out of memory"));
  EXPECT_THAT(reporter.outcomes[1].error, HasSubstr("printed no number on standard output"));
  EXPECT_THAT(reporter.outcomes[1].error, ::testing::Not(HasSubstr("stderr tail")));
  EXPECT_THAT(reporter.outcomes[2].error, HasSubstr("objective is NaN"));
  EXPECT_THAT(reporter.outcomes[3].error, HasSubstr("objective is infinite"));
  // The script runs under `sh -c`, which reports its death as status 128 + 9.
  EXPECT_THAT(reporter.outcomes[4].error, HasSubstr("killed by signal 9 (exit status 137)"));
  EXPECT_EQ(reporter.outcomes[5].state, TrialState::kComplete);
  EXPECT_EQ(reporter.outcomes[5].value, 0.9);
}

TEST_F(CommandObjectiveTest, ShellKilledBySignalFails) {
  CommandObjective objective({.command = "echo 1; echo dying >&2; kill -15 $$"});
  RecordingReporter reporter;
  run_trials(objective, {ParamMap{}}, reporter);

  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kFailed);
  EXPECT_EQ(reporter.outcomes[0].error, "command killed by signal 15; stderr tail: dying");
}

TEST_F(CommandObjectiveTest, ErrorKeepsOnlyTheStderrTail) {
  const std::string command = script("noisy.sh", R"sh(
i=0
while [ $i -lt 2000 ]; do printf 'aaaaaaaaaa' >&2; i=$((i + 1)); done
printf 'ZYXWVUTSRQ0123456789\n' >&2
exit 1)sh");
  CommandObjective objective({.command = command, .stderr_tail_bytes = 10});
  RecordingReporter reporter;
  run_trials(objective, {ParamMap{}}, reporter);

  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kFailed);
  EXPECT_EQ(reporter.outcomes[0].error, "command exited with status 1; stderr tail: 0123456789");
}

TEST_F(CommandObjectiveTest, LastNumericLineIsTheObjective) {
  const std::string command = script("chatty.sh", R"sh(
case "$GPU_TUNE_MODE" in
  trailing) echo 1; echo "  2.5e-1  "; echo "3 apples"; echo "done"; echo "" ;;
  split) printf '0.'; sleep 0.2; printf '7'; sleep 0.1; printf '5\nnot a number\n' ;;
  unterminated) printf '1\n8' ;;
  long) echo 4; head -c 300000 /dev/zero | tr '\0' 7; echo; echo "x" ;;
esac)sh");
  std::vector<ParamMap> params;
  for (const char* mode : {"trailing", "split", "unterminated", "long"})
    params.push_back({{"mode", std::string(mode)}});
  CommandObjective objective({.command = command, .parallel = 4});
  RecordingReporter reporter;
  run_trials(objective, params, reporter);

  EXPECT_EQ(reporter.outcomes[0].value, 0.25);
  EXPECT_EQ(reporter.outcomes[1].value, 0.75);
  EXPECT_EQ(reporter.outcomes[2].value, 8.0);
  // A line too long to be a number does not replace the last real one.
  EXPECT_EQ(reporter.outcomes[3].value, 4.0);
  for (int64_t number = 0; number < 4; ++number) {
    EXPECT_EQ(reporter.outcomes[number].state, TrialState::kComplete) << reporter.outcomes[number].error;
  }
}

TEST_F(CommandObjectiveTest, RunsUpToParallelTrialsAtOnce) {
  const std::string command = script("sleepy.sh", R"sh(
echo "start $(date +%s.%N)" >> "$DIR/log"
sleep 0.5
echo "end $(date +%s.%N)" >> "$DIR/log"
echo 1)sh");
  CommandObjective objective({.command = command, .parallel = 3});
  RecordingReporter reporter;
  const Clock::time_point start = Clock::now();
  run_trials(objective, std::vector<ParamMap>(6), reporter);
  const double elapsed = seconds_since(start);

  EXPECT_LT(elapsed, 2.4) << "six 0.5 s trials, three at a time, should take about 1 s";
  // Sweep the start and end times: an end sorts before a start at the same instant.
  std::vector<std::pair<double, int>> events;
  for (const std::string& line : read_lines(dir_ / "log")) {
    const size_t space = line.find(' ');
    events.emplace_back(std::stod(line.substr(space + 1)), line.starts_with("start") ? 1 : -1);
  }
  ASSERT_EQ(events.size(), 12u);
  std::sort(events.begin(), events.end());
  int running = 0, most = 0;
  for (const auto& event : events) most = std::max(most, running += event.second);
  EXPECT_LE(most, 3);
  EXPECT_GE(most, 2);
  for (int64_t number = 0; number < 6; ++number) EXPECT_EQ(reporter.outcomes[number].state, TrialState::kComplete);
}

TEST_F(CommandObjectiveTest, NoMoreTrialsEndsTheRunOnceRunningOnesFinish) {
  const std::string command = script("short.sh", "sleep 0.2; echo $GPU_TUNE_TRIAL_NUMBER");
  CommandObjective objective({.command = command, .parallel = 3});
  RecordingReporter reporter;
  int calls = 0;
  objective.run(
      [&](int) -> std::optional<TrialRequest> {
        ++calls;
        if (calls > 2) return std::nullopt;
        TrialRequest request;
        request.number = calls * 10;
        return request;
      },
      reporter);

  EXPECT_EQ(calls, 3) << "next_trial was asked again after it returned nothing";
  ASSERT_EQ(reporter.finish_calls.size(), 2u);
  EXPECT_EQ(reporter.finish_calls[10], 1);
  EXPECT_EQ(reporter.finish_calls[20], 1);
  EXPECT_EQ(reporter.outcomes[10].value, 10.0);
  EXPECT_EQ(reporter.outcomes[20].value, 20.0);
}

TEST_F(CommandObjectiveTest, ReporterExceptionKillsChildrenAndPropagates) {
  const std::string command = script("victim.sh", R"sh(
echo $$ > "$DIR/pid"
sleep 30 &
echo $! > "$DIR/background_pid"
echo "gpu_tune:step=1 value=1"
sleep 30)sh");
  CommandObjective objective({.command = command, .parallel = 2});
  RecordingReporter reporter;
  reporter.throw_on_report = true;
  const Clock::time_point start = Clock::now();
  int calls = 0;
  EXPECT_THROW(objective.run(
                   [&](int) -> std::optional<TrialRequest> {
                     if (calls++ > 0) return std::nullopt;
                     return TrialRequest{0, {}};
                   },
                   reporter),
               std::runtime_error);

  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_TRUE(reporter.finish_calls.empty());
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "pid"), 2.0));
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "background_pid"), 2.0));
}

TEST_F(CommandObjectiveTest, BackgroundJobsDoNotOutliveTheirTrial) {
  const std::string command = script("daemon.sh", R"sh(
sleep 30 &
echo $! > "$DIR/background_pid"
echo 1)sh");
  CommandObjective objective({.command = command});
  RecordingReporter reporter;
  const Clock::time_point start = Clock::now();
  run_trials(objective, {ParamMap{}}, reporter);

  EXPECT_LT(seconds_since(start), 3.0) << "waited for a background job holding standard output";
  EXPECT_EQ(reporter.outcomes[0].state, TrialState::kComplete);
  EXPECT_EQ(reporter.outcomes[0].value, 1.0);
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "background_pid"), 2.0));
}

TEST_F(CommandObjectiveTest, AHungCommandTimesOutAndItsWholeGroupIsKilled) {
  // The trial's shell ignores SIGTERM and waits on a child of its own: both must go.
  const std::string command = "exec " + script("hung.sh", R"sh(
trap '' TERM
sleep 30 &
echo $! > "$DIR/hung_child_pid"
echo "gpu_tune:step=1 value=0.5"
wait)sh");
  CommandObjective objective({.command = command, .parallel = 2, .timeout_seconds = 0.5});
  RecordingReporter reporter;
  const Clock::time_point start = Clock::now();
  run_trials(objective, {ParamMap{}}, reporter);

  const double elapsed = seconds_since(start);
  EXPECT_GE(elapsed, 0.5) << "timed out before its time";
  EXPECT_LT(elapsed, 4.5) << "SIGKILL did not follow SIGTERM within the grace";
  ASSERT_EQ(reporter.outcomes[0].state, TrialState::kFailed);
  EXPECT_NE(reporter.outcomes[0].error.find("timed out after 0.5 s"), std::string::npos) << reporter.outcomes[0].error;
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "hung_child_pid"), 2.0)) << "the command's child outlived it";
}

TEST_F(CommandObjectiveTest, CommandThatCannotStartFailsItsTrial) {
  CommandObjective objective({.command = "true", .parallel = 2, .shell = (dir_ / "no-such-shell").string()});
  RecordingReporter reporter;
  run_trials(objective, std::vector<ParamMap>(3), reporter);

  for (int64_t number = 0; number < 3; ++number) {
    EXPECT_EQ(reporter.outcomes[number].state, TrialState::kFailed);
    EXPECT_THAT(reporter.outcomes[number].error, HasSubstr("could not start " + (dir_ / "no-such-shell").string()));
    EXPECT_THAT(reporter.outcomes[number].error, HasSubstr("No such file or directory"));
  }
}

TEST(ChildProcess, ReportsExitStatusAndOutput) {
  ChildProcess child({"/bin/sh", "-c", "echo out; echo err >&2; exit 7"}, {});
  std::string out, err;
  while (child.fd(ChildStream::kStdout) >= 0 || child.fd(ChildStream::kStderr) >= 0) {
    child.read_available(ChildStream::kStdout, out);
    child.read_available(ChildStream::kStderr, err);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::optional<ExitStatus> status;
  while (!(status = child.poll_exit())) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(out, "out\n");
  EXPECT_EQ(err, "err\n");
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->code, 7);
}

TEST(ChildProcess, DestructorKillsARunningChild) {
  pid_t pid;
  {
    ChildProcess child({"/bin/sh", "-c", "sleep 30"}, {});
    pid = child.pid();
    EXPECT_FALSE(child.poll_exit().has_value());
  }
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(CommandObjectiveTest, StoppingTerminatesEveryRunningCommandAndFinishesNone) {
  const std::string command = script("sleepy.sh", R"sh(
echo $$ > "$DIR/pid.$GPU_TUNE_TRIAL_NUMBER"
sleep 30
echo 1)sh");
  CommandObjective objective({.command = command, .parallel = 2});
  RecordingReporter reporter;
  const auto both_started = [&] { return std::filesystem::exists(dir_ / "pid.0") && std::filesystem::exists(dir_ / "pid.1"); };
  reporter.stop_when = both_started;
  int asked = 0;
  const Clock::time_point start = Clock::now();
  objective.run(
      [&](int) -> std::optional<TrialRequest> {
        // A stopping study hands out nothing, as the study service does.
        if (reporter.should_stop()) return std::nullopt;
        return TrialRequest{asked++, {}};
      },
      reporter);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_EQ(asked, 2) << "no trial starts once the study is stopping";
  EXPECT_TRUE(reporter.outcomes.empty()) << "stopped trials are the study's to record, as interrupted";
  // The shell that ran the script is reaped by run(); the script's own process got the
  // group's SIGTERM and may still be dying at this instant, so give it a moment.
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "pid.0"), 2.0));
  EXPECT_TRUE(stops_running_within(read_pid(dir_ / "pid.1"), 2.0));
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "a child of the test process was left unreaped";
}

TEST(ChildProcess, KillAllChildProcessGroupsReachesEveryLiveGroup) {
  ChildProcess first({"/bin/sh", "-c", "sleep 30"}, {});
  ChildProcess second({"/bin/sh", "-c", "sleep 30 & wait"}, {});
  kill_all_child_process_groups();
  for (ChildProcess* child : {&first, &second}) {
    const Clock::time_point start = Clock::now();
    std::optional<ExitStatus> status;
    while (!(status = child->poll_exit()) && seconds_since(start) < 5) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->signaled);
    EXPECT_EQ(status->code, SIGKILL);
  }
}

TEST(ChildProcess, MissingProgramThrows) {
  EXPECT_THROW(ChildProcess({"/nonexistent/program"}, {}), std::system_error);
  EXPECT_THROW(ChildProcess({}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace gpu_tune::search
