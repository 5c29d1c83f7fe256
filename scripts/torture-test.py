#!/usr/bin/python3
"""Kill -9 torture test: runs a study of a shell objective on the CPU, kills `gpu_tune tune`
with SIGKILL at random moments, resumes it with the same command each time, and after the
last run (left to finish) checks that nothing was lost or run twice:

- every trial ever seen complete (in the study read back after any kill) is still
  complete, with the same parameters and value;
- trial numbers are unique and contiguous, 0..N-1;
- no trial number ran its command to completion twice, and each complete trial's command
  completed exactly once;
- the budget is met exactly: as many complete trials as --trials, every other trial
  interrupted (failed with gpu_tune's "interrupted" error), none left running.

    torture-test.py GPU_TUNE [--kills 20] [--trials 200] [--parallel 2] [--seed 1]

Exits 0 when every check holds; otherwise prints each violation and exits 1 (2 for a bad
setup, such as a budget too small to take all the kills).

How "ever seen complete" is observed: after each kill, before resuming, the study is read
with `gpu_tune export --format json`; what is complete there was committed and must stay.
Each run's `--json` events are kept too: a `trial_finished` event with state complete is
the run telling its user the trial is done. gpu_tune tells it only once the result is
committed, so every trial announced complete must be complete in the final study, with the
same value, even when the run that announced it was killed right after.

The objective's own log (one line per command that reached its end: trial number, pid,
parameter, value, written before the value is printed) tells which commands completed. A
command may complete and its gpu_tune be killed before it read the value; that trial is
then interrupted, and its log line stays without a complete trial. Allowed; a trial number
in the log twice is not.

Orphans: gpu_tune runs each command in a process group of its own, and a SIGKILL leaves
those running. Each run is started in a session of its own (setsid), and after the kill
every process still in that session is killed too, as when a batch system kills a job's
whole process tree. gpu_tune is killed first and reaped, its commands only then, so that it
never sees a command die (it would record that trial as failed, not interrupted), and so
that no zombie keeps its pid alive (a resuming run knows a dead worker on this host by its
pid being gone; a zombie would look alive for the 60 s grace period).
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

INTERRUPTED = "interrupted"  # the start of gpu_tune's error for a trial whose process stopped

STUDY = """\
study: torture
budget: {{trials: {trials}, parallel: {parallel}}}
sampler: {{name: random, seed: {seed}}}
space:
  x: {{distribution: uniform, low: -10, high: 10}}
