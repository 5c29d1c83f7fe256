#!/usr/bin/python3
"""Runs a small study with gpu_tune (log, integer and plain ranges, a nested choice, a choice
label made to break out of HTML; complete, pruned and failed trials), writes its report with
`gpu_tune report`, opens the report in headless Chromium and checks, in the DOM Chromium
leaves after the page's script ran, that every chart drew what the study holds: one point
per trial in the history, one line per complete trial in the parallel coordinates, one point
per trial that used each parameter, one curve per trial with steps (one point per step), the
duration histogram's bars, one importance bar per parameter, one table row per trial, and
the best trial. Counts are of the SVG elements drawn (ECharts marks each with the series and
datum it draws: ecmeta_series_index, ecmeta_data_index), against gpu_tune's JSON export.

    report_check.py GPU_TUNE_BINARY [--screenshot PNG] [--keep DIR]

--screenshot also saves a 1400x3000 screenshot of the report; --keep writes the study and
report into DIR and keeps them. Exits 0 when everything agrees; otherwise prints each
difference and exits 1.
"""
import argparse
import html.parser
import json
import math
import os
import re
import subprocess
import sys
import tempfile

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium waits on services the closed network never answers.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]

HOSTILE = "</script><img src=x onerror=alert(1)>"
STUDY = f"""\
study: report
budget: {{trials: 20, parallel: 1}}
sampler: {{name: random, seed: 7}}
pruner: {{name: median, startup_trials: 6, warmup_steps: 1}}
space:
  lr: {{distribution: loguniform, low: 1.0e-4, high: 1.0e-1}}
  layers: {{distribution: uniformint, low: 1, high: 4}}
  dropout: {{distribution: uniform, low: 0, high: 0.5}}
  label: {{distribution: choice, options: [plain, "{HOSTILE}"]}}
  optimizer:
    distribution: choice
    options:
      - value: sgd
        parameters:
          momentum: {{distribution: uniform, low: 0, high: 0.99}}
      - adam
"""
PARAMETERS = ["lr", "layers", "dropout", "label", "optimizer", "momentum"]

# 2 + layers steps whose values follow the dropout and the learning rate (so the median pruner
# stops some trials, and curves differ in length); layers 4 with a high dropout fails.
OBJECTIVE = """\
if [ "$GPU_TUNE_LAYERS" = 4 ] && awk -v d="$GPU_TUNE_DROPOUT" 'BEGIN { exit !(d > 0.3) }'; then
  echo "diverged <b>badly</b>" >&2; exit 1
fi
steps=$((2 + GPU_TUNE_LAYERS))
step=1
while [ $step -le $steps ]; do
  awk -v d="$GPU_TUNE_DROPOUT" -v lr="$GPU_TUNE_LR" -v s="$step" \
    'BEGIN { printf "gpu_tune:step=%d value=%.17g\\n", s, d + 1 / s - 0.05 * log(lr) / log(10) }'
  sleep 0.1  # time for the pruner's answer to stop the command
  step=$((step + 1))
done
awk -v d="$GPU_TUNE_DROPOUT" -v lr="$GPU_TUNE_LR" -v s="$steps" \
  'BEGIN { printf "%.17g\\n", d + 1 / s - 0.05 * log(lr) / log(10) }'
"""

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Dom(html.parser.HTMLParser):
    """Every element with its attributes, the chart container it lies in, and its text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []  # dicts: tag, attrs, chart (index into charts or None), text
        self.charts = []    # the elements that carry data-chart
        self.stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        chart = self.stack[-1]["chart"] if self.stack else None
        element = {"tag": tag, "attrs": attrs, "chart": chart, "text": ""}
        if "data-chart" in attrs:
            element["chart"] = len(self.charts)
            self.charts.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        for element in self.stack:
            element["text"] += data

    def inside(self, chart):
        index = self.charts.index(chart)
        return [e for e in self.elements if e["chart"] == index and e is not chart]

    def drawn(self, chart, series):
        """The data indices drawn for one series of a chart, one entry per SVG element."""
        return [int(e["attrs"]["ecmeta_data_index"]) for e in self.inside(chart)
                if e["attrs"].get("ecmeta_series_index") == str(series) and "ecmeta_data_index" in e["attrs"]]

    def by_id(self, element_id):
        return next((e for e in self.elements if e["attrs"].get("id") == element_id), None)


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def run_study(binary, work):
    study_file = os.path.join(work, "study.yaml")
    objective = os.path.join(work, "objective.sh")
    database = os.path.join(work, "study.db")
    with open(study_file, "w") as f:
        f.write(STUDY)
    with open(objective, "w") as f:
        f.write(OBJECTIVE)
    subprocess.run([binary, "tune", study_file, "--storage", database, "--objective-command", f"sh {objective}",
                    "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    return study_file, database


def chromium(report, *args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, f"file://{report}"],
                              check=True, capture_output=True, text=True, timeout=180).stdout


def duration_bins(durations):
    """The page's rule: ceil(sqrt(n)) equal bins, at most 20; the last holds its right edge."""
    lo, hi = min(durations), max(durations)
    k = min(20, max(1, math.ceil(math.sqrt(len(durations)))))
    width = (hi - lo) / k if hi > lo else 1
    counts = [0] * k
    for d in durations:
        counts[min(k - 1, math.floor((d - lo) / width))] += 1
    return counts


