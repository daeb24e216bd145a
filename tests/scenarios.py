"""Scenario submissions: a small submission folder and the outcome it must have.

A scenario is a folder under ``tests/scenarios/`` with a ``scenario.json``::

    {
      "description": "what the submission does (a usual mistake, a correct variant, an attack)",
      "base": "reference",            # the files it starts from: reference, student_template or empty
      "expect": {"gram_matrix": "loses", "style_loss": "full"},
      "messages": {"gram_matrix": ["expected shape"]}          # optional
    }

and, beside it, the files it changes (``style_modules/style_loss.py``, ...),
laid over the base. Only the problems named in ``expect`` are graded:

``full``   the problem scores all its points;
``zero``   it scores nothing;
``loses``  it scores less than all its points.

``messages`` lists text that must appear in the problem's failed tests, ``hidden``
text that must not (an expected value the report must not give away), and
``scores`` the exact score of a problem (for a mistake that must earn one part
of a problem and lose the other).

Attacks (``tests/attacks/``) are scenarios too, with optional keys:

``output``              text that must appear in the report (its output or any test's);
``build``               a builder of ``tests/attack_builders.py`` that finishes the submission
                        (links, named pipes, hostile zips, huge sparse files);
``root_only``           the defence it tests needs a worker user (the grader runs as root);
``leftover_processes``  a process name that must not be running once grading is over;
``leftover_files``      paths that must not exist once grading is over;
``max_seconds``         the longest the grading may take (default 60).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.results import AUTOGRADER_FAILED_IN_TEST

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
ATTACKS = Path(__file__).resolve().parent / "attacks"
BASES = {"reference": ROOT / "reference", "student_template": ROOT / "student_template", "empty": None}
OUTCOMES = ("full", "zero", "loses")


@dataclass(frozen=True)
class Scenario:
    name: str
    folder: Path
    description: str
    base: str
    expect: dict[str, str]
    messages: dict[str, list[str]] = field(default_factory=dict)
    hidden: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    builder: str | None = None
    root_only: bool = False
    leftover_processes: str | None = None
    leftover_files: list[str] = field(default_factory=list)
    max_seconds: float = 60.0

    @classmethod
    def load(cls, folder: Path) -> Scenario:
        spec = json.loads((folder / "scenario.json").read_text())
        optional = {"output", "build", "root_only", "leftover_processes", "leftover_files", "max_seconds"}
        unknown = set(spec) - {"description", "base", "expect", "messages", "hidden", "scores"} - optional
        if unknown:
            raise ValueError(f"{folder.name}: unknown keys {sorted(unknown)} in scenario.json")
        scenario = cls(
            folder.name,
            folder,
            spec["description"],
            spec.get("base", "reference"),
            spec["expect"],
            spec.get("messages", {}),
            spec.get("hidden", {}),
            {problem: float(score) for problem, score in spec.get("scores", {}).items()},
            spec.get("output", []),
            spec.get("build"),
            bool(spec.get("root_only", False)),
            spec.get("leftover_processes"),
            spec.get("leftover_files", []),
            float(spec.get("max_seconds", 60.0)),
        )
        if scenario.base not in BASES:
            raise ValueError(f"{folder.name}: unknown base {scenario.base!r}")
        bad = {k: v for k, v in scenario.expect.items() if v not in OUTCOMES}
        if bad:
            raise ValueError(f"{folder.name}: unknown outcomes {bad}")
        for key, texts_of in (("messages", scenario.messages), ("hidden", scenario.hidden)):
            if not isinstance(texts_of, dict) or not all(
                isinstance(texts, list) and problem in scenario.expect for problem, texts in texts_of.items()
            ):
                raise ValueError(f"{folder.name}: {key} must map graded problems to lists of texts")
        if not set(scenario.scores) <= set(scenario.expect):
            raise ValueError(f"{folder.name}: scores must name graded problems")
        return scenario

    def files(self) -> list[Path]:
        return [
            p
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and p.name != "scenario.json" and "__pycache__" not in p.parts
        ]

    def build(self, destination: Path) -> Path:
        """The submission folder: the base's files with this scenario's files laid over them."""
        base = BASES[self.base]
        if base is not None:
            shutil.copytree(base, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.mkdir(parents=True)
        for path in self.files():
            target = destination / path.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        if self.builder is not None:
            from tests.attack_builders import BUILDERS

            BUILDERS[self.builder](destination)
        return destination


def all_scenarios(folder: Path = SCENARIOS) -> list[Scenario]:
    return [Scenario.load(entry) for entry in sorted(folder.iterdir()) if (entry / "scenario.json").is_file()]


def grade_all(
    scenarios: list[Scenario],
    workdir: Path,
    *,
    processes: int = 2,
    chunk: int = 64,
    environment: dict[str, str] | None = None,
    command_prefix: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Every scenario's report, graded with ``batch``: one grader per batch of scenarios that grade the same problems.

    ``environment`` is added to the graders' environment (limits, say), and ``command_prefix`` runs them
    through another command (``setpriv --bounding-set=-sys_admin``: no namespaces).

    Start-up (importing torch, forking the fork server) is paid once per batch
    instead of once per scenario, and the grader's cache of the reference's answers
    (``known_answers.AnswerCache``) serves the whole batch, so batches are as large as a
    problem's scenarios (``chunk``); ``processes`` batches run at a time.
    """
    groups: dict[tuple[str, ...], list[Scenario]] = {}
    for scenario in scenarios:
        groups.setdefault(tuple(sorted(scenario.expect)), []).append(scenario)
    batches = [
        (problems, members[start : start + chunk])
        for problems, members in groups.items()
        for start in range(0, len(members), chunk)
    ]
    batches.sort(key=lambda batch: -len(batch[1]))

    def run(index: int) -> None:
        problems, members = batches[index]
        folder = workdir / f"batch{index}"
        for scenario in members:
            scenario.build(folder / "submissions" / scenario.name)
        command = [
            *command_prefix,
            sys.executable,
            "-m",
            "autograder",
            "batch",
            str(folder / "submissions"),
            "--out",
            str(folder / "reports"),
        ]
        completed = subprocess.run(
            [*command, "--problems", ",".join(problems), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, **(environment or {})},
        )
        (folder / "stderr.txt").write_text(completed.stderr)

    with concurrent.futures.ThreadPoolExecutor(processes) as pool:
        list(pool.map(run, range(len(batches))))
    reports = {}
    for index, (_, members) in enumerate(batches):
        for scenario in members:
            path = workdir / f"batch{index}" / "reports" / "submissions" / scenario.name / "results.json"
            if path.exists():
                reports[scenario.name] = json.loads(path.read_text())
            else:
                stderr = (workdir / f"batch{index}" / "stderr.txt").read_text()
                reports[scenario.name] = {"missing": f"no report was written; batch said:\n{stderr[-4000:]}"}
    return reports


