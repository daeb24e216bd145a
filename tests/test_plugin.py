"""The grading plugin's own logic: the messages a failed test shows, the cases it counts, the autograder's failures.

A failure of the autograder's own code must never read as the student's: it is
said in words and marked in the report, and :func:`tests.scenarios.check_outcome`
refuses any report that carries it, so a scenario expecting lost points cannot
pass on a broken grader.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure

from autograder.failures import (
    Abort,
    NotImplementedYet,
    PropertyFailed,
    StudentRaised,
    SubmissionUnusable,
    WorkerFailure,
    WrongResultType,
)
from autograder.plugin import PROFILE, Failure, GradingPlugin, _describe_note, counting_cases, describe_failure
from autograder.problems import BY_KEY
from autograder.results import AUTOGRADER_FAILED_IN_TEST, GradedTest, build_results
from tests.scenarios import Scenario, autograder_failures, check_outcome

# --------------------------------------------------------------------------- describe_failure


def raised(error: BaseException) -> BaseException:
    """``error`` after it was raised, with its traceback, as pytest hands it to the plugin."""
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - any exception, as a graded test may raise
        return caught


def test_a_failure_without_an_exception_is_the_students() -> None:
    assert describe_failure(None) == Failure("The test failed.", autograder_failed=False)


def test_an_unexpected_exception_is_the_autograders_with_where_it_was_raised_and_nothing_of_its_message() -> None:
    """The grader's code may quote the submission's data in an exception: only its type and the grader's frames are shown."""

    def broken_check() -> None:
        received = {"status": "disk quota exceeded on the grading host"}
        float(received["status"])

    try:
        broken_check()
    except ValueError as error:
        failure = describe_failure(error)
    assert failure.autograder_failed
    assert failure.message.startswith(f"{AUTOGRADER_FAILED_IN_TEST}:\nValueError, raised in the autograder's code:\n")
    assert "broken_check" in failure.message, "the last frames say where the autograder broke"
    assert "could not convert" not in failure.message and "disk quota exceeded on the grading host\n" not in failure.message