def bar_height(path):
    """A bar's height from its path, "Mx y l w 0 l 0 -h l -w 0 Z"."""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path)]
    return abs(numbers[5]) if len(numbers) >= 6 else 0.0


def check(dom, trials, problems):
    def expect(what, got, wanted):
        if got != wanted:
            problems.append(f"{what}: {got}, expected {wanted}")

    body = next((e for e in dom.elements if e["tag"] == "body"), None)
    if not body or body["attrs"].get("data-rendered") != "true":
        problems.append("the page's script did not finish (no data-rendered on <body>)")
    for e in dom.elements:
        if "data-error" in e["attrs"]:
            problems.append(f"a chart failed: {e['attrs']['data-error']}")
        if e["tag"] == "img":
            problems.append("an <img> element exists: a choice label broke out of its text")
    charts = {}
    for chart in dom.charts:
        name = chart["attrs"]["data-chart"]
        if name == "parameter":
            name = "parameter " + chart["attrs"].get("data-parameter", "?")
        charts[name] = chart
        if chart["attrs"].get("data-empty") == "true":
            problems.append(f"chart '{name}' is empty")
    wanted_charts = ["history", "parallel", "curves", "durations", "importance"] + [f"parameter {p}" for p in PARAMETERS]
    for name in wanted_charts:
        if name not in charts:
            problems.append(f"chart '{name}' is missing")
    if problems:
        return

    complete = [t for t in trials if t["state"] == "complete" and finite(t["value"])]
    pruned = [t for t in trials if t["state"] == "pruned" and finite(t["value"])]
    expect("history: points of complete trials", sorted(dom.drawn(charts["history"], 0)), list(range(len(complete))))
    expect("history: points of pruned trials", sorted(dom.drawn(charts["history"], 1)), list(range(len(pruned))))
    expect("parallel coordinates: lines", sorted(dom.drawn(charts["parallel"], 0)), list(range(len(complete))))
    for p in PARAMETERS:
        used = [t for t in complete if p in t["params"]]
        expect(f"parameter {p}: points", sorted(dom.drawn(charts[f"parameter {p}"], 0)), list(range(len(used))))

    with_steps = [t for t in trials if t["steps"]]
    for series, t in enumerate(with_steps):
        finite_steps = [i for i, s in enumerate(t["steps"]) if finite(s["value"])]
        expect(f"learning curve of trial {t['number']}: points", sorted(dom.drawn(charts["curves"], series)), finite_steps)
    expect("learning curves: lines", len({e["attrs"].get("ecmeta_series_index") for e in dom.inside(charts["curves"])
                                          if "ecmeta_series_index" in e["attrs"]}), len(with_steps))

    durations = [t["finished_at"] - t["started_at"] for t in trials
                 if t["state"] in ("complete", "pruned", "failed") and t["started_at"] > 0 and t["finished_at"] >= t["started_at"]]
    counts = duration_bins(durations)
    bars = [e for e in dom.inside(charts["durations"]) if e["attrs"].get("ecmeta_series_index") == "0"]
    expect("duration histogram: bars", len(bars), len(counts))
    if len(bars) == len(counts):
        heights = [bar_height(e["attrs"].get("d", "")) for e in sorted(bars, key=lambda e: int(e["attrs"]["ecmeta_data_index"]))]
        scale = max(heights) / max(counts) if max(heights) > 0 else 0
        if any(abs(h - c * scale) > 0.5 for h, c in zip(heights, counts)):
            problems.append(f"duration histogram: bar heights {heights} do not follow the counts {counts}")
    expect("importance: bars", sorted(dom.drawn(charts["importance"], 0)), list(range(len(PARAMETERS))))

    table = dom.by_id("trial-table")
    rows = [e for e in dom.elements if e["tag"] == "tr" and "data-trial" in e["attrs"]]
    expect("trial table: rows", [int(r["attrs"]["data-trial"]) for r in rows], [t["number"] for t in trials])
    if table is None or HOSTILE not in table["text"]:
        problems.append("trial table: the hostile choice label is not shown as text")
    headers = [e for e in dom.elements if e["tag"] == "th" and "data-column" in e["attrs"]]
    expect("trial table: sortable columns", len(headers), 5 + len(PARAMETERS) + 1)

    best = min(complete, key=lambda t: t["value"])
    section = dom.by_id("best-trial")
    expect("best trial", section["attrs"].get("data-trial") if section else None, str(best["number"]))
    value = dom.by_id("best-value")
    if value is None or not math.isclose(float(value["attrs"].get("data-value", "nan")), best["value"], rel_tol=1e-12):
        problems.append(f"best value: {value and value['attrs'].get('data-value')}, expected {best['value']}")
    for state in ("complete", "pruned", "failed"):
        if not any(t["state"] == state for t in trials):
            problems.append(f"the study has no {state} trial, so that state went untested")


