"""results.json: valid by the schema, points that add up, written atomically, written on failure."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from autograder.problems import BY_KEY, PROBLEMS
from autograder.results import AUTOGRADER_FAILED, GradedTest, autograder_failure, build_results, complete, validate, write_results

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
    long = GradedTest(name="t", number="1.1", problem="content_loss", max_score=1.0, passed=False, output="x" * 100000)
    report = build_results([long], (CONTENT,), output="y" * 100000, execution_time=0)
    assert len(report["tests"][0]["output"]) <= 20000 and len(report["output"]) <= 20000
    assert report["tests"][0]["output"].endswith("(output cut short)")
