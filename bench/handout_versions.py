"""Whether the handout's check gives the same verdicts with other Pythons, torches, numpys and hypotheses (issue 11).

    .venv/bin/python bench/handout_versions.py [--handout DIR] [--venvs DIR] [--mixes NAMES] [--scenarios NAMES]

Builds a handout (or uses ``--handout DIR``), makes a throwaway venv for each
version mix (in a temporary folder, or in ``--venvs DIR``, where they are kept
and reused while their packages stay the same), each with the handout's
``requirements.txt`` and the mix's pins, and runs ``python check.py --json``
there as a student would (no PYTHONPATH, the handout's own ``checker/``) on:

- the untouched handout (it must score 0),
- the handout with the reference's files (``intake.ALLOWLIST`` from ``reference/``: full marks),
- a few scenarios of ``tests/scenarios/`` (``--scenarios``; their files laid
  over a fresh copy of the handout, after the reference's where their base is
  the reference), checked on the problems their ``scenario.json`` expects.
  Scenarios that change different files share a folder and a check
  (``--separate``: one each), since starting a check takes most of its time.

Each public test's status and score is compared with the same run under the
build's own venv (``.venv``); every difference is listed, and the exit status
is 1 if there is one. A difference that the check explains itself (its
message that an input "could not be made again exactly", when another torch
draws other random numbers or builds another model: ``known_answers.remade``)
is marked ``remade``; ``--allow-remade`` does not count those. The versions
of every venv are printed first.

The mixes (``--mixes``, comma-separated, default all):

- ``py39-oldest``: Python 3.9, torch 2.0.0, numpy 1.23, Pillow 9, hypothesis
  6.100, pytest 7.0 with pluggy 1.0: the oldest the handout's requirements allow;
- ``py310-older``: Python 3.10, torch 2.4, numpy 1.26, hypothesis 6.112;
- ``py313-newest``: Python 3.13 and the newest of everything (torch from PyPI,
  past this machine's local cap on torch: ``PIP_CONSTRAINT=/dev/null``).

A mix whose Python is not found (pyenv's versions, ``pythonX.Y`` on the PATH)
is skipped, saying so. Making the venvs takes minutes (PyPI's torch is the CUDA
build, a few GB each); once they exist, a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.intake import ALLOWLIST  # noqa: E402
from tests.scenarios import SCENARIOS, Scenario  # noqa: E402

BUILD_PYTHON = ROOT / ".venv" / "bin" / "python"
PYENV = Path("/root/.pyenv/versions")
REMADE = ("could not be made again exactly", "could not make")
"""What the check says when an input it made again differs from the recorded one (``known_answers``)."""
DEFAULT_SCENARIOS = (
    "mistake_content_loss_item_detached",
    "mistake_gram_matrix_view_batch_of_one",
    "mistake_tv_loss_roll_wraparound",
    "mistake_style_transfer_no_zero_grad",
    "correct_style_transfer_grad_set_to_none",
    "mistake_saliency_batch_mean",
    "mistake_gradcam_relu_before_channel_sum",
    "mistake_fooling_image_gradient_not_normalized",
    "correct_class_visualization_grad_set_to_none",
    "mistake_class_visualization_l2_wrong_sign",
    "mistake_conv_matrices_q3_channel_last",
    "gaming_answers_gd_first_step_then_least_squares",
)
VERSIONS = """
import json, sys
found = {"python": sys.version.split()[0]}
for name, module in (("torch", "torch"), ("numpy", "numpy"), ("hypothesis", "hypothesis"), ("pytest", "pytest"),
                     ("pluggy", "pluggy"), ("pillow", "PIL"), ("scipy", "scipy")):
    try:
        found[name] = __import__(module).__version__
    except Exception as error:
        found[name] = f"({type(error).__name__})"
print(json.dumps(found))
"""


@dataclass(frozen=True)
class Mix:
    name: str
    python: str
    """``X.Y``."""
    pins: tuple[str, ...]
    newest: bool = False
    """Upgrade everything, past this machine's local cap on torch."""


