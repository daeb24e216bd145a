"""Benchmark: grade a submission (the reference by default) and report time and memory.

Prints the wall time of the whole grading, the time of each problem (from the
report's ``extra_data``), and the peak memory of the grader and its workers
together: the sum of the proportional set size (PSS) of the whole process
tree, sampled every 100 ms. PSS counts a page shared by the fork server and its
children once, as a container's memory limit does.

    python bench/grade_reference.py                 # both cores
    python bench/grade_reference.py --cpus 0        # pinned to one core
    python bench/grade_reference.py --problems content_loss,tv_loss
    python bench/grade_reference.py --repeat 5      # the median of five gradings
    python bench/grade_reference.py --cpus 0 --memory-limit 768   # Gradescope's default container, roughly

``--memory-limit`` (root only) runs the grading in a memory cgroup of that many
MiB (cgroup v2, or v1's memory controller) and says whether anything in it was
killed for memory: a hard check that the whole grading fits, where PSS is an
estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"wall_seconds_two_cores": 10.0, "wall_seconds_one_core": 20.0, "peak_mib": 700.0}


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from each thread's /proc/<pid>/task/<tid>/children."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as stream:
                    stack.extend(int(child) for child in stream.read().split())
        except OSError:
            continue
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

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kib = max(self.peak_kib, sum(pss_kib(p) for p in descendants(self.pid)))
            time.sleep(self.interval)


class MemoryCgroup:
    """A memory cgroup with a limit, for the grading and everything it starts (root only)."""

    def __init__(self, mib: int) -> None:
        unified = Path("/sys/fs/cgroup")
        if (unified / "cgroup.controllers").exists() and "memory" in (unified / "cgroup.controllers").read_text():
            self.path, self.limit_file, self.events = unified / "autograder-bench", "memory.max", "memory.events"
        elif Path("/sys/fs/cgroup/memory").is_dir():
            memory = Path("/sys/fs/cgroup/memory")
            self.path, self.limit_file, self.events = memory / "autograder-bench", "memory.limit_in_bytes", "memory.oom_control"
        else:
            raise SystemExit("--memory-limit: no memory cgroup controller here")
        self.path.mkdir(exist_ok=True)
        (self.path / self.limit_file).write_text(str(mib << 20))
        swap = self.path / ("memory.swap.max" if self.limit_file == "memory.max" else "memory.memsw.limit_in_bytes")
        if swap.exists():
            try:
                swap.write_text("0" if swap.name == "memory.swap.max" else str(mib << 20))
            except OSError:
                pass
        self.mib = mib

    def enter(self) -> None:
        """Move the calling process into the cgroup (run in the child before exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_kills(self) -> int:
        for line in (self.path / self.events).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak_mib(self) -> float | None:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            if (self.path / name).exists():
                return int((self.path / name).read_text()) / (1 << 20)
        return None


def run_once(command: list[str], results: Path, cgroup: MemoryCgroup | None = None) -> tuple[int, float, int, dict[str, object]]:
    """One grading: exit code, wall seconds, peak PSS in KiB, the report."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, preexec_fn=cgroup.enter if cgroup else None)
    sampler = PeakMemory(process.pid)
    sampler.start()
    code = process.wait()
    wall = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    return code, wall, sampler.peak_kib, json.loads(results.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", nargs="?", default=str(ROOT / "reference"))
    parser.add_argument("--problems", default=None)
    parser.add_argument("--cpus", default=None, help="pin the grading to these CPUs (taskset list, e.g. 0)")
    parser.add_argument("--repeat", type=int, default=1, help="grade this many times; report the median (and range)")
    parser.add_argument("--memory-limit", type=int, default=None, help="MiB: grade inside a memory cgroup (root only)")
    arguments = parser.parse_args()
    cgroup = MemoryCgroup(arguments.memory_limit) if arguments.memory_limit else None
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        command = [sys.executable, "-m", "autograder", "grade", arguments.submission, "--results", str(results), "--quiet"]
        if arguments.problems:
            command += ["--problems", arguments.problems]
        if arguments.cpus is not None:
            command = ["taskset", "-c", arguments.cpus, *command]
        for _ in range(max(arguments.repeat, 1)):
            runs.append(run_once(command, results, cgroup))
    code, _, _, report = runs[-1]
    walls = sorted(run[1] for run in runs)
    peaks = sorted(run[2] for run in runs)
    tests: list[dict[str, float]] = report["tests"]  # type: ignore[assignment]
    print(f"exit code {code}; score {report['score']:g} / {sum(t['max_score'] for t in tests):g}")
    spread = f" (range {walls[0]:.2f} to {walls[-1]:.2f} s over {len(walls)} runs)" if len(walls) > 1 else ""
    print(f"wall time: {statistics.median(walls):.2f} s{spread}{' pinned to CPUs ' + arguments.cpus if arguments.cpus else ''}")
    problems: dict[str, dict[str, float]] = report["extra_data"]["problems"]  # type: ignore[index]
    for key, entry in problems.items():
        cases = f"{int(entry['cases']):5d} cases" if "cases" in entry else ""
        print(f"  {key:<20} {entry['seconds']:6.2f} s   {entry['score']:g} / {entry['max_score']:g}   {cases}   (last run)")
    if all("cases" in entry for entry in problems.values()):
        print(f"cases checked: {sum(int(entry['cases']) for entry in problems.values())} (measured by the grader)")
    print(f"peak memory (PSS, grader and workers together): {peaks[-1] / 1024:.0f} MiB (largest of the runs)")
    if cgroup is not None:
        peak = cgroup.peak_mib()
        print(
            f"memory cgroup of {cgroup.mib} MiB: {cgroup.oom_kills()} processes killed for memory"
            + (f"; peak usage {peak:.0f} MiB (page cache included)" if peak is not None else "")
        )
    print(f"goals: {GOALS}")
    return code


if __name__ == "__main__":
    sys.exit(main())
