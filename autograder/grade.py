"""``grade``: grade one submission and write its ``results.json``.

The report is written whatever happens: a submission that cannot be read
costs the student the problems (with the reason in the report); a failure of
the autograder itself is reported as such, with what was graded before it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from autograder import problems as problem_registry
from autograder import reference
from autograder.intake import IntakeError, take_submission
from autograder.problems import COURSE_MODULES, PROBLEMS_DIR, Problem
from autograder.results import autograder_failure, build_results, complete, write_results
from autograder.sandbox import ForkServer
from autograder.settings import Limits

PYTEST_INI = PROBLEMS_DIR / "pytest.ini"


def main(submission: Path, results: Path, problems: str | None = None, quiet: bool = False) -> int:
    """Grade ``submission`` (a folder or a zip) into ``results``; 0 once a valid report is written."""
    started = time.monotonic()
    try:
        selected = problem_registry.select(problems)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        write_results(results, autograder_failure(problem_registry.PROBLEMS, f"Bad --problems: {error}", execution_time=0.0))
        return 2
    try:
        report = grade(Path(submission), selected)
    except BaseException as error:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        print(detail, file=sys.stderr)
        report = autograder_failure(selected, f"{type(error).__name__}: {error}", execution_time=time.monotonic() - started)
        if isinstance(error, KeyboardInterrupt):
            write_results(results, report)
            raise
    report["execution_time"] = round(time.monotonic() - started, 3)
    write_results(results, report)
    if not quiet:
        print(summary(report))
    return 0


def grade(submission: Path, selected: tuple[Problem, ...]) -> dict[str, Any]:
    """Run the graded suites of ``selected`` on ``submission``; the results.json object."""
    started = time.monotonic()
    limits = Limits.from_environment()
    server = ForkServer(course_modules={name: str(reference.source(path)) for name, path in COURSE_MODULES.items()})
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
            try:
                intake = take_submission(submission, Path(scratch) / "submission", reference.REFERENCE_DIR)
            except IntakeError as error:
                reason = f"Your submission could not be read: {error}."
                tests = complete([], selected, reason)
                return build_results(tests, selected, output=reason, execution_time=time.monotonic() - started)
            from autograder.plugin import GradingPlugin
            from autograder.session import GradingSession

            plugin = GradingPlugin(GradingSession(intake, limits, server))
            exit_code = run_pytest([str(p.suite) for p in selected], plugin)
    finally:
        server.close()
    elapsed = time.monotonic() - started
    if plugin.errors or exit_code not in (0, 1):
        problem = "\n\n".join(plugin.errors) or f"pytest ended with exit code {exit_code}"
        return autograder_failure(selected, problem, execution_time=elapsed, tests=plugin.results)
    tests = complete(plugin.results, selected, "These points were not graded: the autograder ran no test for them.")
    used = {path for problem in selected for path in problem.files}
    return build_results(tests, selected, output=intake.report(used), execution_time=elapsed)


def run_pytest(suites: list[str], plugin: object) -> int:
    """Run the suites with the grader's own configuration only; pytest's console output is kept out."""
    import pytest

    arguments = [
        *suites,
        *("-c", str(PYTEST_INI), "--rootdir", str(PROBLEMS_DIR)),
        # Plugins the grading does not use; unraisableexception's garbage collections cost half a second.
        *("-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:threadexception"),
        # Assertion rewriting would compile every module imported while the tests run.
        "--assert=plain",
        "-q",
    ]
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return int(pytest.main(arguments, plugins=[plugin]))
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def summary(report: dict[str, Any]) -> str:
    """The report for a terminal: the overall output, then every failed test's message."""
    lines = [report["output"], ""]
    for test in report["tests"]:
        if test["status"] == "failed":
            lines.append(f"FAILED {test['number']} {test['name']} ({test['score']:g}/{test['max_score']:g})")
            lines.extend(f"    {line}" for line in test["output"].splitlines())
            lines.append("")
    total = sum(test["max_score"] for test in report["tests"])
    lines.append(f"Total: {report['score']:g} / {total:g}")
    return "\n".join(lines)