MIXES = (
    Mix(
        "py39-oldest",
        "3.9",
        (
            "torch==2.0.0",
            "numpy==1.23.5",
            "pillow<10",
            "hypothesis==6.100.0",
            "pytest==7.0.1",
            "pluggy==1.0.0",
            "tabulate==0.9.0",
        ),
    ),
    Mix("py310-older", "3.10", ("torch==2.4.1", "numpy==1.26.4", "hypothesis==6.112.0", "pytest==8.0.0")),
    Mix("py313-newest", "3.13", (), newest=True),
)


@dataclass(frozen=True)
class Submission:
    name: str
    folder: Path
    problems: tuple[str, ...] | None
    """The problems to check (``--problems``); ``None``: every one."""


def student_environment() -> dict[str, str]:
    """This environment without what would point a Python elsewhere (PYTHONPATH, a venv) or change the limits."""
    drop = ("PYTHON", "AUTOGRADER_", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


def find_python(version: str) -> Path | None:
    for candidate in sorted(PYENV.glob(f"{version}.*"), reverse=True):
        if (candidate / "bin" / f"python{version}").is_file():
            return candidate / "bin" / f"python{version}"
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


def make_venv(mix: Mix, python: Path, folder: Path, requirements: Path) -> Path:
    """The mix's venv in ``folder``: reused when its stamp says it was made the same way, else made anew."""
    command = ["-m", "pip", "install", "--progress-bar", "off", "-r", "requirements.txt", *mix.pins]
    if mix.newest:
        command[3:3] = ["--upgrade", "--upgrade-strategy", "eager"]
    stamp = {"python": str(python), "command": command, "requirements": requirements.read_text()}
    stamp_file = folder / "bench-stamp.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return folder / "bin" / "python"
    print(f"Making the venv {mix.name} in {folder} (minutes)...", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(folder)], check=True)
    environment = student_environment()
    if mix.newest:
        environment["PIP_CONSTRAINT"] = os.devnull
    with tempfile.TemporaryDirectory(prefix="requirements-") as scratch:
        shutil.copyfile(requirements, Path(scratch) / "requirements.txt")
        log = folder / "bench-install.log"
        with log.open("w") as stream:
            done = subprocess.run(
                [str(folder / "bin" / "python"), *command], cwd=scratch, env=environment, stdout=stream, stderr=subprocess.STDOUT
            )
    if done.returncode != 0:
        raise SystemExit(f"error: pip could not make the venv {mix.name}; see {log}")
    stamp_file.write_text(json.dumps(stamp, indent=1))
    return folder / "bin" / "python"


def versions(python: Path) -> dict[str, str]:
    done = subprocess.run([str(python), "-c", VERSIONS], capture_output=True, text=True, env=student_environment())
    if done.returncode != 0:
        return {"python": f"(does not start: {done.stderr.strip()[-200:]})"}
    return dict(json.loads(done.stdout))


