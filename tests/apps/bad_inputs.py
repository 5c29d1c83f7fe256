#!/usr/bin/python3
"""Every bad input we know of, given to the real `gpu_tune`, and the table in docs/ that
lists them with the exact error, generated from this run so that it cannot drift.

For each case (a file, a flag or a value) the check asserts that gpu_tune
- exits with the documented status for bad input (2), or 3 where every trial failed;
- says something that names the input (the flag, key, file or value) and the problem;
- leaves the study as it was: the study database that exists before the case is
  byte-for-byte the same after it, and no other study or file appears.

    bad_inputs.py GPU_TUNE TABLE.md           check, and compare the table with TABLE.md
    bad_inputs.py GPU_TUNE TABLE.md --write   check, and write TABLE.md

Exits 0 when every case holds and the table is current; 1 otherwise, with the reasons.
"""
import gzip
import hashlib
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

# The study every case must leave alone: a finished study of a shell objective.
STUDY = """\
study: kept
budget: {trials: 4, parallel: 2}
sampler: {name: random, seed: 1}
space:
  x: {distribution: uniform, low: -10, high: 10}
"""
ENGINE_STUDY = """\
study: engine
budget: {trials: 2, parallel: 2}
training: {epochs: 1, model: mlp_small}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}
"""
OBJECTIVE = "echo {params} >/dev/null; echo 0.5"
TUNE_KEPT = ["tune", "study.yaml", "--storage", "kept.db", "--objective-command", OBJECTIVE]
DATA = ["--data", "data", "--validation-size", "40"]
TRAIN = ["train", "--epochs", "1"] + DATA


class Made(str):
    """A file (or dataset folder) the check makes itself, named by its kind."""


def study_with(text):
    """The engine study with `text` appended (a section replaced by a later key is refused)."""
    return ENGINE_STUDY + text


