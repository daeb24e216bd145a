"""Benchmark: the time ``--html`` adds to a grading (goal: under 1 s for a full grade of the reference).

Runs ``--pairs`` pairs (3 by default) of gradings of the reference (or of the
submission given) from the command line, as an instructor runs them: ``grade
SUBMISSION --results results.json``, without and with ``--html report.html``,
the order alternating from pair to pair (without first, then with first), so
that a machine slowing down or speeding up over the runs weighs on both sides.
Records each grading's wall time (the whole command, start-up and teardown
included) and the ``execution_time`` of its results.json, and prints a table of
the runs, the medians of each side, and the median of the per-pair differences
(with minus without), which is the figure to set against the goal; also the
page's size. The figures go to ``bench/out/`` as JSON (git ignores it), with
the load average before and after.

    python bench/html_overhead.py                        # 3 pairs, all problems (about 6 minutes)
    python bench/html_overhead.py --problems gradcam     # a quick run
    python bench/html_overhead.py --pairs 5

Gradings vary by a second or two on a busy machine, more than what the page
costs, so a difference below that noise says only that the page costs little;
more pairs narrow it. The precise figure is the grader's own: with ``--html``
it says on stderr how long keeping the figures (during the tests) and drawing
and writing the page took; the script reads that line and gives its median.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from batch_throughput import commit, load_average  # this folder's: the machine's load and the commit, as that bench records them
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GOAL_SECONDS = 1.0
PAGE_LINE = re.compile(
    r"Wrote the report's page .*: its figures took (?P<keep>[\d.]+) s to keep and (?P<draw>[\d.]+) s to draw\.\n"
)


@dataclass
class Run:
    pair: int
    html: str
    """``with`` or ``without``."""
    wall_seconds: float
    execution_time: float
    """From the results.json: the grader's own measure of the grading."""
    score: float
    page_bytes: int | None
    page_seconds: float | None = None
    """What the grader measured the page to cost (its stderr): keeping its figures, then drawing and writing it."""


def grade(submission: str, scratch: Path, problems: str | None, html: bool, pair: int) -> Run:
    """One grading, with or without the page: its wall time, ``execution_time`` and the page's size."""
    results, page = scratch / "results.json", scratch / "report.html"
    for stale in (results, page):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "autograder", "grade", submission, "--results", str(results), "--quiet"]
    command += (["--html", str(page)] if html else []) + (["--problems", problems] if problems else [])
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    code = completed.returncode
    wall = time.monotonic() - started
    sys.stderr.write(PAGE_LINE.sub("", completed.stderr))
    measured = PAGE_LINE.search(completed.stderr)
    if code != 0 or not results.is_file() or (html and not page.is_file()):
        raise SystemExit(f"grading failed: exit status {code}\n  {' '.join(command)}")
    report = json.loads(results.read_text())
    return Run(
        pair,
        "with" if html else "without",
        round(wall, 3),
        float(report["execution_time"]),
        float(report["score"]),
        page.stat().st_size if html else None,
        round(float(measured["keep"]) + float(measured["draw"]), 3) if measured else None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", nargs="?", default=str(ROOT / "reference"), help="default: the reference")
    parser.add_argument("--pairs", type=int, default=3, help="pairs of gradings, without and with --html (default: 3)")
    parser.add_argument("--problems", default=None, help="grade only these problems (comma-separated keys; default: all)")
    arguments = parser.parse_args()
    if arguments.pairs < 1:
        parser.error("--pairs must be at least 1")
    loads = [load_average()]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="html-overhead-") as scratch:
        for pair in range(arguments.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for html in order:
                run = grade(arguments.submission, Path(scratch), arguments.problems, html, pair + 1)
                runs.append(run)
                print(
                    f"pair {run.pair}, {run.html} --html: {run.wall_seconds:.2f} s wall, execution_time {run.execution_time:.2f} s",
                    flush=True,
                )
    loads.append(load_average())

    def side(html: str, key: str) -> list[float]:
        return [float(getattr(run, key)) for run in runs if run.html == html]

    def per_pair(key: str) -> list[float]:
        return [with_ - without for with_, without in zip(side("with", key), side("without", key), strict=True)]

    summary = {
        key: {
            "without": round(statistics.median(side("without", key)), 3),
            "with": round(statistics.median(side("with", key)), 3),
            "median_difference": round(statistics.median(per_pair(key)), 3),
            "differences": [round(difference, 3) for difference in per_pair(key)],
        }
        for key in ("wall_seconds", "execution_time")
    }
    page_bytes = [run.page_bytes for run in runs if run.page_bytes is not None]
    scores = {run.score for run in runs}
    print()
    print(
        tabulate(
            [[run.pair, run.html, run.wall_seconds, run.execution_time, run.score] for run in runs],
            headers=["pair", "--html", "wall seconds", "execution_time", "score"],
            floatfmt=".2f",
        )
    )
    print()
    print(
        tabulate(
            [
                [
                    key,
                    figures["without"],
                    figures["with"],
                    figures["median_difference"],
                    " ".join(f"{d:+.2f}" for d in per_pair(key)),
                ]
                for key, figures in summary.items()
            ],
            headers=["seconds", "median without", "median with", "median per-pair difference", "per-pair differences"],
            floatfmt=".2f",
        )
    )
    print()
    difference = round(statistics.median(per_pair("wall_seconds")), 3)
    met = difference < GOAL_SECONDS
    differences = per_pair("wall_seconds")
    conclusive = max(differences) - min(differences) <= GOAL_SECONDS
    print(f"page: {max(page_bytes) / 1024:.1f} KiB ({max(page_bytes)} bytes)")
    measured = [run.page_seconds for run in runs if run.page_seconds is not None]
    page_cost = round(statistics.median(measured), 3) if measured else None
    if page_cost is not None:
        print(
            f"the page's cost as the grader measures it (keeping the figures, drawing and writing the page): median "
            f"{page_cost:.2f} s ({', '.join(f'{m:.2f}' for m in measured)}): goal {'met' if page_cost < GOAL_SECONDS else 'not met'}"
        )
    print(
        f"goal: --html adds under {GOAL_SECONDS:g} s of wall time: {'met' if met else 'not met'} ({difference:+.2f} s)"
        + (
            ""
            if conclusive
            else f", but the per-pair differences spread over {max(differences) - min(differences):.2f} s, more than the goal:"
            " the machine's noise hides the page's cost (more --pairs, or a quieter machine)"
        )
    )
    if len(scores) > 1:
        print(
            f"warning: the gradings gave different scores: {sorted(scores)} (grading is deterministic: they should be the same)"
        )
    print(f"cores: {os.cpu_count()}; load average before and after: {loads}")
    OUT.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now().astimezone()
    report = OUT / f"html_overhead-{now:%Y%m%d-%H%M%S}.json"
    report.write_text(
        json.dumps(
            {
                "date": now.isoformat(timespec="seconds"),
                "commit": commit(),
                "cores": os.cpu_count(),
                "load_average_before_and_after": loads,
                "submission": arguments.submission,
                "problems": arguments.problems or "all",
                "runs": [asdict(run) for run in runs],
                "summary": summary,
                "page_bytes": max(page_bytes),
                "goal": {"seconds": GOAL_SECONDS, "achieved": difference, "met": met, "conclusive": conclusive},
                "page_seconds_measured_by_the_grader": page_cost,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {report.relative_to(ROOT)}")
    return 0 if len(scores) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
