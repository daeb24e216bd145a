"""``validate``: how strong are the graded suites? Mutation testing of the reference, problem by problem.

For each problem selected:

1. the reference is graded on it, and must get full marks;
2. its mutants are made (:mod:`autograder.mutation`): the reference with one
   small change in a line a student writes, in a fixed order; ``--sample K``
   takes K of them, evenly spread over that order;
3. each mutant is graded as a submission of its own, on its problem only, by
   ``batch`` (``--jobs N`` grading processes): a mutant that loses a point is
   killed; one that keeps full marks survived;
4. the survivors and the reference are graded again, each logging every value
   its code returns (:mod:`autograder.probe`): a survivor whose values equal
   the reference's within 1e-12 on every input the suite gave them computes
   the same thing there (whatever the suite's properties check), and is counted
   as equivalent; so is a mutant whose code is the reference's (the same syntax
   tree: never graded), and one an instructor marked in
   ``autograder/problems/equivalent_mutants.yaml``, with the reason.

It prints per problem the mutants made, killed, survived and equivalent, and
the kill rate (killed over the non-equivalent); then every survivor with its
line and diff. ``--json`` writes the same. The exit status is 0 when every
problem reaches :data:`GOAL` and the reference got full marks, 1 otherwise,
2 for bad arguments.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from autograder import probe
from autograder.config import RunConfig
from autograder.mutation import GRADED, mutants_of
from autograder.problems import Problem
from autograder.reference import REFERENCE_DIR

GOAL = 0.95
"""The kill rate every problem must reach."""
EQUIVALENT_FILE = Path(__file__).resolve().parent / "problems" / "equivalent_mutants.yaml"
REFERENCE_ID = "reference"


@dataclasses.dataclass
class Verdicts:
    """One problem's outcome."""

    problem: str
    made: int = 0
    killed: list[str] = dataclasses.field(default_factory=list)
    survived: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    equivalent: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    reference_score: str = ""
    error: str = ""

    @property
    def kill_rate(self) -> float:
        counted = len(self.killed) + len(self.survived)
        return len(self.killed) / counted if counted else 1.0

    def as_json(self) -> dict[str, Any]:
        return {
            "made": self.made,
            "killed": len(self.killed),
            "survived": len(self.survived),
            "equivalent": len(self.equivalent),
            "kill_rate": round(self.kill_rate, 4),
            "survivors": self.survived,
            "equivalents": self.equivalent,
            "reference": self.reference_score,
            "error": self.error,
        }


def marked_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """The mutants an instructor marked equivalent: their key, and the reason."""
    if not path.is_file():
        return {}
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    marked = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("key") or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: each entry needs a key and a reason: {entry!r}")
        marked[str(entry["key"])] = str(entry["reason"])
    return marked


