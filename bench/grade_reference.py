"""Benchmark: grade a submission (the reference by default) and report time and memory.

Prints the wall time of the whole grading, the time of each problem (from the
report's ``extra_data``), and the peak memory of the grader and its workers
together: the sum of the proportional set size (PSS) of the whole process
tree, sampled every 50 ms. PSS counts a page shared by the fork server and its
children once, as a container's memory limit does.

    python bench/grade_reference.py                 # both cores
    python bench/grade_reference.py --cpus 0        # pinned to one core
    python bench/grade_reference.py --problems content_loss,tv_loss
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"wall_seconds_two_cores": 10.0, "wall_seconds_one_core": 20.0, "peak_mib": 700.0}


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as stream:
            for line in stream:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory(threading.Thread):
    """Samples the PSS of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kib = max(self.peak_kib, sum(pss_kib(p) for p in descendants(self.pid)))
            time.sleep(self.interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", nargs="?", default=str(ROOT / "reference"))
    parser.add_argument("--problems", default=None)
    parser.add_argument("--cpus", default=None, help="pin the grading to these CPUs (taskset list, e.g. 0)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        command = [sys.executable, "-m", "autograder", "grade", arguments.submission, "--results", str(results), "--quiet"]
        if arguments.problems:
            command += ["--problems", arguments.problems]
        if arguments.cpus is not None:
            command = ["taskset", "-c", arguments.cpus, *command]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT)
        sampler = PeakMemory(process.pid)
        sampler.start()
        code = process.wait()
        wall = time.monotonic() - started
        sampler.done.set()
        sampler.join()
        report = json.loads(results.read_text())
    total = sum(t["max_score"] for t in report["tests"])
    print(f"exit code {code}; score {report['score']:g} / {total:g}")
    print(f"wall time: {wall:.2f} s{' (pinned to CPUs ' + arguments.cpus + ')' if arguments.cpus else ''}")
    for key, entry in report["extra_data"]["problems"].items():
        print(f"  {key:<16} {entry['seconds']:6.2f} s   {entry['score']:g} / {entry['max_score']:g}")
    print(f"peak memory (PSS, grader and workers together): {sampler.peak_kib / 1024:.0f} MiB")
    print(f"goals: {GOALS}")
    return code


if __name__ == "__main__":
    sys.exit(main())
