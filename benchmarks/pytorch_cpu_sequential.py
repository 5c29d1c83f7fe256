"""Baseline for gpu_tune: train Fashion-MNIST MLPs one after another with PyTorch on the CPU.

This is the "as users do today" comparison point for a bundle, which trains many
models at once: each configuration (and each copy of it) gets its own model and Adam
optimizer and is trained to completion before the next one starts. The figure of
merit is trained samples per second, so copies times samples over the summed
training time is what a bundle of the same models has to beat.

Examples:
  pytorch_cpu_sequential.py --model mlp_small,mlp_medium --steps 200 --json
  pytorch_cpu_sequential.py --model mlp_small --epochs 2 --eval-test
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import torch_models  # the engine's model names, as PyTorch modules
from idx_files import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

INPUTS = 784
CLASSES = 10
TRAIN_SPLIT = 50000  # the remaining 10,000 training images are the validation split
WARMUP_STEPS = 20

def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), IMAGES_MAGIC)
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), LABELS_MAGIC)
    if images.shape[0] != labels.shape[0] or images.shape[1] * images.shape[2] != INPUTS:
        sys.exit(f"{data_dir}: {prefix} images {images.shape} do not match labels {labels.shape}")
    x = torch.from_numpy(images.reshape(images.shape[0], INPUTS).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def parse_model(text):
    try:
        torch_models.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


def make_loader(x, y, batch, loader_kind, generator):
    dataset = TensorDataset(x, y)
    if loader_kind == "per-sample":
        return DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=False, generator=generator)
    # Same order semantics as shuffle=True, drop_last=False, but each batch is one tensor
    # gather instead of 64 single-row lookups and a collate; otherwise the baseline would
    # be measuring Python indexing overhead rather than training.
    sampler = BatchSampler(RandomSampler(dataset, generator=generator), batch_size=batch, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def endless(loader):
    while True:
        yield from loader


def train_step(model, optimizer, xb, yb):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    optimizer.step()
    return loss


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], 4096):
        correct += (model(x[start:start + 4096]).argmax(1) == y[start:start + 4096]).sum().item()
    model.train()
    return correct / x.shape[0]


def train_one(name, seed, args, x, y):
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    model = torch_models.build(name, channels_last=args.memory_format == "nhwc")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = make_loader(x, y, args.batch, args.loader, generator)

    samples = 0
    if args.steps is not None:
        batches = endless(loader)
        # Warm-up lets the allocator and oneDNN settle and Adam create its state, so the
        # timed steps measure steady-state throughput.
        for _ in range(WARMUP_STEPS):
            xb, yb = next(batches)
            train_step(model, optimizer, xb, yb)
        start = time.perf_counter()
        for _ in range(args.steps):
            xb, yb = next(batches)
            train_step(model, optimizer, xb, yb)
            samples += xb.shape[0]
        seconds = time.perf_counter() - start
    else:
        # Whole epochs are timed cold, start to finish, the way a user's run would be.
        start = time.perf_counter()
        for _ in range(args.epochs):
            for xb, yb in loader:
                train_step(model, optimizer, xb, yb)
                samples += xb.shape[0]
        seconds = time.perf_counter() - start
    return model, samples, seconds


def model_list(values):
    names = []
    for value in values:
        names += [part for part in value.split(",") if part]
    for name in names:
        parse_model(name)
    return names


def main():
    default_data = os.environ.get("GPU_TUNE_DATA") or "/usr/share/datasets/fashion-mnist"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=default_data, help="Fashion-MNIST directory (default: %(default)s)")
    p.add_argument("--model", action="append",
                   help="preset (mlp_small ... cnn_large) or layers like 256-128 or c32-p-c64-p-d128; "
                        "repeatable or comma separated (default: mlp_small)")
    p.add_argument("--count", type=int, default=1, help="copies of each model, trained one after another")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--steps", type=int, default=None,
                   help=f"time this many steps per model after {WARMUP_STEPS} warm-up steps, instead of epochs")
    p.add_argument("--epochs", type=int, default=1, help="epochs per model when --steps is not given")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0, help="copy k of every model is seeded with seed + k")
    p.add_argument("--loader", choices=["batched", "per-sample"], default="batched",
                   help="batched: one gather per batch; per-sample: DataLoader(batch_size=..., shuffle=True)")
    p.add_argument("--memory-format", choices=["nchw", "nhwc"], default="nchw",
                   help="convolutions on NCHW (PyTorch's default) or channels-last images and weights")
    p.add_argument("--eval-test", action="store_true", help="report test accuracy after training each model")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args()

    try:
        names = model_list(args.model or ["mlp_small"])
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    for flag, value in (("--count", args.count), ("--batch", args.batch), ("--epochs", args.epochs),
                        ("--threads", args.threads)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be at least 1")

    torch.set_num_threads(args.threads)

    x_all, y_all = load_split(args.data, "train")
    x_train, y_train = x_all[:TRAIN_SPLIT].contiguous(), y_all[:TRAIN_SPLIT].contiguous()
    if args.eval_test:
        x_test, y_test = load_split(args.data, "t10k")

    common = {"framework": "pytorch", "batch": args.batch, "threads": args.threads, "lr": args.lr,
              "memory_format": args.memory_format}
    if args.steps is not None:
        common["steps"] = args.steps
    else:
        common["epochs"] = args.epochs

    rows = []
    for name in names:
        total_samples, total_seconds, accuracies = 0, 0.0, []
        for copy in range(args.count):
            model, samples, seconds = train_one(name, args.seed + copy, args, x_train, y_train)
            total_samples += samples
            total_seconds += seconds
            row = {**common, "model": name, "copies": 1, "copy": copy,
                   "samples_per_second": samples / seconds, "seconds": seconds, "samples": samples}
            if args.eval_test:
                row["test_accuracy"] = accuracy(model, x_test, y_test)
                accuracies.append(row["test_accuracy"])
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
        # Sequential training gains nothing from more copies, so the aggregate is the
        # sum of work over the sum of time: the number a bundle of `count` models beats.
        total = {**common, "model": name, "copies": args.count, "aggregate": True,
                 "samples_per_second": total_samples / total_seconds, "seconds": total_seconds,
                 "samples": total_samples}
        if args.eval_test:
            total["test_accuracy"] = sum(accuracies) / len(accuracies)
        rows.append(total)
        if args.json:
            print(json.dumps(total), flush=True)

    if not args.json:
        print_table(rows, args)


def print_table(rows, args):
    mode = f"{args.steps} timed steps" if args.steps is not None else f"{args.epochs} epoch(s)"
    print(f"PyTorch {torch.__version__} CPU, {args.threads} thread(s), batch {args.batch}, "
          f"Adam lr {args.lr:g}, {mode} per model, {args.loader} loader")
    header = f"{'model':<20} {'copy':>6} {'samples':>10} {'seconds':>9} {'samples/s':>11}"
    if args.steps is None:
        header += f" {'s/epoch':>8}"
    if args.eval_test:
        header += f" {'test acc':>8}"
    print(header)
    for row in rows:
        label = f"all {row['copies']}" if row.get("aggregate") else str(row["copy"])
        line = (f"{row['model']:<20} {label:>6} {row['samples']:>10} {row['seconds']:>9.3f} "
                f"{row['samples_per_second']:>11.1f}")
        if args.steps is None:
            per_epoch = row["seconds"] / (args.epochs * row["copies"])
            line += f" {per_epoch:>8.3f}"
        if args.eval_test:
            line += f" {row['test_accuracy']:>8.4f}"
        print(line)


if __name__ == "__main__":
    main()
