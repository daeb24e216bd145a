"""Every scenario submission gets the outcome its scenario.json promises (see tests/scenarios.py).

All scenarios are graded once per test session, in batches (``grade-class``),
by whichever pytest process needs them first; the others wait for the result.
Each scenario is then its own test.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import Scenario, all_scenarios, failures_of, grade_all, problem_scores

SCENARIOS = all_scenarios()


@pytest.fixture(scope="session")
def scenario_reports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    done = shared / "scenario-reports.json"
    with (shared / "scenario-reports.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            reports = grade_all(SCENARIOS, Path(shared / "scenario-grading"))
            done.write_text(json.dumps(reports))
    return dict(json.loads(done.read_text()))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, scenario_reports: dict[str, dict[str, Any]]) -> None:
    report = scenario_reports[scenario.name]
    assert "missing" not in report, report.get("missing")
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
