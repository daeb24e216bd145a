"""The command line as a new user meets it: the installed ``ps3-autograder``, run from a folder outside the checkout.

The console script is what ``./setup.sh`` installs (``pip install -e .``);
these tests run it from a temporary folder, as a user would, and check what a
script can rely on: exit statuses, which files are written, and a report
short enough to read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.problems import PROBLEMS
from tests.scenarios import ROOT, SCENARIOS

COMMAND = ROOT / ".venv" / "bin" / "ps3-autograder"


def ps3_autograder(
    *arguments: str | Path, cwd: Path, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    if not COMMAND.exists():
        pytest.fail(f"{COMMAND} is missing: ./setup.sh installs the package and its command")
    return subprocess.run(
        [str(COMMAND), *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(environment or {})},
    )


def two_bug_submission(folder: Path) -> Path:
    """Two problems done and one started with a bug each, nine not started: a student's first submission."""
    shutil.copytree(ROOT / "student_template", folder)
    shutil.copy(ROOT / "reference" / "style_modules" / "content_loss.py", folder / "style_modules")
    shutil.copy(SCENARIOS / "mistake_gram_matrix_view_batch_of_one" / "style_modules" / "style_loss.py", folder / "style_modules")
    shutil.copy(SCENARIOS / "mistake_tv_loss_abs" / "style_modules" / "tv_loss.py", folder / "style_modules")
    return folder


def test_a_first_submission_gets_a_short_report_naming_each_bug_and_nothing_is_written_where_it_runs(tmp_path: Path) -> None:
    here = tmp_path / "somewhere"
    here.mkdir()
    submission = two_bug_submission(tmp_path / "hw3")
    completed = ps3_autograder("grade", submission, cwd=here)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) <= 60, completed.stdout
    assert 'style_modules/style_loss.py", line 21' in completed.stdout, "the Gram bug, where it is"
    assert "This looks like a known mistake" in completed.stdout.partition("Total variation loss:")[2], "the TV hint"
    not_started = [p for p in PROBLEMS if p.key not in ("content_loss", "gram_matrix", "style_loss", "tv_loss")]
    for problem in not_started:
        assert sum(line.startswith(problem.title) for line in lines) == 1, f"{problem.title}: one line"
        assert any(line.startswith(problem.title) and line.endswith("not implemented yet") for line in lines)
    assert list(here.iterdir()) == [], "without --results, nothing is written in the current folder (no .hypothesis/)"


def test_an_empty_folder_gets_one_line_per_problem(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    completed = ps3_autograder("grade", tmp_path / "empty", "--results", tmp_path / "out" / "results.json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    for problem in PROBLEMS:
        assert [line for line in lines if problem.title in line and "missing" in line], problem.key
    assert sum("is missing from your submission" in line for line in lines) == len(PROBLEMS)
    assert len(lines) <= len(PROBLEMS) + 8, completed.stdout
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["score"] == 0 and (tmp_path / "out" / "results.json").stat().st_mode & 0o777 == 0o644


def test_bad_input_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    missing = ps3_autograder("grade", tmp_path / "no_such_folder", "--results", results, cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr
    typo = ps3_autograder("grade", ROOT / "reference", "--problems", "tv_los", "--results", results, cwd=tmp_path)
    assert typo.returncode == 2 and "unknown problem tv_los" in typo.stderr
    (tmp_path / "class").mkdir()
    empty_class = ps3_autograder("batch", tmp_path / "class", "--out", tmp_path / "out", cwd=tmp_path)
    assert empty_class.returncode == 2 and "holds no submissions" in empty_class.stderr
    bad_shard = ps3_autograder("batch", tmp_path / "class", "--out", tmp_path / "out", "--shard", "0/3", cwd=tmp_path)
    assert bad_shard.returncode == 2 and "--shard='0/3'" in bad_shard.stderr, bad_shard.stderr
    retired = ps3_autograder("grade-class", tmp_path / "class", "--out-dir", tmp_path / "out", cwd=tmp_path)
    assert retired.returncode == 2 and "replaced by batch" in retired.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["class"], "nothing was written"


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("AUTOGRADER_CALL_SECONDS", "soon", "AUTOGRADER_CALL_SECONDS='soon' is not a valid float"),
        ("AUTOGRADER_MEMORY_BYTES", "-1", "AUTOGRADER_MEMORY_BYTES='-1' must be positive"),
        ("AUTOGRADER_DEVICE", "gpu", "AUTOGRADER_DEVICE='gpu' must be one of auto, cpu, cuda"),
        ("AUTOGRADER_PROBLEMS", "tv_los", "AUTOGRADER_PROBLEMS: unknown problem tv_los"),
        ("AUTOGRADER_JOBS", "two", "AUTOGRADER_JOBS='two' must be a whole number"),
    ],
)
def test_a_bad_setting_is_an_error_that_names_it_before_anything_is_graded(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    results = tmp_path / "results.json"
    verb: list[str | Path] = (
        ["batch", ROOT / "reference", "--out", tmp_path / "out"]
        if setting == "AUTOGRADER_JOBS"
        else ["grade", ROOT / "reference", "--results", results]
    )
    completed = ps3_autograder(*verb, cwd=tmp_path, environment={setting: value})
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith(f"error: {message}"), completed.stderr
    assert "could not be started" not in completed.stderr and list(tmp_path.iterdir()) == []


def test_every_verbs_help_states_the_exit_status_and_grades_help_the_limits(tmp_path: Path) -> None:
    for verb in ("grade", "batch"):
        completed = ps3_autograder(verb, "--help", cwd=tmp_path)
        assert completed.returncode == 0
        assert "Exit status: 0" in completed.stdout and "AUTOGRADER_CALL_SECONDS" in completed.stdout, verb
    assert "without it, the report is only printed" in " ".join(ps3_autograder("grade", "--help", cwd=tmp_path).stdout.split())
