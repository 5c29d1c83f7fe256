"""Prints the CPU benchmark's table: gpu_tune bundle throughput beside PyTorch's
one-after-another throughput for the same models, medians over the rounds, and ratios."""
import collections
import json
import statistics
import sys


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def medians(samples):
    return {key: statistics.median(values) for key, values in samples.items()}


def main(gpu_tune_path, pytorch_path):
    ours = collections.defaultdict(list)
    for r in read_lines(gpu_tune_path):
        ours[(r["model"], r["slots"])].append(r["samples_per_second"])
    theirs = collections.defaultdict(list)
    for r in read_lines(pytorch_path):
        if r.get("aggregate"):
            theirs[(r["variant"], r["model"], r["copies"])].append(r["samples_per_second"])
    ours, theirs = medians(ours), medians(theirs)
    print("| model | S | gpu_tune samples/s | PyTorch default samples/s | ratio | PyTorch 1-thread samples/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    order = {"mlp_small": 0, "mlp_medium": 1, "mlp_large": 2}
    for (model, slots), rate in sorted(ours.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        cells = [model, str(slots), f"{rate:,.0f}"]
        for variant in ("default", "1-thread"):
            other = theirs.get((variant, model, slots))
            cells += [f"{other:,.0f}", f"{rate / other:.1f}x"] if other else ["-", "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
