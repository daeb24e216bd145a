"""The students' handout: the starter code and what a student needs, and nothing of the solution."""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder import known_answers
from autograder.handout import CHECK_MODULES, CHECKER, TEMPLATE_DIR, build_handout, public_suite
from autograder.intake import ALLOWLIST, SUPPORT_FILES
from autograder.problems import PROBLEMS
from autograder.reference import REFERENCE_DIR
from tests.scenarios import ROOT, Scenario, all_scenarios, grade, grade_all, problem_scores
from tests.test_html_report import REFERENCE_PICTURES, parse, pictures_of
from tests.test_scenarios import scenario_reports  # noqa: F401 - the grader's reports of the scenarios, shared

OWN_FILES = ("collect_submission.py", "README.md", "requirements.txt", "check.py")
CHECKER_FILES = (
    *(f"{CHECKER}/autograder/{name}" for name in (*CHECK_MODULES, "reference.py")),
    *(f"{CHECKER}/autograder/problems/{problem.key}.py" for problem in PROBLEMS),
    *(f"{CHECKER}/given/{path}" for path in SUPPORT_FILES),
    f"{CHECKER}/known_answers.npz",
)
SHARED_PARTS = {"style_loss": ("gram_matrix",), "style_transfer": ("content_loss", "style_loss", "tv_loss")}
"""In the check, these problems run with the student's own code of the others (the grader: the course's)."""


