#!/usr/bin/python3
"""Tables of the search benchmark's JSON lines (tpe_quality, optuna_tpe.py, tpe_speed):
median log10 regret per function and sampler with a bootstrap 95% interval, the target
check (gpu_tune's default TPE at or below the better Optuna TPE, and below random, on every
function), trials in flight against one at a time, and suggestion time.

    summarize_search_benchmark.py RESULTS.jsonl [--compact]

--compact prints one line per function and column, medians only: for quick experiments.
"""
import argparse
import json

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def median_interval(values, rng):
    """The median and a percentile-bootstrap 95% interval for it (resampling the seeds)."""
    values = np.asarray(values)
    resampled = rng.choice(values, size=(BOOTSTRAP_RESAMPLES, len(values)), replace=True)
    medians = np.median(resampled, axis=1)
    return float(np.median(values)), float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))


def label(impl, sampler):
    return f"{impl} {sampler}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--compact", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    quality = [r for r in rows if r["benchmark"] == "quality"]
    speed = {(r["impl"], r["mode"]): r for r in rows if r["benchmark"] == "suggestion_time"}
    rng = np.random.default_rng(12345)

    functions = list(dict.fromkeys(r["function"] for r in quality))
    flights = sorted({r.get("in_flight", 1) for r in quality})
    by_key = {(r["impl"], r["sampler"], r["function"], r.get("in_flight", 1)): r for r in quality}
    columns = list(dict.fromkeys((r["impl"], r["sampler"]) for r in quality))

    for flight in flights:
        present = [c for c in columns if any((c[0], c[1], f, flight) in by_key for f in functions)]
        first = next(r for r in quality if r.get("in_flight", 1) == flight)
        print(f"\nMedian log10 regret, {first['seeds']} seeds, {first['budget']} trials, {flight} in flight"
              + ("" if args.compact else " [bootstrap 95% interval]") + "; lower is better")
        print("| function | " + " | ".join(label(*c) for c in present) + " |")
        print("|---" * (len(present) + 1) + "|")
        for function in functions:
            cells = []
            for impl, sampler in present:
                r = by_key.get((impl, sampler, function, flight))
                if not r:
                    cells.append("-")
                elif args.compact:
                    cells.append(f"{r['median_log10_regret']:.2f}")
                else:
                    m, lo, hi = median_interval(r["log10_regrets"], rng)
                    cells.append(f"{m:.2f} [{lo:.2f}, {hi:.2f}]")
            print(f"| {function} | " + " | ".join(cells) + " |")

    # The target: our default sampler against Optuna's better TPE and against random search.
    def median_of(impl, sampler, function, flight):
        r = by_key.get((impl, sampler, function, flight))
        return r["median_log10_regret"] if r else None

    for flight in flights:
        lines = []
        for function in functions:
            ours = median_of("gpu_tune", "tpe", function, flight)
            optuna = [v for v in (median_of("optuna", s, function, flight) for s in ("tpe", "tpe-multivariate"))
                      if v is not None]
            randoms = [v for v in (median_of(i, "random", function, 1) for i in ("gpu_tune", "optuna")) if v is not None]
            if ours is None or not optuna:
                continue
            better_optuna = min(optuna)
            verdict = "met" if ours <= better_optuna and all(ours < r for r in randoms) else "NOT met"
            lines.append(f"| {function} | {ours:.2f} | {better_optuna:.2f} | {ours - better_optuna:+.2f} | "
                         + (f"{min(randoms):.2f}" if randoms else "-") + f" | {verdict} |")
        if lines:
            print(f"\nTarget, {flight} in flight: gpu_tune's default TPE at or below the better Optuna TPE, below random")
            print("| function | gpu_tune tpe | better Optuna TPE | difference | random (better) | target |")
            print("|---|---|---|---|---|---|")
            print("\n".join(lines))

    if len(flights) > 1:
        print("\nTrials in flight against one at a time (median log10 regret; gpu_tune tpe)")
        print("| function | " + " | ".join(f"{f} in flight" for f in flights) + " |")
        print("|---" * (len(flights) + 1) + "|")
        for function in functions:
            cells = [median_of("gpu_tune", "tpe", function, f) for f in flights]
            print(f"| {function} | " + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " |")

    if speed:
        print("\nOne TPE suggestion, 10 parameters, 1,000 finished trials (median ms)")
        print("| mode | gpu_tune | optuna | optuna / gpu_tune |")
        print("|---|---|---|---|")
        for mode in ("independent", "multivariate"):
            ours, theirs = speed.get(("gpu_tune", mode)), speed.get(("optuna", mode))
            if ours and theirs:
                print(f"| {mode} | {ours['median_ms']:.2f} | {theirs['median_ms']:.1f} | "
                      f"{theirs['median_ms'] / ours['median_ms']:.0f}x |")


if __name__ == "__main__":
    main()
