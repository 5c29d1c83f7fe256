#!/usr/bin/python3
"""Optuna beside benchmarks/study_throughput.cpp: trials per second that one study in Optuna's
RDB storage sustains with N worker processes, on the same instant objective (a uniform x in
[-2, 2], `steps` intermediate values, then x^2) and the random sampler, so that the storage is
what is measured. Prints one JSON object like study_throughput's.

  optuna_storage_throughput.py --storage postgresql+psycopg2://... --workers 4 --trials 400

Each worker runs study.optimize until the study holds `trials` finished trials
(MaxTrialsCallback), the way Optuna's documentation distributes a study; workers that finish
together may overshoot by a few trials, so the rate counts the trials actually finished.
"""
import argparse
import json
import multiprocessing
import time

import optuna


def objective(steps):
    def run(trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        for step in range(1, steps + 1):
            trial.report(x * x + 1.0 / step, step)
        trial.set_user_attr("test_accuracy", 0.5)
        return x * x
    return run


def worker(storage_url, study_name, trials, steps, seed):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=storage_url,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    stop = optuna.study.MaxTrialsCallback(trials, states=(optuna.trial.TrialState.COMPLETE,))
    study.optimize(objective(steps), callbacks=[stop])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="an SQLAlchemy URL (sqlite:///..., postgresql+psycopg2://...)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--study", default="throughput")
    args = parser.parse_args()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name=args.study, storage=args.storage, direction="minimize")
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    processes = [context.Process(target=worker, args=(args.storage, args.study, args.trials, args.steps, seed))
                 for seed in range(args.workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    failed = sum(process.exitcode != 0 for process in processes)
    study = optuna.load_study(study_name=args.study, storage=args.storage)
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    result = {"storage": args.storage.split(":")[0].split("+")[0], "workers": args.workers,
              "steps": args.steps, "sampler": "random", "trials": complete, "seconds": seconds,
              "trials_per_second": complete / seconds, "program": "optuna " + optuna.__version__}
    # A worker that died (SQLite's "database is locked" under many writers, typically) is a
    # result too: the table says so instead of a rate.
    if failed:
        result["failed_workers"] = failed
    print(json.dumps(result))


if __name__ == "__main__":
    main()
