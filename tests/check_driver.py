"""Runs the handout's check on many submissions in one process: copied into a built handout and run there.

It imports nothing of the repository: only the handout's ``checker/`` (as
``check.py`` does), so what it measures is what a student's check does. It
reads a plan (JSON) from its first argument::

    [{"name": ..., "files": {path: file to copy, or null to delete}, "problems": [keys]}, ...]

and, for each entry, lays the files into the handout folder (where a student
edits them), checks the problems with one set of workers and writes the
report to ``<second argument>/<name>.json``. ``--spawn`` starts a fresh
process per problem instead of the fork server.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE / "checker"), *(p for p in sys.path if p and Path(p).resolve() != HERE)]

from autograder import check, known_answers, problems  # noqa: E402
from autograder.results import write_results  # noqa: E402


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    book = known_answers.load(check.KNOWN_ANSWERS)
    with check.start_workers(HERE, spawn="--spawn" in sys.argv) as workers:
        for entry in plan:
            for path, source in entry["files"].items():
                target = HERE / path
                if source is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
            selected = problems.select(",".join(entry["problems"]))
            report = check.check(HERE, selected, workers, book)
            write_results(out / f"{entry['name']}.json", report, against_schema=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
