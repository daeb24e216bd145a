"""What a course deploys: the Gradescope zip (``build gradescope``) and the container (``docker/Dockerfile``).

No Docker daemon runs here, so the Dockerfile's steps are replayed, with the
same scripts, in a temporary root that stands for ``/autograder``
(``AUTOGRADER_ROOT``): a renamed script or a wrong path in a step fails here.
Both the zip's check and the replay run ``setup.sh`` as root, so their roots
are made where the worker user can read (``tmp_path`` is 0700).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autograder import cli, gradescope_package
from autograder.gradescope_package import EXECUTABLES, FOLDERS, ROOT_FILES, SALT, package_files, zip_bytes
from autograder.problems import PROBLEMS
from autograder.results import validate
from tests.scenarios import collect_submission
from tests.test_readme import BUILD_GRADESCOPE, README, code_blocks

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = "gradescope/autograder-base:ubuntu-22.04"
MAXIMUM = f"{sum(problem.points for problem in PROBLEMS):g}"
"""Full marks, as the reports print them (33)."""
SKIPPED_HERE = {
    "rm -rf /var/lib/apt/lists/*": "it keeps the image small; here it would empty this machine's apt lists",
}
"""Parts of RUN steps (between ``&&``) that the replay leaves out, and why. Everything else runs."""


@pytest.fixture
def readable_root() -> Iterator[Path]:
    """A temporary folder the worker user can read (setup.sh's venv and run_autograder's submission are in it)."""
    root = Path(tempfile.mkdtemp(prefix="packaging-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def copy_of_the_tree(target: Path) -> Path:
    """The paths the zip is built from and checked with, copied into the new folder ``target`` (new times, same modes)."""
    target.mkdir(parents=True)
    for name in ROOT_FILES:
        shutil.copy(ROOT / name, target / name)
    for folder in (*FOLDERS, "student_template"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "case_salt"))
    return target


# --------------------------------------------------------------------------- the zip


CHECKED = "tv_loss,answers"
CHECKED_POINTS = 8


def test_the_readmes_build_command_passes_its_own_check_and_zips_only_what_grading_needs(tmp_path: Path) -> None:
    """The README's command, from the command line, with this checkout's venv (a new one is the Dockerfile test's job).

    It checks with two problems graded (--problems): the Dockerfile's replay grades every problem through run_autograder.
    """
    words = shlex.split(BUILD_GRADESCOPE)
    out = tmp_path / words[-1]
    command = [str(ROOT / words[0]), *words[1:-1], str(out), "--reuse-venv", str(ROOT / ".venv"), "--problems", CHECKED]
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    printed = completed.stdout
    some = f"(only some problems: {MAXIMUM} points in all)"
    assert f"run_autograder on reference/ as a submission zip: {CHECKED_POINTS}/{CHECKED_POINTS} {some}" in printed, printed
    assert f"run_autograder on student_template/ as a submission zip: 0/{CHECKED_POINTS} {some}" in printed, printed
    assert "imports the zip's harness (/" in printed and "found up to date" in printed, printed
    salted = (ROOT / SALT).is_file()
    assert ("holds the course's salt" if salted else "holds no salt") in printed, printed
    assert re.search(r"Wrote .*autograder\.zip \(\d+ KiB, \d+ files, (with|no) salt\), checked in \d+ s", printed), printed
    print(f"build gradescope --reuse-venv: {seconds:.0f} s\n{printed}")

    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert {name.split("/")[0] for name in names} == {*ROOT_FILES, *FOLDERS}
    assert names == sorted(names) and all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in infos)
    left_out = [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".egg-info" in n]
    assert not left_out, left_out
    assert (SALT in names) == salted
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert all(modes[name] == 0o755 for name in EXECUTABLES), modes
    assert not [path for path in os.listdir(tmp_path) if path != out.name], "no temporary file is left beside the zip"


def test_two_builds_of_the_same_tree_are_the_same_bytes_and_the_salt_goes_in_closed(tmp_path: Path) -> None:
    first = copy_of_the_tree(tmp_path / "first")
    second = copy_of_the_tree(tmp_path / "second")
    assert zip_bytes(package_files(first)) == zip_bytes(package_files(second))
    assert SALT not in package_files(first), "the copy has no salt"
    salt = tmp_path / "salt"
    salt.write_text("0123456789abcdef\n")
    files = package_files(first, salt)
    assert files[SALT] == (b"0123456789abcdef\n", 0o600)
    assert not any(name.startswith("student_template/") for name in files), "grading does not need the starter code"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda tree: (tree / "setup.sh").unlink(), "setup.sh is missing from the zip"),
        (lambda tree: (tree / "run_autograder").chmod(0o644), "run_autograder is not executable in the zip"),
        (lambda tree: shutil.rmtree(tree / "reference"), "reference/ is missing from the zip"),
    ],
    ids=["setup.sh-missing", "run_autograder-not-executable", "reference-missing"],
)
def test_a_broken_package_fails_its_check_with_a_clear_message_and_no_zip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], object], message: str
) -> None:
    tree = copy_of_the_tree(tmp_path / "tree")
    damage(tree)
    out = tmp_path / "out" / "autograder.zip"
    assert gradescope_package.main(out, quiet=True, source_root=tree) == 1
    error = capsys.readouterr().err
    assert f"the zip failed its check, so {out} was not written: {message}" in error, error
    assert not out.exists() and not list(out.parent.iterdir()), "no zip, and no temporary file, is left"


def test_bad_arguments_exit_2_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for arguments, message in [
        ([str(tmp_path / "autograder.tar")], "does not end in .zip"),
        ([str(a_file / "autograder.zip")], f"cannot write in {a_file}"),
        ([str(tmp_path / "x.zip"), "--reuse-venv", str(tmp_path)], "not a venv"),
        ([str(tmp_path / "x.zip"), "--salt-file", str(tmp_path / "none")], "no such file"),
    ]:
        assert cli.main(["build", "gradescope", *arguments]) == 2
        assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_a_wrong_score_names_the_tests_that_made_it() -> None:
    tests = [
        {"number": "1.1", "name": "content loss: value", "score": 1.0, "max_score": 1.0},
        {"number": "2.1", "name": "Gram matrix: value", "score": 0.0, "max_score": 1.5},
        {"number": "2.2", "name": "Gram matrix: shape", "score": 0.5, "max_score": 1.0},
    ]
    report = {"score": 1.5, "tests": tests}
    assert gradescope_package.describe_score(report, 33, "the reference", "full") == (
        "run_autograder scored the reference 1.5/33 (expected 33); failed: 2.1 Gram matrix: value, 2.2 Gram matrix: shape"
    )
    assert gradescope_package.describe_score(report, 33, "the starter code", "zero").startswith(
        "run_autograder scored the starter code 1.5/33 (expected 0); scored points: 1.1 content loss: value, 2.2"
    )


# --------------------------------------------------------------------------- the container


def dockerfile_steps(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """The Dockerfile's instructions and their arguments, continuation lines joined, comments left out."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        instruction, _, arguments = (pending + line).strip().partition(" ")
        steps.append((instruction.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return steps


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``relative`` out of the build context: the last pattern that matches it or a folder above it wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, body) or fnmatch.fnmatchcase(prefix, body.removeprefix("**/")) for prefix in prefixes):
            excluded = not negated
    return excluded


def copy_into(source: Path, destination: Path, patterns: list[str]) -> None:
    """COPY: a file into a folder (``dest/``) or to its path; a folder's contents into ``dest``; what .dockerignore leaves."""
    relative = source.relative_to(ROOT).as_posix()
    if source.is_file():
        assert not ignored(relative, patterns), f"COPY {relative}: .dockerignore leaves it out of the build context"
        target = destination / source.name if str(destination).endswith("/") or destination.is_dir() else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return
    assert source.is_dir(), f"COPY {relative}: no such file or folder in the build context"
    for path in sorted(source.rglob("*")):
        inner = path.relative_to(ROOT).as_posix()
        if path.is_file() and not ignored(inner, patterns):
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def replay_dockerfile(root: Path) -> list[str]:
    """Run the Dockerfile's steps with ``/autograder`` at ``root``; what each step did, for the test's output."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    variables: dict[str, str] = {}
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_") and k not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    done = []
    for instruction, arguments in dockerfile_steps():
        if instruction == "FROM":
            assert arguments == BASE_IMAGE, f"the image is based on {arguments}, not {BASE_IMAGE}"
            done.append(f"FROM {arguments}: this machine stands for it")
        elif instruction in {"ARG", "ENV"}:
            name, _, value = arguments.partition("=")
            variables[name] = substitute(value.strip('"'), variables)
            environment[name] = variables[name]
            done.append(f"{instruction} {name}={variables[name]}")
        elif instruction == "COPY":
            *sources, destination = shlex.split(substitute(arguments, variables))
            assert destination.startswith("/autograder"), f"COPY to {destination}, outside /autograder"
            target = Path(str(root) + destination[len("/autograder") :])
            if destination.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            for source in sources:
                copy_into(ROOT / source, target, patterns)
            done.append(f"COPY {arguments}")
        elif instruction == "RUN":
            parts = [part.strip() for part in re.split(r"\s&&\s", arguments)]
            skipped = [part for part in parts if part in SKIPPED_HERE]
            command = " && ".join(part for part in parts if part not in SKIPPED_HERE).replace("/autograder", str(root))
            started = time.monotonic()
            completed = subprocess.run(["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, timeout=1800)
            assert completed.returncode == 0, (
                f"RUN {arguments}\nfailed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
            )
            done.append(f"RUN {command} ({time.monotonic() - started:.1f} s)")
            done.extend(f"  skipped: {part} ({SKIPPED_HERE[part]})" for part in skipped)
        else:
            raise AssertionError(f"the replay does not know {instruction} (and CMD or ENTRYPOINT must stay the base image's)")
    return done


def test_the_dockerfiles_steps_replayed_here_grade_the_reference_at_full_marks(readable_root: Path) -> None:
    """Every step but :data:`SKIPPED_HERE`, with the same scripts; setup.sh builds its venv for real (torch from this machine's wheel)."""
    root = readable_root / "autograder"
    root.mkdir(mode=0o755)
    started = time.monotonic()
    done = replay_dockerfile(root)
    replayed = time.monotonic() - started
    assert os.access(root / "run_autograder", os.X_OK), "run_autograder is not where Gradescope runs it"
    copied = {path.relative_to(root / "source").as_posix() for path in (root / "source").rglob("*") if path.is_file()}
    copied = {name for name in copied if not name.startswith(".venv/") and ".egg-info/" not in name and "__pycache__" not in name}
    assert copied == set(package_files()), "the image's /autograder/source holds what build gradescope zips"

    check = next(text for step, text in dockerfile_steps() if step == "RUN" and "torch.version.cuda" in text)
    environment = {**os.environ, "TORCH_VARIANT": "cu128"}
    wrong = subprocess.run(
        ["/bin/sh", "-c", check.replace("/autograder", str(root))], env=environment, capture_output=True, text=True
    )
    assert wrong.returncode != 0 and "build, not cu128" in wrong.stderr, "a CPU wheel must fail the CUDA image's build"

    (root / "submission").mkdir(mode=0o755)
    collect_submission(ROOT / "reference", root / "submission" / "submission.zip")
    started = time.monotonic()
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    environment.pop("AUTOGRADER_PROBLEMS", None)
    completed = subprocess.run([str(root / "run_autograder")], env=environment, capture_output=True, text=True, timeout=900)
    graded = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    validate(report)
    assert f"{report['score']:g}" == MAXIMUM, report["output"]
    print(
        "\n".join(
            [*done, f"replayed in {replayed:.0f} s; run_autograder graded the reference {MAXIMUM}/{MAXIMUM} in {graded:.0f} s"]
        )
    )


def test_the_readmes_docker_commands_use_the_dockerfile_its_build_argument_and_gradescopes_folders() -> None:
    commands = " ".join(block.replace("\\\n", " ") for block in code_blocks(README.read_text()) if "docker " in block)
    arguments = {name for instruction, text in dockerfile_steps() if instruction == "ARG" for name in [text.partition("=")[0]]}
    assert "docker build -f docker/Dockerfile" in commands and DOCKERFILE.is_file()
    assert set(re.findall(r"--build-arg (\w+)=", commands)) <= arguments and "--build-arg TORCH_VARIANT=cu128" in commands
    assert '-v "$PWD/submission:/autograder/submission" -v "$PWD/results:/autograder/results"' in commands
    assert "--gpus all" in commands and "/autograder/run_autograder --device auto" in commands
    assert "docker push" in commands
    assert not [step for step, _ in dockerfile_steps() if step in {"CMD", "ENTRYPOINT"}], (
        "the base image's CMD and ENTRYPOINT stay"
    )
