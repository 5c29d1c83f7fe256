"""The CPU main job beside PyTorch's fastest configuration on the same trials.

Reads a finished study's SQLite file (the main job's, from `gpu_tune tune ... --storage
FILE`), rebuilds every trial's training configuration the way gpu_tune does (the study
file's `training:` defaults, then the trial's parameters: model or width1../conv1../kernel,
lr, batch, optimizer, dropout, activation, wd, ...) and trains the same trials again with
PyTorch, for the number of epochs each trial ran in gpu_tune (its `epochs` metric), on the
same 50,000/10,000 train/validation split of Fashion-MNIST, then tests on t10k.

PyTorch runs in its fastest configuration on a small CPU machine: two single-threaded
processes (torch.set_num_threads(1)) started at the same time, the trials split between
them by estimated cost (longest first onto the less loaded process), one gather per batch
from a uint8 tensor (no DataLoader, no per-sample indexing). Like gpu_tune each trial is
validated after every epoch, keeps its best epoch's weights (restore_best) and is tested
with them at the end.

Prints PyTorch's wall time (the two processes from start to the last one's end, interpreter
start-up and data loading included, as gpu_tune's wall time includes its own), gpu_tune's
wall time (measured by the caller; see run-main-job-comparison.sh), their ratio, and every
trial's validation and test accuracy from both side by side (a sanity check: they should be
similar, not equal: initial weights, shuffles and dropout masks come from different
generators).

A setting this replay does not know raises an error naming it; nothing is ignored.

Assumes the study ran with gpu_tune's default data options (no --standardize,
--validation-size 10000, no --train-size); those are not recorded in the study file.

Example:
  /usr/bin/python3 benchmarks/compare_main_job.py /tmp/study.db --gpu-tune-seconds 183.2
"""

import argparse
import copy
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

INPUTS = 784
CLASSES = 10
TRAIN_SPLIT = 50000  # gpu_tune holds the last 10,000 training images out for validation
VALIDATION_SPLIT = 10000

# ---------------------------------------------------------------------------------------
# Trial configurations, as apps/slot_spec.cpp and apps/engine_objective.cpp build them.
# ---------------------------------------------------------------------------------------

ACTIVATIONS = ("relu", "tanh", "gelu")
INITS = ("he", "glorot")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")


class ConfigError(ValueError):
    pass


def default_config():
    """TrainingConfig's defaults (engine/training_config.h, kernels/optimizer_update.h)."""
    return {"model": "mlp_small", "activation": "relu", "init": "he", "optimizer": "adam", "lr": 1e-3, "schedule": "constant",
            "batch": 64, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.0, "momentum": 0.0,
            "nesterov": False, "dropout": 0.0, "seed": 0, "epochs": 10, "patience": None,
            "min_delta": 0.0, "restore_best": True, "label": ""}


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(key, value, kind):
    text = _text(value).strip()
    try:
        if kind is int:
            number = float(text)
            if number != math.floor(number) or not math.isfinite(number):
                raise ValueError
            return int(number)
        number = float(text)
        if not math.isfinite(number):
            raise ValueError
        return number
    except ValueError:
        raise ConfigError(f"{key}='{text}' is not a valid {'whole number' if kind is int else 'number'}") from None


def _bool(key, value):
    text = _text(value).strip()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"{key}='{text}' is not true or false")


def _word(key, value, allowed):
    text = _text(value).strip()
    if text not in allowed:
        raise ConfigError(f"{key}='{text}' is not one of {', '.join(allowed)}")
    return text


