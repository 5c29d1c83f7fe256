#!/usr/bin/python3
"""Optuna's TPE and random samplers on the search benchmarks' functions, spaces, budgets and
seeds (benchmarks/test_functions.h defines the same ones for our samplers: change both),
and the time of one Optuna TPE suggestion with a long history. JSON lines on stdout.

Run with Debian's /usr/bin/python3, which sees python3-optuna (3.1). With --fixed-logpdf the
quality runs use Optuna's TPE as fixed upstream in 3.5 (see apply_upstream_logpdf_fix).
"""
import argparse
import collections
import json
import math
import multiprocessing
import statistics
import time
import warnings

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution


# --- Test functions: (space as suggest calls, value, global minimum).

def branin(trial):
    x1 = trial.suggest_float("x1", -5, 10)
    x2 = trial.suggest_float("x2", 0, 15)
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]
HARTMANN_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
              [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HARTMANN_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
              [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
              [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
              [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(trial):
    x = [trial.suggest_float(f"x{j + 1}", 0, 1) for j in range(6)]
    total = 0.0
    for i in range(4):
        inner = sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]) ** 2 for j in range(6))
        total += HARTMANN_ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock4(trial):
    x = [trial.suggest_float(f"x{j + 1}", -2, 2) for j in range(4)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))


ACTIVATION_PENALTY = {"tanh": 0.0, "elu": 0.25, "relu": 0.5, "sigmoid": 1.0}


def mixed(trial):
    lr = trial.suggest_float("lr", 1e-5, 1, log=True)
    layers = trial.suggest_int("layers", 1, 8)
    units = trial.suggest_float("units", 16, 512, step=16)
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid", "elu"])
    dropout = trial.suggest_float("dropout", 0, 0.8)
    return ((math.log10(lr) + 3) ** 2 + 0.3 * (layers - 3) ** 2 + ((units - 128) / 128) ** 2
            + ACTIVATION_PENALTY[activation] + 4 * (dropout - 0.2) ** 2)


def ackley5(trial):
    x = [trial.suggest_float(f"x{j + 1}", -32.768, 32.768) for j in range(5)]
    squares = sum(v * v for v in x)
    cosines = sum(math.cos(2 * math.pi * v) for v in x)
    return -20 * math.exp(-0.2 * math.sqrt(squares / 5)) - math.exp(cosines / 5) + 20 + math.e


INTERACTION_BEST_LOG_LR = {"sgd": -1.0, "adam": -3.0, "rmsprop": -3.5}
INTERACTION_PENALTY = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1}