# Each case: what kind of input, the input, what was wrong, the arguments, files written
# for it (name -> text or bytes), the exit status and the words the message must contain.
CASES = [
    # --- flags and values of `tune`
    ("flag", "--trials", "negative", TUNE_KEPT + ["--trials", "-3"], {}, 2, ["--trials"]),
    ("flag", "--parallel", "zero", TUNE_KEPT + ["--parallel", "0"], {}, 2, ["--parallel"]),
    ("flag", "--time-limit", "negative", TUNE_KEPT + ["--time-limit", "-1"], {}, 2, ["--time-limit"]),
    ("flag", "--time-limit", "not a number (nan)", TUNE_KEPT + ["--time-limit", "nan"], {}, 2, ["--time-limit"]),
    ("flag", "--trial-timeout", "zero", TUNE_KEPT + ["--trial-timeout", "0"], {}, 2, ["--trial-timeout"]),
    ("flag", "--trial-timeout", "without --objective-command",
     ["tune", "engine.yaml", "--storage", "kept.db", "--trial-timeout", "5"] + DATA, {"engine.yaml": ENGINE_STUDY}, 2,
     ["--trial-timeout", "--objective-command"]),
    ("flag", "--validation-size", "zero", ["tune", "engine.yaml", "--storage", "engine.db", "--data", "data",
                                           "--validation-size", "0"], {"engine.yaml": ENGINE_STUDY}, 2,
     ["--validation-size"]),
    ("flag", "--devices", "an unknown device", ["tune", "engine.yaml", "--storage", "engine.db", "--devices", "tpu"]
     + DATA, {"engine.yaml": ENGINE_STUDY}, 2, ["--devices", "tpu"]),
    ("flag", "--refill", "an unknown strategy", TUNE_KEPT + ["--refill", "sometimes"], {}, 2, ["--refill"]),
    ("flag", "--backend", "an unknown backend", ["tune", "engine.yaml", "--storage", "engine.db", "--backend", "tpu"]
     + DATA, {"engine.yaml": ENGINE_STUDY}, 2, ["--backend", "tpu"]),
    ("flag", "--learning-rate", "a flag gpu_tune does not have", TUNE_KEPT + ["--learning-rate", "0.1"], {}, 2,
     ["--learning-rate"]),
    ("flag", "--storage", "an unknown URL scheme", ["tune", "study.yaml", "--storage", "mysql://host/db",
                                                   "--objective-command", OBJECTIVE], {}, 2, ["mysql"]),
    ("flag", "--storage", "a PostgreSQL URL with a port that is not a number",
     ["status", "--study", "kept", "--storage", "postgresql://user@localhost:http/studies"], {}, 2, ["http"]),
    ("flag", "--data", "a folder that does not exist",
     ["tune", "engine.yaml", "--storage", "engine.db", "--data", "no_such_folder"], {"engine.yaml": ENGINE_STUDY}, 2,
     ["no_such_folder"]),
    ("flag", "--objective-command", "a program that does not exist (every trial fails)",
     ["tune", "study.yaml", "--storage", "other.db", "--objective-command", "./no_such_program"], {}, 3,
     ["no_such_program"]),
    ("flag", "--epochs", "zero", ["tune", "engine.yaml", "--storage", "engine.db", "--epochs", "0"] + DATA,
     {"engine.yaml": ENGINE_STUDY}, 2, ["--epochs"]),
    ("flag", "--slots", "zero", ["tune", "engine.yaml", "--storage", "engine.db", "--slots", "0"] + DATA,
     {"engine.yaml": ENGINE_STUDY}, 2, ["--slots"]),
    ("flag", "--target", "not a number (nan)", TUNE_KEPT + ["--target", "nan"], {}, 2, ["--target"]),
    ("flag", "--train-size", "zero", ["tune", "engine.yaml", "--storage", "engine.db", "--train-size", "0"] + DATA,
     {"engine.yaml": ENGINE_STUDY}, 2, ["--train-size"]),
    ("flag", "--precision", "an unknown precision", ["tune", "engine.yaml", "--storage", "engine.db", "--precision",
                                                     "fp16"] + DATA, {"engine.yaml": ENGINE_STUDY}, 2, ["fp16"]),
    ("flag", "--dataset", "a dataset that is not installed",
     ["tune", "engine.yaml", "--storage", "engine.db", "--dataset", "no_such_set"], {"engine.yaml": ENGINE_STUDY}, 2,
     ["no_such_set"]),
    # --- `train --slot` values
    ("value", "--slot model=32,model=64", "a key given twice", TRAIN + ["--slot", "model=32,model=64"], {}, 2,
     ["model"]),
    ("value", "--slot seed=-1", "negative", TRAIN + ["--slot", "seed=-1"], {}, 2, ["seed"]),
    ("value", "--slot lr=fast", "not a number", TRAIN + ["--slot", "lr=fast"], {}, 2, ["lr", "fast"]),
    ("value", "--slot optimizer=adamm", "an unknown optimizer", TRAIN + ["--slot", "optimizer=adamm"], {}, 2,
     ["adamm"]),
    ("value", "--slot model=c32-q-d64", "an unknown layer", TRAIN + ["--slot", "model=c32-q-d64"], {}, 2,
     ["c32-q-d64"]),
    ("value", "--slot dropout=1.5", "out of range", TRAIN + ["--slot", "dropout=1.5"], {}, 2, ["dropout"]),
    ("value", "--slot colour=red", "an unknown key", TRAIN + ["--slot", "colour=red"], {}, 2, ["colour"]),
    ("value", "--slot model=65536-65536", "more memory than the machine has",
     TRAIN + ["--backend", "cpu", "--slot", "model=65536-65536"], {}, 2, ["memory"]),
    # --- study files
    ("file", "study file", "does not exist", ["tune", "missing.yaml", "--storage", "other.db"], {}, 2,
     ["missing.yaml"]),
    ("file", "study file", "not YAML (binary bytes)", ["tune", "binary.yaml", "--storage", "other.db"],
     {"binary.yaml": bytes(range(256)) * 4}, 2, ["binary.yaml"]),
    ("file", "study file", "a YAML syntax error",
     ["tune", "broken.yaml", "--storage", "other.db"], {"broken.yaml": "study: x\nspace: {lr: [1, 2\n"}, 2,
     ["broken.yaml:3"]),
    ("file", "study file", "an unknown top-level key", ["tune", "typo.yaml", "--storage", "other.db"],
     {"typo.yaml": ENGINE_STUDY.replace("budget:", "bugdet:")}, 2, ["typo.yaml", "bugdet"]),
    ("file", "study file", "a parameter the engine does not know (learning_rate for lr)",
     ["tune", "param.yaml", "--storage", "other.db"] + DATA,
     {"param.yaml": ENGINE_STUDY.replace("  lr:", "  learning_rate:")}, 2, ["param.yaml", "learning_rate"]),
    ("file", "study file", "a bad training default (optimizer: adamm)",
     ["tune", "default.yaml", "--storage", "other.db"] + DATA,
     {"default.yaml": ENGINE_STUDY.replace("model: mlp_small", "model: mlp_small, optimizer: adamm")}, 2,
     ["default.yaml", "adamm"]),
    ("file", "study file", "low above high", ["tune", "bounds.yaml", "--storage", "other.db"] + DATA,
     {"bounds.yaml": ENGINE_STUDY.replace("low: 1.0e-3, high: 1.0e-2", "low: 1.0e-2, high: 1.0e-3")}, 2,
     ["bounds.yaml", "lr"]),
    ("file", "study file", "a log scale reaching 0", ["tune", "log.yaml", "--storage", "other.db"] + DATA,
     {"log.yaml": ENGINE_STUDY.replace("low: 1.0e-3", "low: 0")}, 2, ["log.yaml", "lr"]),
    ("file", "study file", "a choice with no options", ["tune", "choice.yaml", "--storage", "other.db"] + DATA,
     {"choice.yaml": study_with("  optimizer: {distribution: choice, options: []}\n")}, 2,
     ["choice.yaml", "optimizer"]),
    ("file", "study file", "a study name leaving the studies folder (study: ..)", ["tune", "escape.yaml"] + DATA,
     {"escape.yaml": ENGINE_STUDY.replace("study: engine", "study: ..")}, 2, ["escape.yaml", ".."]),
    ("file", "study file", "budget.parallel of 10 million", ["tune", "huge.yaml", "--storage", "other.db", "--full", "--devices", "cpu"]
     + DATA, {"huge.yaml": ENGINE_STUDY.replace("trials: 2, parallel: 2", "trials: 10000000, parallel: 10000000")}, 2,
     ["memory"]),
    ("file", "study file", "an unknown sampler", ["tune", "sampler.yaml", "--storage", "other.db"] + DATA,
     {"sampler.yaml": study_with("sampler: {name: cmaes}\n")}, 2, ["sampler.yaml", "cmaes"]),
    ("file", "study file", "a pruner setting out of range", ["tune", "pruner.yaml", "--storage", "other.db"] + DATA,
     {"pruner.yaml": study_with("pruner: {name: asha, min_resource: 0}\n")}, 2, ["pruner.yaml", "min_resource"]),
    ("file", "study file", "a time limit that is not a duration", ["tune", "limit.yaml", "--storage", "other.db"] + DATA,
     {"limit.yaml": ENGINE_STUDY.replace("parallel: 2}", "parallel: 2, time_limit: 5q}")}, 2,
     ["limit.yaml", "time_limit", "5q"]),
    ("file", "study file", "a trial budget of 0", ["tune", "zero.yaml", "--storage", "other.db"] + DATA,
     {"zero.yaml": ENGINE_STUDY.replace("trials: 2", "trials: 0")}, 2, ["zero.yaml", "trials"]),
    ("file", "study file", "its space changed since the study began (resume refused)",
     ["tune", "changed.yaml", "--storage", "kept.db", "--objective-command", OBJECTIVE],
     {"changed.yaml": STUDY.replace("high: 10", "high: 20")}, 2, ["x"]),
    ("file", "study file", "its training defaults changed since the study began (resume refused)",
     ["tune", "retrained.yaml", "--storage", "kept.db", "--objective-command", OBJECTIVE],
     {"retrained.yaml": STUDY + "training: {schedule: cosine}\n"}, 2, ["retrained.yaml", "training", "schedule"]),
    # --- study databases
    ("file", "--storage FILE", "not a SQLite database", ["status", "--study", "kept", "--storage", "junk.db"],
     {"junk.db": b"this is not a database\n" * 100}, 2, ["junk.db", "not a SQLite database"]),
    ("file", "--storage FILE", "a SQLite database of another program",
     ["status", "--study", "kept", "--storage", "foreign.db"], {"foreign.db": Made("FOREIGN")}, 2, ["foreign.db"]),
    ("file", "--storage FILE", "damaged (a page overwritten)", ["status", "--study", "kept", "--storage", "damaged.db"],
     {"damaged.db": Made("DAMAGED")}, 2, ["damaged.db"]),
    ("value", "--study", "no study of that name", ["status", "--study", "nameless", "--storage", "kept.db"], {}, 2,
     ["nameless"]),
    # --- datasets
    ("file", "IDX images", "wrong magic number", ["tune", "engine.yaml", "--storage", "engine.db", "--data", "badmagic",
                                                  "--validation-size", "40"],
     {"engine.yaml": ENGINE_STUDY, "badmagic": Made("BADMAGIC")}, 2, ["train-images-idx3-ubyte"]),
    ("file", "IDX images", "truncated", ["tune", "engine.yaml", "--storage", "engine.db", "--data", "truncated",
                                         "--validation-size", "40"],
     {"engine.yaml": ENGINE_STUDY, "truncated": Made("TRUNCATED")}, 2, ["train-images-idx3-ubyte"]),
    ("file", "IDX images (gzip)", "a damaged gzip stream",
     ["tune", "engine.yaml", "--storage", "engine.db", "--data", "badgzip", "--validation-size", "40"],
     {"engine.yaml": ENGINE_STUDY, "badgzip": Made("BADGZIP")}, 2, ["train-images-idx3-ubyte.gz"]),
    # --- saved models and outputs
    ("file", "--model FILE", "truncated", ["evaluate", "--model", "short.gtm", "--data", "data"], {"short.gtm": Made("SHORTMODEL")}, 2,
     ["short.gtm"]),
    ("file", "--model FILE", "not a model file", ["evaluate", "--model", "study.yaml", "--data", "data"], {}, 2, ["study.yaml"]),
    ("file", "export -o FILE", "a full device (/dev/full)", ["export", "--study", "kept", "--storage", "kept.db",
                                                            "--format", "json", "-o", "/dev/full"], {}, 2, ["/dev/full"]),
    ("file", "report -o FILE", "a folder that does not exist",
     ["report", "--study", "kept", "--storage", "kept.db", "-o", "no_such_folder/report.html"], {}, 2,
     ["no_such_folder/report.html"]),
]


