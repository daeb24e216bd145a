"""Benchmark: ``batch`` on a class of submissions with ``--jobs 1``, then ``--jobs 2``.

Builds a class of ``--count`` submissions (20 by default): copies of the
reference, and every fourth one a scenario submission from ``tests/scenarios/``
(a few usual mistakes and one that returns zeros everywhere), so the class is
mostly right, as a real one is. Each ``--jobs`` value grades the same class into
a fresh out folder, from the command line as an instructor runs it. Prints, for
each: the wall time, the throughput (submissions per minute), the speedup over
the first, and the peak memory of each grading job; the goal is ``--jobs 2`` at
least 1.7 times as fast as ``--jobs 1`` on a 2-core machine. The figures and
the class are written as JSON to ``bench/out/`` (git ignores it).

    python bench/batch_throughput.py                                 # 20 submissions, all problems: jobs 1, then 2
    python bench/batch_throughput.py --count 6 --problems tv_loss,content_loss   # a quick run
    python bench/batch_throughput.py --jobs 1,2,4

Peak memory of a grading job, two ways, sampled every ``--interval`` seconds
from ``/proc``: the grading process's own high-water mark of resident memory
(``VmHWM`` in ``/proc/PID/status``: exact, kept by the kernel, but it counts
pages shared with other processes, torch's included), and the largest sum of
the proportional set size (PSS) of the job's whole process tree (the grading
process, its fork server and the workers of the moment) seen in a sample, as
``grade_reference.py`` measures a single grading: a page shared by the tree
counts once, as a container's memory limit counts it. A grading process is
one of the batch's children running ``autograder.batch_job``; which job it is
comes from its stderr, the batch's ``logs/jobN.log`` (a job whose process died
is started again: its peak is the largest of its processes').
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grade_reference import descendants, pss_kib  # noqa: E402  (this folder: the script's)

from tests.scenarios import SCENARIOS, Scenario  # noqa: E402

OUT = ROOT / "bench" / "out"
MIX = (
    "mistake_content_loss_mean",
    "mistake_gram_matrix_divides_by_hw",
    "mistake_gradcam_no_relu",
    "mistake_fooling_image_descends",
    "degenerate_zeros",
)
"""The scenario submissions of the class, in turn, every fourth submission; the rest are the reference."""
REFERENCE = "reference"
"""The scenario that is a copy of ``reference/``."""
SCENARIO_EVERY = 4
GOAL_SPEEDUP = 1.7
JOB_LOG = re.compile(r"/logs/job(\d+)\.log$")


def build_class(folder: Path, count: int) -> list[str]:
    """``count`` submission folders in ``folder``; their names, which say what each is."""
    folder.mkdir(parents=True)
    names = []
    for number in range(count):
        scenario = REFERENCE
        if number % SCENARIO_EVERY == SCENARIO_EVERY - 1:
            scenario = MIX[(number // SCENARIO_EVERY) % len(MIX)]
        name = f"s{number:03d}-{scenario}"
        Scenario.load(SCENARIOS / scenario).build(folder / name)
        names.append(name)
    return names


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` figure of ``/proc/PID/status`` (``VmHWM``, ``VmRSS``), 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as stream:
            for line in stream:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def grading_job(pid: int) -> int | None:
    """The number N of ``logs/jobN.log`` when ``pid`` is a grading process (``autograder.batch_job``), else ``None``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            if b"autograder.batch_job" not in stream.read():
                return None
        match = JOB_LOG.search(os.readlink(f"/proc/{pid}/fd/2"))
    except OSError:
        return None
    return int(match[1]) if match else None


@dataclass
class JobMemory:
    processes: set[int] = field(default_factory=set)
    """The pids of the job's grading processes (more than one when one died and was started again)."""
    hwm_kib: int = 0
    tree_pss_kib: int = 0


