"""Prints the CPU benchmark's table: gpu_tune bundle throughput beside PyTorch's
one-after-another throughput for the same models, and their ratios."""
import json
import sys


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(gpu_tune_path, pytorch_path):
    ours = {(r["model"], r["slots"]): r["samples_per_second"] for r in read_lines(gpu_tune_path)}
    theirs = {}
    for r in read_lines(pytorch_path):
        if r.get("aggregate"):
            theirs[(r["variant"], r["model"], r["copies"])] = r["samples_per_second"]
    print("| model | S | gpu_tune samples/s | PyTorch default samples/s | ratio | PyTorch 1-thread samples/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (model, slots), rate in sorted(ours.items()):
        default = theirs.get(("default", model, slots))
        single = theirs.get(("1-thread", model, slots))
        cells = [model, str(slots), f"{rate:,.0f}"]
        for other in (default, single):
            cells += [f"{other:,.0f}", f"{rate / other:.1f}x"] if other else ["-", "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
