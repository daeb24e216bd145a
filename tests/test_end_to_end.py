"""The grader from the outside: Gradescope's entry point, bad input, determinism."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from autograder.problems import PROBLEMS
from autograder.results import validate
from tests.scenarios import ROOT, collect_submission, failures_of, grade, problem_scores

STYLE_PROBLEMS = ["content_loss", "gram_matrix", "style_loss", "tv_loss", "style_transfer"]


def test_run_autograder_grades_gradescopes_layout(tmp_path: Path) -> None:
    """A zip in /autograder/submission, graded through run_autograder (two problems: every problem is graded
    this way by tests/test_packaging.py's replay of the Dockerfile, from a zip built by build gradescope)."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").symlink_to(ROOT)
    collect_submission(ROOT / "reference", root / "submission" / "submission.zip")
    completed = subprocess.run(
        [str(ROOT / "run_autograder")],
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PROBLEMS": "content_loss,conv_matrices"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    validate(report)
    total = sum(t["max_score"] for t in report["tests"])
    points = sum(p.points for p in PROBLEMS if p.key in ("content_loss", "conv_matrices"))
    assert report["score"] == round(total, 4) == points, report["output"]


def test_run_autograder_can_grade_a_subset(tmp_path: Path) -> None:
    root = tmp_path / "autograder"
    (root / "source").parent.mkdir(parents=True)
    (root / "source").symlink_to(ROOT)
    shutil.copytree(ROOT / "reference", root / "submission")
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PROBLEMS": "tv_loss,answers"}
    completed = subprocess.run([str(ROOT / "run_autograder")], env=environment, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    assert set(problem_scores(report)) == {"tv_loss", "answers"}
    assert report["score"] == 8


def test_run_autograder_reports_a_broken_installation(tmp_path: Path) -> None:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").mkdir()
    completed = subprocess.run(
        [str(ROOT / "run_autograder")],
        env={**os.environ, "AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0
    report = json.loads((root / "results" / "results.json").read_text())
    validate(report)
    assert report["output"].startswith("AUTOGRADER ERROR") and report["score"] == 0


def test_a_broken_file_costs_only_the_problems_that_use_it(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "reference", submission)
    (submission / "style_modules" / "style_loss.py").write_text(
        "import torch\nclass StyleLoss(torch.nn.Module):\n    def gram_matrix(self, features normalize=True):\n        pass\n"
    )
    (submission / "style_modules" / "tv_loss.py").unlink()
    (submission / "style_modules" / "content_loss.py").write_text(
        "import torchvision\n" + (ROOT / "reference" / "style_modules" / "content_loss.py").read_text()
    )
    report = grade(submission, tmp_path / "results.json", STYLE_PROBLEMS)
    scores = problem_scores(report)
    assert scores["style_transfer"] == (3.0, 3.0)
    for problem in ("gram_matrix", "style_loss"):
        assert scores[problem][0] == 0
        assert "SyntaxError" in failures_of(report, problem) and "style_modules/style_loss.py" in failures_of(report, problem)
    assert scores["tv_loss"][0] == 0 and "style_modules/tv_loss.py is missing" in failures_of(report, "tv_loss")
    assert scores["content_loss"][0] == 0 and "need no torchvision" in failures_of(report, "content_loss")
    assert "Not found in the submission: style_modules/tv_loss.py" in report["output"]
    assert not report["extra_data"]["autograder_failed"]


def test_an_unreadable_submission_is_reported_not_crashed(tmp_path: Path) -> None:
    broken = tmp_path / "submission.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    report = grade(broken, tmp_path / "results.json", ["tv_loss"])
    assert report["score"] == 0 and "could not be read" in report["output"]
    assert not report["extra_data"]["autograder_failed"]


def test_each_report_records_the_cases_each_test_and_problem_checked(tmp_path: Path) -> None:
    """Measured counts: every test ran at least one case, a generated one no more than its settings allow, sums add up.

    On the reference every generated test passes, so it runs its explicit
    examples and at most ``max_examples`` generated ones (fewer only where it
    has tried every input), none of them rejected inputs or shrinking.
    """
    report = grade(ROOT / "reference", tmp_path / "results.json", ["conv_matrices"])
    functions = {
        function.__number__: function
        for name, function in inspect.getmembers(importlib.import_module("autograder.problems.conv_matrices"))
        if name.startswith("test_")
    }
    cases = {test["number"]: test["extra_data"]["cases"] for test in report["tests"]}
    assert set(cases) == set(functions) and all(type(count) is int for count in cases.values()), cases
    for key, function in functions.items():
        if hasattr(function, "hypothesis"):
            explicit = len(getattr(function, "hypothesis_explicit_examples", []))
            limit = function._hypothesis_internal_use_settings.max_examples + explicit
            assert 1 < cases[key] <= limit, f"{key}: {cases[key]} cases, at most {limit} expected"
        else:
            assert cases[key] == 1, key
    total = report["extra_data"]["problems"]["conv_matrices"]["cases"]
    assert total == sum(cases.values())
    assert f"(conv_matrices): 3 / 3 ({total} cases checked)" in report["output"]


def test_grading_twice_gives_the_same_report(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "reference", submission)
    path = submission / "style_modules" / "style_loss.py"
    path.write_text(path.read_text().replace("gram = gram / (C * H * W)", "gram = gram / (H * W)"))
    first = grade(submission, tmp_path / "first.json", ["gram_matrix", "tv_loss"])
    second = grade(submission, tmp_path / "second.json", ["gram_matrix", "tv_loss"])
    strip = lambda report: [(t["number"], t["score"], t["output"]) for t in report["tests"]]  # noqa: E731
    assert strip(first) == strip(second)
    assert problem_scores(first)["gram_matrix"][0] < 2.5


def test_bad_arguments_and_bad_settings_write_nothing_and_run_autograder_still_reports(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "autograder", "grade", str(ROOT / "reference"), "--results", str(results)]
    completed = subprocess.run([*command, "--problems", "no_such_problem"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "unknown problem no_such_problem" in completed.stderr
    assert not results.exists()
    if not torch.cuda.is_available():
        completed = subprocess.run([*command, "--device", "cuda"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert completed.returncode == 2 and "no CUDA GPU is available" in completed.stderr
        assert not results.exists()
    environment = {**os.environ, "AUTOGRADER_CALL_SECONDS": "soon"}
    completed = subprocess.run(
        [*command, "--problems", "tv_loss"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2, "a bad setting is bad input, found before anything runs"
    assert "error: AUTOGRADER_CALL_SECONDS='soon' is not a valid float" in completed.stderr and not results.exists()
    root = tmp_path / "autograder"  # on Gradescope, run_autograder still writes a report that says so
    root.mkdir()
    (root / "source").symlink_to(ROOT)
    (root / "submission").mkdir()
    completed = subprocess.run(
        [str(ROOT / "run_autograder")],
        env={**environment, "AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0 and "AUTOGRADER_CALL_SECONDS='soon'" in completed.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    validate(report)
    assert report["output"].startswith("AUTOGRADER ERROR") and report["score"] == 0


def test_the_problems_verb_lists_keys_and_points() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "problems"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0
    assert "gram_matrix" in completed.stdout and "answers" in completed.stdout
    assert completed.stdout.splitlines()[-1].split() == ["total", "33"]
    widths = {line.index(" 2.5 ") for line in completed.stdout.splitlines() if " 2.5 " in line}
    assert len(widths) == 1, "the points column is aligned"


def test_the_untouched_template_scores_nothing_and_every_test_says_why(tmp_path: Path) -> None:
    report = grade(ROOT / "student_template", tmp_path / "results.json")
    assert report["score"] == 0 and not report["extra_data"]["autograder_failed"]
    assert {t["tags"][0] for t in report["tests"]} == {p.key for p in PROBLEMS}
    for test in report["tests"]:
        assert test["status"] == "failed" and "is not implemented yet" in test["output"], test
