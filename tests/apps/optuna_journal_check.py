#!/usr/bin/python3
"""Runs a small study with gpu_tune (every bounded kind of distribution, a nested choice,
complete, pruned and failed trials), exports it as Optuna's journal and as gpu_tune's own
JSON, loads the journal with Debian's python3-optuna, and compares every trial's number,
state, value, parameters, distributions, intermediate values, metrics and times.

    optuna_journal_check.py GPU_TUNE_BINARY

Exits 0 when everything agrees; otherwise prints each difference and exits 1.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import optuna
except ImportError:
    sys.exit("optuna_journal_check: python3-optuna is not installed (scripts/install-deps.sh installs it)")

STUDY = """\
study: journal
budget: {trials: 16, parallel: 1}
sampler: {name: random, seed: 4}
pruner: {name: asha, min_resource: 1, reduction_factor: 2}
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
  width: {distribution: qloguniform, low: 16, high: 1024, q: 1}
  scale: {distribution: qloguniform, low: 0.5, high: 8, q: 0.5}
  units: {distribution: quniform, low: 16, high: 512, q: 16}
  offset: {distribution: quniform, low: 1, high: 10, q: 4}
  layers: {distribution: uniformint, low: 1, high: 4}
  seed: {distribution: randint, low: 0, high: 5}
  dropout: {distribution: uniform, low: 0, high: 0.5}
  batch: {distribution: choice, options: [32, 64.5, true]}
  optimizer:
    distribution: choice
    options:
      - value: sgd
        parameters:
          momentum: {distribution: uniform, low: 0, high: 0.99}
      - adam
"""

# Three steps whose values follow the dropout, so ASHA prunes some trials (one at a time, and
# slowly enough for a pruning decision to arrive); layers 4 fails.
OBJECTIVE = """\
if [ "$GPU_TUNE_LAYERS" = 4 ]; then echo "diverged" >&2; exit 1; fi
for step in 1 2 3; do
  awk -v d="$GPU_TUNE_DROPOUT" -v s="$step" 'BEGIN { printf "gpu_tune:step=%d value=%.17g\\n", s, d + 1 / s }'
  sleep 0.1  # time for the pruner's answer to stop the command
done
echo "$GPU_TUNE_DROPOUT"
"""

STATES = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED,
          "failed": optuna.trial.TrialState.FAIL, "running": optuna.trial.TrialState.RUNNING}


def expected_distribution(name):
    D = optuna.distributions
    return {
        "lr": D.FloatDistribution(1e-4, 1e-1, log=True),
        "width": D.IntDistribution(16, 1024, log=True),
        "scale": D.FloatDistribution(0.5, 8, log=True),  # Optuna has no log scale with a step
        "units": D.FloatDistribution(16, 512, step=16),
        "offset": D.FloatDistribution(1, 10),  # 1 is not on hyperopt's grid of multiples of 4
        "layers": D.IntDistribution(1, 4),
        "seed": D.IntDistribution(0, 4),  # randint's high is exclusive
        "dropout": D.FloatDistribution(0, 0.5),
        "batch": D.CategoricalDistribution([32, 64.5, True]),
        "optimizer": D.CategoricalDistribution(["sgd", "adam"]),
        "momentum": D.FloatDistribution(0, 0.99),
    }[name]


def same_number(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a == b or (math.isnan(a) and math.isnan(b))


def main():
    binary = sys.argv[1]
    problems = []
    with tempfile.TemporaryDirectory() as work:
        study_file = os.path.join(work, "study.yaml")
        objective = os.path.join(work, "objective.sh")
        database = os.path.join(work, "study.db")
        with open(study_file, "w") as f:
            f.write(STUDY)
        with open(objective, "w") as f:
            f.write(OBJECTIVE)
        tune = [binary, "tune", study_file, "--storage", database, "--objective-command", f"sh {objective}",
                "--no-progress"]
        subprocess.run(tune, check=True, stdout=subprocess.DEVNULL)
        journal = os.path.join(work, "study.log")
        subprocess.run([binary, "export", study_file, "--storage", database, "--format", "optuna-journal",
                        "-o", journal], check=True)
        ours = json.loads(subprocess.run([binary, "export", study_file, "--storage", database, "--format", "json"],
                                         check=True, capture_output=True, text=True).stdout)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JournalStorage is experimental in 3.1
            storage = optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(journal))
            study = optuna.load_study(study_name="journal", storage=storage)
        theirs = study.trials

        if study.direction != optuna.study.StudyDirection.MINIMIZE:
            problems.append(f"direction {study.direction}")
        if len(theirs) != len(ours) or len(ours) != 16:
            problems.append(f"{len(theirs)} trials in the journal, {len(ours)} in gpu_tune's export")
        seen_states = set()
        for mine, t in zip(ours, theirs):
            where = f"trial {mine['number']}"
            seen_states.add(mine["state"])
            if t.number != mine["number"]:
                problems.append(f"{where}: number {t.number}")
            if t.state != STATES[mine["state"]]:
                problems.append(f"{where}: state {t.state}, gpu_tune {mine['state']}")
            if not same_number(t.value, mine["value"]):
                problems.append(f"{where}: value {t.value}, gpu_tune {mine['value']}")
            if set(t.params) != set(mine["params"]):
                problems.append(f"{where}: parameters {sorted(t.params)}, gpu_tune {sorted(mine['params'])}")
            for name, value in mine["params"].items():
                got = t.params.get(name)
                if got != value or type(got) is not type(value) and not (isinstance(value, float) and
                                                                         float(got) == value):
                    problems.append(f"{where}: {name} = {got!r}, gpu_tune {value!r}")
                if t.distributions.get(name) != expected_distribution(name):
                    problems.append(f"{where}: {name} distribution {t.distributions.get(name)}")
            steps = {s["step"]: s["value"] for s in mine["steps"]}
            if set(t.intermediate_values) != set(steps) or any(
                    not same_number(t.intermediate_values[k], v) for k, v in steps.items()):
                problems.append(f"{where}: intermediate values {t.intermediate_values}, gpu_tune {steps}")
            expected_attrs = dict(mine["metrics"])
            if mine["error"]:
                expected_attrs["error"] = mine["error"]
            if t.user_attrs != expected_attrs:
                problems.append(f"{where}: user attributes {t.user_attrs}, gpu_tune {expected_attrs}")
            if abs(t.datetime_start.timestamp() - mine["started_at"]) > 1e-5:
                problems.append(f"{where}: start {t.datetime_start}, gpu_tune {mine['started_at']}")
            if abs(t.datetime_complete.timestamp() - mine["finished_at"]) > 1e-5:
                problems.append(f"{where}: end {t.datetime_complete}, gpu_tune {mine['finished_at']}")
        for state in ("complete", "pruned", "failed"):
            if state not in seen_states:
                problems.append(f"the study has no {state} trial, so that state went untested")
        best = min((m for m in ours if m["state"] == "complete"), key=lambda m: m["value"])
        if study.best_trial.number != best["number"]:
            problems.append(f"Optuna's best trial is {study.best_trial.number}, gpu_tune's {best['number']}")
    for problem in problems:
        print("optuna_journal_check:", problem)
    if not problems:
        print(f"optuna_journal_check: {len(ours)} trials agree (Optuna {optuna.__version__})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
