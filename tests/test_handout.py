"""The students' handout: the starter code and what a student needs, and nothing of the solution."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.handout import TEMPLATE_DIR, build_handout
from autograder.intake import ALLOWLIST, SUPPORT_FILES
from autograder.reference import REFERENCE_DIR
from tests.scenarios import ROOT, grade, problem_scores

OWN_FILES = ("collect_submission.py", "README.md", "requirements.txt")


@pytest.fixture(scope="module")
def handout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_handout(tmp_path_factory.mktemp("handout") / "ps3").path


def python_files(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): path.read_text() for path in sorted(folder.rglob("*.py"))}


def function_bodies(sources: dict[str, str]) -> dict[str, str]:
    """Every function's body (its docstring left out) as an AST dump, to where it is: ``file:qualified name``."""
    bodies: dict[str, str] = {}
    for name, source in sources.items():
        tree = ast.parse(source)
        for parent in ast.walk(tree):
            for node in ast.iter_child_nodes(parent):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                    if body:
                        place = f"{name}:{getattr(parent, 'name', '')}.{node.name}".replace(":.", ":")
                        bodies.setdefault(ast.dump(ast.Module(body=body, type_ignores=[])), place)
    return bodies


def test_the_handout_holds_the_starter_code_the_given_files_and_its_own(handout: Path) -> None:
    found = sorted(path.relative_to(handout).as_posix() for path in handout.rglob("*") if path.is_file())
    assert found == sorted([*ALLOWLIST, *SUPPORT_FILES, *OWN_FILES])
    for path in ALLOWLIST:
        assert (handout / path).read_bytes() == (TEMPLATE_DIR / path).read_bytes(), path
    for path in SUPPORT_FILES:
        assert (handout / path).read_bytes() == (REFERENCE_DIR / path).read_bytes(), f"{path}: not the grader's copy"
    readme = (handout / "README.md").read_text()
    assert all(f"`{path}`" in readme for path in ALLOWLIST) and "__FILES__" not in readme


def test_the_handout_holds_no_file_and_no_function_body_of_the_solution(handout: Path) -> None:
    """Given code is public (it is the same in the starter code); every other function of reference/ must be absent."""
    reference, starter = python_files(REFERENCE_DIR), python_files(TEMPLATE_DIR)
    shipped = python_files(handout)
    for name, source in reference.items():
        if name not in SUPPORT_FILES:
            assert source not in shipped.values(), f"the handout holds reference/{name}"
    solution = {body: place for body, place in function_bodies(reference).items() if body not in function_bodies(starter)}
    assert "style_modules/content_loss.py:ContentLoss.forward" in solution.values(), "the check must see the solution"
    assert len(solution) >= 20, sorted(solution.values())
    leaked = sorted(place for body, place in solution.items() if body in function_bodies(shipped))
    assert leaked == [], f"the handout holds the solution of {leaked}"


def test_a_zipped_handout_holds_the_same_files(handout: Path, tmp_path: Path) -> None:
    archive = build_handout(tmp_path / "ps3.zip").path
    with zipfile.ZipFile(archive) as stream:
        zipped = {name: stream.read(name) for name in stream.namelist()}
    assert zipped == {path.relative_to(handout).as_posix(): path.read_bytes() for path in handout.rglob("*") if path.is_file()}


def test_the_handout_is_not_written_over_a_folder_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("a student's work")
    command = [sys.executable, "-m", "autograder", "build", "handout", str(tmp_path / "taken")]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "is not an empty folder" in completed.stderr
    assert (tmp_path / "taken" / "mine.txt").read_text() == "a student's work"


def collect(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "collect_submission.py"], cwd=folder, capture_output=True, text=True, timeout=60)


def test_collect_submission_packs_the_submitted_files_and_says_what_is_missing_or_unchanged(
    handout: Path, tmp_path: Path
) -> None:
    untouched = collect(handout)
    assert untouched.returncode == 0, untouched.stderr
    assert f"Still the starter code as handed out (they earn nothing yet): {', '.join(ALLOWLIST)}" in untouched.stdout
    (handout / "submission.zip").unlink()
    work = tmp_path / "work"
    work.mkdir()
    (work / "collect_submission.py").write_bytes((handout / "collect_submission.py").read_bytes())
    for path in ALLOWLIST[1:]:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes((REFERENCE_DIR / path).read_bytes().replace(b"\n", b"\r\n"))
    (work / "notes.txt").write_text("not submitted")
    done = collect(work)
    assert done.returncode == 0, done.stderr
    assert f"Missing from this folder (their problems earn nothing): {ALLOWLIST[0]}" in done.stdout
    assert "Still the starter code" not in done.stdout
    with zipfile.ZipFile(work / "submission.zip") as stream:
        assert stream.namelist() == list(ALLOWLIST[1:])
    (work / ALLOWLIST[1]).write_bytes((TEMPLATE_DIR / ALLOWLIST[1]).read_bytes().replace(b"\n", b"\r\n"))
    assert f"handed out (they earn nothing yet): {ALLOWLIST[1]}\n" in collect(work).stdout, "line endings do not count"


def test_collect_submissions_zip_is_graded_as_the_folder_is(handout: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ps3"
    folder.mkdir()
    for path in [*ALLOWLIST, "collect_submission.py"]:
        source = REFERENCE_DIR / path if path in ALLOWLIST else handout / path
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(source.read_bytes())
    (folder / "style_modules" / "tv_loss.py").write_bytes((TEMPLATE_DIR / "style_modules" / "tv_loss.py").read_bytes())
    assert collect(folder).returncode == 0
    problems = ["content_loss", "tv_loss", "answers"]
    zipped = grade(folder / "submission.zip", tmp_path / "zip.json", problems)
    loose = grade(folder, tmp_path / "folder.json", problems)
    assert (
        problem_scores(zipped)
        == problem_scores(loose)
        == {"content_loss": (2.0, 2.0), "tv_loss": (0.0, 2.0), "answers": (6.0, 6.0)}
    )
    verdicts = [[(test["number"], test["status"]) for test in report["tests"]] for report in (zipped, loose)]
    assert verdicts[0] == verdicts[1]
    assert json.loads((tmp_path / "zip.json").read_text())["score"] == 8.0