def grade(submission: Path, results: Path, problems: list[str] | None = None, timeout: float = 900) -> dict[str, Any]:
    """Run the grader's command line on ``submission``; the results.json it wrote."""
    command = [sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(results), "--quiet"]
    if problems:
        command += ["--problems", ",".join(problems)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, f"the grader exited with {completed.returncode}:\n{completed.stderr[-4000:]}"
    return dict(json.loads(results.read_text()))


def problem_scores(report: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(score, max_score) of each problem in a report."""
    scores: dict[str, list[float]] = {}
    for test in report["tests"]:
        entry = scores.setdefault(test["tags"][0], [0.0, 0.0])
        entry[0] += test["score"]
        entry[1] += test["max_score"]
    return {key: (round(s, 4), round(m, 4)) for key, (s, m) in scores.items()}


def failures_of(report: dict[str, Any], problem: str) -> str:
    """The outputs of a problem's failed tests, joined."""
    return "\n".join(t["output"] for t in report["tests"] if t["tags"] == [problem] and t["status"] == "failed")


def autograder_failures(report: dict[str, Any]) -> list[str]:
    """The tests of ``report`` in which the autograder itself failed: marked so, or saying so."""
    return [
        f"{test['number']} {test['name']}: {test['output'][:1500]}"
        for test in report["tests"]
        if test.get("extra_data", {}).get("autograder_failed", True) or AUTOGRADER_FAILED_IN_TEST in test["output"]
    ]


def check_outcome(scenario: Scenario, report: dict[str, Any]) -> None:
    """Assert that ``report`` is what ``scenario`` promises: each problem's outcome, its messages, the report's texts.

    Whatever the scenario expects, the autograder must not have failed, in the
    report as a whole or in any test: a grader that breaks in a test fails
    that test, and a scenario that expects lost points would pass without it.
    """
    assert "missing" not in report, report.get("missing")
    scores = problem_scores(report)
    assert not report["extra_data"]["autograder_failed"], report["output"]
    failed = autograder_failures(report)
    assert not failed, f"{scenario.name}: the autograder failed in these tests:\n" + "\n".join(failed)
    for problem, outcome in scenario.expect.items():
        score, maximum = scores[problem]
        detail = f"{scenario.name}: {problem} scored {score}/{maximum}, expected {outcome}\n{failures_of(report, problem)[:3000]}"
        if outcome == "full":
            assert score == maximum, detail
        elif outcome == "zero":
            assert score == 0, detail
        else:
            assert score < maximum, detail
        if problem in scenario.scores:
            assert score == round(scenario.scores[problem], 4), f"{detail}\n(expected exactly {scenario.scores[problem]})"
        for text in scenario.messages.get(problem, []):
            assert text in failures_of(report, problem), (
                f"{scenario.name}: {problem}'s failures do not say {text!r}:\n{failures_of(report, problem)[:3000]}"
            )
        for text in scenario.hidden.get(problem, []):
            assert text not in failures_of(report, problem), (
                f"{scenario.name}: {problem}'s failures give away {text!r}:\n{failures_of(report, problem)[:3000]}"
            )
    everything = "\n".join([report["output"], *(test["output"] for test in report["tests"])])
    for text in scenario.output:
        assert text in everything, f"{scenario.name}: the report does not say {text!r}:\n{report['output'][:3000]}"


def collect_submission(source: Path, archive: Path) -> Path:
    """A zip like the course's collect_submission.py makes, one folder deep (``hw3_submission/...``), readable by all."""
    from autograder.gradescope_package import submission_zip

    archive.parent.mkdir(parents=True, exist_ok=True)
    return submission_zip(source, archive)