def _model(key, value):
    import torch_models
    text = _text(value).strip()
    try:
        torch_models.parse(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return text


SETTERS = {
    "label": lambda k, v: _text(v),
    "model": _model,
    "activation": lambda k, v: _word(k, v, ACTIVATIONS),
    "init": lambda k, v: _word(k, v, INITS),
    "optimizer": lambda k, v: _word(k, v, OPTIMIZERS),
    "lr": lambda k, v: _number(k, v, float),
    "schedule": lambda k, v: _word(k, v, SCHEDULES),
    "batch": lambda k, v: _number(k, v, int),
    "beta1": lambda k, v: _number(k, v, float),
    "beta2": lambda k, v: _number(k, v, float),
    "eps": lambda k, v: _number(k, v, float),
    "wd": lambda k, v: _number(k, v, float),
    "momentum": lambda k, v: _number(k, v, float),
    "nesterov": _bool,
    "dropout": lambda k, v: _number(k, v, float),
    "seed": lambda k, v: _number(k, v, int),
    "epochs": lambda k, v: _number(k, v, int),
    "patience": lambda k, v: _number(k, v, int),
    "min_delta": lambda k, v: _number(k, v, float),
    "restore_best": _bool,
}


def apply_setting(config, key, value):
    if key not in SETTERS:
        raise ConfigError(f"unknown setting '{key}' (this replay knows: {', '.join(sorted(SETTERS))}, "
                          f"and the model parts width1.., conv1.., kernel); add it to compare_main_job.py "
                          f"rather than compare different trainings")
    config[key] = SETTERS[key](key, value)


def _is_numbered(name, prefix):
    return len(name) > len(prefix) and name.startswith(prefix) and name[len(prefix)].isdigit()


def _is_part(name):
    return _is_numbered(name, "width") or _is_numbered(name, "conv") or name == "kernel"


def validate(config):
    """TrainingConfig::validate, plus what this replay cannot do."""
    checks = [
        (config["lr"] > 0, "lr", "> 0"), (1 <= config["batch"] <= 65536, "batch", "in 1..65536"),
        (0 <= config["dropout"] < 1, "dropout", "in [0, 1)"), (0 <= config["beta1"] < 1, "beta1", "in [0, 1)"),
        (0 <= config["beta2"] < 1, "beta2", "in [0, 1)"), (config["eps"] > 0, "eps", "> 0"),
        (config["wd"] >= 0, "wd", ">= 0"), (0 <= config["momentum"] < 1, "momentum", "in [0, 1)"),
        (config["epochs"] >= 1, "epochs", ">= 1"), (config["min_delta"] >= 0, "min_delta", ">= 0"),
        (config["patience"] is None or config["patience"] >= 0, "patience", ">= 0"),
    ]
    for ok, key, allowed in checks:
        if not ok:
            raise ConfigError(f"{key} = {config[key]} is invalid: must be {allowed}")
    if config["optimizer"] == "sgd" and config["nesterov"] and config["momentum"] == 0:
        # PyTorch's SGD refuses this; gpu_tune would run it as plain SGD.
        raise ConfigError("nesterov=true with momentum=0: PyTorch's SGD cannot replay it")


def trial_config(training_defaults, params, number):
    """apps/engine_objective.cpp's trial_training_config."""
    config = default_config()
    for key, value in training_defaults.items():
        try:
            apply_setting(config, key, value)
        except ConfigError as e:
            raise ConfigError(f"training default: {e}") from None
    config["seed"] += number
    has_parts = any(_is_part(name) for name in params)
    widths, channels, kernel, has_kernel = {}, {}, 3, False
    for name in sorted(params):
        value = params[name]
        if name == "model" and has_parts:
            continue
        if _is_part(name):
            v = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            if v is None or v < 1 or v != math.floor(v):
                raise ConfigError(f"parameter {name} = {value} is not a positive whole number")
            if name == "kernel":
                kernel, has_kernel = int(v), True
            elif name.startswith("width"):
                widths[int(name[5:])] = int(v)
            else:
                channels[int(name[4:])] = int(v)
            continue
        try:
            apply_setting(config, name, value)
        except ConfigError as e:
            raise ConfigError(f"parameter {name}: {e}") from None
    if has_kernel and not channels:
        raise ConfigError("parameter kernel sets the convolutions' kernel, but the space has no conv1, conv2, ...")
    if has_parts:
        parts = [f"c{c}k{kernel}-p" for _, c in sorted(channels.items())]
        parts += [f"d{w}" for _, w in sorted(widths.items())]
        if parts:
            config["model"] = _model("model", "-".join(parts))
    validate(config)
    return config


# ---------------------------------------------------------------------------------------
# The study file and the trials, from the SQLite file (search/sqlite_storage.cpp's schema).
# ---------------------------------------------------------------------------------------

STUDY_KEYS_REPLAYED = {"study", "dataset", "data", "objective", "budget", "sampler", "pruner", "training", "space"}


def read_study(path, name):
    if not os.path.exists(path):
        sys.exit(f"{path}: no such file")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    studies = connection.execute("SELECT id, name, direction, metric, config FROM studies ORDER BY id").fetchall()
    if not studies:
        sys.exit(f"{path}: holds no study")
    if name is None:
        if len(studies) > 1:
            sys.exit(f"{path}: holds {len(studies)} studies ({', '.join(s['name'] for s in studies)}); pick one with --study")
        study = studies[0]
    else:
        matching = [s for s in studies if s["name"] == name]
        if not matching:
            sys.exit(f"{path}: no study '{name}' (it holds {', '.join(s['name'] for s in studies)})")
        study = matching[0]
    trials = connection.execute(
        "SELECT number, state, params, value, metrics, started_at, finished_at, error FROM trials "
        "WHERE study_id = ? ORDER BY number", (study["id"],)).fetchall()
    steps = {}
    for row in connection.execute("SELECT number, COUNT(*) AS n FROM trial_steps WHERE study_id = ? GROUP BY number",
                                  (study["id"],)):
        steps[row["number"]] = row["n"]
    connection.close()
    return study, trials, steps


def training_defaults(study):
    try:
        import yaml
    except ImportError:
        sys.exit("reading the study file's training defaults needs PyYAML (apt-get install -y python3-yaml)")
    # BaseLoader keeps every scalar as text, as gpu_tune reads `training:` values.
    document = yaml.load(study["config"], Loader=yaml.BaseLoader) or {}
    unknown = set(document) - STUDY_KEYS_REPLAYED
    if unknown:
        sys.exit(f"study '{study['name']}': unknown study file keys {sorted(unknown)}; this replay does not know them")
    dataset = document.get("dataset", "fashion-mnist")
    if dataset != "fashion-mnist":
        sys.exit(f"study '{study['name']}' ran on dataset '{dataset}'; this replay trains on Fashion-MNIST only")
    training = document.get("training") or {}
    if not isinstance(training, dict):
        sys.exit(f"study '{study['name']}': training: is not a map")
    return training


def metric(metrics, key):
    value = metrics.get(key)
    if value is None or (isinstance(value, str)):
        return None
    return float(value)


def replay_jobs(study, trials, steps):
    """The trials to train again, and notes on the ones left out."""
    defaults = training_defaults(study)
    jobs, notes = [], []
    running = [t["number"] for t in trials if t["state"] == "running"]
    if running:
        sys.exit(f"study '{study['name']}' has running trials {running}: it is not finished (or its process died; "
                 f"`gpu_tune tune` on it again records them as interrupted)")
    for t in trials:
        number, state = t["number"], t["state"]
        if state == "interrupted":
            notes.append(f"trial {number}: interrupted, not replayed")
            continue
        metrics = json.loads(t["metrics"] or "{}")
        epochs = metrics.get("epochs")
        if epochs is None:
            if state == "failed":
                notes.append(f"trial {number}: failed before training ({t['error']}), not replayed")
                continue
            epochs = steps.get(number)
            if not epochs:
                sys.exit(f"trial {number} ({state}) has neither an 'epochs' metric nor recorded steps")
        epochs = int(epochs)
        if steps.get(number, epochs) != epochs:
            notes.append(f"trial {number}: 'epochs' metric {epochs} but {steps.get(number)} recorded steps; "
                         f"replaying {epochs}")
        try:
            config = trial_config(defaults, json.loads(t["params"]), number)
        except ConfigError as e:
            raise SystemExit(f"trial {number}: {e}") from None
        replay = epochs
        if state == "failed":
            # gpu_tune stopped it when its training loss became non-finite, in the epoch
            # after the last one it recorded; the replay trains that epoch too and stops
            # at an epoch whose validation loss is not finite.
            replay = epochs + 1
            notes.append(f"trial {number}: failed in gpu_tune ({t['error']}); replayed for {replay} epoch(s) at most")
        if replay < 1:
            notes.append(f"trial {number}: ran no epoch, not replayed")
            continue
        if metrics.get("epoch_cap") is not None:  # a capped run's schedule spans the cap
            config["epochs"] = min(config["epochs"], int(metrics["epoch_cap"]))
        jobs.append({"number": number, "state": state, "config": config, "epochs": replay,
                     "gpu_tune": {"epochs": epochs, "value": t["value"],
                                  "best_validation_accuracy": metric(metrics, "best_validation_accuracy"),
                                  "best_validation_loss": metric(metrics, "best_validation_loss"),
                                  "test_accuracy": metric(metrics, "test_accuracy"),
                                  "seconds": metric(metrics, "seconds")}})
    return jobs, notes


# ---------------------------------------------------------------------------------------
# Splitting the trials between the processes by estimated cost.
# ---------------------------------------------------------------------------------------

def model_cost(text):
    """(multiply-adds per image forward, parameters, multiply-adds in convolutions)."""
    import torch_models
    channels, height, width, flat = 1, 28, 28, None
    macs, conv_macs, params = 0, 0, 0
    for layer in torch_models.parse(text):
        if layer[0] == "conv":
            _, out, kernel, padding = layer
            height, width = height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
            m = height * width * kernel * kernel * channels * out
            macs, conv_macs, params = macs + m, conv_macs + m, params + kernel * kernel * channels * out + out
            channels = out
        elif layer[0] == "pool":
            height, width = height // 2, width // 2
        else:
            flat = flat or channels * height * width
            macs, params, flat = macs + flat * layer[1], params + flat * layer[1] + layer[1], layer[1]
    flat = flat or channels * height * width
    return macs + flat * CLASSES, params + flat * CLASSES + CLASSES, conv_macs


def estimated_seconds(job, train_size):
    """A rough single-thread cost model; only the ratios between trials matter."""
    config = job["config"]
    macs, params, conv_macs = model_cost(config["model"])
    dense_macs = macs - conv_macs
    seconds_per_image = 2 * (dense_macs / 20e9 + conv_macs / 10e9)  # flops over a rough rate
    steps = math.ceil(train_size / config["batch"])
    per_epoch = (3 * train_size * seconds_per_image  # forward and the two backward products
                 + steps * (300e-6 + 8e-9 * params)  # per step: Python/autograd, and the optimizer
                 + VALIDATION_SPLIT * seconds_per_image)
    return job["epochs"] * per_epoch


def split(jobs, parts):
    """Longest first onto the least loaded part."""
    loads = [[0.0, []] for _ in range(parts)]
    for job in sorted(jobs, key=lambda j: -j["estimate"]):
        lightest = min(loads, key=lambda load: load[0])
        lightest[0] += job["estimate"]
        lightest[1].append(job)
    return loads


# ---------------------------------------------------------------------------------------
# A worker: one single-threaded process training its share of the trials.
# ---------------------------------------------------------------------------------------

def load_split(data_dir, prefix):
    """Images as an (N, 784) uint8 tensor, labels as int64."""
    import torch
    from idx_files import IMAGES_MAGIC, LABELS_MAGIC, read_idx
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), IMAGES_MAGIC)
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), LABELS_MAGIC)
    if images.shape[0] != labels.shape[0] or images.shape[1] * images.shape[2] != INPUTS:
        sys.exit(f"{data_dir}: {prefix} images {images.shape} do not match labels {labels.shape}")
    return (torch.from_numpy(images.reshape(images.shape[0], INPUTS).copy()),
            torch.from_numpy(labels.astype("int64")))


