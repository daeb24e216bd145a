"""The pytest plugin the grader runs its suites with.

It provides the ``student`` fixture (one :class:`~autograder.student.StudentCode`
per problem module, so each problem gets its own worker), loads the grading
profile of hypothesis, and turns every graded test into a
:class:`~autograder.results.GradedTest`, reading points and visibility from
gradescope-utils' decorators (``weight``, ``number``, ``visibility``, ``tags``)
and writing failures as messages for the student, without stack traces.
Each graded test also records how many cases it checked (see
:func:`counting_cases`) and whether the autograder itself failed in it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import StopTest, UnsatisfiedAssumption

from autograder import figures, known_answers
from autograder.case_salt import case_seed
from autograder.failures import Abort, NotImplementedYet, PropertyFailed, StudentRaised
from autograder.known_answers import Book, KnownAnswerMissing
from autograder.mistakes import Mistake
from autograder.problems import BY_KEY, PROBLEMS_DIR, Problem
from autograder.results import AUTOGRADER_FAILED_IN_TEST, SMALLEST_FAILING_INPUT, GradedTest
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
NOT_A_CASE = (UnsatisfiedAssumption, StopTest)
PYTEST_INI = PROBLEMS_DIR / "pytest.ini"


class GradingPlugin:
    """Fixtures and report hooks of one grading run."""

    def __init__(self, session: GradingSession, book: Book | None = None, sketchbook: figures.Sketchbook | None = None) -> None:
        """``book``: record the reference's answers into it (``build handout``), or replay them (the check).
        ``sketchbook``: keep the tests' figures in it, for a page (``--html``; see :mod:`autograder.figures`)."""
        self.session = session
        self.book = book
        self.sketchbook = sketchbook
        self.results: list[GradedTest] = []
        self.errors: list[str] = []
        self.seconds: dict[str, float] = {}
        self.cases: dict[str, int] = {}
        self.failing_inputs: dict[str, dict[str, Any]] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        settings.load_profile(PROFILE)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """With the course's salt, every hypothesis test draws its cases from a seed of its own (see ``case_salt``)."""
        for item in items:
            test = getattr(item, "obj", None)
            if getattr(test, "hypothesis", None) is not None:
                salt = self.session.case_salt
                test._hypothesis_internal_use_seed = case_seed(salt, item.nodeid) if salt else None  # type: ignore[union-attr]

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

    @pytest.hookimpl(hookwrapper=True)  # the old style: pluggy before 1.2 (a student's pytest 7) has no wrapper=True
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(known_answers.using(self.book))
            stack.enter_context(recording_cases(self.book, item))
            stack.enter_context(sketching_cases(self.sketchbook, getattr(item, "obj", None)))
            count = stack.enter_context(counting_cases(getattr(item, "obj", None)))
            outcome: Any = None
            try:
                outcome = yield
            finally:
                self.cases[item.nodeid] = count.cases
                fixtures = getattr(getattr(item, "_fixtureinfo", None), "argnames", ())
                if count.failing_input is not None:
                    self.failing_inputs[item.nodeid] = {
                        name: value for name, value in count.failing_input.items() if name not in fixtures
                    }
                if self.sketchbook is not None:  # still inside known_answers.using: the check's figures replay answers
                    try:
                        self._finish_figures(item, passed=outcome is not None and getattr(outcome, "excinfo", None) is None)
                    except Exception:  # noqa: BLE001 - the page is an extra: the test's outcome stands
                        print(f"The figures of {item.nodeid} could not be kept:", file=sys.stderr)
                        traceback.print_exc(file=sys.stderr)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """The check: a test that asked the reference replays its recorded cases instead of generating new ones."""
        if self.book is None or not self.book.replaying:
            return None
        handle = getattr(pyfuncitem.obj, "hypothesis", None)
        key = test_key(pyfuncitem)
        if handle is None:
            cases = self.book.recorded_cases(key)
            self.book.begin_case({}, cases[0] if cases else None)
            return None
        cases = self.book.recorded_cases(key)
        if cases is None:
            return None  # it asks the reference nothing: live hypothesis, with shrinking, as in the grader
        if not cases:
            raise KnownAnswerMissing(
                "The check has no recorded case for this test, so it cannot check it (the known answers file does not "
                "match these tests: get a fresh copy of the handout)."
            )
        fixtures = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        for number, case in enumerate(cases, start=1):
            kwargs = known_answers.decode_case(case.kwargs)
            self.book.begin_case(kwargs, case)
            try:
                handle.inner_test(**fixtures, **kwargs)
            except NOT_A_CASE:
                continue  # as hypothesis does, a case the test rejects is not one
            except Exception as error:
                note = f"{SMALLEST_FAILING_INPUT}: {known_answers.describe_case(kwargs)} (recorded case {number} of {len(cases)}, smallest first)"
                error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined] # add_note, on 3.9 and 3.10 too
                raise
        return True

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
        summary, checks = title_and_checks(function, item.name)
        failure = (
            Failure("", autograder_failed=False)
            if passed
            else describe_failure(call.excinfo.value if call.excinfo else None, self.failing_inputs.get(item.nodeid))
        )
        output = "\n".join(text for text in (f"Checks: {checks}" if checks else "", failure.message) if text)
        printed = self.session.output.take()
        error = call.excinfo.value if call.excinfo else None
        if failure.autograder_failed and error is not None:
            # For the course staff, in the grader's log; nothing of the submission's joins the test's message.
            print(f"The autograder failed in {item.nodeid}:", file=sys.stderr)
            traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        elif printed.strip():
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
            cases=self.cases.get(item.nodeid, 0),
            autograder_failed=failure.autograder_failed,
            cause=failure.cause,
        )

    def _finish_figures(self, item: pytest.Item, passed: bool) -> None:
        """The test's figures: a course-setting test's always (of its last case), another generated test's only when it
        failed (its smallest failing input); a failed test that drew none shows its failing input's pictures, if any."""
        assert self.sketchbook is not None
        function = getattr(item, "function", None)
        tags = tuple(getattr(function, "__tags__", ()))
        failing = self.failing_inputs.get(item.nodeid)
        if not passed and failing and not self.sketchbook.drawn():
            figures.input_pictures(failing)  # sketching_cases still has the sketchbook drawing
        generated = getattr(function, "hypothesis", None) is not None
        course_setting = "course_setting" in item.name  # generated kernels, say: the last case is still the course's
        problem = tags[0] if len(tags) == 1 else ""
        self.sketchbook.finish(
            problem, str(getattr(function, "__number__", "")), keep=not passed or not generated or course_setting
        )