def sample(items: list[Any], count: int | None) -> list[Any]:
    """``count`` of ``items`` evenly spread over them (all when ``count`` is ``None`` or larger), in their order."""
    if count is None or count >= len(items):
        return list(items)
    return [items[(k * len(items)) // count] for k in range(count)]


def main(
    problems: tuple[Problem, ...], *, jobs: int = 1, json_path: Path | None = None, count: int | None = None, quiet: bool = False
) -> int:
    from tabulate import tabulate

    say = (lambda text: None) if quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        marked = marked_equivalent()
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    outcomes: list[Verdicts] = []
    with tempfile.TemporaryDirectory(prefix="autograder-validate-") as scratch:
        for problem in problems:
            if problem.key not in GRADED:
                continue
            verdicts = Verdicts(problem.key)
            mutants = sample(mutants_of(problem.key), count)
            verdicts.made = len(mutants)
            by_id = {f"m{index:03d}-{mutant.key}": mutant for index, mutant in enumerate(mutants)}
            say(f"{problem.key}: {len(mutants)} mutants, graded with {jobs} job{'s' if jobs != 1 else ''} ...")
            graded = grade_mutants(Path(scratch) / problem.key, problem, by_id, jobs)
            full = graded.get(REFERENCE_ID)
            verdicts.reference_score = f"{full.score:g} / {full.maximum:g}" if full else "no report"
            if full is None or full.failed:
                verdicts.error = f"the reference did not get full marks ({verdicts.reference_score})"
                outcomes.append(verdicts)
                continue
            survivors = {}
            for name, mutant in by_id.items():
                outcome = graded.get(name)
                if outcome is not None and outcome.failed:
                    verdicts.killed.append(mutant.key)
                elif mutant.key in marked:  # a mark never hides a kill
                    verdicts.equivalent.append(_entry(mutant, f"marked: {marked[mutant.key]}"))
                else:
                    survivors[name] = mutant
            if survivors:
                say(f"{problem.key}: {len(survivors)} survived; comparing their outputs with the reference's ...")
                logs = probe_logs(Path(scratch) / f"{problem.key}-probe", problem, survivors, jobs)
                for name, mutant in survivors.items():
                    if logs.get(REFERENCE_ID) and logs.get(name) and probe.same(logs[REFERENCE_ID], logs[name]):
                        reason = f"the reference's outputs within {probe.TOLERANCE:g} on every input the suite gave"
                        verdicts.equivalent.append(_entry(mutant, reason))
                    else:
                        verdicts.survived.append(_entry(mutant, ""))
            outcomes.append(verdicts)
    elapsed = time.monotonic() - started
    rows = [
        [
            v.problem,
            v.made,
            len(v.killed),
            len(v.survived),
            len(v.equivalent),
            "error" if v.error else f"{100 * v.kill_rate:.1f}%",
            "" if v.error or v.kill_rate >= GOAL else "below the goal",
        ]
        for v in outcomes
    ]
    print(tabulate(rows, headers=["problem", "made", "killed", "survived", "equivalent", "kill rate", ""]))
    print(f"\n{sum(v.made for v in outcomes)} mutants in {elapsed:.0f} s; goal: {100 * GOAL:g}% of the non-equivalent killed.")
    for v in outcomes:
        if v.error:
            print(f"\n{v.problem}: {v.error}")
        for survivor in v.survived:
            print(
                f"\n{v.problem}: survived {survivor['key']} ({survivor['operator']}, line {survivor['line']})\n{survivor['diff']}"
            )
    if json_path is not None:
        document = {"problems": {v.problem: v.as_json() for v in outcomes}, "seconds": round(elapsed, 1), "goal": GOAL}
        json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0 if all(not v.error and v.kill_rate >= GOAL for v in outcomes) else 1


def _entry(mutant: Any, reason: str) -> dict[str, Any]:
    entry = {
        "key": mutant.key,
        "path": mutant.path,
        "where": mutant.where,
        "operator": mutant.operator,
        "line": mutant.line,
        "before": mutant.before.strip(),
        "after": mutant.after.strip(),
        "diff": mutant.diff(),
    }
    if reason:
        entry["reason"] = reason
    return entry


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A graded submission's score, the most it could get, and the numbers of the tests it failed."""

    score: float
    maximum: float
    failed: frozenset[str]


def grade_mutants(work: Path, problem: Problem, mutants: dict[str, Any], jobs: int) -> dict[str, Outcome]:
    """Grade the reference and each mutant on ``problem`` with ``batch``; by id.

    A submission on which the autograder itself failed has no outcome."""
    from autograder import batch

    classroom, out = work / "class", work / "out"
    classroom.mkdir(parents=True)
    write_submissions(classroom, mutants)
    batch.main(classroom, out, RunConfig.build(problems=problem.key, jobs=jobs, quiet=True))
    outcomes: dict[str, Outcome] = {}
    for folder in (out / "submissions").iterdir():
        report = folder / "results.json"
        if report.is_file():
            data = json.loads(report.read_text(encoding="utf-8"))
            if not data.get("extra_data", {}).get("autograder_failed"):
                maximum = sum(float(test.get("max_score", 0)) for test in data["tests"])
                failed = frozenset(str(test.get("number")) for test in data["tests"] if test.get("status") != "passed")
                outcomes[folder.name] = Outcome(float(data["score"]), maximum, failed)
    return outcomes


def write_submissions(classroom: Path, mutants: dict[str, Any]) -> None:
    """The reference and each mutant as submission folders of ``classroom``: copies of the reference, one file changed."""
    shutil.copytree(REFERENCE_DIR, classroom / REFERENCE_ID, ignore=shutil.ignore_patterns("__pycache__"))
    for name, mutant in mutants.items():
        folder = classroom / name
        shutil.copytree(REFERENCE_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
        (folder / mutant.path).write_text(mutant.source, encoding="utf-8")


def probe_logs(work: Path, problem: Problem, mutants: dict[str, Any], jobs: int) -> dict[str, list[tuple[str, Any]]]:
    """Grade the reference and each mutant on ``problem`` again, ``jobs`` at a time, each logging what its code returns
    (``grade`` with ``AUTOGRADER_PROBE_LOG``); the logs by id (none for a grading that wrote none)."""
    classroom = work / "class"
    classroom.mkdir(parents=True)
    write_submissions(classroom, mutants)
    waiting = sorted(folder.name for folder in classroom.iterdir())
    running: list[subprocess.Popen[bytes]] = []
    while waiting or running:
        while waiting and len(running) < jobs:
            name = waiting.pop(0)
            environment = {**os.environ, probe.ENVIRONMENT: str(work / f"{name}.npz")}
            command = [sys.executable, "-m", "autograder", "grade", str(classroom / name), "--problems", problem.key, "--quiet"]
            running.append(subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        running.pop(0).wait()
    return {path.stem: probe.read(path) for path in sorted(work.glob("*.npz"))}