@pytest.mark.parametrize(
    "error",
    [
        PropertyFailed("gram_matrix(...): 4 of 4 values differ from the expected ones."),
        StudentRaised("gram_matrix(...)", "ValueError", "bad shape", 'File "style_loss.py", line 3'),
        NotImplementedYet("StyleLoss.gram_matrix is not implemented yet."),
        SubmissionUnusable("style_modules/style_loss.py is missing."),
        WorkerFailure("Your code ran for more than 30 s."),
        WrongResultType("gram_matrix returned a str; expected a tensor."),
        Abort("ended at once"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_the_students_failures_show_their_own_message_only(error: BaseException) -> None:
    failure = describe_failure(raised(error))
    assert failure[:2] == (str(error), False)
    assert "Traceback" not in failure.message


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (NotImplementedYet("f is not implemented yet (it raised NotImplementedError)."), "not implemented yet"),
        (SubmissionUnusable("tv_loss.py is missing from your submission.\nmore"), "tv_loss.py is missing from your submission."),
        (
            StudentRaised(
                "gram_matrix",
                "RuntimeError",
                "shape '[1, 2, 4]' is invalid",
                'File "style_loss.py", line 21, in gram_matrix\n  x',
            ),
            "gram_matrix raised RuntimeError (style_loss.py, line 21)",
        ),
        (PropertyFailed("values differ"), None),
    ],
)
def test_a_failure_names_its_root_cause_where_it_shows_one(error: BaseException, cause: str | None) -> None:
    """Failed tests with the same cause are one mistake, which the terminal report shows once."""
    assert describe_failure(raised(error)).cause == cause


def test_a_known_mistake_is_a_failures_cause() -> None:
    from autograder.compare import expect_close
    from autograder.mistakes import Mistake, Suspect

    halved = Mistake("tv_loss.test_halved", "the loss is half the expected one.")
    with pytest.raises(PropertyFailed) as caught:
        expect_close(
            torch.tensor(1.0), torch.tensor(2.0), what="loss", scalar=True, mistakes=[Suspect(halved, lambda: torch.tensor(1.0))]
        )
    failure = describe_failure(caught.value)
    assert failure.cause == "known mistake: tv_loss.test_halved"
    assert failure.message.endswith(halved.hint)


def test_a_student_raising_shows_where_in_their_code() -> None:
    error = StudentRaised("tv_loss(...)", "IndexError", "tuple index out of range", 'File "tv_loss.py", line 9')
    assert describe_failure(error).message == (
        'tv_loss(...) raised IndexError: tuple index out of range\nWhere, in your code:\nFile "tv_loss.py", line 9'
    )


def test_a_bare_assertion_still_says_a_property_failed() -> None:
    assert describe_failure(raised(AssertionError())) == Failure("A property of your result did not hold.", False)
    assert describe_failure(raised(AssertionError("the maps must be nonnegative"))) == Failure(
        "the maps must be nonnegative", False
    )


def test_flaky_code_is_told_and_the_failure_it_gave_follows() -> None:
    failure = describe_failure(FlakyFailure("flaky", [PropertyFailed("the loss is 3.0, expected 2.0")]))
    assert not failure.autograder_failed
    assert failure.message == (
        "Your code gave different results for the same input, so the failure could not be reproduced.\n"
        "the loss is 3.0, expected 2.0"
    )


def test_flaky_with_the_autograders_error_inside_is_the_autograders() -> None:
    failure = describe_failure(FlakyFailure("flaky", [raised(RuntimeError("boom"))]))
    assert failure.autograder_failed
    assert AUTOGRADER_FAILED_IN_TEST in failure.message and "RuntimeError, raised in the autograder's code" in failure.message
    assert "boom" not in failure.message


def test_flaky_without_inner_failures_is_the_students() -> None:
    error = type("Flaky", (Exception,), {})("replay differed")
    failure = describe_failure(error)
    assert failure == Failure(
        "Your code gave different results for the same input, so the failure could not be reproduced.", False
    )


# --------------------------------------------------------------------------- hypothesis's notes


def test_a_real_falsifying_example_becomes_the_smallest_failing_input_without_fixtures() -> None:
    """Hypothesis's own note, from a real failing test under the grading profile, not a hand-written copy of its format."""

    @settings(settings.get_profile(PROFILE), max_examples=50)
    @given(size=st.integers(min_value=0, max_value=100), name=st.just("conv"))
    def check(student: object, size: int, name: str) -> None:
        if size >= 3:
            raise PropertyFailed(f"{name}: size {size} is too large.")

    with pytest.raises(PropertyFailed) as caught:
        check(student="the student fixture")
    failure = describe_failure(caught.value)
    assert failure == Failure("conv: size 3 is too large.\nSmallest failing input: size=3, name='conv'", False)


def test_the_smallest_failing_input_is_described_in_words_from_the_arguments_it_failed_on() -> None:
    """A case says itself (its describe()), a seed says values were drawn from it, a dtype is float32: no reprs."""

    class Case:
        def __init__(self, size: int) -> None:
            self.size = size

        def describe(self) -> str:
            return f"gram_matrix(features) with features of shape (1, {self.size})"

        def __repr__(self) -> str:
            return f"Case(size={self.size})"

    @settings(settings.get_profile(PROFILE), max_examples=50)
    @given(
        case=st.integers(min_value=0, max_value=100).map(Case),
        cotangent_seed=st.just(4),
        dtype=st.just(torch.float32),
    )
    def check(student: object, case: Case, cotangent_seed: int, dtype: torch.dtype) -> None:
        if case.size >= 3:
            raise PropertyFailed("values differ")

    with counting_cases(check) as count, pytest.raises(PropertyFailed) as caught:
        check(student="the student fixture")
    assert count.failing_input is not None and count.failing_input["case"].size == 3, "the last failing call is the smallest"
    drawn = {name: value for name, value in count.failing_input.items() if name != "student"}
    assert describe_failure(caught.value, drawn).message == (
        "values differ\nSmallest failing input: gram_matrix(features) with features of shape (1, 3), "
        "cotangent values drawn from seed 4, dtype=float32"
    )


def test_an_argument_any_value_of_which_fails_says_so_beside_its_description() -> None:
    note = "Falsifying example: test_value(\n    student=None,\n    case=Case(size=3),\n    seed=0,  # or any other generated value\n)"
    case = SimpleNamespace(describe=lambda: "tv_loss(img) with img of shape (1, 3, 2, 2)")
    assert _describe_note(note, {"case": case, "seed": 0}) == (
        "Smallest failing input: tv_loss(img) with img of shape (1, 3, 2, 2), values drawn from seed 0 (any value fails)"
    )


def test_arguments_that_do_not_matter_are_said_to_fail_with_any_value() -> None:
    """Hypothesis's explain phase (not in the grading profile, but a helper must read what hypothesis writes)."""

    @settings(settings.get_profile(PROFILE), phases=list(Phase), max_examples=50)
    @given(size=st.integers(min_value=0, max_value=100), name=st.text())
    def check(student: object, size: int, name: str) -> None:
        if size >= 3:
            raise PropertyFailed("too large")

    with pytest.raises(PropertyFailed) as caught:
        check(student=None)
    assert "Smallest failing input: size=3, name='' (any value fails)" in describe_failure(caught.value).message


def test_notes_that_name_the_failing_case_are_rewritten() -> None:
    note = "Falsifying example: test_value(\n    student=<StudentCode>,\n    case=GramCase(shape=(1, 2, 1, 1)),\n    seed=0,\n)"
    assert _describe_note(note) == "Smallest failing input: case=GramCase(shape=(1, 2, 1, 1)), seed=0"


def test_an_argument_any_value_of_which_fails_says_so() -> None:
    note = "Falsifying example: test_value(\n    student=None,\n    seed=0,  # or any other generated value\n)"
    assert _describe_note(note) == "Smallest failing input: seed=0 (any value fails)"


def test_explicit_examples_are_named_like_generated_ones() -> None:
    note = "Falsifying explicit example: test_edge(\n    case=ConvCase((1, 1), (1, 1)),\n)"
    assert _describe_note(note) == "Smallest failing input: case=ConvCase((1, 1), (1, 1))"


@pytest.mark.parametrize(
    "note",
    [
        "You can reproduce this example by temporarily adding @reproduce_failure('6.170.17', b'AXic') as a decorator",
        "    @reproduce_failure('6.170.17', b'AXic')",
    ],
)
def test_reproduction_notes_are_dropped(note: str) -> None:
    assert _describe_note(note) == ""


def test_other_notes_are_kept() -> None:
    assert _describe_note("the expected loss was computed in float64") == "the expected loss was computed in float64"


def test_notes_follow_the_message_and_dropped_ones_leave_no_line() -> None:
    error = PropertyFailed("values differ")
    error.__notes__ = [  # type: ignore[attr-defined]  # set as hypothesis does (no add_note on 3.10)
        "Falsifying example: test_value(\n    student=None,\n    case=1,\n)",
        "You can reproduce this example by temporarily adding @reproduce_failure(...)",
    ]
    assert describe_failure(error).message == "values differ\nSmallest failing input: case=1"


# --------------------------------------------------------------------------- counting cases


def test_a_generated_test_counts_the_inputs_it_checked_not_those_assume_rejected() -> None:
    checked: list[int] = []

    @settings(database=None, derandomize=True, max_examples=25)
    @given(value=st.integers(min_value=0, max_value=10**6))
    def check(value: int) -> None:
        assume(value % 3 != 0)
        checked.append(value)

    with counting_cases(check) as count:
        check()
    assert count.cases == len(checked) == 25


def test_the_count_is_measured_when_hypothesis_runs_out_of_inputs() -> None:
    checked: list[bool] = []

    @settings(database=None, derandomize=True, max_examples=50)
    @given(flag=st.booleans())
    def check(flag: bool) -> None:
        checked.append(flag)

    with counting_cases(check) as count:
        check()
    assert count.cases == len(checked) and 1 <= count.cases < 50


def test_explicit_examples_and_the_inputs_tried_while_shrinking_count() -> None:
    checked: list[int] = []

    @settings(database=None, derandomize=True, max_examples=40)
    @given(value=st.integers(min_value=0, max_value=1000))
    @example(value=1)
    def check(value: int) -> None:
        checked.append(value)
        if value > 500:
            raise PropertyFailed("too large")

    with counting_cases(check) as count, pytest.raises(PropertyFailed):
        check()
    assert count.cases == len(checked) > 1 and checked[0] == 1


def test_a_test_without_given_is_one_case_and_the_inner_test_is_put_back() -> None:
    def plain() -> None:
        pass

    with counting_cases(plain) as count:
        plain()
    assert count.cases == 1

    @given(st.integers())
    def generated(value: int) -> None:
        pass

    handle = cast(Any, generated).hypothesis
    inner = handle.inner_test
    with counting_cases(generated):
        assert handle.inner_test is not inner
    assert handle.inner_test is inner


# --------------------------------------------------------------------------- GradingPlugin._result


@weight(0.5)
@number("1.2")
@visibility("after_due_date")
@tags("content_loss")
def graded_example(student: object) -> None:
    """The loss is zero for equal maps.

    On generated maps of 2 to 8
    channels, float32 and float64.

    A later paragraph is for the suite's readers only.
    """


def plugin_result(passed: bool, error: BaseException | None, printed: str = "") -> GradedTest:
    session = SimpleNamespace(output=SimpleNamespace(take=lambda: printed))
    plugin = GradingPlugin(cast(Any, session))
    item = SimpleNamespace(function=graded_example, nodeid="content_loss.py::graded_example", name="graded_example")
    plugin.seconds[item.nodeid] = 0.25
    plugin.cases[item.nodeid] = 7
    call = SimpleNamespace(excinfo=None if error is None else SimpleNamespace(value=error))
    return plugin._result(cast(Any, item), cast(Any, call), passed)


def test_a_graded_test_takes_its_name_points_and_cases_from_the_test() -> None:
    """The name is the docstring's first line; the paragraph after it, what the test checks in detail, opens the output."""
    result = plugin_result(True, None)
    assert result == GradedTest(
        name=f"{BY_KEY['content_loss'].title}: The loss is zero for equal maps",
        number="1.2",
        problem="content_loss",
        max_score=0.5,
        passed=True,
        output="Checks: On generated maps of 2 to 8 channels, float32 and float64.",
        visibility="after_due_date",
        seconds=0.25,
        cases=7,
        autograder_failed=False,
    )


def test_a_failed_test_shows_what_it_checks_the_message_then_what_the_code_printed() -> None:
    result = plugin_result(False, PropertyFailed("the loss is 3.0"), printed="debugging\n")
    assert result.output == (
        "Checks: On generated maps of 2 to 8 channels, float32 and float64.\nthe loss is 3.0\n\nYour code printed:\ndebugging"
    )
    assert not result.autograder_failed


def test_the_autograders_failure_is_marked_on_the_graded_test_and_the_report() -> None:
    result = plugin_result(False, raised(ValueError("a bug in the grader")))
    assert result.autograder_failed and result.output.partition("\n")[2].startswith(AUTOGRADER_FAILED_IN_TEST)
    report = build_results([result], (BY_KEY["content_loss"],), output="", execution_time=0)
    assert report["tests"][0]["extra_data"]["autograder_failed"] is True
    assert report["extra_data"]["autograder_failed"] is True


def test_a_test_without_one_problem_key_is_refused() -> None:
    def untagged(student: object) -> None:
        """No tags."""

    plugin = GradingPlugin(cast(Any, SimpleNamespace(output=SimpleNamespace(take=lambda: ""))))
    item = SimpleNamespace(function=untagged, nodeid="x.py::untagged", name="untagged")
    with pytest.raises(RuntimeError, match="exactly one problem key"):
        plugin._result(cast(Any, item), cast(Any, SimpleNamespace(excinfo=None)), True)


# --------------------------------------------------------------------------- the scenarios' check

LOSES = Scenario("loses_content", SimpleNamespace(), "loses points", "reference", {"content_loss": "loses"})  # type: ignore[arg-type]


def content_report(*tests: GradedTest) -> dict[str, Any]:
    return build_results(list(tests), (BY_KEY["content_loss"],), output="", execution_time=0)


def failed_test(output: str, *, autograder_failed: bool = False) -> GradedTest:
    return GradedTest(
        name="Content loss: value",
        number="1.1",
        problem="content_loss",
        max_score=2.0,
        passed=False,
        output=output,
        autograder_failed=autograder_failed,
    )


def test_a_scenario_that_loses_points_passes_on_the_students_failure() -> None:
    check_outcome(LOSES, content_report(failed_test("the loss is 3.0, expected 2.0")))


def test_a_scenario_fails_when_a_test_is_marked_as_the_autograders_failure() -> None:
    report = content_report(failed_test("KeyError", autograder_failed=True))
    report["extra_data"]["autograder_failed"] = False  # a report that marks the test only
    with pytest.raises(AssertionError, match="the autograder failed in these tests"):
        check_outcome(LOSES, report)


def test_a_scenario_fails_when_a_test_says_the_autograder_failed() -> None:
    report = content_report(failed_test(f"{AUTOGRADER_FAILED_IN_TEST}:\nKeyError: 'x'"))
    assert not report["extra_data"]["autograder_failed"]
    with pytest.raises(AssertionError, match="the autograder failed in these tests"):
        check_outcome(LOSES, report)


def test_a_test_without_the_mark_counts_as_the_autograders_failure() -> None:
    report = content_report(failed_test("the loss is 3.0"))
    del report["tests"][0]["extra_data"]["autograder_failed"]
    assert len(autograder_failures(report)) == 1


# --------------------------------------------------------------------------- the course's salt

SALTED_SUITE = """
import os
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings, strategies as st

@weight(1.0)
@number("1.1")
@visibility("visible")
@tags("content_loss")
@settings(max_examples=5)
@given(x=st.integers(0, 10**9))
def test_draws(x):
    with open(os.environ["DRAWN_TO"], "a") as stream:
        stream.write(f"{x}\\n")
"""


def drawn_under(salt: str, tmp_path: Path, run: int) -> list[int]:
    """The values a small hypothesis test draws when the grader runs it with the course's ``salt``."""
    from autograder.plugin import run_suites
    from autograder.sandbox import CapturedOutput

    suite = tmp_path / "suite" / "test_salted.py"  # one place: a test's seed depends on its id, which names the file
    suite.parent.mkdir(exist_ok=True)
    suite.write_text(SALTED_SUITE)
    sys.modules.pop("test_salted", None)  # imported afresh, as in each grading of a batch job
    drawn = tmp_path / f"drawn{run}.txt"
    session = SimpleNamespace(output=CapturedOutput(1000), case_salt=salt)
    plugin = GradingPlugin(cast(Any, session))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRAWN_TO", str(drawn))
        assert run_suites([str(suite)], plugin) == 0
    assert [result.passed for result in plugin.results] == [True]
    return [int(line) for line in drawn.read_text().split()]


def test_the_courses_salt_chooses_the_generated_cases(tmp_path: Path) -> None:
    """No salt: hypothesis's own derandomized cases (the handout's); a salt: others, the same each time."""
    runs = [drawn_under(salt, tmp_path, run) for run, salt in enumerate(["", "", "course secret", "course secret", "another"])]
    assert runs[0] == runs[1] and runs[2] == runs[3], "each salt draws the same cases every time"
    assert len({tuple(runs[0]), tuple(runs[2]), tuple(runs[4])}) == 3, "each salt draws cases of its own"


def test_the_salt_is_read_from_its_file_and_never_shown(tmp_path: Path) -> None:
    from autograder.case_salt import case_seed, read_case_salt

    assert read_case_salt(tmp_path / "none") == ""
    (tmp_path / "salt").write_text("  course secret\n")
    assert read_case_salt(tmp_path / "salt") == "course secret"
    assert case_seed("course secret", "a.py::test") != case_seed("course secret", "a.py::other")
    assert "course secret" not in str(case_seed("course secret", "a.py::test"))
    assert _describe_note("You can add @seed(1234) to this test to reproduce this failure.") == ""
