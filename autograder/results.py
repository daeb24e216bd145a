"""Gradescope's ``results.json``: the one place results take that format.

:func:`build_results` turns graded tests into the report; :func:`write_results`
validates it against ``schema/results.schema.json`` and writes it atomically
(a temporary file in the same folder, then a rename), so a reader never sees
half a report. :func:`autograder_failure` is the report for when the harness
itself failed: it says so, and that it is not the student's doing.
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


@dataclass
class GradedTest:
    """One graded test's outcome."""

    name: str
    number: str
    problem: str
    max_score: float
    passed: bool
    output: str
    visibility: str = "visible"
    seconds: float = 0.0

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
            "extra_data": {"seconds": round(self.seconds, 3)},
        }


def not_graded(problem: Problem, max_score: float, reason: str) -> GradedTest:
    """A placeholder for points of ``problem`` that no test could award."""
    return GradedTest(
        name=f"{problem.title}: not graded",
        number=f"{problem.number}.99",
        problem=problem.key,
        max_score=max_score,
        passed=False,
        output=reason,
    )


def complete(tests: list[GradedTest], problems: tuple[Problem, ...], reason: str) -> list[GradedTest]:
    """``tests`` plus a not-graded entry for every problem whose tests do not reach its points."""
    tests = list(tests)
    for problem in problems:
        graded = sum(t.max_score for t in tests if t.problem == problem.key)
        if graded < problem.points - 1e-9:
            tests.append(not_graded(problem, problem.points - graded, reason))
    return tests


def build_results(
    tests: list[GradedTest],
    problems: tuple[Problem, ...],
    *,
    output: str,
    execution_time: float,
    autograder_failed: bool = False,
) -> dict[str, Any]:
    """The ``results.json`` object for these tests."""
    tests = sorted(tests, key=lambda t: [int(part) for part in t.number.split(".")])
    scores = {p.key: {"score": 0.0, "max_score": 0.0, "seconds": 0.0} for p in problems}
    for test in tests:
        entry = scores.setdefault(test.problem, {"score": 0.0, "max_score": 0.0, "seconds": 0.0})
        entry["max_score"] += test.max_score
        entry["score"] += test.max_score if test.passed else 0.0
        entry["seconds"] += test.seconds
    summary = [
        f"{p.title} ({p.key}): {_points(scores[p.key]['score']):g} / {_points(scores[p.key]['max_score']):g}" for p in problems
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
            "problems": {key: {k: _points(v) for k, v in s.items()} for key, s in scores.items()},
        },
        "tests": entries,
    }


def autograder_failure(
    problems: tuple[Problem, ...], error: str, *, execution_time: float, tests: list[GradedTest] | None = None
) -> dict[str, Any]:
    """The report when the autograder failed: what was graded stays, the rest is marked not graded."""
    reason = f"{AUTOGRADER_FAILED}\n\n{error}"
    return build_results(
        complete(tests or [], problems, reason),
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
