"""The report for a terminal: short enough to read, with every failure's reason in it.

``results.json`` keeps every test's full text, for Gradescope. A terminal
shows (for ``grade`` and the handout's ``check.py``):

- what intake said about the files;
- a table, one row per problem: its points, and "passed", or the one reason
  all its tests failed for when that reason fits on a line (not implemented
  yet, a file missing or not importable), or how many tests failed;
- for each problem with failures to read: the tests that passed, with their points,
  then each failure; a failure whose root cause (``extra_data.cause``, see
  :func:`autograder.plugin.failure_cause`) was shown in full by an earlier
  test of the same problem is referred to that test in one line.

It reads only the report, so it shows a report from any grading run alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from autograder.problems import Problem

PROBLEM_SCORE = re.compile(r"^.+ \(\w+\): [\d.]+ / [\d.]+ \(\d+ cases? checked\)$")
"""A line of a report's output with a problem's score (``results.build_results`` writes one per problem)."""
INDENT = "    "
MESSAGE_LINES = 40
"""A failure's message is cut to this many lines here (results.json keeps it whole)."""


def terminal_report(report: Mapping[str, Any], selected: tuple[Problem, ...], *, notes: Mapping[str, str] | None = None) -> str:
    """The report of one grading for a terminal (see the module's doc); ``notes`` add a word to a problem's row."""
    from tabulate import tabulate

    notes = notes or {}
    rows = []
    sections = []
    for problem in selected:
        tests = tests_of(report, problem)
        failed = [test for test in tests if test["status"] != "passed"]
        score = sum(test["score"] for test in tests)
        reason = one_reason(failed) if failed and len(failed) == len(tests) else None
        if not failed:
            state = "passed" if tests else "not graded"
        elif reason is not None:
            state = reason
        else:
            state = f"{len(failed)} of {len(tests)} tests failed"
            if problem.key in notes:
                state += f" ({notes[problem.key]})"
            sections.append(problem_section(problem, tests, score))
        rows.append([problem.title, f"{score:g} / {problem.points:g}", state])
    total = sum(test["score"] for test in report["tests"])
    rows.append(["Total", f"{total:g} / {sum(p.points for p in selected):g}", ""])
    parts = [report_text(report)]
    parts.append(tabulate(rows, headers=["Problem", "Points", "Result"], tablefmt="simple", disable_numparse=True))
    parts.extend(sections)
    return "\n\n".join(part for part in parts if part)


def report_text(report: Mapping[str, Any]) -> str:
    """The report's output (what intake said, whether the autograder failed) without its per-problem scores: the table has them."""
    paragraphs = str(report.get("output", "")).split("\n\n")
    if paragraphs and all(PROBLEM_SCORE.match(line) for line in paragraphs[-1].splitlines()):
        paragraphs.pop()
    return "\n\n".join(paragraphs).strip()


def tests_of(report: Mapping[str, Any], problem: Problem) -> list[dict[str, Any]]:
    return [test for test in report["tests"] if (test.get("tags") or [None])[0] == problem.key]


def cause_of(test: Mapping[str, Any]) -> str | None:
    cause = (test.get("extra_data") or {}).get("cause")
    return cause if isinstance(cause, str) and cause else None


def one_reason(failed: list[dict[str, Any]]) -> str | None:
    """The reason every test in ``failed`` failed for, when it is one and a line says it all, else ``None``."""
    causes = {cause_of(test) for test in failed}
    if len(causes) != 1 or None in causes:
        return None
    message = failed[0]["output"].strip()
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith("Checks:")]
    if causes == {"not implemented yet"}:
        return "not implemented yet"
    if len(lines) == 1:
        return lines[0]
    return None


def problem_section(problem: Problem, tests: list[dict[str, Any]], score: float) -> str:
    """One problem's passed tests and failures, each root cause in full once."""
    lines = [f"{problem.title}: {score:g} / {problem.points:g}"]
    passed = [f"{test['number']} ({test['max_score']:g})" for test in tests if test["status"] == "passed"]
    if passed:
        lines.append(f"{INDENT[:2]}passed: {', '.join(passed)}")
    shown: dict[str, str] = {}
    later: dict[str, list[dict[str, Any]]] = {}
    for test in tests:
        if test["status"] == "passed":
            continue
        cause = cause_of(test)
        if cause is not None and cause in shown:
            later.setdefault(cause, []).append(test)
            continue
        if cause is not None:
            shown[cause] = test["number"]
        lines.append(f"{INDENT[:2]}FAILED {test['number']} {_title(test)} ({test['score']:g}/{test['max_score']:g})")
        lines.extend(INDENT + line for line in _cut(test["output"]))
    for cause, tests_with_it in later.items():
        numbers = ", ".join(test["number"] for test in tests_with_it)
        lost = sum(test["max_score"] - test["score"] for test in tests_with_it)
        lines.append(f"{INDENT[:2]}FAILED {numbers} (0/{lost:g}): {_same_cause(cause, shown[cause])}")
    return "\n".join(lines)


def _title(test: Mapping[str, Any]) -> str:
    """A test's name without its problem's title, which the section's heading gives."""
    return str(test["name"]).partition(": ")[2] or str(test["name"])


def _same_cause(cause: str, first: str) -> str:
    if cause.startswith("known mistake: "):
        return f"the same known mistake as {first}"
    return f"the same cause as {first} ({cause})"


def _cut(text: str) -> list[str]:
    lines = text.strip().splitlines()
    if len(lines) > MESSAGE_LINES:
        return [*lines[:MESSAGE_LINES], f"... ({len(lines) - MESSAGE_LINES} more lines in results.json)"]
    return lines