def check_sorting(report, trials, problems):
    """Clicks the objective's header in a copy of the page, once: rows by value, blanks last."""
    with open(report) as f:
        page = f.read()
    click = "<script>document.querySelector('#trial-table th[data-column=\"2\"]').click();</script>"
    at = page.rindex("</body>")
    clicked = os.path.join(os.path.dirname(report), "sorted.html")
    with open(clicked, "w") as f:
        f.write(page[:at] + click + page[at:])
    dom = Dom()
    dom.feed(chromium(clicked, "--dump-dom"))
    rows = [int(e["attrs"]["data-trial"]) for e in dom.elements if e["tag"] == "tr" and "data-trial" in e["attrs"]]
    wanted = [t["number"] for t in sorted(trials, key=lambda t: (not finite(t["value"]), t["value"] if finite(t["value"]) else 0,
                                                                   t["number"]))]
    if rows != wanted:
        problems.append(f"trial table sorted by the objective: rows {rows}, expected {wanted}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--screenshot")
    parser.add_argument("--keep")
    args = parser.parse_args()
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"report_check: {CHROMIUM} is missing (scripts/install-deps.sh installs Debian's chromium)")
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        work = os.path.abspath(args.keep) if args.keep else scratch
        os.makedirs(work, exist_ok=True)
        study_file, database = run_study(args.binary, work)
        report = os.path.join(work, "report.html")
        subprocess.run([args.binary, "report", study_file, "--storage", database, "-o", report], check=True)
        trials = json.loads(subprocess.run([args.binary, "export", study_file, "--storage", database, "--format", "json"],
                                           check=True, capture_output=True, text=True).stdout)
        dom = Dom()
        dom.feed(chromium(report, "--dump-dom"))
        check(dom, trials, problems)
        check_sorting(report, trials, problems)
        if args.screenshot:
            chromium(report, f"--screenshot={os.path.abspath(args.screenshot)}", "--window-size=1400,3000",
                     "--hide-scrollbars")
    for problem in problems:
        print("report_check:", problem)
    if not problems:
        print(f"report_check: every chart of the report of {len(trials)} trials drew what the study holds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
