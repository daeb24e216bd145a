"""Every scenario submission gets the outcome its scenario.json promises (see tests/scenarios.py).

The selected scenarios (all of them, or those ``-k`` picks) are graded once
per test session, in batches (``grade-class``), by whichever pytest process
needs them first; the others wait for the result. Each scenario is then its
own test.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios import Scenario, all_scenarios, check_outcome, grade_all

SCENARIOS = all_scenarios()


@pytest.fixture(scope="session")
def scenario_reports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    done = shared / "scenario-reports.json"
    with (shared / "grading.lock").open("w") as lock:  # shared with the attacks (tests/test_attacks.py)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            reports = grade_all(selected_scenarios(request.session), Path(shared / "scenario-grading"))
            done.write_text(json.dumps(reports))
    return dict(json.loads(done.read_text()))


def selected_scenarios(session: pytest.Session) -> list[Scenario]:
    """The scenarios whose tests this run collected (every pytest-xdist worker collects the same ones)."""
    names = {
        str(getattr(item.callspec.params["scenario"], "name", ""))
        for item in session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_scenario"
    }
    return [scenario for scenario in SCENARIOS if scenario.name in names]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, scenario_reports: dict[str, dict[str, Any]]) -> None:
    check_outcome(scenario, scenario_reports[scenario.name])