@pytest.fixture(scope="session")
def handout(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handout built once per test run, by whichever pytest process needs it first (recording takes half a minute)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if hasattr(request.config, "workerinput") else base
    built = shared / "handout" / "ps3"
    with (shared / "handout.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (built / "check.py").is_file():
            shutil.rmtree(built.parent, ignore_errors=True)
            # As an instructor builds it: from the command line, in a process of its own (this one may have
            # imported the reference, and loaded other settings of hypothesis, in other tests).
            command = [sys.executable, "-m", "autograder", "build", "handout", str(built), "--quiet"]
            subprocess.run(command, cwd=ROOT, check=True, timeout=600)
    return built


def student_copy(handout: Path, destination: Path, files_from: Path | None = None) -> Path:
    """A copy of the handout outside the repository, the submitted files taken from ``files_from`` if given."""
    shutil.copytree(handout, destination)
    if files_from is not None:
        for path in ALLOWLIST:
            shutil.copyfile(files_from / path, destination / path)
    return destination


def outside_environment() -> dict[str, str]:
    """The environment of a student's shell: no PYTHONPATH, nothing that points into the repository."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AUTOGRADER_"))}


def run_check(folder: Path, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "check.py", *arguments]
    return subprocess.run(command, cwd=folder, env=outside_environment(), capture_output=True, text=True, timeout=timeout)


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
    assert found == sorted([*ALLOWLIST, *SUPPORT_FILES, *OWN_FILES, *CHECKER_FILES])
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
    answers = (handout / CHECKER / "known_answers.npz").read_bytes()
    archive = build_handout(tmp_path / "ps3.zip", known_answers=answers).path
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


def test_the_starter_code_ships_the_same_collect_submission_py() -> None:
    """The template holds collect_submission.py too, the handout's exactly: the starter digests are the template's own."""
    from autograder.handout import collect_submission_script

    assert (TEMPLATE_DIR / "collect_submission.py").read_bytes() == collect_submission_script(), (
        "the starter code changed: write student_template/collect_submission.py again with "
        '.venv/bin/python -c "from autograder.handout import write_template_collector; write_template_collector()"'
    )


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


# --------------------------------------------------------------------------- check.py


def test_the_handout_ships_only_public_tests(handout: Path, tmp_path: Path) -> None:
    """Every test in the shipped suites is visible; a suite's tests of other visibility are cut out of its copy."""
    for problem in PROBLEMS:
        tree = ast.parse((handout / CHECKER / "autograder" / "problems" / f"{problem.key}.py").read_text())
        tests = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
        assert tests, problem.key
        for node in tests:
            shown = [d for d in node.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "visibility"]
            assert [ast.literal_eval(d.args[0]) for d in shown] == ["visible"], f"{problem.key}: {node.name}"
    suite = tmp_path / "suite.py"
    suite.write_text(
        '@weight(1)\n@visibility("visible")\ndef test_shown(student):\n    pass\n\n\n'
        '@weight(1)\n@visibility("hidden")\n@given(x=st.integers())\ndef test_secret(student, x):\n    assert x != 42\n\n\n'
        "def helper():\n    return 1\n"
    )
    public = public_suite(suite).decode()
    assert "test_shown" in public and "helper" in public
    assert "test_secret" not in public and "hidden" not in public and "42" not in public


def test_the_known_answers_are_plain_arrays(handout: Path) -> None:
    """They load without pickle, hold no object arrays, and name the versions they were recorded with."""
    with np.load(handout / CHECKER / "known_answers.npz", allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)
    book = known_answers.load(handout / CHECKER / "known_answers.npz")
    assert set(book.built_with) == {"torch", "numpy", "hypothesis"}
    assert len(book.tests) == sum(1 for _ in public_tests())
    assert (handout / CHECKER / "known_answers.npz").stat().st_size < 20 * 2**20


def public_tests() -> list[str]:
    return [
        f"{problem.key}.py::{node.name}"
        for problem in PROBLEMS
        for node in ast.parse(problem.suite.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def test_the_untouched_handout_checks_to_zero_and_says_what_is_not_implemented(handout: Path, tmp_path: Path) -> None:
    folder = student_copy(handout, tmp_path / "ps3")
    # check.py's own lines before its import, then the import: the checker's copy, not the repository's (which
    # setup.sh installs into this venv, so that it is within reach here as it is not on a student's machine).
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "__file__ = 'check.py'; exec(open('check.py').read().partition('from autograder')[0]); import autograder; print(autograder.__file__)",
        ],
        cwd=folder,
        env=outside_environment(),
        capture_output=True,
        text=True,
    )
    assert Path(imported.stdout.strip()).is_relative_to(folder / "checker"), imported.stdout + imported.stderr
    completed = run_check(folder, "--json", str(tmp_path / "check.json"))
    assert completed.returncode == 1, completed.stderr
    rows = {p.key: line for p in PROBLEMS for line in completed.stdout.splitlines() if line.startswith(f"{p.title}  ")}
    assert set(rows) == {p.key for p in PROBLEMS}
    assert all(line.endswith("not implemented yet") and " 0 / " in line for line in rows.values()), rows
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["score"] == 0 and len(report["tests"]) == len(public_tests())


def test_the_reference_files_pass_every_public_test(handout: Path, tmp_path: Path) -> None:
    """And its page (``--html``) shows the pictures of the grader's page, drawn from the known answers."""
    folder = student_copy(handout, tmp_path / "ps3", files_from=REFERENCE_DIR)
    completed = run_check(folder, "--json", str(tmp_path / "check.json"), "--html", str(tmp_path / "check.html"))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["score"] == sum(p.points for p in PROBLEMS) == 33
    assert all(test["status"] == "passed" for test in report["tests"])
    assert "Every public test passes" in completed.stdout
    page = parse((tmp_path / "check.html").read_text(encoding="utf-8"))
    for section, name, count, size in REFERENCE_PICTURES:
        assert [picture.size for picture in pictures_of(page, section, name)] == [size] * count, (section, name)
    assert "could not be" not in "".join(page.text), "every figure made from the known answers"


def test_a_stored_case_whose_input_cannot_be_made_again_fails_saying_so(handout: Path, tmp_path: Path) -> None:
    """The smallest recorded case of test 2.2 gets another digest, as if its features were made otherwise here."""
    folder = student_copy(handout, tmp_path / "ps3", files_from=REFERENCE_DIR)
    path = folder / CHECKER / "known_answers.npz"
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    index = json.loads(bytes(arrays["index"]).decode())
    cases = index["tests"]["gram_matrix.py::test_matches_reference_on_generated_batches"]["cases"]
    case = min(cases, key=lambda c: (c["size"], len(json.dumps(c["kwargs"], sort_keys=True))))  # the first replayed
    name, old = case["calls"][0]
    new = hashlib.sha256(old.encode()).hexdigest()[:32]
    case["calls"][0][1] = new
    index["answers"][name][new] = index["answers"][name].pop(old)
    arrays["index"] = np.frombuffer(json.dumps(index).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    completed = run_check(folder, "--problems", "gram_matrix", "--json", str(tmp_path / "check.json"))
    assert completed.returncode == 1
    failed = {
        t["number"]: t["output"] for t in json.loads((tmp_path / "check.json").read_text())["tests"] if t["status"] != "passed"
    }
    assert "2.2" in failed and "recorded case 1 of 60" in failed["2.2"], failed
    # The same input may serve a case of another test (the gradient's): it cannot be checked either, and says so.
    assert all("could not be made again exactly" in message for message in failed.values()), failed
    assert set(failed) <= {"2.2", "2.3", "2.6"}, "the tests that do not use the corrupted answer still pass"


def test_a_damaged_known_answers_file_is_said_to_be_damaged(handout: Path, tmp_path: Path) -> None:
    folder = student_copy(handout, tmp_path / "ps3")
    (folder / CHECKER / "known_answers.npz").write_bytes(b"not a zip at all")
    completed = run_check(folder, "--problems", "gram_matrix")
    assert completed.returncode == 2 and "is damaged" in completed.stderr and "fresh copy" in completed.stderr
    assert "Traceback" not in completed.stderr


# The equivalence of the check and the grader, on the scenario corpus. CI checks a sample of scenarios (two a
# problem, a mistake and a correct or degenerate one); bench/handout_equivalence.py runs every scenario.
EVERY_SCENARIO = os.environ.get("CHECK_EVERY_SCENARIO") == "1"


def equivalence_sample() -> list[Scenario]:
    scenarios = all_scenarios()
    if EVERY_SCENARIO:
        return scenarios
    chosen: list[Scenario] = []
    for problem in PROBLEMS:
        mine = [s for s in scenarios if list(s.expect) == [problem.key] and s.name.startswith(("mistake_", "wrong_"))]
        others = [s for s in scenarios if problem.key in s.expect and not s.name.startswith(("mistake_", "wrong_"))]
        chosen += [*mine[:1], *others[:1]]
    return list({scenario.name: scenario for scenario in chosen}.values())


def check_scenarios(handout: Path, workdir: Path, scenarios: list[Scenario], *spawn: str) -> dict[str, dict[str, Any]]:
    """The check's report of each scenario, from one process in a copy of the handout outside the repository."""
    folder = student_copy(handout, workdir / "ps3")
    shutil.copyfile(Path(__file__).with_name("check_driver.py"), folder / "check_driver.py")
    plan = []
    for scenario in scenarios:
        files = scenario.build(workdir / "submissions" / scenario.name)
        problems = sorted({*scenario.expect, *(p for key in scenario.expect for p in SHARED_PARTS.get(key, ()))})
        plan.append(
            {
                "name": scenario.name,
                "files": {path: str(files / path) if (files / path).is_file() else None for path in ALLOWLIST},
                "problems": problems,
            }
        )
    (workdir / "plan.json").write_text(json.dumps(plan))
    command = [sys.executable, "check_driver.py", str(workdir / "plan.json"), str(workdir / "reports"), *spawn]
    completed = subprocess.run(command, cwd=folder, env=outside_environment(), capture_output=True, text=True, timeout=3000)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return {s.name: json.loads((workdir / "reports" / f"{s.name}.json").read_text()) for s in scenarios}


def verdict_differences(scenario: Scenario, graded: dict[str, Any], checked: dict[str, Any]) -> list[str]:
    """Each public test of the scenario's problems whose verdict or points differ between the grader and the check.

    A problem that runs with other problems' code (SHARED_PARTS) may fail in the check alone, and only when the
    check fails one of those problems: the grader gives it the course's code, the check the student's own.
    """
    verdicts = {"graded": {}, "checked": {}}  # type: dict[str, dict[str, tuple[str, float, str]]]
    for side, report in (("graded", graded), ("checked", checked)):
        for test in report["tests"]:
            if test["visibility"] == "visible" and test["tags"][0] in scenario.expect:
                verdicts[side][test["number"]] = (test["status"], test["score"], test["tags"][0])
    failing = {test["tags"][0] for test in checked["tests"] if test["status"] != "passed"}
    differences = []
    for number in sorted(set(verdicts["graded"]) | set(verdicts["checked"])):
        grader, ours = verdicts["graded"].get(number), verdicts["checked"].get(number)
        if grader == ours:
            continue
        problem = (grader or ours)[2]  # type: ignore[index]
        if ours and ours[0] == "failed" and set(SHARED_PARTS.get(problem, ())) & failing:
            continue
        differences.append(f"{scenario.name} {number}: grader {grader}, check {ours}")
    return differences


def graded_reports(scenarios: list[Scenario], shared: dict[str, dict[str, Any]], workdir: Path) -> dict[str, dict[str, Any]]:
    """The grader's reports of ``scenarios``: those the scenario tests graded in this run, the others graded here."""
    graded = {s.name: shared[s.name] for s in scenarios if s.name in shared}
    missing = [s for s in scenarios if s.name not in graded]
    if missing:
        graded.update(grade_all(missing, workdir))
    return graded


def test_the_check_agrees_with_the_grader_on_the_scenarios(
    handout: Path,
    tmp_path: Path,
    scenario_reports: dict[str, dict[str, Any]],  # noqa: F811
) -> None:
    scenarios = equivalence_sample()
    graded = graded_reports(scenarios, scenario_reports, tmp_path / "grading")
    checked = check_scenarios(handout, tmp_path / "checking", scenarios)
    differences = [d for s in scenarios for d in verdict_differences(s, graded[s.name], checked[s.name])]
    assert differences == [], "\n".join(differences)
    assert {key for s in scenarios for key in s.expect} == {p.key for p in PROBLEMS}, "every problem is in the sample"


def test_the_spawn_path_agrees_with_the_grader(
    handout: Path,
    tmp_path: Path,
    scenario_reports: dict[str, dict[str, Any]],  # noqa: F811
) -> None:
    """A fresh Python process per problem (as where there is no fork server), on a few scenarios."""
    names = ("mistake_gram_matrix_divides_by_hw", "mistake_tv_loss_abs", "correct_answers_gd_default_float32_zeros")
    scenarios = [s for s in all_scenarios() if s.name in names]
    assert len(scenarios) == len(names)
    graded = graded_reports(scenarios, scenario_reports, tmp_path / "grading")
    checked = check_scenarios(handout, tmp_path / "checking", scenarios, "--spawn")
    assert [d for s in scenarios for d in verdict_differences(s, graded[s.name], checked[s.name])] == []


LOOKUP_GRAM = """

def _looked_up(features, normalize):
    import hashlib

    import torch

    values = features.detach().cpu().contiguous().numpy()
    key = hashlib.sha256(values.tobytes()).hexdigest() + str(values.shape) + str(bool(normalize))
    if key in TABLE:
        shape, values = TABLE[key]
        return torch.tensor(values, dtype=features.dtype).reshape(shape)
    return torch.zeros(features.shape[0], features.shape[1], features.shape[1], dtype=features.dtype)


StyleLoss.gram_matrix = lambda self, features, normalize=True: _looked_up(features, normalize)
"""


def test_a_submission_that_looks_up_the_handouts_answers_passes_the_check_but_not_the_deployed_grader(
    handout: Path, tmp_path: Path
) -> None:
    """Its Gram matrix answers from a table of the handout's recorded cases (embedded in its file), zeros elsewhere."""
    from autograder.problems import gram_matrix

    book = known_answers.load(handout / CHECKER / "known_answers.npz")
    test = "gram_matrix.py::test_matches_reference_on_generated_batches"
    table = {}
    with known_answers.using(book):
        for case in book.recorded_cases(test) or []:
            drawn = known_answers.decode_case(case.kwargs)["case"]
            book.begin_case({}, case)
            features = drawn.features()
            expected = gram_matrix.expected_gram(features, drawn.normalize)
            values = features.numpy()
            key = hashlib.sha256(values.tobytes()).hexdigest() + str(values.shape) + str(drawn.normalize)
            table[key] = (list(expected.shape), expected.flatten().tolist())
    assert len(table) >= 50
    cheat = tmp_path / "cheat"
    shutil.copytree(REFERENCE_DIR, cheat)
    style_loss = cheat / "style_modules" / "style_loss.py"
    style_loss.write_text(style_loss.read_text() + f"\nTABLE = {table!r}\n" + LOOKUP_GRAM)

    folder = student_copy(handout, tmp_path / "ps3", files_from=cheat)
    completed = run_check(folder, "--problems", "gram_matrix", "--json", str(tmp_path / "check.json"))
    checked = {t["number"]: t["status"] for t in json.loads((tmp_path / "check.json").read_text())["tests"]}
    assert checked["2.2"] == "passed", completed.stdout[-3000:]

    salt = tmp_path / "case_salt"
    salt.write_text("a course's secret, fall 2026\n")
    command = [sys.executable, "-m", "autograder", "grade", str(cheat), "--results", str(tmp_path / "graded.json")]
    environment = {**os.environ, "AUTOGRADER_CASE_SALT_FILE": str(salt)}
    subprocess.run([*command, "--problems", "gram_matrix", "--quiet"], cwd=ROOT, env=environment, check=True, timeout=600)
    graded = {t["number"]: t for t in json.loads((tmp_path / "graded.json").read_text())["tests"]}
    assert graded["2.2"]["status"] == "failed", "the deployed grader's own cases are not in the handout's table"
    assert graded["2.1"]["status"] == checked["2.1"], "the course's setting is the same fixed case in both"


def test_watch_checks_again_the_problems_whose_files_are_saved(handout: Path, tmp_path: Path) -> None:
    folder = student_copy(handout, tmp_path / "ps3")
    command = [sys.executable, "-u", "check.py", "--watch", "--problems", "gram_matrix,tv_loss"]
    process = subprocess.Popen(command, cwd=folder, env=outside_environment(), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    reports: list[str] = []
    try:
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("(checked "):
                reports.append("".join(lines))
                lines = []
                if len(reports) == 1:
                    shutil.copyfile(REFERENCE_DIR / "style_modules" / "style_loss.py", folder / "style_modules" / "style_loss.py")
                else:
                    break
    finally:
        process.terminate()
        process.wait(30)
    first, second = reports
    assert "(checked gram_matrix, tv_loss in" in first and re.search(r"^Gram matrix +0 / 2.5 ", first, re.M)
    assert "(checked gram_matrix in" in second, "only the problem whose file changed is checked again"
    assert re.search(r"^Gram matrix +2.5 / 2.5 +passed$", second, re.M) and "Total variation loss" not in second
