#pragma once
// A CPU worker that is handed more cores (CpuCoreShare, when another worker runs out of
// trials) keeps them only while its steps get faster with them. On a machine that other
// programs keep busy, more threads than free cores make every parallel region wait for a
// thread the kernel has put aside: measured on 2 cores beside two busy loops, a trial's
// last wave took 18 s on the two threads it was handed against about 5 s on its own one.
//
// The check compares step times: the median of the last kBaselineSteps steps on the
// current threads against the steps on the offered ones (the first kWarmupSteps of which are
// skipped: the thread pool is waking). It decides as soon as more than half of kProbeSteps
// steps are faster than kSpeedup times the baseline's median (keep), or not (go back); that
// is the median test, ended early. Going back, it waits kRetrySeconds before taking the
// same offer again, since the other programs may have finished by then.
#include <optional>
#include <vector>

namespace gpu_tune::app {

class CoreHandoverCheck {
 public:
  static constexpr int kBaselineSteps = 16;
  static constexpr int kWarmupSteps = 2;
  static constexpr int kProbeSteps = 16;
  static constexpr double kSpeedup = 0.9;
  static constexpr double kRetrySeconds = 30.0;

  explicit CoreHandoverCheck(int threads);

  // Called before each step, with the time (seconds, any fixed origin) and the threads the
  // share offers now; returns the threads to use for this step. Fewer threads than in use
  // are taken at once.
  int before_step(double now_seconds, int offered);

  int threads() const { return threads_; }

 private:
  struct Probe {
    int threads;
    double baseline_median;
    int warmup_left = kWarmupSteps;
    int faster = 0;
    int slower = 0;
  };
  void record(double step_seconds);
  void settle(int threads);

  int threads_;
  std::optional<double> last_step_start_;
  std::vector<double> baseline_;  // the last step times on threads_, oldest first
  std::optional<Probe> probe_;
  std::optional<int> refused_threads_;
  double refused_until_ = 0.0;
};

}  // namespace gpu_tune::app