"""

# The value is x², so a value that moved to another trial shows. Two intermediate values,
# and a pause of 0.05-0.3 s derived from x (fast, not instant: kills land mid-trial). The log
# line comes before the value is printed, so a trial complete in the study always has one.
OBJECTIVE = """\
x="$GPU_TUNE_X"
value=$(awk -v x="$x" 'BEGIN {{ printf "%.17g", x * x }}')
pause=$(awk -v x="$x" 'BEGIN {{ f = x * 1000 - int(x * 1000); if (f < 0) f = -f; printf "%.3f", 0.025 + 0.125 * f }}')
echo "gpu_tune:step=1 value=$value"
sleep "$pause"
echo "gpu_tune:step=2 value=$value"
sleep "$pause"
echo "$GPU_TUNE_TRIAL_NUMBER $$ $x $value" >> '{log}'
echo "$value"
"""


def session_members(session):
    """Pids of the live processes whose session id is `session` (from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
        # Zombies are dead already, waiting for their (new) parent to reap them.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def kill_session(session):
    """SIGKILLs every process left in the session until none is left (a shell may fork between
    a scan and its kill). Returns how many were killed."""
    killed = set()
    for _ in range(100):
        members = session_members(session)
        if not members:
            return len(killed)
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    sys.exit(f"torture-test: processes of session {session} survive SIGKILL: {session_members(session)}")


def export(binary, study_file, database):
    out = subprocess.run([binary, "export", study_file, "--storage", database, "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    trials = json.loads(out)
    return {t["number"]: t for t in trials}, [t["number"] for t in trials]


def announced_complete(events_file):
    """{trial: value} of the trial_finished events with state complete that a run printed."""
    announced = {}
    with open(events_file) as f:
        for line in f:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the kill
            if event.get("event") == "trial_finished" and event.get("state") == "complete":
                announced[event["trial"]] = event["value"]
    return announced


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="the gpu_tune executable")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs before the last run (default 20)")
    parser.add_argument("--trials", type=int, default=200, help="the study's trial budget (default 200)")
    parser.add_argument("--parallel", type=int, default=2, help="commands at once (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments and the sampler (default 1)")
    parser.add_argument("--min-delay", type=float, default=0.05, help="earliest kill, seconds after start")
    parser.add_argument("--max-delay", type=float, default=1.5, help="latest kill, seconds after start")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or scratch
        os.makedirs(work, exist_ok=True)
        study_file = os.path.join(work, "study.yaml")
        database = os.path.join(work, "study.db")
        log = os.path.join(work, "completed.log")
        objective = os.path.join(work, "objective.sh")
        with open(study_file, "w") as f:
            f.write(STUDY.format(trials=args.trials, parallel=args.parallel, seed=args.seed))
        with open(objective, "w") as f:
            f.write(OBJECTIVE.format(log=log))
        tune = [args.binary, "tune", study_file, "--storage", database, "--objective-command", f"sh {objective}",
                "--json", "--no-progress"]

        problems = []
        seen = {}       # trial number -> (params, value, run) as first seen complete in the study
        announced = {}  # trial number -> (value, run) from trial_finished events
        changed = set()  # trials of `seen` found changed
        kills = runs = orphans = 0
        final_rc = None
        while final_rc is None:
            run = runs
            runs += 1
            events_file = os.path.join(work, f"run-{run}.jsonl")
            with open(events_file, "w") as out, open(os.path.join(work, f"run-{run}.err"), "w") as err:
                process = subprocess.Popen(tune, stdout=out, stderr=err, start_new_session=True)
            try:
                if kills < args.kills:
                    rc = process.wait(timeout=rng.uniform(args.min_delay, args.max_delay))
                    # Ended before its kill: the budget ran out early, or gpu_tune failed.
                    kill_session(process.pid)
                    if rc == 0:
                        print(f"torture-test: the budget ran out after only {kills} of {args.kills} kills; "
                              f"raise --trials", file=sys.stderr)
                        return 2
                    with open(os.path.join(work, f"run-{run}.err")) as err:
                        last_line = err.read().strip().splitlines()[-1:]
                    print(f"torture-test: VIOLATION: run {run} exited with status {rc} before its kill: "
                          f"{' '.join(last_line)}")
                    return 1
                final_rc = process.wait(timeout=600)  # the last run, left to finish
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()  # reaped: no zombie keeps the pid
                orphans += kill_session(process.pid)
                if kills < args.kills:
                    kills += 1
                else:
                    problems.append(f"the last run (run {run}) did not finish within 600 s")
                    final_rc = -signal.SIGKILL
            kill_session(process.pid)

            # What this run committed and what it announced; earlier observations must hold.
            study, numbers = export(args.binary, study_file, database)
            for number, trial in study.items():
                if trial["state"] == "complete" and number not in seen:
                    seen[number] = (trial["params"], trial["value"], run)
            for number, (params, value, first_run) in seen.items():
                now = study.get(number)
                if number in changed:
                    continue  # reported once
                if now is None or now["state"] != "complete" or now["params"] != params or now["value"] != value:
                    changed.add(number)
                    state = "missing" if now is None else f"{now['state']} {now['params']} value {now['value']}"
                    problems.append(f"after run {run}: trial {number}, complete with {params} value {value} "
                                    f"after run {first_run}, is now {state}")
            for number, value in announced_complete(events_file).items():
                announced.setdefault(number, (value, run))

        if final_rc != 0:
            problems.append(f"the last run exited with status {final_rc} (its standard error: run-{runs - 1}.err)")

        twice = sorted({n for n in numbers if numbers.count(n) > 1})
        absent = sorted(set(range(max(numbers, default=-1) + 1)) - set(numbers))
        if twice or absent or min(numbers, default=0) != 0:
            problems.append(f"trial numbers are not 0..{len(numbers) - 1} once each: twice {twice}, "
                            f"absent {absent}, lowest {min(numbers, default=None)}")
        complete = {n: t for n, t in study.items() if t["state"] == "complete"}
        interrupted = [n for n, t in study.items() if t["state"] == "failed" and t["error"].startswith(INTERRUPTED)]
        if len(complete) != args.trials:
            problems.append(f"{len(complete)} complete trials for a budget of {args.trials}")
        for number, trial in sorted(study.items()):
            if number not in complete and number not in interrupted:
                problems.append(f"trial {number} is {trial['state']} ({trial['error']!r}), neither complete "
                                f"nor interrupted")
        for number, trial in complete.items():
            x = trial["params"]["x"]
            if trial["value"] != x * x:
                problems.append(f"trial {number}: value {trial['value']}, not x² = {x * x} of its x {x}")

        # The objective's log: no trial number completed twice, each complete trial once.
        completions = {}
        with open(log) as f:
            for line in f:
                number, pid, x, value = line.split()
                completions.setdefault(int(number), []).append((int(pid), float(x), float(value)))
        for number, entries in sorted(completions.items()):
            if len(entries) > 1:
                problems.append(f"trial {number} ran to completion {len(entries)} times: pids "
                                f"{[e[0] for e in entries]}")
        for number, trial in sorted(complete.items()):
            entries = completions.get(number, [])
            if len(entries) != 1:
                problems.append(f"complete trial {number} has {len(entries)} completions in the objective's log")
            elif entries[0][1:] != (trial["params"]["x"], trial["value"]):
                problems.append(f"complete trial {number}: the log has x, value {entries[0][1:]}, the study "
                                f"{trial['params']['x']}, {trial['value']}")

        # Announced on standard output: the same value where the trial is complete.
        lost = []
        for number, (value, run) in sorted(announced.items()):
            if number in complete:
                if complete[number]["value"] != value:
                    problems.append(f"trial {number} announced complete with {value} by run {run}, "
                                    f"stored {complete[number]['value']}")
            elif number not in seen:  # else a violation already: seen complete, then changed
                lost.append(f"trial {number} (run {run}, now {study[number]['state'] if number in study else 'missing'})")
        if lost:
            problems.append(f"announced complete, lost to the kill before its commit: {', '.join(lost)}")

        wall = time.monotonic() - began
        print(f"torture-test: {kills} kills, {runs - 1} resumes, {len(study)} trials: {len(complete)} complete "
              f"(budget {args.trials}), {len(interrupted)} interrupted; {len(completions)} commands completed, "
              f"{orphans} orphaned processes killed; parallel {args.parallel}, seed {args.seed}; {wall:.1f} s")
        for problem in problems:
            print("torture-test: VIOLATION:", problem)
        if problems and not args.keep:
            print("torture-test: rerun with --keep DIR to keep the study, the logs and each run's output")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
