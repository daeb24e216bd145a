"""How fast the students' check is, and how big the handout: the figures the README quotes (issue 11).

    .venv/bin/python bench/handout_check.py [--handout DIR] [--runs 3]

Builds a handout (or uses DIR), copies the reference's files into a copy of it
outside the repository, and measures, as a student would run them (no
PYTHONPATH, the handout's own ``checker/``):

- the whole check of a correct folder, median of ``--runs``, on every core and on one (``taskset -c 0``);
- one problem, ``--problems gram_matrix``;
- one problem re-checked under ``--watch``: from a save of its file to the report's last line;
- the size of the known answers and of the handout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.handout import CHECKER, build_handout  # noqa: E402
from autograder.intake import ALLOWLIST  # noqa: E402
from autograder.reference import REFERENCE_DIR  # noqa: E402


def student_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AUTOGRADER_"))}


def timed(folder: Path, *arguments: str, prefix: tuple[str, ...] = ()) -> float:
    started = time.monotonic()
    completed = subprocess.run(
        [*prefix, sys.executable, "check.py", *arguments], cwd=folder, env=student_environment(), capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"check.py {' '.join(arguments)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return seconds


def median_of(runs: int, *arguments: str, folder: Path, prefix: tuple[str, ...] = ()) -> tuple[float, list[float]]:
    seconds = [timed(folder, *arguments, prefix=prefix) for _ in range(runs)]
    return statistics.median(seconds), seconds


def watch_recheck(folder: Path, runs: int) -> list[float]:
    """Seconds from saving style_loss.py to the end of the re-check's report, under ``--watch --problems gram_matrix``."""
    process = subprocess.Popen(
        [sys.executable, "-u", "check.py", "--watch", "--problems", "gram_matrix"],
        cwd=folder,
        env=student_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    seconds = []
    try:
        waiting_for_first = True
        path = folder / "style_modules" / "style_loss.py"
        for _ in range(runs + 1):
            if not waiting_for_first:
                time.sleep(0.5)
                path.write_text(path.read_text())  # a save: same text, new modification time
                os.utime(path, None)
                saved = time.monotonic()
            for line in process.stdout:
                if line.startswith("(checked "):
                    break
            if not waiting_for_first:
                seconds.append(time.monotonic() - saved)
            waiting_for_first = False
    finally:
        process.terminate()
        process.wait(10)
    return seconds


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--handout", type=Path, help="a built handout to measure (default: build one)")
    options.add_argument("--runs", type=int, default=3)
    arguments = options.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-handout-") as scratch:
        if arguments.handout is None:
            started = time.monotonic()
            handout = build_handout(Path(scratch) / "built").path
            print(f"build handout: {time.monotonic() - started:.1f} s (recording the known answers included)")
        else:
            handout = arguments.handout
        folder = Path(scratch) / "ps3"
        shutil.copytree(handout, folder)
        for path in ALLOWLIST:
            shutil.copyfile(REFERENCE_DIR / path, folder / path)
        answers = (folder / CHECKER / "known_answers.npz").stat().st_size
        total = sum(path.stat().st_size for path in handout.rglob("*") if path.is_file())
        print(f"known answers: {answers / 2**20:.1f} MiB; whole handout: {total / 2**20:.1f} MiB")
        print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}")
        whole, runs = median_of(arguments.runs, folder=folder)
        print(f"whole check, all cores: median {whole:.1f} s ({', '.join(f'{s:.1f}' for s in runs)})")
        if shutil.which("taskset"):
            one, runs = median_of(arguments.runs, folder=folder, prefix=("taskset", "-c", "0"))
            print(f"whole check, one core: median {one:.1f} s ({', '.join(f'{s:.1f}' for s in runs)})")
        single, runs = median_of(arguments.runs, "--problems", "gram_matrix", folder=folder)
        print(f"--problems gram_matrix: median {single:.1f} s ({', '.join(f'{s:.1f}' for s in runs)})")
        again = watch_recheck(folder, arguments.runs)
        print(
            f"--watch, gram_matrix re-checked after a save: median {statistics.median(again):.2f} s "
            f"({', '.join(f'{s:.2f}' for s in again)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
