"""Every scenario submission gets the outcome its scenario.json promises (see tests/scenarios.py).

The selected scenarios (all of them, or those ``-k`` picks) are graded once
per test session, in batches (``batch``), by whichever pytest process
needs them first; the others wait for the result. Each scenario is then its
own test.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any, cast

import pytest

from autograder import mistakes
from autograder.problems import PROBLEMS
from autograder.results import printable_text
from tests.scenarios import Scenario, all_scenarios, check_outcome, grade_all

SCENARIOS = all_scenarios()
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
CORRECT = [scenario for scenario in SCENARIOS if scenario.name.startswith("correct_") or scenario.name == "reference"]


def known_mistakes() -> list[mistakes.Mistake]:
    """Every registered mistake: the suites register theirs when imported."""
    import importlib

    for problem in PROBLEMS:
        importlib.import_module(f"autograder.problems.{problem.key}")
    return sorted(mistakes.MISTAKES.values(), key=lambda mistake: mistake.key)


MISTAKES = known_mistakes()


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
    names: set[str] = set()
    for item in session.items:
        if not isinstance(item, pytest.Function):
            continue
        if item.originalname == "test_scenario":
            names.add(str(getattr(item.callspec.params["scenario"], "name", "")))
        elif item.originalname == "test_a_known_mistakes_hint_fires_on_its_scenarios":
            names.update(cast(mistakes.Mistake, item.callspec.params["mistake"]).scenarios)
        elif item.originalname == "test_no_hint_fires_on_a_correct_variant":
            names.update(scenario.name for scenario in CORRECT)
    return [scenario for scenario in SCENARIOS if scenario.name in names]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario, scenario_reports: dict[str, dict[str, Any]]) -> None:
    check_outcome(scenario, scenario_reports[scenario.name])


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.key for m in MISTAKES])
def test_a_known_mistakes_hint_fires_on_its_scenarios(
    mistake: mistakes.Mistake, scenario_reports: dict[str, dict[str, Any]]
) -> None:
    """Each hint names its mistake in a failed test of its problem, on every scenario that makes it."""
    assert mistake.scenarios, f"{mistake.key}: no scenario makes this mistake"
    hint = printable_text(mistake.hint)
    for name in mistake.scenarios:
        assert name in BY_NAME, f"{mistake.key}: there is no scenario {name}"
        report = scenario_reports[name]
        failed = [t for t in report["tests"] if t["status"] == "failed" and t["tags"] == [mistake.problem]]
        assert any(hint in t["output"] for t in failed), f"{name}: no failed test of {mistake.problem} gives the hint {hint!r}"
        causes = {t["extra_data"].get("cause") for t in failed if hint in t["output"]}
        assert causes == {f"known mistake: {mistake.key}"}, f"{name}: the hinted tests' causes are {causes}"


def test_no_hint_fires_on_a_correct_variant(scenario_reports: dict[str, dict[str, Any]]) -> None:
    """Correct variants (and the reference) pass, and no message of theirs names a known mistake."""
    for scenario in CORRECT:
        report = json.dumps(scenario_reports[scenario.name])
        assert mistakes.HINT_PREFIX not in report, f"{scenario.name} is told it made a known mistake"