def title_and_checks(function: Any, fallback: str) -> tuple[str, str]:
    """A graded test's title (its docstring's first line) and what it checks in detail (the paragraph after it).

    The title is the name in Gradescope's list of tests, so it is kept short;
    the detail (the inputs it generates, the properties it checks) opens the
    test's output, which Gradescope shows for passed tests too.
    """
    lines = (getattr(function, "__doc__", None) or fallback).strip().splitlines()
    detail: list[str] = []
    for line in lines[1:]:
        if line.strip():
            detail.append(line.strip())
        elif detail:
            break
    return lines[0].strip().rstrip("."), " ".join(detail)


def test_key(item: pytest.Item) -> str:
    """A graded test's name in the known answers: its suite's file and its function (``gram_matrix.py::test_...``)."""
    return item.nodeid.rpartition("/")[2]


@contextlib.contextmanager
def recording_cases(book: Book | None, item: pytest.Item) -> Iterator[None]:
    """While the block runs, every case ``item`` checks is kept in ``book`` (recording), with the calls it made."""
    if book is None:
        yield
        return
    book.begin_test(test_key(item))
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if book.replaying or handle is None:
        if not book.replaying:
            book.begin_case({})
        try:
            yield
        finally:
            book.end_case(kept=True)
        return
    inner = handle.inner_test

    @functools.wraps(inner)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        drawn = {name: value for name, value in kwargs.items() if name not in item._fixtureinfo.argnames}  # type: ignore[attr-defined]
        book.begin_case(drawn)
        kept = True
        try:
            return inner(*args, **kwargs)
        except NOT_A_CASE:
            kept = False
            raise
        finally:
            book.end_case(kept)

    handle.inner_test = recorded
    try:
        yield
    finally:
        handle.inner_test = inner


