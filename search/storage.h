#pragma once
// Durable studies. Every state change of a trial is committed the moment it happens, so a
// kill at any instant loses at most the running trials' progress. Implementations:
// SQLite (one file per study directory; the default), and PostgreSQL for many nodes.
// Safe for several processes (and threads) writing the same study at once: each Storage
// object is one worker, which owns the trials it starts and keeps them alive with heartbeats
// (search/README.md, "Many workers on one study"). One object serves one thread at a time:
// SQLite and PostgreSQL refuse a second thread inside an operation by name
// (connection_claim.h); threads that share one take turns (StorageWriter).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "search/trial.h"

namespace gpu_tune::search {

struct StudyInfo {
  int64_t id = -1;
  std::string name;
  Direction direction = Direction::kMinimize;
  std::string metric = "validation_loss";  // what the objective value measures
  std::string config;                       // the study file's text, kept for reference
  // The search space as canonical text (search/space_description.h), so a resume can refuse
  // a study file whose space changed. Empty for an objective that does not say.
  std::string space;
};

class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The storage could not be reached (a database server gone for longer than the storage
// retries): nothing of the failed operation was written, and the same operation may succeed
// later. StorageWriter keeps writes that failed this way and tries them again.
class StorageUnavailable : public StorageError {
 public:
  using StorageError::StorageError;
};

// The trials of a study that changed after a point, and the point to ask from next time.
struct TrialChanges {
  std::vector<TrialRecord> trials;  // whole (steps and attributes), in number order
  uint64_t cursor = 0;
};

class Storage {
 public:
  Storage();
  virtual ~Storage() = default;

  // This object's worker id (worker_id.h), recorded with every trial it starts.
  const std::string& worker_id() const { return worker_id_; }

  // Creates the study, or loads it if one of that name exists (its direction and metric
  // must then agree, else StorageError naming both). A loaded study keeps the space it was
  // created with; one stored without a space (by an older program) takes the requested one.
  virtual StudyInfo create_or_load_study(const StudyInfo& study) = 0;
  virtual std::optional<StudyInfo> find_study(const std::string& name) = 0;

  // Adds a running trial with the next number, atomically across writers, owned by this
  // object's worker (worker_id()) with a fresh heartbeat.
  virtual TrialRecord start_trial(int64_t study_id, const ParamMap& params, const std::string& device, int slot) = 0;
  // The oldest waiting trial (enqueue_trial), now running here with its own parameters; or
  // else as start_trial, unless `budget` trials of the study already count toward it (every
  // trial but the failed ones whose error is `uncounted_error`, the interrupted): then nothing
  // is added and none returned. The count and the new number are one transaction, so many
  // workers together meet the budget exactly.
  virtual std::optional<TrialRecord> claim_trial(int64_t study_id, const ParamMap& params, const std::string& device,
                                                 int slot, int64_t budget, const std::string& uncounted_error) = 0;
  // Adds a waiting trial with the next number and these parameters and attributes: the
  // next claim_trial of any worker runs it (before anything sampled). Returns it.
  virtual TrialRecord enqueue_trial(int64_t study_id, const ParamMap& params,
                                    const std::map<std::string, double>& attributes) = 0;
  // Refreshes the heartbeat of every running trial this worker started in the study.
  virtual void heartbeat(int64_t study_id) = 0;
  // Marks running trials failed with `reason` when their worker is gone: their heartbeat is
  // older than grace_seconds (or they have none: started by a program without heartbeats), or
  // is_dead(worker) says so. Returns their numbers.
  virtual std::vector<int64_t> fail_stale_trials(int64_t study_id, const std::string& reason, double grace_seconds,
                                                 const std::function<bool(const std::string& worker)>& is_dead) = 0;
  virtual void record_step(int64_t study_id, int64_t number, const StepRecord& step) = 0;
  // Merges `attributes` into a running trial's (a key given again replaces its value), in one
  // commit. StorageError if the trial is not running.
  virtual void set_trial_attributes(int64_t study_id, int64_t number, const std::map<std::string, double>& attributes) = 0;
  // Moves a running trial to complete, pruned or failed. StorageError if it is not running.
  // finished_at: when it ended (seconds since the Unix epoch), if not now: a write committed
  // later by a writer thread keeps the moment the trial ended.
  virtual void finish_trial(int64_t study_id, int64_t number, TrialState state, std::optional<double> value,
                            const std::map<std::string, double>& metrics, const std::string& error,
                    std::optional<double> finished_at = std::nullopt) = 0;
  virtual std::vector<TrialRecord> trials(int64_t study_id) = 0;
  // Every trial of the study that a commit changed (started, stepped, given attributes,
  // finished, failed as stale, queued, claimed) after the read that returned `cursor`, whole,
  // in number order; cursor 0 reads every trial, and a cursor returned is never 0. Heartbeats
  // are no change. Applying what a
  // read returns over what the reads before it returned gives what trials() would: so a
  // process keeping a copy of a study reads what others changed, not the whole study again.
  virtual TrialChanges trials_changed_since(int64_t study_id, uint64_t cursor) = 0;

  // A number that changes whenever another writer (another Storage object, in this process or
  // another) commits a change; this object's own writes leave it as it is. A reader that keeps
  // a copy of a study updated by its own writes reads the study again only when this changed.
  virtual uint64_t others_version() = 0;
  // Runs `writes`, calls of this object's write methods, as one commit where the storage has
  // commits (SQLite): a kill during it keeps all of them or none, a queue of writes costs one
  // disk flush instead of one each, and if a write throws the batch's earlier ones are undone.
  virtual void write_batch(const std::function<void()>& writes) { writes(); }

 private:
  std::string worker_id_;
};

}  // namespace gpu_tune::search
