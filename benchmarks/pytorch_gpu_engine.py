"""The GPU comparison for gpu_tune's engine benchmark: MLPs trained with PyTorch on one
GPU (a) one after another, as users do, and (b) as one torch.func.vmap ensemble, the
strongest multi-model baseline PyTorch offers. Reports model-epochs per second (trained
samples per second over the 50,000-image training split), medians over repeats.

Run beside `build/benchmarks/bundle_throughput --backend cuda` on the same GPU, right after
it; the figures go into RESULTS.md with the GPU, date and commit. `--tf32` lets
PyTorch's matrix products use TF32 (its default is off), the fair partner of
gpu_tune's `--precision tf32`. `--device cpu` runs a small smoke test without a GPU.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

import torch_models  # the engine's model names, as PyTorch modules

TRAIN_IMAGES = 50_000


def load_images(directory):
    with gzip.open(os.path.join(directory, "train-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    if int.from_bytes(data[0:4], "big") != 0x803:
        raise SystemExit(f"{directory}: train-images-idx3-ubyte.gz has a bad magic number")
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 784)[:TRAIN_IMAGES]
    with gzip.open(os.path.join(directory, "train-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:TRAIN_IMAGES]
    return images, labels


def make_model(name):
    return torch_models.build(name)


DEVICE = "cuda"


def synchronize():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(run, repeats):
    rates = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        samples = run()
        synchronize()
        rates.append(samples / (time.perf_counter() - start))
    return statistics.median(rates)


def sequential(name, slots, images, labels, batch, steps, warmup, repeats):
    """S models, one after another, each with its own Adam and shuffled minibatches."""
    models = [make_model(name).to(DEVICE) for _ in range(slots)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]

    def train(step_count):
        for model, optimizer in zip(models, optimizers):
            for _ in range(step_count):
                index = torch.randint(0, TRAIN_IMAGES, (batch,), device=DEVICE)
                x = images[index].float() / 255.0
                loss = torch.nn.functional.cross_entropy(model(x), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return slots * step_count * batch

    train(warmup)
    return timed(lambda: train(steps), repeats)


def vmap_ensemble(name, slots, images, labels, batch, steps, warmup, repeats):
    """S models as one stacked functional model under torch.func.vmap."""
    try:
        from torch.func import functional_call, stack_module_state, vmap
    except ImportError:
        return None  # torch.func arrived in PyTorch 2.0

    models = [make_model(name).to(DEVICE) for _ in range(slots)]
    params, buffers = stack_module_state(models)
    base = make_model(name).to("meta")
    optimizer = torch.optim.Adam(list(params.values()), lr=1e-3)

    def loss_of(p, b, x, y):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    batched_loss = vmap(loss_of)

    def train(step_count):
        for _ in range(step_count):
            index = torch.randint(0, TRAIN_IMAGES, (slots, batch), device=DEVICE)
            x = images[index].float() / 255.0
            # Models are independent, so the gradient of the sum is each model's own.
            loss = batched_loss(params, buffers, x, labels[index]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return slots * step_count * batch

    train(warmup)
    return timed(lambda: train(steps), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("GPU_TUNE_DATA", "/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--model", default="mlp_small,mlp_medium,mlp_large")
    parser.add_argument("--slots", default="1,8,64,256")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-sequential-slots", type=int, default=8,
                        help="one-after-another throughput does not depend on S; time at most this many")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in matrix products")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("pytorch_gpu_engine.py: no GPU visible to PyTorch")
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    precision = "tf32" if args.tf32 else "fp32"
    images_np, labels_np = load_images(args.data)
    images = torch.from_numpy(images_np.copy()).to(DEVICE)
    labels = torch.from_numpy(labels_np.astype(np.int64)).to(DEVICE)
    device = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    for name in args.model.split(","):
        for slots in [int(s) for s in args.slots.split(",")]:
            for variant, run in (("sequential", sequential), ("vmap", vmap_ensemble)):
                timed_slots = min(slots, args.max_sequential_slots) if variant == "sequential" else slots
                rate = run(name, timed_slots, images, labels, args.batch, args.steps, args.warmup, args.repeats)
                if rate is None:
                    print(f"pytorch_gpu_engine.py: {variant} needs torch.func (PyTorch 2); skipped", file=sys.stderr)
                    continue
                print(json.dumps({"framework": "pytorch", "variant": variant, "device": device, "model": name,
                                  "precision": precision,
                                  "slots": slots, "timed_slots": timed_slots, "batch": args.batch,
                                  "samples_per_second": rate, "model_epochs_per_second": rate / TRAIN_IMAGES}),
                      flush=True)


if __name__ == "__main__":
    main()