@contextlib.contextmanager
def sketching_cases(sketchbook: figures.Sketchbook | None, test: Any) -> Iterator[None]:
    """While the block runs, the test's figures go to ``sketchbook``, each case's replacing the last's."""
    if sketchbook is None:
        yield
        return
    sketchbook.begin_test()
    handle = getattr(test, "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if handle is not None:

        @functools.wraps(inner)  # type: ignore[arg-type]
        def sketched(*args: Any, **kwargs: Any) -> Any:
            sketchbook.begin_case()
            return inner(*args, **kwargs)  # type: ignore[misc]

        handle.inner_test = sketched
    try:
        with figures.drawing(sketchbook):
            yield
    finally:
        if handle is not None:
            handle.inner_test = inner


class CaseCount:
    """How many cases one graded test checked, and the arguments of the last one that failed.

    Hypothesis runs the smallest failing input last, so ``failing_input`` is
    the input the failure's message describes (fixtures included).
    """

    def __init__(self) -> None:
        self.cases = 0
        self.failing_input: dict[str, Any] | None = None


@contextlib.contextmanager
def counting_cases(test: Any) -> Iterator[CaseCount]:
    """Count the cases ``test`` (a graded test function) checks while the block runs.

    A hypothesis test counts every call of its inner test (the test body with
    one generated input; hypothesis lets plugins replace ``inner_test``) that
    ran the input through: calls that ``assume`` rejected, or that hypothesis
    stopped for want of data, are not cases. Inputs tried while shrinking a
    failure are counted, since each was checked. A test without ``@given``
    is one case once its body runs. The figure is measured, not read from
    ``max_examples``: hypothesis stops early when it has tried every input.
    """
    count = CaseCount()
    handle = getattr(test, "hypothesis", None)
    if handle is None:
        count.cases = 1
        yield count
        return
    inner = handle.inner_test

    @functools.wraps(inner)
    def counted(*args: Any, **kwargs: Any) -> Any:
        checked = True
        try:
            return inner(*args, **kwargs)
        except NOT_A_CASE:
            checked = False
            raise
        except Exception:
            count.failing_input = dict(kwargs)
            raise
        finally:
            if checked:
                count.cases += 1

    handle.inner_test = counted
    try:
        yield count
    finally:
        handle.inner_test = inner


class Failure(NamedTuple):
    """What the student reads for a failed test, whether the autograder, not the student, failed, and the root cause if known."""

    message: str
    autograder_failed: bool
    cause: str | None = None


NOT_IMPLEMENTED = "not implemented yet"


def failure_cause(error: BaseException) -> str | None:
    """A failure's root cause in a few words, where the failure shows it; ``None`` where only the test's message can tell.

    Failed tests of one problem with the same cause fail for one reason: the
    code is not implemented yet, a file is missing or does not import, an
    exception is raised at one line of the student's code, a known mistake
    (:mod:`autograder.mistakes`) explains the numbers.
    """
    if isinstance(error, NotImplementedYet):
        return NOT_IMPLEMENTED
    if isinstance(error, StudentRaised):
        return f"{error.what} raised {error.error_type}" + (f" ({error.location})" if error.location else "")
    if isinstance(error, Abort):
        return str(error).partition("\n")[0]
    mistake = getattr(error, "mistake", None)
    if isinstance(mistake, Mistake):
        return f"known mistake: {mistake.key}"
    return None


def describe_failure(error: BaseException | None, failing_input: dict[str, Any] | None = None) -> Failure:
    """The property, the smallest failing case, no stack trace; the autograder's own errors said to be its own.

    ``failing_input``: the arguments the test failed on last (without
    fixtures), which hypothesis's note names; with them the note describes
    the input in words (:func:`known_answers.describe_case`), not as reprs.

    Any exception a graded test does not expect is the grader's failure:
    the message says so (beginning with :data:`AUTOGRADER_FAILED_IN_TEST`),
    with the exception's type and the last frames of the grader's code, and
    ``autograder_failed`` is set, so that reports and the project's tests can
    tell it from a failing student. The exception's message is left out: the
    grader's code raised it while handling the submission's data, which it
    may quote, and nothing a submission chose may appear in a message that
    says the autograder failed (the grader prints the whole exception on its
    standard error, for the course staff).
    """
    if error is None:
        return Failure("The test failed.", autograder_failed=False)
    autograder_failed = False
    if isinstance(error, (PropertyFailed, StudentRaised, Abort)):
        text = str(error)
    elif type(error).__name__ in ("Flaky", "FlakyFailure", "FlakyReplay"):
        inner = getattr(error, "exceptions", ())
        text = "Your code gave different results for the same input, so the failure could not be reproduced."
        if inner:
            first = describe_failure(inner[0])
            text += "\n" + first.message
            autograder_failed = first.autograder_failed
    elif isinstance(error, AssertionError):
        text = str(error) or "A property of your result did not hold."
    else:
        frames = "".join(traceback.format_tb(error.__traceback__)[-4:])
        kind = f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins.")
        return Failure(
            f"{AUTOGRADER_FAILED_IN_TEST}:\n{kind}, raised in the autograder's code:\n{frames}", autograder_failed=True
        )
    notes = [_describe_note(note, failing_input) for note in getattr(error, "__notes__", [])]
    cause = None if type(error).__name__.startswith("Flaky") else failure_cause(error)
    return Failure("\n".join([text, *[note for note in notes if note]]), autograder_failed, cause)


def _describe_note(note: str, failing_input: dict[str, Any] | None = None) -> str:
    """A note hypothesis added to a failure, for the student: the failing input without fixtures, or nothing.

    Hypothesis writes one argument a line (``name=value,``, the value a
    repr), an argument whose value does not matter followed by ``# or any
    other generated value``. With the arguments themselves (``failing_input``)
    the input is described in words; without them, the note's text is shown.
    How to reproduce the failure with hypothesis is of no use to a student.
    """
    match = FAILING_CASE.match(note.strip())
    if match:
        shown = []
        any_value = set()
        for line in match.group(2).splitlines():
            argument, marked, _ = line.partition("# or any other generated value")
            argument = argument.strip().rstrip(",").rstrip()
            if argument and not argument.startswith(FIXTURE_ARGUMENTS):
                shown.append(f"{argument} (any value fails)" if marked else argument)
                if marked:
                    any_value.add(argument.partition("=")[0])
        described = known_answers.describe_case(failing_input, any_value) if failing_input is not None else ""
        if described:
            return f"{SMALLEST_FAILING_INPUT}: {described}"
        return f"{SMALLEST_FAILING_INPUT}: {', '.join(shown)}"
    if note.startswith(("You can reproduce", "You can add @seed")) or "@reproduce_failure" in note or "@seed(" in note:
        return ""
    return note


def run_suites(suites: list[str], plugin: object) -> int:
    """Run the suites with the grader's own configuration only; pytest's console output is kept out.

    Nothing is written where it runs: hypothesis keeps its files (a cache of
    the suites' constants; the profile has no example database) in a
    temporary folder, removed afterwards, instead of ``.hypothesis/`` in the
    current folder.
    """
    with tempfile.TemporaryDirectory(prefix="autograder-hypothesis-") as storage:
        set_hypothesis_home_dir(storage)
        try:
            return _run_suites(suites, plugin)
        finally:
            set_hypothesis_home_dir(None)


def _run_suites(suites: list[str], plugin: object) -> int:
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
