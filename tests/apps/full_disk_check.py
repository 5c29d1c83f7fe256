#!/usr/bin/python3
"""A study whose disk fills up mid-run: `gpu_tune tune` stops with an error that names the
study file and says the disk is full, the file stays a sound SQLite database holding every
trial the run announced complete, and once there is space again the same command finishes
the budget with those trials unchanged.

The write failures are real ones from the operating system:
- as root, where mounting is allowed: a 1 MiB tmpfs, mostly taken by a filler file (ENOSPC);
- otherwise: a file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) on the gpu_tune process,
  so writes past it fail with EFBIG.

    full_disk_check.py GPU_TUNE [--file-size-limit]   (the second way even as root)
Exits 0 when every check holds, 1 with the reasons otherwise.
"""
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile

STUDY = """\
study: full_disk
budget: {trials: 5000, parallel: 4}
sampler: {name: random, seed: 3}
space:
  x: {distribution: uniform, low: -10, high: 10}
"""
OBJECTIVE = "echo {params} >/dev/null; echo 1.5"


def try_tmpfs(folder):
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", folder], capture_output=True)
    return result.returncode == 0


def stored_trials(database):
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT number, state, value FROM trials").fetchall()
    finally:
        db.close()  # else the tmpfs stays busy
    return integrity, {number: (state, value) for number, state, value in rows}


def announced_complete(stdout):
    complete = {}
    for line in stdout.splitlines():
        event = json.loads(line)
        if event.get("event") == "trial_finished" and event.get("state") == "complete":
            complete[event["trial"]] = event["value"]
    return complete


def main():
    binary = os.path.abspath(sys.argv[1])
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = os.path.join(scratch, "disk")
        os.makedirs(folder)
        mounted = "--file-size-limit" not in sys.argv[2:] and try_tmpfs(folder)
        study_file = os.path.join(scratch, "study.yaml")  # kept off the small disk
        with open(study_file, "w") as f:
            f.write(STUDY)
        database = os.path.join(folder, "study.db")
        tune = [binary, "tune", study_file, "--storage", database, "--objective-command", OBJECTIVE, "--json",
                "--no-progress"]
        try:
            if mounted:
                how = "a 1 MiB tmpfs with 600 kB taken"
                filler = os.path.join(folder, "filler")
                with open(filler, "wb") as f:
                    f.write(b"\0" * 600_000)
                limit = None
            else:
                how = "a 400 kB file size limit"
                filler = None
                limit = 400_000  # the room the tmpfs way leaves; at 200 kB the first trials sometimes could not finish

            def limited():
                if limit is not None:
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

            first = subprocess.run(tune, capture_output=True, text=True, timeout=300, preexec_fn=limited)
            told = announced_complete(first.stdout)
            print(f"full_disk_check: {how}: exit {first.returncode}, {len(told)} trials announced complete")
            print(f"full_disk_check: it said: {first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ''}")
            if first.returncode != 2:
                problems.append(f"the run on a full disk exited {first.returncode}, not 2")
            message = first.stderr
            if database not in message:
                problems.append("the error does not name the study file")
            if "no space left" not in message and "file size limit" not in message:
                problems.append("the error does not say the disk is full")
            if not told:
                problems.append("no trial completed before the disk filled: the check tests nothing")

            integrity, trials = stored_trials(database)
            if integrity != "ok":
                problems.append(f"the study file is damaged after the failed write: {integrity}")
            for number, value in told.items():
                if trials.get(number) != ("complete", value):
                    problems.append(f"trial {number} was announced complete with {value}, stored {trials.get(number)}")

            # Space again (the filler removed, or no limit): the same command, with a budget that
            # fits the small disk, finishes; what was complete is unchanged.
            if filler:
                os.remove(filler)
            budget = len(told) + 5
            second = subprocess.run(tune + ["--trials", str(budget)], capture_output=True, text=True, timeout=300)
            if second.returncode != 0:
                problems.append(f"the resumed run exited {second.returncode}: {second.stderr.strip()}")
            integrity, after = stored_trials(database)
            complete = [n for n, (state, _) in after.items() if state == "complete"]
            if integrity != "ok":
                problems.append(f"the study file is damaged after the resumed run: {integrity}")
            if len(complete) != budget:
                problems.append(f"the resumed run left {len(complete)} complete trials, budget {budget}")
            for number, before in trials.items():
                if before[0] == "complete" and after.get(number) != before:
                    problems.append(f"complete trial {number} changed from {before} to {after.get(number)}")
            print(f"full_disk_check: resumed to {budget} complete trials: exit {second.returncode}")
        finally:
            if mounted:
                subprocess.run(["umount", folder], check=False)
    for problem in problems:
        print("full_disk_check: FAILED:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