def build_model(config, channels_last=False):
    """The engine's model (engine/model_spec.h, built by torch_models.py) with the slot's
    activation and dropout, and its initial weights: He (normal, std sqrt(2 / fan_in)) or
    Glorot (uniform) with fans counted as Keras does, and zero biases."""
    import torch
    import torch_models
    activation = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "gelu": torch.nn.GELU}[config["activation"]]
    model = torch_models.build(config["model"], activation=activation, dropout=config["dropout"],
                               channels_last=channels_last)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                area = module.kernel_size[0] * module.kernel_size[1]
                fan_in, fan_out = area * module.in_channels, area * module.out_channels
            elif isinstance(module, torch.nn.Linear):
                fan_in, fan_out = module.in_features, module.out_features
            else:
                continue
            if config["init"] == "he":
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                module.weight.uniform_(-limit, limit)
            module.bias.zero_()
    return model


def make_optimizer(model, config):
    import torch
    kind = config["optimizer"]
    if kind == "adam":  # weight decay as L2, like gpu_tune's adam
        return torch.optim.Adam(model.parameters(), lr=config["lr"], betas=(config["beta1"], config["beta2"]),
                                eps=config["eps"], weight_decay=config["wd"])
    if kind == "adamw":  # decoupled; PyTorch's default of 0.01 is not gpu_tune's 0
        return torch.optim.AdamW(model.parameters(), lr=config["lr"], betas=(config["beta1"], config["beta2"]),
                                 eps=config["eps"], weight_decay=config["wd"])
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"],
                               nesterov=config["nesterov"], weight_decay=config["wd"])
    raise ConfigError(f"optimizer='{kind}' has no PyTorch replay")