class Sampler(threading.Thread):
    """Samples the batch's grading processes until stopped: each job's peaks, and the batch's own high-water mark."""

    def __init__(self, batch: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.batch, self.interval = batch, interval
        self.jobs: dict[int, JobMemory] = {}
        self.batch_hwm_kib = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        known: dict[int, int | None] = {}
        while not self.done.is_set():
            self.batch_hwm_kib = max(self.batch_hwm_kib, status_kib(self.batch, "VmHWM"))
            for pid in descendants(self.batch)[1:]:
                if pid not in known:
                    known[pid] = grading_job(pid)
                number = known[pid]
                if number is None:
                    continue
                job = self.jobs.setdefault(number, JobMemory())
                job.processes.add(pid)
                job.hwm_kib = max(job.hwm_kib, status_kib(pid, "VmHWM"))
                job.tree_pss_kib = max(job.tree_pss_kib, sum(pss_kib(p) for p in descendants(pid)))
            self.samples += 1
            self.done.wait(self.interval)


@dataclass
class Run:
    jobs: int
    exit_code: int
    wall_seconds: float
    submissions_per_minute: float
    graded: int
    autograder_failed: int
    grading_seconds: float
    """The sum of the reports' ``execution_time``: more than the wall time when jobs overlap."""
    batch_hwm_mib: float
    job_memory_mib: dict[str, dict[str, float]]
    totals: dict[str, str]
    samples: int


def run_batch(submissions: Path, out: Path, jobs: int, problems: str | None, interval: float) -> Run:
    command = [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(out), "--jobs", str(jobs), "--quiet"]
    if problems:
        command += ["--problems", problems]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT)
    sampler = Sampler(process.pid, interval)
    sampler.start()
    code = process.wait()
    wall = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    with (out / "grades.csv").open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    return Run(
        jobs=jobs,
        exit_code=code,
        wall_seconds=round(wall, 2),
        submissions_per_minute=round(len(rows) / wall * 60, 2),
        graded=len(rows),
        autograder_failed=sum(row["autograder_failed"] == "yes" for row in rows),
        grading_seconds=round(sum(float(row["seconds"]) for row in rows), 2),
        batch_hwm_mib=round(sampler.batch_hwm_kib / 1024, 1),
        job_memory_mib={
            f"job{number}": {
                "grading_process_hwm": round(memory.hwm_kib / 1024, 1),
                "process_tree_pss": round(memory.tree_pss_kib / 1024, 1),
                "processes": len(memory.processes),
            }
            for number, memory in sorted(sampler.jobs.items())
        },
        totals={row["submission"]: row["total"] for row in rows},
        samples=sampler.samples,
    )


def load_average() -> list[float]:
    """The load average over 1, 5 and 15 minutes: a busy machine's figures are not comparable with a quiet one's."""
    return [round(load, 2) for load in os.getloadavg()]


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="submissions in the class (default: 20)")
    parser.add_argument("--problems", default=None, help="grade only these problems (comma-separated keys; default: all)")
    parser.add_argument("--jobs", default="1,2", help="the --jobs values to run, in turn (default: 1,2)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between memory samples (default: 0.5)")
    arguments = parser.parse_args()
    job_counts = [int(value) for value in arguments.jobs.split(",")]
    if arguments.count < 1 or not job_counts or min(job_counts) < 1:
        parser.error("--count and every --jobs value must be at least 1")
    runs: list[Run] = []
    loads: list[list[float]] = [load_average()]
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
        submissions = Path(scratch) / "class"
        names = build_class(submissions, arguments.count)
        for jobs in job_counts:
            run = run_batch(submissions, Path(scratch) / f"out-jobs{jobs}", jobs, arguments.problems, arguments.interval)
            runs.append(run)
            loads.append(load_average())
            print(
                f"--jobs {jobs}: {run.graded} submissions in {run.wall_seconds:.1f} s, "
                f"{run.submissions_per_minute:.1f} per minute (exit status {run.exit_code}, "
                f"autograder failures {run.autograder_failed}; grading seconds summed {run.grading_seconds:.1f})",
                flush=True,
            )
            for name, memory in run.job_memory_mib.items():
                print(
                    f"    {name}: grading process RSS high-water {memory['grading_process_hwm']:.0f} MiB, "
                    f"process tree PSS peak {memory['process_tree_pss']:.0f} MiB"
                    + (f" ({memory['processes']:g} processes)" if memory["processes"] > 1 else "")
                )
            print(f"    the batch itself: RSS high-water {run.batch_hwm_mib:.0f} MiB")
    first = runs[0]
    speedups = {f"jobs{run.jobs}": round(first.wall_seconds / run.wall_seconds, 2) for run in runs}
    for run in runs[1:]:
        print(f"speedup of --jobs {run.jobs} over --jobs {first.jobs}: {first.wall_seconds / run.wall_seconds:.2f}")
    same = all(run.totals == first.totals for run in runs)
    if not same:
        print("warning: the runs gave different totals (grading is deterministic: they should be the same)")
    goal = None
    if first.jobs == 1 and any(run.jobs == 2 for run in runs):
        achieved = speedups["jobs2"]
        goal = {"speedup_jobs2_over_jobs1": GOAL_SPEEDUP, "achieved": achieved, "met": achieved >= GOAL_SPEEDUP}
        print(f"goal: --jobs 2 at least {GOAL_SPEEDUP} times --jobs 1 on 2 cores: {'met' if goal['met'] else 'not met'}")
    print(f"cores: {os.cpu_count()}; load average before and after each run: {loads}")
    OUT.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now().astimezone()
    report = OUT / f"batch_throughput-{now:%Y%m%d-%H%M%S}.json"
    report.write_text(
        json.dumps(
            {
                "date": now.isoformat(timespec="seconds"),
                "commit": commit(),
                "cores": os.cpu_count(),
                "load_average_before_and_after_each_run": loads,
                "count": arguments.count,
                "problems": arguments.problems or "all",
                "class": names,
                "runs": [asdict(run) for run in runs],
                "speedups": speedups,
                "goal": goal,
                "same_totals": same,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {report.relative_to(ROOT)}")
    return 0 if same and all(run.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
