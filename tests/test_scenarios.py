"""Every scenario submission gets the outcome its scenario.json promises (see tests/scenarios.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios import Scenario, all_scenarios, failures_of, grade, problem_scores

SCENARIOS = all_scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, tmp_path: Path) -> None:
    submission = scenario.build(tmp_path / "submission")
    report = grade(submission, tmp_path / "results.json", list(scenario.expect))
    scores = problem_scores(report)
    assert not report["extra_data"]["autograder_failed"], report["output"]
    for problem, outcome in scenario.expect.items():
        score, maximum = scores[problem]
        detail = f"{scenario.name}: {problem} scored {score}/{maximum}, expected {outcome}\n{failures_of(report, problem)[:3000]}"
        if outcome == "full":
            assert score == maximum, detail
        elif outcome == "zero":
            assert score == 0, detail
        else:
            assert score < maximum, detail
        for text in scenario.messages.get(problem, []):
            assert text in failures_of(report, problem), (
                f"{scenario.name}: {problem}'s failures do not say {text!r}:\n{failures_of(report, problem)[:3000]}"
            )
