"""Prints the CPU benchmark's table: gpu_tune bundle throughput beside PyTorch's
one-after-another throughput for the same models, medians over the rounds, and ratios.
Where PyTorch ran in both memory orders (NCHW and channels-last), a cell shows the faster
median, marked (NHWC) when channels-last won."""
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
    # Two single-threaded processes at once: their rates in one round add up.
    two_process = collections.defaultdict(float)
    for r in read_lines(pytorch_path):
        if not r.get("aggregate"):
            continue
        layout = r.get("memory_format", "nchw")
        if r["variant"] == "2-process":
            two_process[(r["model"], r["slots"], r["round"], layout)] += r["samples_per_second"]
        else:
            theirs[(r["variant"], r["model"], r["copies"], layout)].append(r["samples_per_second"])
    for (model, slots, _, layout), rate in two_process.items():
        theirs[("2-process", model, slots, layout)].append(rate)
    ours = medians(ours)
    # The faster memory order of each variant, model and S: (rate, order).
    fastest = {}
    for (variant, model, slots, layout), rate in medians(theirs).items():
        key = (variant, model, slots)
        if key not in fastest or rate > fastest[key][0]:
            fastest[key] = (rate, layout)
    print("| model | S | gpu_tune samples/s | PyTorch default samples/s | ratio | PyTorch 1-thread samples/s | ratio "
          "| PyTorch 2 x 1-thread processes samples/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    order = {"mlp_small": 0, "mlp_medium": 1, "mlp_large": 2, "cnn_small": 3, "cnn_medium": 4, "cnn_large": 5}
    for (model, slots), rate in sorted(ours.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        cells = [model, str(slots), f"{rate:,.0f}"]
        for variant in ("default", "1-thread", "2-process"):
            if (variant, model, slots) not in fastest:
                cells += ["-", "-"]
                continue
            other, layout = fastest[(variant, model, slots)]
            cells += [f"{other:,.0f}" + (" (NHWC)" if layout == "nhwc" else ""), f"{rate / other:.1f}x"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
