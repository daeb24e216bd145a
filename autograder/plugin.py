"""The pytest plugin the grader runs its suites with.

It provides the ``student`` fixture (one :class:`~autograder.student.StudentCode`
per problem module, so each problem gets its own worker), loads the grading
profile of hypothesis, and turns every graded test into a
:class:`~autograder.results.GradedTest`, reading points and visibility from
gradescope-utils' decorators (``weight``, ``number``, ``visibility``, ``tags``)
and writing failures as messages for the student, without stack traces.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from autograder.failures import Abort, AutograderFault, PropertyFailed, StudentRaised
from autograder.problems import BY_KEY, Problem
from autograder.results import GradedTest
from autograder.session import GradingSession
from autograder.student import StudentCode

PROFILE = "grading"
settings.register_profile(
    PROFILE,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    max_examples=30,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
FIXTURE_ARGUMENTS = ("student=",)
FAILING_CASE = re.compile(r"^(?:Failing|Falsifying)[\w ]*: (\w+)\(\s*(.*?),?\s*\)\s*$", re.S)


class GradingPlugin:
    """Fixtures and report hooks of one grading run."""

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self.results: list[GradedTest] = []
        self.errors: list[str] = []
        self.seconds: dict[str, float] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        settings.load_profile(PROFILE)

    @pytest.fixture(scope="module")
    def student(self, request: pytest.FixtureRequest) -> Iterator[StudentCode]:
        problem: Problem = BY_KEY[request.module.PROBLEM]
        code = self.session.student_code(problem)
        yield code
        code.stop()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"Could not load the tests in {report.nodeid}:\n{report.longreprtext}")

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.session.output.take()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome: Any = yield
        report = outcome.get_result()
        self.seconds[item.nodeid] = self.seconds.get(item.nodeid, 0.0) + report.duration
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.results.append(self._result(item, call, report.passed))

    def _result(self, item: pytest.Item, call: pytest.CallInfo[None], passed: bool) -> GradedTest:
        function = getattr(item, "function", None)
        tags = tuple(getattr(function, "__tags__", ()))
        if len(tags) != 1 or tags[0] not in BY_KEY:
            raise RuntimeError(f"graded test {item.nodeid} must carry exactly one problem key in @tags, not {tags}")
        problem = BY_KEY[tags[0]]
        summary = (getattr(function, "__doc__", None) or item.name).strip().splitlines()[0].rstrip(".")
        output = "" if passed else failure_message(call.excinfo.value if call.excinfo else None)
        printed = self.session.output.take()
        if printed.strip():
            output += f"\n\nYour code printed:\n{printed}"
        return GradedTest(
            name=f"{problem.title}: {summary}",
            seconds=self.seconds.get(item.nodeid, 0.0),
            number=str(function.__number__),  # type: ignore[union-attr]
            problem=problem.key,
            max_score=float(function.__weight__),  # type: ignore[union-attr]
            passed=passed,
            output=output.strip(),
            visibility=str(getattr(function, "__visibility__", "visible")),
        )


def failure_message(error: BaseException | None) -> str:
    """What the student reads for a failed test: the property, the smallest failing case, no stack trace."""
    if error is None:
        return "The test failed."
    if isinstance(error, AutograderFault):
        return f"The autograder failed in this test (not your fault; please tell the course staff): {error}"
    if isinstance(error, (PropertyFailed, StudentRaised, Abort)):
        text = str(error)
    elif type(error).__name__ in ("Flaky", "FlakyFailure", "FlakyReplay"):
        inner = getattr(error, "exceptions", ())
        text = "Your code gave different results for the same input, so the failure could not be reproduced."
        if inner:
            text += "\n" + failure_message(inner[0])
    elif isinstance(error, AssertionError):
        text = str(error) or "A property of your result did not hold."
    else:
        frames = "".join(traceback.format_tb(error.__traceback__)[-4:])
        return (
            "The autograder failed in this test (not your fault; please tell the course staff):\n"
            f"{type(error).__name__}: {error}\n{frames}"
        )
    notes = [_describe_note(note) for note in getattr(error, "__notes__", [])]
    return "\n".join([text, *[note for note in notes if note]])


def _describe_note(note: str) -> str:
    match = FAILING_CASE.match(note.strip())
    if match:
        arguments = [line.strip().rstrip(",") for line in match.group(2).splitlines() if line.strip()]
        shown = [
            line.replace("  # or any other generated value", " (any value fails)")
            for line in arguments
            if not line.startswith(FIXTURE_ARGUMENTS)
        ]
        return f"Smallest failing input found: {', '.join(shown)}"
    if note.startswith("You can reproduce") or "@reproduce_failure" in note:
        return ""
    return note
