"""Gradescope's ``results.json``: the one place results take that format.

:func:`build_results` turns graded tests into the report; :func:`write_results`
validates it against ``schema/results.schema.json`` and writes it atomically
(a temporary file in the same folder, then a rename), so a reader never sees
half a report. :func:`autograder_failure` is the report for when the harness
itself failed: it says so, and that it is not the student's doing.

``extra_data`` is measured, not derived from settings: each test's ``seconds``,
``cases`` (the inputs it checked) and ``autograder_failed`` (the harness, not
the student, failed in it); each problem's ``score``, ``max_score``,
``seconds`` and ``cases`` (the sum over its tests, 0 for tests that never ran).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from autograder.problems import Problem

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "results.schema.json"
MAX_TEST_OUTPUT = 20000
MAX_OUTPUT = 20000
AUTOGRADER_FAILED = (
    "AUTOGRADER ERROR: the autograder itself failed, so this submission was not (fully) graded. "
    "This is not a problem with your code; please tell the course staff."
)
AUTOGRADER_FAILED_IN_TEST = "The autograder failed in this test (not your fault; please tell the course staff)"


@dataclass
class GradedTest:
    """One graded test's outcome.

    ``cases`` is how many inputs it checked; ``autograder_failed`` says that
    the autograder's own code failed in it, so the failure is not the student's.
    """

    name: str
    number: str
    problem: str
    max_score: float
    passed: bool
    output: str
    visibility: str = "visible"
    seconds: float = 0.0
    cases: int = 0
    autograder_failed: bool = False

    def as_json(self) -> dict[str, Any]:
        output = self.output
        if len(output) > MAX_TEST_OUTPUT:
            output = output[: MAX_TEST_OUTPUT - 40] + "\n... (output cut short)"
        return {
            "name": self.name,
            "number": self.number,
            "score": _points(self.max_score if self.passed else 0.0),
            "max_score": _points(self.max_score),
            "status": "passed" if self.passed else "failed",
            "output": output,
            "visibility": self.visibility,
            "tags": [self.problem],
            "extra_data": {"seconds": round(self.seconds, 3), "cases": self.cases, "autograder_failed": self.autograder_failed},
        }


@dataclass
class ProblemTotals:
    """One problem's figures in ``extra_data.problems``: sums over its tests."""

    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    cases: int = 0

    def add(self, test: GradedTest) -> None:
        self.max_score += test.max_score
        self.score += test.max_score if test.passed else 0.0
        self.seconds += test.seconds
        self.cases += test.cases

    def as_json(self) -> dict[str, Any]:
        return {
            "score": _points(self.score),
            "max_score": _points(self.max_score),
            "seconds": _points(self.seconds),
            "cases": self.cases,
        }


def not_graded(problem: Problem, max_score: float, reason: str, *, autograder_failed: bool = False) -> GradedTest:
    """A placeholder for points of ``problem`` that no test could award (it checked no case).

    ``autograder_failed`` when it is the autograder's fault, not the submission's.
    """
    return GradedTest(
        name=f"{problem.title}: not graded",
        number=f"{problem.number}.99",
        problem=problem.key,
        max_score=max_score,
        passed=False,
        output=reason,
        autograder_failed=autograder_failed,
    )


def complete(
    tests: list[GradedTest], problems: tuple[Problem, ...], reason: str, *, autograder_failed: bool = False
) -> list[GradedTest]:
    """``tests`` plus a not-graded entry for every problem whose tests do not reach its points."""
    tests = list(tests)
    for problem in problems:
        graded = sum(t.max_score for t in tests if t.problem == problem.key)
        if graded < problem.points - 1e-9:
            tests.append(not_graded(problem, problem.points - graded, reason, autograder_failed=autograder_failed))
    return tests


def build_results(
    tests: list[GradedTest],
    problems: tuple[Problem, ...],
    *,
    output: str,
    execution_time: float,
    autograder_failed: bool = False,
) -> dict[str, Any]:
    """The ``results.json`` object for these tests.

    The report says the autograder failed when ``autograder_failed`` is set or
    when it failed in any one test.
    """
    tests = sorted(tests, key=lambda t: [int(part) for part in t.number.split(".")])
    autograder_failed = autograder_failed or any(test.autograder_failed for test in tests)
    scores = {p.key: ProblemTotals() for p in problems}
    for test in tests:
        scores.setdefault(test.problem, ProblemTotals()).add(test)
    summary = [
        f"{p.title} ({p.key}): {_points(scores[p.key].score):g} / {_points(scores[p.key].max_score):g}"
        f" ({scores[p.key].cases} case{'' if scores[p.key].cases == 1 else 's'} checked)"
        for p in problems
    ]
    text = "\n\n".join(part for part in [AUTOGRADER_FAILED if autograder_failed else "", output, "\n".join(summary)] if part)
    if len(text) > MAX_OUTPUT:
        text = text[: MAX_OUTPUT - 40] + "\n... (output cut short)"
    entries = [t.as_json() for t in tests]
    return {
        "score": _points(sum(entry["score"] for entry in entries)),
        "execution_time": round(max(execution_time, 0.0), 3),
        "output": text,
        "output_format": "text",
        "stdout_visibility": "hidden",
        "visibility": "visible",
        "extra_data": {
            "autograder_failed": autograder_failed,
            "problems": {key: totals.as_json() for key, totals in scores.items()},
        },
        "tests": entries,
    }


def autograder_failure(
    problems: tuple[Problem, ...], error: str, *, execution_time: float, tests: list[GradedTest] | None = None
) -> dict[str, Any]:
    """The report when the autograder failed: what was graded stays, the rest is marked not graded."""
    reason = f"{AUTOGRADER_FAILED}\n\n{error}"
    return build_results(
        complete(tests or [], problems, reason, autograder_failed=True),
        problems,
        output=error,
        execution_time=execution_time,
        autograder_failed=True,
    )


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))


def validate(results: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` (or ``ValueError``) unless ``results`` is a valid report."""
    jsonschema.validate(results, schema())
    for test in results["tests"]:
        if test["score"] > test["max_score"] + 1e-9:
            raise ValueError(f"test {test['name']!r} scores more than its maximum")
    total = sum(test["score"] for test in results["tests"])
    if abs(total - results["score"]) > 1e-3:
        raise ValueError(f"the score {results['score']} is not the sum of the tests' scores {total}")


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Validate ``results`` and write it to ``path`` atomically."""
    validate(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(results, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _points(value: float) -> float:
    return round(float(value), 4)