def copy_handout(handout: Path, destination: Path) -> Path:
    shutil.copytree(handout, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def lay_reference(folder: Path) -> None:
    for path in ALLOWLIST:
        shutil.copyfile(ROOT / "reference" / path, folder / path)


def submissions(handout: Path, workdir: Path, scenarios: list[Scenario], *, separate: bool) -> list[Submission]:
    """The folders to check: the untouched handout, the reference's files, the scenarios'.

    Scenarios that change different files share a folder (unless ``separate``), checked on all their
    problems at once: each check starts torch and its workers, which takes most of its time.
    """
    found = [Submission("untouched", copy_handout(handout, workdir / "untouched"), None)]
    reference = copy_handout(handout, workdir / "reference")
    lay_reference(reference)
    found.append(Submission("reference", reference, None))
    groups: list[list[Scenario]] = []
    for scenario in scenarios:
        files = {path.relative_to(scenario.folder) for path in scenario.files()}
        for group in [] if separate else groups:
            if all(member.base == scenario.base for member in group) and not any(
                files & {path.relative_to(member.folder) for path in member.files()} for member in group
            ):
                group.append(scenario)
                break
        else:
            groups.append([scenario])
    for number, group in enumerate(groups, start=1):
        name = group[0].name if len(group) == 1 else f"scenarios{number}"
        folder = copy_handout(handout, workdir / name)
        if group[0].base == "reference":
            lay_reference(folder)
        for scenario in group:
            for path in scenario.files():
                target = folder / path.relative_to(scenario.folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        problems = tuple(dict.fromkeys(problem for scenario in group for problem in scenario.expect))
        if len(group) > 1:
            print(f"{name}: {', '.join(scenario.name for scenario in group)}")
        found.append(Submission(name, folder, problems))
    return found


@dataclass
class Run:
    environment: str
    submission: str
    seconds: float
    tests: dict[str, dict[str, Any]] | None
    """The report's tests by ``number name``; ``None`` if the check wrote no report."""
    problem: str = ""


def check(environment: str, python: Path, submission: Submission, reports: Path) -> Run:
    report = reports / f"{environment}--{submission.name}.json"
    command = [str(python), "check.py", "--json", str(report)]
    if submission.problems is not None:
        command += ["--problems", ",".join(submission.problems)]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=submission.folder, capture_output=True, text=True, env=student_environment(), timeout=900
        )
    except subprocess.TimeoutExpired:
        return Run(environment, submission.name, time.monotonic() - started, None, "timed out after 900 s")
    seconds = time.monotonic() - started
    (reports / f"{environment}--{submission.name}.txt").write_text(done.stdout + "\n--- stderr\n" + done.stderr)
    if not report.is_file():
        said = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return Run(environment, submission.name, seconds, None, f"no report (exit {done.returncode}): {said[-1]}")
    tests = json.loads(report.read_text())["tests"]
    return Run(environment, submission.name, seconds, {f"{test['number']} {test['name']}": test for test in tests})


def verdict(test: dict[str, Any] | None) -> str:
    return "-" if test is None else f"{test['status']} {test['score']:g}/{test['max_score']:g}"


def differences(baseline: Run, other: Run) -> list[list[str]]:
    """Rows (environment, submission, test, baseline's verdict, this one's, kind) where the verdicts differ."""
    if other.tests is None or baseline.tests is None:
        problem = other.problem if other.tests is None else f"the build's venv: {baseline.problem}"
        return [[other.environment, other.submission, "(the whole run)", "", problem[:120], "no report"]]
    rows = []
    for name in sorted(set(baseline.tests) | set(other.tests), key=_by_number):
        ours, theirs = baseline.tests.get(name), other.tests.get(name)
        if ours is not None and theirs is not None and (ours["status"], ours["score"]) == (theirs["status"], theirs["score"]):
            continue
        output = (theirs or {}).get("output", "")
        if any(text in output for text in REMADE):
            kind = "remade"
        elif "autograder failed" in output.lower():
            kind = "autograder failed"
        else:
            kind = "verdict"
        rows.append([other.environment, other.submission, name[:90], verdict(ours), verdict(theirs), kind])
    return rows


def _by_number(name: str) -> tuple[int, ...]:
    number = name.split(" ", 1)[0]
    return tuple(int(part) if part.isdigit() else 0 for part in number.split("."))


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--handout", type=Path, default=None, help="a built handout to use (default: build one)")
    arguments.add_argument("--venvs", type=Path, default=None, help="where to keep the venvs (default: a temporary folder)")
    arguments.add_argument("--mixes", default=",".join(mix.name for mix in MIXES), help="the version mixes to try")
    arguments.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help="scenarios of tests/scenarios/ ('' for none)")
    arguments.add_argument("--separate", action="store_true", help="a check of its own for each scenario (slower)")
    arguments.add_argument("--jobs", type=int, default=2, help="checks run at a time (default 2)")
    arguments.add_argument("--allow-remade", action="store_true", help="exit 0 when the only differences are 'remade' ones")
    arguments.add_argument("--keep", type=Path, default=None, help="keep the submission folders and reports here")
    options = arguments.parse_args()
    from tabulate import tabulate

    chosen = [name for name in options.mixes.split(",") if name]
    unknown = set(chosen) - {mix.name for mix in MIXES}
    if unknown:
        print(f"error: unknown mixes {sorted(unknown)}; known: {', '.join(mix.name for mix in MIXES)}", file=sys.stderr)
        return 2
    scenarios = [Scenario.load(SCENARIOS / name) for name in options.scenarios.split(",") if name]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="handout-versions-") as scratch_name:
        scratch = Path(scratch_name)
        handout = options.handout
        if handout is None:
            handout = scratch / "handout"
            print("Building the handout (half a minute)...", flush=True)
            subprocess.run(
                [str(BUILD_PYTHON), "-m", "autograder", "build", "handout", str(handout)],
                cwd=ROOT,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
            )
        venvs_dir = options.venvs or scratch / "venvs"
        pythons: dict[str, Path] = {"build (.venv)": BUILD_PYTHON}
        for mix in MIXES:
            if mix.name not in chosen:
                continue
            interpreter = find_python(mix.python)
            if interpreter is None:
                print(f"Skipping {mix.name}: no Python {mix.python} here.", flush=True)
                continue
            pythons[mix.name] = make_venv(mix, interpreter, Path(venvs_dir) / mix.name, handout / "requirements.txt")
        found = {name: versions(python) for name, python in pythons.items()}
        columns = ["python", "torch", "numpy", "hypothesis", "pytest", "pluggy", "pillow", "scipy"]
        print("\nVersions:")
        print(tabulate([[name, *(found[name].get(c, "") for c in columns)] for name in pythons], headers=["", *columns]))
        work = options.keep or scratch / "work"
        work.mkdir(parents=True, exist_ok=True)
        reports = work / "reports"
        reports.mkdir(exist_ok=True)
        shutil.rmtree(work / "submissions", ignore_errors=True)
        folders = submissions(handout, work / "submissions", scenarios, separate=options.separate)
        checking = time.monotonic()
        # The longest first (every problem: the reference, the scenarios' folders, the untouched handout).
        order = sorted(folders, key=lambda s: (s.name != "reference", s.problems is None, -len(s.problems or ())))
        jobs = [(name, python, submission) for submission in order for name, python in pythons.items()]
        with concurrent.futures.ThreadPoolExecutor(max(1, options.jobs)) as pool:
            runs = list(pool.map(lambda job: check(job[0], job[1], job[2], reports), jobs))
        checked = time.monotonic() - checking
    by_key = {(run.environment, run.submission): run for run in runs}
    print("\nScores (sum of the public tests' scores; '!' where the check wrote no report):")
    rows = []
    for submission in folders:
        row = [submission.name]
        for name in pythons:
            run = by_key[name, submission.name]
            row.append("!" if run.tests is None else f"{sum(t['score'] for t in run.tests.values()):g} ({run.seconds:.0f} s)")
        rows.append(row)
    print(tabulate(rows, headers=["submission", *pythons]))
    found_rows = []
    for submission in folders:
        baseline = by_key["build (.venv)", submission.name]
        for name in pythons:
            if name != "build (.venv)":
                found_rows.extend(differences(baseline, by_key[name, submission.name]))
    for name in pythons:  # the untouched handout scores 0, the reference's files full marks, everywhere
        for folder, wanted in (("untouched", "0"), ("reference", "full marks")):
            tests = by_key[name, folder].tests
            if tests is None:
                continue
            total, most = sum(t["score"] for t in tests.values()), sum(t["max_score"] for t in tests.values())
            if total != (0 if wanted == "0" else most) or not tests:
                found_rows.append([name, folder, "(the total)", wanted, f"{total:g}/{most:g}", "expectation"])
    print()
    if found_rows:
        print(f"Differences from the build's venv ({len(found_rows)}):")
        print(tabulate(found_rows, headers=["venv", "submission", "test", "build's venv", "this venv", "kind"]))
    else:
        print("No differences: every public test has the same status and score in every venv.")
    print(f"\n{len(runs)} checks in {checked:.0f} s; {time.monotonic() - started:.0f} s in all.")
    counted = [row for row in found_rows if not (options.allow_remade and row[-1] == "remade")]
    return 1 if counted else 0


if __name__ == "__main__":
    sys.exit(main())
