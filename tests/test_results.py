"""results.json: valid by the schema, points that add up, written atomically, written on failure, printable."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.problems import BY_KEY, PROBLEMS
from autograder.results import (
    AUTOGRADER_FAILED,
    MAX_LINE,
    MAX_OUTPUT,
    MAX_TEST_OUTPUT,
    GradedTest,
    autograder_failure,
    build_results,
    complete,
    printable_text,
    validate,
    write_results,
)

CONTENT = BY_KEY["content_loss"]


def result(number: str, weight: float, passed: bool, problem: str = "content_loss", cases: int = 0) -> GradedTest:
    return GradedTest(
        name=f"test {number}", number=number, problem=problem, max_score=weight, passed=passed, output="", cases=cases
    )


def test_scores_add_up_per_problem_and_in_total() -> None:
    tests = [result("1.1", 1.0, True), result("1.2", 0.4, False), result("1.3", 0.3, True), result("1.4", 0.3, True)]
    report = build_results(tests, (CONTENT,), output="intake", execution_time=1.5)
    validate(report)
    assert report["score"] == 1.6
    assert report["extra_data"]["problems"]["content_loss"]["score"] == 1.6
    assert [t["number"] for t in report["tests"]] == ["1.1", "1.2", "1.3", "1.4"]
    assert "Content loss (content_loss): 1.6 / 2" in report["output"]


def test_cases_are_recorded_per_test_and_summed_per_problem() -> None:
    tests = [
        result("1.1", 1.0, True, cases=1),
        result("1.2", 0.4, False, cases=37),
        result("4.1", 2.0, True, cases=30, problem="tv_loss"),
    ]
    gram = BY_KEY["gram_matrix"]
    report = build_results(tests, (CONTENT, gram, BY_KEY["tv_loss"]), output="", execution_time=0)
    validate(report)
    problems = report["extra_data"]["problems"]
    assert [t["extra_data"]["cases"] for t in report["tests"]] == [1, 37, 30]
    assert problems["content_loss"]["cases"] == 38 and problems["tv_loss"]["cases"] == 30
    assert problems["gram_matrix"] == {"score": 0.0, "max_score": 0.0, "seconds": 0.0, "cases": 0}, "a problem no test ran"
    assert "Content loss (content_loss): 1 / 1.4 (38 cases checked)" in report["output"]
    assert f"{gram.title} (gram_matrix): 0 / 0 (0 cases checked)" in report["output"]


def test_a_test_the_autograder_failed_in_marks_the_report() -> None:
    broken = GradedTest(
        name="t", number="1.2", problem="content_loss", max_score=1.0, passed=False, output="x", autograder_failed=True
    )
    report = build_results([result("1.1", 1.0, True), broken], (CONTENT,), output="", execution_time=0)
    validate(report)
    assert [t["extra_data"]["autograder_failed"] for t in report["tests"]] == [False, True]
    assert report["extra_data"]["autograder_failed"] and report["output"].startswith(AUTOGRADER_FAILED)


def test_tests_sort_by_number_numerically() -> None:
    tests = [result("1.10", 0.1, True), result("1.2", 0.1, True), result("1.99", 0.1, True)]
    assert [t["number"] for t in build_results(tests, (CONTENT,), output="", execution_time=0)["tests"]] == [
        "1.2",
        "1.10",
        "1.99",
    ]


def test_points_no_test_awarded_are_reported_not_graded() -> None:
    tests = complete([result("1.1", 1.0, True)], (CONTENT,), "the suite did not run")
    assert sum(t.max_score for t in tests) == pytest.approx(CONTENT.points)
    assert tests[-1].output == "the suite did not run" and not tests[-1].passed


def test_autograder_failure_keeps_what_was_graded_and_says_it_is_not_the_students_fault() -> None:
    report = autograder_failure(PROBLEMS, "RuntimeError: boom", execution_time=3.0, tests=[result("1.1", 1.0, True)])
    validate(report)
    assert report["output"].startswith(AUTOGRADER_FAILED)
    assert report["extra_data"]["autograder_failed"] is True
    assert report["score"] == 1.0
    assert sum(t["max_score"] for t in report["tests"]) == pytest.approx(sum(p.points for p in PROBLEMS))
    assert all(len(t["tags"]) == 1 for t in report["tests"])
    assert [t["extra_data"]["autograder_failed"] for t in report["tests"]] == [False] + [True] * len(PROBLEMS)


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r["tests"][0].update(tags=["content_loss", "tv_loss"]),
        lambda r: r["tests"][0].update(tags=["not_a_problem"]),
        lambda r: r["tests"][0].update(status="error"),
        lambda r: r["tests"][0].update(score=5.0),
        lambda r: r.update(score=7.0),
        lambda r: r.update(execution_time="fast"),
        lambda r: r.update(unexpected=1),
        lambda r: r["tests"][0].pop("number"),
        lambda r: r["tests"][0]["extra_data"].update(cases=2.5),
        lambda r: r["tests"][0]["extra_data"].pop("autograder_failed"),
        lambda r: r["extra_data"]["problems"]["content_loss"].pop("cases"),
        lambda r: r["extra_data"]["problems"]["content_loss"].update(cases=-1),
    ],
)
def test_invalid_reports_are_refused(damage: object) -> None:
    report = build_results([result("1.1", 1.0, True)], (CONTENT,), output="", execution_time=0)
    damage(report)  # type: ignore[operator]
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate(report)


def test_writing_is_atomic_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "results" / "results.json"
    report = build_results([result("1.1", 1.0, True)], (CONTENT,), output="ok", execution_time=0)
    write_results(path, report)
    assert json.loads(path.read_text()) == report
    broken = dict(report, score=-1)
    with pytest.raises(jsonschema.ValidationError):
        write_results(path, broken)
    assert json.loads(path.read_text()) == report, "a refused report must not replace the last good one"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"], "no temporary file is left behind"


def test_long_outputs_are_cut() -> None:
    many_lines = "x" * 99 + "\n"
    long = GradedTest(name="t", number="1.1", problem="content_loss", max_score=1.0, passed=False, output=many_lines * 1000)
    report = build_results([long], (CONTENT,), output="y" * 100000, execution_time=0)
    assert len(report["tests"][0]["output"]) <= MAX_TEST_OUTPUT and len(report["output"]) <= MAX_OUTPUT
    assert report["tests"][0]["output"].endswith("(output cut short)")
    assert "y" * (MAX_LINE - 40) + "" in report["output"] and "(line cut short)" in report["output"]


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Fragments that broke reports or could play tricks on whoever reads them.
NASTY = [
    "\ud800",
    "\udfff",
    "\ud83d",
    "\ude00",
    "\udcff",
    "\x00",
    "\x07",
    "\x08",
    "\x0b",
    "\x0c",
    "\x7f",
    "\x85",
    "\x9b",
    "\x9b31m",
    "\x9d0;title\x9c",
    "\x1b",
    "\x1b[",
    "\x1b]",
    "\x1b[2J",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[?1049h",
    "\x1b]0;owned\x07",
    "\x1b]8;;http://example.com\x1b\\",
    "\x1bP+q\x1b\\",
    "\x1b7",
    "\x1b(B",
    "\r",
    "\r\n",
    "\n",
    "\t",
    "\u2028",
    "\u2029",
    *BIDI_CONTROLS,
    "x" * (MAX_LINE - 1),
    "y" * (MAX_LINE + 1),
    "z" * 3 * MAX_LINE,
    "é",
    "名",
    "\ufffd",
]
hostile_texts = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(alphabet=st.characters(exclude_categories=()), max_size=20)), max_size=30
).map("".join)
ordinary_texts = st.text(
    alphabet=st.one_of(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), st.sampled_from("\n\té名")), max_size=200
)


def unprintable(text: str) -> list[str]:
    """The characters of ``text`` a report must not hold (found without printable_text's own patterns)."""
    return [
        c
        for c in text
        if (unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t") or c in BIDI_CONTROLS or c in "\u2028\u2029"
    ]


def assert_printable(text: str, limit: int | None = None) -> None:
    text.encode("utf-8")
    assert not unprintable(text), unprintable(text)
    assert all(len(line) <= MAX_LINE for line in text.split("\n"))
    assert limit is None or len(text) <= limit


@settings(derandomize=True, deadline=None, max_examples=300)
@given(hostile_texts, st.sampled_from([None, 100, MAX_TEST_OUTPUT]))
def test_printable_text_encodes_holds_nothing_unprintable_and_is_idempotent(text: str, limit: int | None) -> None:
    printable = printable_text(text, limit=limit)
    assert_printable(printable, limit)
    assert printable_text(printable, limit=limit) == printable


@settings(derandomize=True, deadline=None, max_examples=200)
@given(ordinary_texts)
def test_printable_text_keeps_ordinary_text_as_it_is(text: str) -> None:
    assert printable_text(text) == text
    assert printable_text(text, limit=MAX_OUTPUT) == text


@pytest.mark.parametrize(
    ("text", "printable"),
    [
        ("\x1b[2J\x1b[31mred\x1b[0m text", "red text"),
        ("a\x1b]0;window title\x07b\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "ablink"),
        ("\x9b31mc1\x1b7\x1b(B", "c1"),
        ("lone \ud800 and \udfff, a pair \ud83d\ude00", "lone \ufffd and \ufffd, a pair \U0001f600"),
        ("nul\x00 bell\x07 del\x7f nel\x85 esc\x1b", "nul\ufffd bell\ufffd del\ufffd nel\ufffd esc\ufffd"),
        ("a\r\nb\rc\u2028d\u2029e", "a\nb\nc\nd\ne"),
        ("user\u202e\u2066txt.exe\u2069\u202c", "user\ufffd\ufffdtxt.exe\ufffd\ufffd"),
        ("é\t名 ok\n", "é\t名 ok\n"),
    ],
)
def test_printable_text_removes_escape_sequences_and_replaces_what_cannot_be_shown(text: str, printable: str) -> None:
    assert printable_text(text) == printable


def test_printable_text_cuts_long_lines_and_long_texts() -> None:
    cut = printable_text("short\n" + "x" * 100000 + "\nafter")
    assert cut.split("\n")[0] == "short" and cut.split("\n")[2] == "after"
    assert len(cut.split("\n")[1]) == MAX_LINE and cut.split("\n")[1].endswith("(line cut short)")
    assert printable_text("x" * MAX_LINE) == "x" * MAX_LINE
    long = printable_text("line\n" * 100000, limit=1000)
    assert len(long) <= 1000 and long.endswith("(output cut short)")
    assert printable_text("\x1b[0m" * 500 + "kept", limit=1000) == "kept", "the limit counts what is left"


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in all_strings(key) + all_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in all_strings(item)]
    return []


@settings(derandomize=True, deadline=None, max_examples=60)
@given(st.lists(hostile_texts, min_size=4, max_size=4), st.booleans())
def test_hostile_text_in_every_field_still_gives_a_valid_report(tmp_path_factory: Any, texts: list[str], failed: bool) -> None:
    name, output, top, error = texts
    tests = [
        GradedTest(name=f"name {name}", number="1.1", problem="content_loss", max_score=1.0, passed=False, output=output * 50),
        GradedTest(name="t", number="1.2", problem="content_loss", max_score=0.4, passed=True, output=top),
    ]
    if failed:
        report = autograder_failure((CONTENT,), error * 100, execution_time=1.0, tests=tests)
    else:
        report = build_results(tests, (CONTENT,), output=top * 100, execution_time=1.0)
    for text in all_strings(report):
        assert_printable(text)
    assert len(report["output"]) <= MAX_OUTPUT and all(len(t["output"]) <= MAX_TEST_OUTPUT for t in report["tests"])
    path = tmp_path_factory.mktemp("hostile") / "results.json"
    write_results(path, report)
    written = json.loads(path.read_bytes().decode("utf-8"))
    validate(written)
    assert written == report


@settings(derandomize=True, deadline=None, max_examples=40)
@given(hostile_texts)
def test_writing_makes_any_report_printable(tmp_path_factory: Any, text: str) -> None:
    report = build_results([result("1.1", 1.0, True)], (CONTENT,), output="ok", execution_time=0)
    report["tests"][0]["name"] = f"name {text}"
    report["tests"][0]["output"] = text
    report["output"] = text
    report["extra_data"]["sandbox"] = {text: [text]}
    path = tmp_path_factory.mktemp("hostile") / "results.json"
    write_results(path, report)
    written = json.loads(path.read_bytes().decode("utf-8"))
    validate(written)
    for string in all_strings(written):
        assert_printable(string)