def evaluate(model, x, y):
    """(mean cross-entropy, accuracy) of float images x."""
    import torch
    import torch.nn.functional as F
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], 4096):
            logits = model(x[start:start + 4096])
            loss += F.cross_entropy(logits, y[start:start + 4096], reduction="sum").item()
            correct += (logits.argmax(1) == y[start:start + 4096]).sum().item()
    model.train()
    return loss / x.shape[0], correct / x.shape[0]


def train_trial(job, data, channels_last=False):
    import torch
    import torch.nn.functional as F
    config = job["config"]
    x_train, y_train, x_validation, y_validation, x_test, y_test = data
    torch.manual_seed(config["seed"])
    generator = torch.Generator()
    generator.manual_seed(config["seed"])
    model = build_model(config, channels_last)
    optimizer = make_optimizer(model, config)
    batch = config["batch"]
    count = x_train.shape[0]
    # engine/learning_rate_schedule.h: half a cosine over the epoch budget's updates, a step
    # of the schedule after every batch.
    scheduler = None
    if config["schedule"] == "cosine":
        planned = config["epochs"] * ((count + batch - 1) // batch)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=planned)
    best_loss, best_accuracy, best_epoch, best_state = math.inf, math.nan, 0, None
    epochs_run, diverged = 0, False
    start = time.perf_counter()
    for epoch in range(1, job["epochs"] + 1):
        order = torch.randperm(count, generator=generator)
        for first in range(0, count, batch):
            index = order[first:first + batch]
            xb = x_train[index].float().mul_(1.0 / 255.0)  # the one gather of the batch
            yb = y_train[index]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
        epochs_run = epoch
        loss, accuracy = evaluate(model, x_validation, y_validation)
        if not math.isfinite(loss):
            diverged = True
            break
        # engine/early_stopping.cpp: an epoch improves when its loss is below the best so
        # far minus min_delta; the epochs themselves are those gpu_tune ran.
        if loss < best_loss - config["min_delta"]:
            best_loss, best_accuracy, best_epoch = loss, accuracy, epoch
            if config["restore_best"]:
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    test_loss, test_accuracy = evaluate(model, x_test, y_test) if not diverged or best_state else (math.nan, math.nan)
    seconds = time.perf_counter() - start
    return {"number": job["number"], "epochs": epochs_run, "diverged": diverged, "best_epoch": best_epoch,
            "best_validation_loss": best_loss if best_epoch else None,
            "best_validation_accuracy": best_accuracy if best_epoch else None,
            "test_accuracy": test_accuracy if math.isfinite(test_accuracy) else None, "seconds": seconds}


def worker(plan_path, result_path):
    started = time.time()
    with open(plan_path) as f:
        plan = json.load(f)
    import torch
    torch.set_num_threads(1)
    if plan.get("flush_denormal"):
        torch.set_flush_denormal(True)  # as gpu_tune's CPU forms do (kernels/cpu_float_mode.h)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    x_all, y_all = load_split(plan["data"], "train")
    if x_all.shape[0] != TRAIN_SPLIT + VALIDATION_SPLIT:
        sys.exit(f"{plan['data']}: {x_all.shape[0]} training images, expected {TRAIN_SPLIT + VALIDATION_SPLIT}")
    x_test, y_test = load_split(plan["data"], "t10k")
    train_size = plan["train_size"]
    data = (x_all[:train_size].contiguous(), y_all[:train_size].contiguous(),
            x_all[TRAIN_SPLIT:].float().mul_(1.0 / 255.0), y_all[TRAIN_SPLIT:].contiguous(),
            x_test.float().mul_(1.0 / 255.0), y_test)
    ready = time.time()
    results = []
    for job in plan["jobs"]:
        result = train_trial(job, data, plan.get("memory_format") == "nhwc")
        results.append(result)
        print(f"  process {plan['index']}: trial {job['number']} {job['config']['model']} batch {job['config']['batch']} "
              f"{result['epochs']} epoch(s) {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    with open(result_path, "w") as f:
        json.dump({"index": plan["index"], "started": started, "ready": ready, "finished": time.time(),
                   "torch": torch.__version__, "results": results}, f)


# ---------------------------------------------------------------------------------------
# The comparison.
# ---------------------------------------------------------------------------------------

def fmt(value, spec=".4f"):
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def main():
    default_data = os.environ.get("GPU_TUNE_DATA") or "/usr/share/datasets/fashion-mnist"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("storage", nargs="?", help="the finished study's SQLite file")
    p.add_argument("--study", help="the study's name, when the file holds several")
    p.add_argument("--gpu-tune-seconds", type=float,
                   help="gpu_tune's wall time for the study (default: first trial start to last trial end, "
                        "which leaves out its start-up and data loading)")
    p.add_argument("--data", default=default_data, help="Fashion-MNIST directory (default: %(default)s)")
    p.add_argument("--processes", type=int, default=2, help="single-threaded PyTorch processes (default: 2)")
    p.add_argument("--train-size", type=int, default=TRAIN_SPLIT,
                   help="train on the first N images, as gpu_tune's --train-size N (for quick checks; "
                        "default: all %(default)s)")
    p.add_argument("--memory-format", choices=["nchw", "nhwc"], default="nchw",
                   help="PyTorch's convolutions on NCHW (its default) or channels-last images and weights")
    p.add_argument("--flush-denormal", action="store_true",
                   help="torch.set_flush_denormal(True) in every process, as gpu_tune's CPU forms flush "
                        "subnormal floats (default: PyTorch's default, which keeps them and runs slower on them)")
    p.add_argument("--json", metavar="FILE", help="also write everything measured to FILE as JSON")
    p.add_argument("--worker", nargs=2, metavar=("PLAN", "RESULT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not args.storage:
        p.error("the study's SQLite file is required")
    if args.processes < 1:
        p.error("--processes must be at least 1")
    if not 1 <= args.train_size <= TRAIN_SPLIT:
        p.error(f"--train-size must be in 1..{TRAIN_SPLIT}")

    study, trials, steps = read_study(args.storage, args.study)
    jobs, notes = replay_jobs(study, trials, steps)
    if not jobs:
        sys.exit(f"study '{study['name']}': no trial to replay" + ("".join(f"\n  {n}" for n in notes)))
    gpu_tune_seconds, gpu_tune_source = args.gpu_tune_seconds, "measured by the caller"
    if gpu_tune_seconds is None:
        starts = [t["started_at"] for t in trials if t["started_at"]]
        ends = [t["finished_at"] for t in trials if t["finished_at"]]
        gpu_tune_seconds, gpu_tune_source = max(ends) - min(starts), "first trial start to last trial end"
    for job in jobs:
        job["estimate"] = estimated_seconds(job, args.train_size)
    parts = split(jobs, min(args.processes, len(jobs)))

    with tempfile.TemporaryDirectory(prefix="compare_main_job.") as scratch:
        processes = []
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        print(f"PyTorch: {len(jobs)} trials in {len(parts)} single-threaded processes, estimated "
              + " + ".join(f"{load:.0f} s ({len(share)} trials)" for load, share in parts), file=sys.stderr)
        start = time.time()
        for index, (_, share) in enumerate(parts):
            plan = os.path.join(scratch, f"plan{index}.json")
            with open(plan, "w") as f:
                json.dump({"index": index, "data": args.data, "train_size": args.train_size,
                           "memory_format": args.memory_format,
                           "flush_denormal": args.flush_denormal, "jobs": share}, f)
            result = os.path.join(scratch, f"result{index}.json")
            processes.append((subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", plan, result],
                                               env=env), result))
        failed = [index for index, (process, _) in enumerate(processes) if process.wait() != 0]
        wall = time.time() - start
        if failed:
            sys.exit(f"PyTorch process(es) {failed} failed")
        outputs = []
        for _, result in processes:
            with open(result) as f:
                outputs.append(json.load(f))

    by_number = {r["number"]: r for output in outputs for r in output["results"]}
    training = max(o["finished"] for o in outputs) - min(o["ready"] for o in outputs)
    print(f"study '{study['name']}' ({args.storage}): {len(jobs)} trials replayed, "
          f"{sum(j['epochs'] for j in jobs)} epochs in all on {args.train_size:,} training images; "
          f"PyTorch {outputs[0]['torch']}, {len(parts)} x 1-thread processes, {args.memory_format.upper()}"
          + (", subnormals flushed" if args.flush_denormal else ""))
    for note in notes:
        print(f"  note: {note}")
    print()
    print("| trial | state | model | optimizer | lr | batch | epochs | gpu_tune val acc | PyTorch val acc | diff "
          "| gpu_tune test acc | PyTorch test acc | PyTorch s | process |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    process_of = {job["number"]: index for index, (_, share) in enumerate(parts) for job in share}
    diffs = []
    for job in jobs:
        ours, theirs, c = job["gpu_tune"], by_number[job["number"]], job["config"]
        diff = None
        if ours["best_validation_accuracy"] is not None and theirs["best_validation_accuracy"] is not None:
            diff = theirs["best_validation_accuracy"] - ours["best_validation_accuracy"]
            diffs.append(abs(diff))
        shown = ("wd", "momentum", "dropout") if c["optimizer"] == "sgd" else ("wd", "dropout")
        optimizer = c["optimizer"] + "".join(f" {k}={c[k]:.3g}" for k in shown if c[k])
        if c["optimizer"] == "sgd" and c["nesterov"]:
            optimizer += " nesterov"
        if c["activation"] != "relu":
            optimizer += f" {c['activation']}"
        print(f"| {job['number']} | {job['state']} | {c['model']} | {optimizer} | {c['lr']:.3g} | {c['batch']} "
              f"| {theirs['epochs']} | {fmt(ours['best_validation_accuracy'])} "
              f"| {fmt(theirs['best_validation_accuracy'])} | {fmt(diff, '+.4f')} | {fmt(ours['test_accuracy'])} "
              f"| {fmt(theirs['test_accuracy'])} | {theirs['seconds']:.1f} | {process_of[job['number']]} |")
    print()
    busy = [sum(r["seconds"] for r in o["results"]) for o in outputs]
    print(f"PyTorch wall time:  {wall:.1f} s (processes busy training {', '.join(f'{b:.1f}' for b in busy)} s; "
          f"{training:.1f} s from data loaded to the last trial's end)")
    # The split above follows a rough cost model. With every trial's measured time known in
    # advance, the same processes could have split better: the bound PyTorch could reach.
    measured = [{"estimate": by_number[job["number"]]["seconds"]} for job in jobs]
    start_up = max(o["ready"] - o["started"] for o in outputs)
    planned = start_up + max(load for load, _ in split(measured, len(parts)))
    print(f"gpu_tune wall time: {gpu_tune_seconds:.1f} s ({gpu_tune_source})")
    print(f"ratio PyTorch / gpu_tune: {wall / gpu_tune_seconds:.2f}x "
          f"({'gpu_tune faster' if wall > gpu_tune_seconds else 'PyTorch faster'})")
    print(f"PyTorch split by the measured trial times instead (longest first; start-up {start_up:.1f} s): "
          f"{planned:.1f} s, ratio {planned / gpu_tune_seconds:.2f}x")
    if diffs:
        diffs.sort()
        print(f"validation accuracy, |PyTorch - gpu_tune|: median {diffs[len(diffs) // 2]:.4f}, max {diffs[-1]:.4f}"
              + ("  (above 0.03: check that trial; at high learning rates seeds alone differ that much)"
                 if diffs[-1] > 0.03 else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"study": study["name"], "storage": args.storage, "pytorch_seconds": wall,
                       "pytorch_training_seconds": training, "pytorch_busy_seconds": busy,
                       "pytorch_seconds_split_by_measured_times": planned,
                       "gpu_tune_seconds": gpu_tune_seconds, "gpu_tune_seconds_source": gpu_tune_source,
                       "processes": len(parts), "torch": outputs[0]["torch"], "notes": notes,
                       "memory_format": args.memory_format, "flush_denormal": args.flush_denormal,
                       "trials": [{**{k: v for k, v in job.items()}, "pytorch": by_number[job["number"]],
                                   "process": process_of[job["number"]]} for job in jobs]}, f, indent=1)


if __name__ == "__main__":
    main()
