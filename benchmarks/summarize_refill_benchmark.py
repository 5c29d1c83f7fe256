"""Prints run-refill-benchmark.sh's table: one row per scheduling strategy, from each run's
wall time and its study's SQLite file (search/sqlite_storage.cpp's schema).

  summarize_refill_benchmark.py RUNS.tsv
RUNS.tsv: one line per run, tab separated: strategy, how it ran (pruner, gpu_tune flags), wall
seconds, exit status, the SQLite file.
"""
import json
import math
import sqlite3
import sys


def number(value):
    """A stored metric: a float, or None for NULL, NaN (stored as text) or a missing key."""
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def study_summary(path):
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    studies = connection.execute("SELECT id, name, direction, metric FROM studies").fetchall()
    if len(studies) != 1:
        raise SystemExit(f"{path}: expected one study, found {len(studies)}")
    study_id, name, direction, metric = studies[0]
    rows = connection.execute("SELECT number, state, value, metrics, started_at, finished_at FROM trials "
                              "WHERE study_id = ?", (study_id,)).fetchall()
    connection.close()
    states, epochs, best = {}, 0, None
    first_start = min((r[4] for r in rows), default=None)
    last_end = max((r[5] for r in rows if r[5]), default=None)
    for trial_number, state, value, metrics_text, _, _ in rows:
        states[state] = states.get(state, 0) + 1
        metrics = json.loads(metrics_text or "{}")
        epochs += int(number(metrics.get("epochs")) or 0)
        value = number(value)
        # Pruned trials never count as the best (search/README.md), nor do failed ones.
        if state != "complete" or value is None:
            continue
        better = best is None or (value < best[1] if direction == "minimize" else value > best[1])
        if better:
            best = (trial_number, value, number(metrics.get("test_accuracy")))
    return {"name": name, "metric": metric, "direction": direction, "states": states, "epochs": epochs,
            "best": best, "span": (last_end - first_start) if first_start and last_end else None}


def main(runs_path):
    runs = []
    with open(runs_path) as f:
        for line in f:
            if line.strip():
                strategy, how, seconds, status, storage = line.rstrip("\n").split("\t")
                runs.append((strategy, how, float(seconds), int(status), storage))
    summaries = {}
    for strategy, _, _, status, storage in runs:
        try:
            summaries[strategy] = study_summary(storage)
        except (sqlite3.Error, SystemExit) as e:
            summaries[strategy] = None
            print(f"{strategy}: cannot read {storage}: {e}", file=sys.stderr)
    metric = next((s["metric"] for s in summaries.values() if s), "value")
    print(f"| strategy | how | wall s | trials complete / pruned / failed | epochs trained "
          f"| best {metric} (trial) | its test accuracy | exit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for strategy, how, seconds, status, _ in runs:
        s = summaries[strategy]
        if s is None:
            print(f"| {strategy} | {how} | {seconds:.1f} | - | - | - | - | {status} |")
            continue
        states = s["states"]
        counts = " / ".join(str(states.get(k, 0)) for k in ("complete", "pruned", "failed"))
        others = {k: v for k, v in states.items() if k not in ("complete", "pruned", "failed")}
        if others:
            counts += " (" + ", ".join(f"{v} {k}" for k, v in sorted(others.items())) + ")"
        best = s["best"]
        best_text = f"{best[1]:.4f} ({best[0]})" if best else "-"
        test_text = f"{best[2]:.4f}" if best and best[2] is not None else "-"
        print(f"| {strategy} | {how} | {seconds:.1f} | {counts} | {s['epochs']} | {best_text} | {test_text} "
              f"| {status} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