def write_idx(path, dims, values, compress=False):
    data = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(values)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def write_dataset(folder, train=200, test=40):
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(1)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = [rng.randrange(10) for _ in range(count)]
        images = [rng.randrange(60) + (180 if (p // 28) % 10 == labels[i] else 0) for i in range(count)
                  for p in range(784)]
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), [count, 28, 28], images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), [count], labels)


def special_file(kind, work):
    """Files whose content must be made, not written as text: returns the bytes, or None
    when a folder was made instead."""
    import sqlite3
    if kind == "FOREIGN":
        path = os.path.join(work, "foreign.db")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        db.commit()
        db.close()
        return None
    if kind == "DAMAGED":
        path = os.path.join(work, "damaged.db")
        with open(os.path.join(work, "kept.db"), "rb") as f:
            content = bytearray(f.read())
        page = 4096
        db = sqlite3.connect(f"file:{os.path.join(work, 'kept.db')}?mode=ro", uri=True)
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trials'").fetchone()[0]
        db.close()
        start = (root - 1) * page
        content[start:start + page] = b"\xa5" * page
        with open(path, "wb") as f:
            f.write(content)
        return None
    folder = {"BADMAGIC": "badmagic", "TRUNCATED": "truncated", "BADGZIP": "badgzip"}.get(kind)
    if folder:
        path = os.path.join(work, folder)
        write_dataset(path)
        images = os.path.join(path, "train-images-idx3-ubyte")
        with open(images, "rb") as f:
            content = bytearray(f.read())
        if kind == "BADMAGIC":
            content[2] = 0x0D  # a float element type: gpu_tune reads unsigned bytes only
            with open(images, "wb") as f:
                f.write(content)
        elif kind == "TRUNCATED":
            with open(images, "wb") as f:
                f.write(content[:len(content) // 2])
        else:
            os.remove(images)
            with open(images + ".gz", "wb") as f:
                f.write(gzip.compress(bytes(content))[:-200] + b"\x00" * 50)
        return None
    if kind == "SHORTMODEL":
        path = os.path.join(work, "short.gtm")
        with open(os.path.join(work, "model.gtm"), "rb") as f:
            content = f.read()
        with open(path, "wb") as f:
            f.write(content[:len(content) // 3])
        return None
    raise ValueError(kind)


def snapshot(work):
    """Every file under `work`, the case's own inputs too: path -> sha256. SQLite's shared-
    memory index and an empty write-ahead log, which opening a database may leave beside it,
    hold no data and are left out."""
    files = {}
    for folder, _, names in os.walk(work):
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith("-shm") or (name.endswith("-wal") and os.path.getsize(path) == 0):
                continue
            with open(path, "rb") as f:
                files[os.path.relpath(path, work)] = hashlib.sha256(f.read()).hexdigest()
    return files


def message_of(output):
    """What gpu_tune said about the problem: from its first error line on, less the progress
    lines of trials that ran (their order between two streams varies) and the closing summary; all of it when no line says error (the command line parser's own
    messages). Informational lines before the error (the device, the dataset) differ from
    machine to machine and are left out."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    first_error = next((i for i, line in enumerate(lines) if " error: " in line), None)
    if first_error is not None:
        lines = [line for line in lines[first_error:]
                 if not line.startswith("[tune] ") and not re.match(r"^study '[^']*': \d+/\d+ done", line)]
    # The memory a machine has differs from machine to machine.
    return re.sub(r"the limit is [0-9.]+ GiB", "the limit is N GiB", "\n".join(lines))


def markdown_cell(text):
    return text.replace("|", "\\|").replace("\n", "<br>")


def setup(binary, work):
    write_dataset(os.path.join(work, "data"))
    with open(os.path.join(work, "study.yaml"), "w") as f:
        f.write(STUDY)
    subprocess.run([binary] + TUNE_KEPT + ["--no-progress"], cwd=work, check=True, capture_output=True, timeout=120)
    # A saved model, for the model file cases: one slot trained for an epoch.
    with open(os.path.join(work, "engine.yaml"), "w") as f:
        f.write(ENGINE_STUDY.replace("budget: {trials: 2, parallel: 2}", "budget: {trials: 1, parallel: 1}"))
    subprocess.run([binary, "tune", "engine.yaml", "--storage", "engine.db", "--no-progress", "--full"] + DATA,
                   cwd=work, check=True, capture_output=True, timeout=300)
    models = [os.path.join(folder, name) for folder, _, names in os.walk(work) for name in names
              if name.endswith(".gtm")]
    if not models:
        raise RuntimeError("the engine study saved no model")
    os.rename(models[0], os.path.join(work, "model.gtm"))
    os.remove(os.path.join(work, "engine.yaml"))


# gpu_tune's own variables are left out, so that the messages are the same on every machine.
ENVIRONMENT = {key: value for key, value in os.environ.items() if not key.startswith("GPU_TUNE_")}


def main():
    binary, table_path = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    write = "--write" in sys.argv[3:]
    problems, rows = [], []
    with tempfile.TemporaryDirectory() as work:
        setup(binary, work)
        for kind, input_name, wrong, args, files, status, names in CASES:
            made = set()
            for name, content in files.items():
                if isinstance(content, Made):
                    special_file(content, work)
                else:
                    with open(os.path.join(work, name), "wb" if isinstance(content, bytes) else "w") as f:
                        f.write(content)
                made.add(name)
            before = snapshot(work)
            result = subprocess.run([binary] + args, cwd=work, capture_output=True, text=True, timeout=120,
                                    stdin=subprocess.DEVNULL, env=ENVIRONMENT)
            after = snapshot(work)
            said = message_of(result.stderr + result.stdout)
            where = f"{input_name} ({wrong})"
            if result.returncode != status:
                problems.append(f"{where}: exit {result.returncode}, expected {status}: {said}")
            for word in names:
                if word not in said:
                    problems.append(f"{where}: the message does not name '{word}': {said}")
            if before != after and status != 3:  # trials that ran and failed are recorded
                changed = sorted(set(before.items()) ^ set(after.items()))
                problems.append(f"{where}: files changed: {sorted({path for path, _ in changed})}")
            for name in made | {m + "-wal" for m in made} | {m + "-shm" for m in made}:
                target = os.path.join(work, name)
                if os.path.isdir(target):
                    subprocess.run(["rm", "-rf", target], check=True)
                elif os.path.exists(target):
                    os.remove(target)
            command = "gpu_tune " + " ".join(a if " " not in a else f"'{a}'" for a in args)
            rows.append(f"| {kind} | `{input_name}` | {markdown_cell(wrong)} | `{markdown_cell(command)}` | "
                        f"{result.returncode} | {markdown_cell(said)} |")
    table = HEADER + "\n".join(rows) + "\n"
    if write:
        with open(table_path, "w") as f:
            f.write(table)
        print(f"bad_inputs: wrote {table_path}")
    else:
        try:
            with open(table_path) as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current != table:
            problems.append(f"{table_path} is not what gpu_tune says now: run "
                            f"tests/apps/bad_inputs.py {sys.argv[1]} {sys.argv[2]} --write and commit it")
    print(f"bad_inputs: {len(CASES)} bad inputs tried")
    for problem in problems:
        print("bad_inputs: FAILED:", problem)
    return 1 if problems else 0


HEADER = """\
# Bad inputs and what gpu_tune says

Every bad input we know of, tried on the real `gpu_tune`, with the exact error it gives.
This file is written by `tests/apps/bad_inputs.py` (ctest `BadInputs.EachIsRefusedByNameAndTheTableIsCurrent`),
which fails when the table differs from what gpu_tune says now; regenerate it with
`/usr/bin/python3 tests/apps/bad_inputs.py build/apps/gpu_tune docs/bad-inputs.md --write`.

For each row the test checks that gpu_tune exits with the documented status (2: bad input,
3: every trial failed; see the README), that the message names the input, and that the study
already in the folder (`kept.db`, a finished study) and every other file are byte-for-byte
unchanged, and no study is created. The commands ran in a folder holding `study.yaml` (a
study of `x` in [-10, 10] on a shell objective), its finished study `kept.db`, a small IDX
dataset in `data/` and a saved model. A machine's memory is written as N GiB.

| kind | input | what is wrong | command | exit | gpu_tune says |
| --- | --- | --- | --- | ---: | --- |
"""

if __name__ == "__main__":
    sys.exit(main())