def mixed_interaction(trial):
    lr = trial.suggest_float("lr", 1e-5, 1, log=True)
    width = trial.suggest_int("width", 16, 1024, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    dropout = trial.suggest_float("dropout", 0, 0.5)
    return ((math.log10(lr) - INTERACTION_BEST_LOG_LR[optimizer]) ** 2 + INTERACTION_PENALTY[optimizer]
            + 0.1 * (math.log2(width) - 8) ** 2 + 4 * (dropout - 0.1) ** 2)


def integers(trial):
    layers = trial.suggest_int("layers", 1, 8)
    width = trial.suggest_int("width", 16, 1024, log=True)
    batch = trial.suggest_categorical("batch", [32, 64, 128, 256])
    kernel = trial.suggest_categorical("kernel", [3, 5, 7])
    best_log_batch = 7 if kernel == 3 else 6
    kernel_penalty = {3: 0.0, 5: 0.1, 7: 0.3}[kernel]
    return (0.25 * (layers - 4) ** 2 + 0.2 * (math.log2(width) - 6 - 0.5 * layers) ** 2
            + 0.3 * (math.log2(batch) - best_log_batch) ** 2 + kernel_penalty)


def conditional(trial):
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    if optimizer == "sgd":
        lr = trial.suggest_float("sgd_lr", 1e-4, 1, log=True)
        momentum = trial.suggest_float("momentum", 0, 0.99)
        value = 0.2 + (math.log10(lr) + 1) ** 2 + 10 * (momentum - 0.9) ** 2
    else:
        lr = trial.suggest_float("adam_lr", 1e-5, 1e-1, log=True)
        beta1 = trial.suggest_float("beta1", 0.5, 0.999)
        value = (math.log10(lr) + 3) ** 2 + 10 * (beta1 - 0.9) ** 2
    dropout = trial.suggest_float("dropout", 0, 0.5)
    return value + 4 * (dropout - 0.1) ** 2


# name: (objective, global minimum, noise standard deviation). A noisy function's sampler
# sees the value plus Gaussian noise; its regret is the noise-free value of the trial seen as
# best.
FUNCTIONS = {
    "branin": (branin, 0.39788735772973816, 0.0),
    "hartmann6": (hartmann6, -3.3223680114155147, 0.0),
    "rosenbrock4": (rosenbrock4, 0.0, 0.0),
    "ackley5": (ackley5, 0.0, 0.0),
    "mixed": (mixed, 0.0, 0.0),
    "mixed_interaction": (mixed_interaction, 0.0, 0.0),
    "integers": (integers, 0.0, 0.0),
    "conditional": (conditional, 0.0, 0.0),
    "noisy_hartmann6": (hartmann6, -3.3223680114155147, 0.1),
}


def apply_upstream_logpdf_fix():
    """Optuna before 3.5 left -log(scale) out of its truncated normal's log density, so TPE's
    continuous kernels were not normalised: each weighed in proportion to its bandwidth when
    l(x) / g(x) was scored (optuna/optuna#5109, fixed by #5110). Put the term back, to compare
    with TPE as Optuna runs it today. Returns False where the installed Optuna needs no fix."""
    from optuna.samplers._tpe import _truncnorm as truncnorm

    major, minor = (int(part) for part in optuna.__version__.split(".")[:2])
    if (major, minor) >= (3, 5):
        return False
    if getattr(truncnorm.logpdf, "gpu_tune_fixed", False):
        return True  # a forked worker inherits the parent's patch: apply it once only
    unnormalised = truncnorm.logpdf

    def logpdf(x, a, b, loc=0, scale=1):
        return unnormalised(x, a, b, loc, scale) - np.log(scale)

    logpdf.gpu_tune_fixed = True
    truncnorm.logpdf = logpdf  # the Parzen estimator looks it up at call time
    return True


def make_sampler(name, seed, in_flight):
    """With trials in flight TPE runs with constant_liar, Optuna's own remedy for parallel
    studies: without it every trial asked before the next one ends gets the same model."""
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    liar = in_flight > 1
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=liar)
    if name == "tpe-multivariate":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=liar)
    raise ValueError(f"unknown sampler '{name}'")


def quantile(values, q):
    return float(np.quantile(np.asarray(values), q))


# Regrets below this count as the optimum found (tpe_quality.cpp uses the same floor): on
# discrete spaces the optimum is often hit exactly, and log10(0) is no number.
REGRET_FLOOR = 1e-6


def best_regret(objective, optimum, noise_sd, sampler, budget, in_flight, seed):
    """A study of `budget` trials with up to `in_flight` running at once: trials are asked
    (their parameters sampled) until that many run, then the oldest is told its value. The
    same protocol as tpe_quality.cpp."""
    study = optuna.create_study(sampler=sampler)
    noise = np.random.default_rng(seed + 1_000_003)
    running = collections.deque()
    asked = 0
    best_seen, best_true = math.inf, math.inf
    while asked < budget or running:
        while asked < budget and len(running) < in_flight:
            trial = study.ask()
            running.append((trial, objective(trial)))
            asked += 1
        trial, true_value = running.popleft()
        seen = true_value + noise_sd * noise.standard_normal()
        study.tell(trial, seen)
        if seen < best_seen:
            best_seen, best_true = seen, true_value
    return max(best_true - optimum, REGRET_FLOOR)


def quality_line(task):
    """One JSON line: every seed's log10 regret for one function, sampler and in-flight count."""
    args, function_name, in_flight, sampler_name = task
    quiet()
    if args.fixed_logpdf:
        apply_upstream_logpdf_fix()  # a worker started without fork has not got the parent's patch
    objective, optimum, noise_sd = FUNCTIONS[function_name]
    log_regrets = [math.log10(best_regret(objective, optimum, noise_sd, make_sampler(sampler_name, seed, in_flight),
                                          args.budget, in_flight, seed))
                   for seed in range(args.first_seed, args.first_seed + args.seeds)]
    return json.dumps({"impl": "optuna-fixed" if args.fixed_logpdf else "optuna", "benchmark": "quality",
                       "function": function_name, "sampler": sampler_name, "in_flight": in_flight,
                       "seeds": args.seeds, "budget": args.budget,
                       "median_log10_regret": quantile(log_regrets, 0.5), "log10_regrets": log_regrets})


