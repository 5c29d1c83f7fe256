#!/usr/bin/python3
"""Optuna's TPE and random samplers on the search benchmarks' functions, spaces, budgets and
seeds (benchmarks/test_functions.h defines the same ones for our samplers: change both),
and the time of one Optuna TPE suggestion with a long history. JSON lines on stdout.

Run with Debian's /usr/bin/python3, which sees python3-optuna (3.1). With --fixed-logpdf the
quality runs use Optuna's TPE as fixed upstream in 3.5 (see apply_upstream_logpdf_fix).
"""
import argparse
import json
import math
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


FUNCTIONS = {
    "branin": (branin, 0.39788735772973816),
    "hartmann6": (hartmann6, -3.3223680114155147),
    "rosenbrock4": (rosenbrock4, 0.0),
    "mixed": (mixed, 0.0),
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
    unnormalised = truncnorm.logpdf

    def logpdf(x, a, b, loc=0, scale=1):
        return unnormalised(x, a, b, loc, scale) - np.log(scale)

    truncnorm.logpdf = logpdf  # the Parzen estimator looks it up at call time
    return True


def make_sampler(name, seed):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-multivariate":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    raise ValueError(f"unknown sampler '{name}'")


def quantile(values, q):
    return float(np.quantile(np.asarray(values), q))


def quality(args):
    impl = "optuna-fixed" if args.fixed_logpdf else "optuna"
    for function_name in args.function:
        objective, optimum = FUNCTIONS[function_name]
        for sampler_name in args.sampler:
            log_regrets = []
            for seed in range(1, args.seeds + 1):
                study = optuna.create_study(sampler=make_sampler(sampler_name, seed))
                study.optimize(objective, n_trials=args.budget)
                log_regrets.append(math.log10(max(study.best_value - optimum, 1e-12)))
            print(json.dumps({"impl": impl, "benchmark": "quality", "function": function_name,
                              "sampler": sampler_name, "seeds": args.seeds, "budget": args.budget,
                              "median_log10_regret": quantile(log_regrets, 0.5),
                              "p25_log10_regret": quantile(log_regrets, 0.25),
                              "p75_log10_regret": quantile(log_regrets, 0.75)}), flush=True)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["quality", "speed", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=30, help="studies per function and sampler (seeds 1..N)")
    parser.add_argument("--budget", type=int, default=80, help="trials per study")
    parser.add_argument("--function", type=lambda s: s.split(","), default=list(FUNCTIONS))
    parser.add_argument("--sampler", type=lambda s: s.split(","), default=["tpe", "tpe-multivariate", "random"])
    parser.add_argument("--trials", type=int, default=1000, help="finished trials before the timed suggestions")
    parser.add_argument("--suggestions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="seed of the timing history and sampler")
    parser.add_argument("--fixed-logpdf", action="store_true",
                        help="quality with the upstream fix of TPE's kernel densities (Optuna >= 3.5)")
    args = parser.parse_args()
    for name in args.function:
        if name not in FUNCTIONS:
            parser.error(f"unknown function '{name}' (known: {', '.join(FUNCTIONS)})")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
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
