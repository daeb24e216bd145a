"""Benchmark: the time of a full ``validate`` (mutation testing of every problem's suite) with ``--jobs 2``.

Runs ``python -m autograder validate --jobs J --json ...`` from the command
line, as an instructor runs it, and prints its wall time, the mutants made and
graded per problem, the time per mutant and the kill rates; the figures and
validate's own JSON go to ``bench/out/`` (git ignores it), with the load
average before and after and the commit.

    python bench/validate_time.py                       # every problem, --jobs 2 (about half an hour here)
    python bench/validate_time.py --problems tv_loss,gradcam --jobs 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from batch_throughput import commit, load_average  # this folder's: the machine's load and the commit
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="validate's --jobs (default: 2)")
    parser.add_argument("--problems", default=None, help="only these problems (comma-separated keys; default: all)")
    arguments = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now().astimezone()
    verdicts_path = OUT / f"validate-{now:%Y%m%d-%H%M%S}.verdicts.json"
    command = [sys.executable, "-m", "autograder", "validate", "--jobs", str(arguments.jobs), "--json", str(verdicts_path)]
    command += ["--problems", arguments.problems] if arguments.problems else []
    loads = [load_average()]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    loads.append(load_average())
    print(completed.stdout)
    if not verdicts_path.is_file():
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"validate wrote no verdicts (exit status {completed.returncode})")
    problems = json.loads(verdicts_path.read_text())["problems"]
    made = sum(p["made"] for p in problems.values())
    rows = [
        [key, p["made"], p["killed"], p["survived"], p["equivalent"], f"{100 * p['kill_rate']:.1f}%"]
        for key, p in problems.items()
    ]
    print(tabulate(rows, headers=["problem", "made", "killed", "survived", "equivalent", "kill rate"]))
    print(
        f"\nvalidate --jobs {arguments.jobs}: {wall:.0f} s wall for {made} mutants ({wall / max(made, 1):.2f} s a mutant), exit status {completed.returncode}"
    )
    print(f"cores: {os.cpu_count()}; load average before and after: {loads}")
    summary = OUT / f"validate-{now:%Y%m%d-%H%M%S}.json"
    summary.write_text(
        json.dumps(
            {
                "date": now.isoformat(timespec="seconds"),
                "commit": commit(),
                "cores": os.cpu_count(),
                "jobs": arguments.jobs,
                "problems": arguments.problems or "all",
                "wall_seconds": round(wall, 1),
                "mutants": made,
                "exit_status": completed.returncode,
                "load_average_before_and_after": loads,
                "verdicts": verdicts_path.name,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {summary.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