def quality(args):
    # Random draws the same in flight or not: it runs one at a time only.
    tasks = [(args, function_name, in_flight, sampler_name)
             for function_name in args.function for in_flight in args.in_flight for sampler_name in args.sampler
             if not (sampler_name == "random" and in_flight > 1)]
    # Each study is seeded, so the lines do not depend on how many processes share the work.
    if args.jobs > 1:
        with multiprocessing.Pool(args.jobs) as pool:
            for line in pool.imap(quality_line, tasks):
                print(line, flush=True)
    else:
        for task in tasks:
            print(quality_line(task), flush=True)


# --- Suggestion time: the ten-parameter space of test_functions.h's speed_space().

SPEED_SPACE = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    "dropout": FloatDistribution(0, 0.5),
    "momentum": FloatDistribution(0.8, 0.99),
    "warmup": FloatDistribution(0, 0.2),
    "layers": IntDistribution(1, 4),
    "width": IntDistribution(16, 1024),
    "batch": FloatDistribution(16, 256, step=16),
    "activation": CategoricalDistribution(["relu", "tanh", "gelu", "elu"]),
    "optimizer": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
}


def random_params(rng):
    params = {}
    for name, d in SPEED_SPACE.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = d.choices[rng.integers(len(d.choices))]
        elif isinstance(d, IntDistribution):
            params[name] = int(rng.integers(d.low, d.high + 1))
        elif d.log:
            params[name] = float(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
        elif d.step is not None:
            params[name] = float(d.low + d.step * rng.integers(0, int(round((d.high - d.low) / d.step)) + 1))
        else:
            params[name] = float(rng.uniform(d.low, d.high))
    return params


def speed(args):
    rng = np.random.default_rng(args.seed)
    history = [optuna.trial.create_trial(params=random_params(rng), distributions=SPEED_SPACE, value=float(rng.random()))
               for _ in range(args.trials)]
    for mode in ("independent", "multivariate"):
        sampler = optuna.samplers.TPESampler(seed=args.seed, multivariate=mode == "multivariate")
        study = optuna.create_study(sampler=sampler)
        study.add_trials(history)
        milliseconds = []
        for i in range(args.suggestions + 1):
            start = time.perf_counter()
            trial = study.ask(fixed_distributions=SPEED_SPACE)  # samples every parameter
            elapsed = (time.perf_counter() - start) * 1e3
            # Failed trials are ignored by TPE, so the history stays the same size.
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if i > 0:  # the first one warms caches
                milliseconds.append(elapsed)
        print(json.dumps({"impl": "optuna", "benchmark": "suggestion_time", "mode": mode, "trials": args.trials,
                          "params": len(SPEED_SPACE), "suggestions": args.suggestions,
                          "median_ms": statistics.median(milliseconds),
                          "p10_ms": quantile(milliseconds, 0.1), "p90_ms": quantile(milliseconds, 0.9),
                          "optuna_version": optuna.__version__}), flush=True)


def quiet():
    # ERROR: multivariate TPE warns on every trial of a conditional space that it samples the
    # conditional parameters independently, as documented.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["quality", "speed", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=20, help="studies per function and sampler")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="the first of the seeds (choose defaults on other seeds than you report)")
    parser.add_argument("--budget", type=int, default=100, help="trials per study")
    parser.add_argument("--in-flight", type=lambda s: [int(v) for v in s.split(",")], default=[1],
                        help="trials running at once (1: sequential); several runs, e.g. 1,8")
    parser.add_argument("--function", type=lambda s: s.split(","), default=list(FUNCTIONS))
    parser.add_argument("--sampler", type=lambda s: s.split(","), default=["tpe", "tpe-multivariate", "random"])
    parser.add_argument("--trials", type=int, default=1000, help="finished trials before the timed suggestions")
    parser.add_argument("--suggestions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="seed of the timing history and sampler")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the quality runs")
    parser.add_argument("--fixed-logpdf", action="store_true",
                        help="quality with the upstream fix of TPE's kernel densities (Optuna >= 3.5)")
    args = parser.parse_args()
    for name in args.function:
        if name not in FUNCTIONS:
            parser.error(f"unknown function '{name}' (known: {', '.join(FUNCTIONS)})")

    quiet()
    if args.fixed_logpdf and args.part != "quality":
        parser.error("--fixed-logpdf applies to --part quality only")
    if args.fixed_logpdf and not apply_upstream_logpdf_fix():
        parser.error(f"Optuna {optuna.__version__} already has the fix")
    if args.part in ("speed", "all"):
        speed(args)
    if args.part in ("quality", "all"):
        quality(args)


if __name__ == "__main__":
    main()
