"""Prints the GPU engine benchmark's table: gpu_tune's bundle throughput (model-epochs per
second) for each precision beside PyTorch's one-after-another and vmap figures for the same
model and S, with the ratios the targets are stated in.

    summarize_gpu_benchmark.py GPU_TUNE_JSONL [PYTORCH_JSONL]
"""
import json
import sys

ORDER = {"mlp_small": 0, "mlp_medium": 1, "mlp_large": 2}


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def main(ours_path, pytorch_path=None):
    ours = {}
    for r in read_lines(ours_path):
        variant = (r["precision"], r.get("replayed_steps", True), r.get("gemm", "own"), r.get("batch", 64))
        ours[(r["model"], r["slots"], variant)] = r["model_epochs_per_second"]
    theirs = {}
    if pytorch_path:
        for r in read_lines(pytorch_path):
            theirs[(r["variant"], r["model"], r["slots"], r.get("precision", "fp32"))] = r["model_epochs_per_second"]
    print("| model | S | gpu_tune | model-epochs/s | PyTorch one after another | ratio | PyTorch vmap | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (model, slots, variant), rate in sorted(ours.items(), key=lambda kv: (ORDER.get(kv[0][0], 9), kv[0][1], kv[0][2])):
        precision, replayed, gemm, batch = variant
        label = precision + ("" if replayed else ", no graphs") + (", cuBLAS" if gemm == "cublas" else "")
        label += f", batch {batch}" if batch != 64 else ""
        cells = [model, str(slots), label, f"{rate:,.1f}"]
        for baseline in ("sequential", "vmap"):
            # PyTorch in the same precision: TF32 allowed only beside gpu_tune's tf32.
            other = theirs.get((baseline, model, slots, precision)) if batch == 64 else None
            cells += [f"{other:,.1f}", f"{rate / other:.1f}x"] if other else ["-", "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
