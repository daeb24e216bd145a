"""The terminal report (autograder.feedback), on reports built by hand: no grading."""

from __future__ import annotations

from autograder.feedback import terminal_report
from autograder.problems import BY_KEY
from autograder.results import GradedTest, build_results

GRAM = BY_KEY["gram_matrix"]
TV = BY_KEY["tv_loss"]
SALIENCY = BY_KEY["saliency"]


def graded(number: str, problem: str, points: float, output: str = "", cause: str | None = None) -> GradedTest:
    return GradedTest(f"{BY_KEY[problem].title}: test {number}", number, problem, points, not output, output, cause=cause)


def report() -> dict:
    raised = "StyleLoss.gram_matrix raised RuntimeError (style_loss.py, line 21)"
    tests = [
        graded("2.1", "gram_matrix", 1.0),
        graded("2.2", "gram_matrix", 0.5, "raised RuntimeError: shape [1, 2, 4]\nWhere, in your code: line 21", raised),
        graded("2.3", "gram_matrix", 0.5, "raised RuntimeError: shape [1, 2, 4]\nWhere, in your code: line 21", raised),
        graded("2.4", "gram_matrix", 0.5, "values differ: expected 1, received 2"),
        graded(
            "4.1", "tv_loss", 2.0, "tv_loss.py is missing from your submission.", "tv_loss.py is missing from your submission."
        ),
        graded("6.1", "saliency", 1.0, "compute_saliency_maps is not implemented yet (...)", "not implemented yet"),
        graded(
            "6.2",
            "saliency",
            1.0,
            "compute_saliency_maps is not implemented yet (...)\nSmallest failing input: x",
            "not implemented yet",
        ),
    ]
    return build_results(tests, (GRAM, TV, SALIENCY), output="Files graded: style_loss.py.", execution_time=1.0)


def test_a_problem_failing_for_one_reason_is_one_line_and_a_root_cause_is_shown_once() -> None:
    text = terminal_report(report(), (GRAM, TV, SALIENCY))
    lines = text.splitlines()
    assert lines[0] == "Files graded: style_loss.py."
    assert not any("(gram_matrix)" in line for line in lines), "the per-problem score lines are the table's"
    words = [" ".join(line.split()) for line in lines]
    assert [line for line in words if line.startswith("Saliency maps")] == ["Saliency maps 0 / 2 not implemented yet"]
    assert [line for line in words if "tv_loss.py is missing" in line] == [
        "Total variation loss 0 / 2 tv_loss.py is missing from your submission."
    ]
    assert "  passed: 2.1 (1)" in lines
    assert text.count("shape [1, 2, 4]") == 1, "one root cause, in full once"
    assert (
        "  FAILED 2.3 (0/0.5): the same cause as 2.2 (StyleLoss.gram_matrix raised RuntimeError (style_loss.py, line 21))"
        in lines
    )
    assert "values differ: expected 1, received 2" in text, "a failure with no known cause is shown in full"
