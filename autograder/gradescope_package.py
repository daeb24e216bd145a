"""``build gradescope OUT.zip``: the autograder zip for Gradescope, verified before it is written.

The zip holds what grading needs and nothing else (:data:`ROOT_FILES`,
:data:`FOLDERS`, and the course's salt when there is one), taken from the
files on disk, not from git: uncommitted changes are in it. Its entries are
sorted and dated 1980-01-01, with the files' executable bits kept, so two
builds of the same tree are the same bytes.

Before the zip is put at ``OUT``, :func:`verify` runs it as Gradescope
would: it unpacks it into ``$ROOT/source`` of a temporary root laid out like
Gradescope's ``/autograder``, runs ``setup.sh`` there, then
``run_autograder`` with ``AUTOGRADER_ROOT=$ROOT`` on the reference (full
marks expected) and on the starter code (0 expected), each as a submission
zip one folder deep. A failed check leaves no zip and names what failed.

``setup.sh`` builds a new venv by default (1 to 2 minutes), which is what
Gradescope runs. ``reuse_venv`` checks with an existing venv instead: a
venv of its own in ``$ROOT/source/.venv`` that imports the packages of the
given one (a ``.pth`` file) and carries the stamp ``setup.sh`` looks for, so
``setup.sh`` does everything but the installation. That checks the zip's
code and scripts, not that its requirements install; a venv of its own
(rather than a link) keeps ``setup.sh`` and pip from changing the given one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

HARNESS_ROOT = Path(__file__).resolve().parent.parent
ROOT_FILES = ("setup.sh", "run_autograder", "requirements.txt", "pyproject.toml")
"""Files at the zip's root: Gradescope's two scripts, and what ``setup.sh`` installs (the harness, editable)."""
EXECUTABLES = ("setup.sh", "run_autograder")
FOLDERS = ("autograder", "reference")
"""Folders copied whole, but for :data:`LEFT_OUT`. ``student_template/`` is not one: only ``build handout`` uses it."""
SALT = "autograder/case_salt"
LEFT_OUT = ("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".*", "case_salt")
"""Names left out of the folders (``case_salt`` is added on its own, from ``salt_file``)."""
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SETUP_SECONDS = 1800
GRADING_SECONDS = 900
SUBMISSION_FOLDER = "hw3_submission"
"""The folder a submission zip holds its files in, as the handout's ``collect_submission.py`` writes it."""
FAILED_TESTS_SHOWN = 8


class PackageError(Exception):
    """The zip failed a check, or could not be built; the message says what failed."""


@dataclass(frozen=True)
class Check:
    """One check of :func:`verify` that passed: what it checked, what it found, how long it took."""

    what: str
    seconds: float


def package_files(source_root: Path = HARNESS_ROOT, salt_file: Path | None = None) -> dict[str, tuple[bytes, int]]:
    """The zip's files by name, with their modes (0o755 or 0o644; the salt 0o600), from the files on disk.

    A path that is missing is left out (:func:`check_entries` names it), so that the checks speak of the zip.
    """
    files: dict[str, tuple[bytes, int]] = {}
    for name in ROOT_FILES:
        path = source_root / name
        if path.is_file():
            files[name] = (path.read_bytes(), _mode(path))
    for folder in FOLDERS:
        for path in sorted((source_root / folder).rglob("*")):
            relative = path.relative_to(source_root)
            if path.is_file() and not any(_left_out(part) for part in relative.parts):
                files[relative.as_posix()] = (path.read_bytes(), _mode(path))
    salt = source_root / SALT if salt_file is None else salt_file
    if salt.is_file():
        files[SALT] = (salt.read_bytes(), 0o600)
    return dict(sorted(files.items()))


def _left_out(name: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in LEFT_OUT)


def _mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o111 else 0o644


def zip_bytes(files: dict[str, tuple[bytes, int]]) -> bytes:
    """The zip of ``files``: sorted entries, fixed dates, Unix modes in the external attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix: unzip takes the modes from external_attr
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def check_entries(archive: Path) -> list[str]:
    """What is wrong with the zip's entries, before anything runs: missing paths, scripts that are not executable."""
    with zipfile.ZipFile(archive) as stream:
        infos = {info.filename: info for info in stream.infolist()}
    problems = []
    for name in ROOT_FILES:
        if name not in infos:
            problems.append(f"{name} is missing from the zip")
        elif name in EXECUTABLES and not (infos[name].external_attr >> 16) & 0o100:
            problems.append(f"{name} is not executable in the zip")
    for folder in (*FOLDERS, "autograder/problems"):
        if not any(name.startswith(f"{folder}/") for name in infos):
            problems.append(f"{folder}/ is missing from the zip")
    return problems


def unpack(archive: Path, target: Path) -> None:
    """Unzip ``archive`` into ``target`` with the entries' modes, as ``unzip`` does (``zipfile`` alone drops them)."""
    with zipfile.ZipFile(archive) as stream:
        for info in stream.infolist():
            path = target / info.filename
            if path.resolve() != target.resolve() and target.resolve() not in path.resolve().parents:
                raise PackageError(f"the zip's entry {info.filename!r} lies outside its folder")
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(stream.read(info))
            mode = (info.external_attr >> 16) & 0o777
            path.chmod(mode or 0o644)
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)


def submission_zip(folder: Path, archive: Path) -> Path:
    """A submission zip of ``folder``'s Python files, one folder deep, as the handout's ``collect_submission.py`` makes it."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts:
                stream.write(path, f"{SUBMISSION_FOLDER}/{path.relative_to(folder).as_posix()}")
    archive.chmod(0o644)
    return archive


def gradescope_environment(root: Path) -> dict[str, str]:
    """This process's environment as Gradescope's would be: no AUTOGRADER_* setting but the root, no venv, no PYTHONPATH."""
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH"}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_") and k not in dropped}
    environment["AUTOGRADER_ROOT"] = str(root)
    return environment


def setup_stamp(source: Path) -> str:
    """The stamp ``setup.sh`` leaves in the venv once it has installed ``requirements.txt`` in ``source``.

    ``setup.sh`` names it ``.installed-requirements-`` and the first 16 hex digits of the SHA-256 of
    ``cat requirements*.txt pyproject.toml``: it depends on the files' contents only.
    """
    contents = b"".join(path.read_bytes() for path in sorted(source.glob("requirements*.txt")))
    contents += (source / "pyproject.toml").read_bytes()
    return f".installed-requirements-{hashlib.sha256(contents).hexdigest()[:16]}"


PIP_REFUSES = """import sys
sys.exit("pip is not run in a venv that build gradescope --reuse-venv made: setup.sh should have found it up to date")
"""


def reuse_venv_in(source: Path, reused: Path) -> Path:
    """Make ``source/.venv`` a venv that imports the packages of the venv ``reused``, marked as set up for ``source``.

    Its own ``pip`` refuses to run, so that a ``setup.sh`` that does not find the stamp fails
    instead of installing into (or uninstalling from) the reused venv through the ``.pth`` file.
    """
    python = reused / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; p = sysconfig.get_paths(); print(p['purelib']); print(p['platlib'])"])
    venv = source / ".venv"
    _run([str(python), "-m", "venv", "--without-pip", str(venv)])
    own = Path(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
    (own / "_reused_venv.pth").write_text("".join(dict.fromkeys(line + "\n" for line in purelib.splitlines())))
    (own / "pip").mkdir()
    (own / "pip" / "__init__.py").write_text("")
    (own / "pip" / "__main__.py").write_text(PIP_REFUSES)
    (venv / setup_stamp(source)).touch()
    return venv


def _run(command: list[str], cwd: Path | None = None, environment: dict[str, str] | None = None) -> str:
    """What ``command`` printed; :class:`PackageError` with its output if it fails."""
    completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0:
        raise PackageError(
            f"{' '.join(command)} failed (exit status {completed.returncode}):\n{_tail(completed.stdout + completed.stderr)}"
        )
    return completed.stdout.strip()


def _tail(text: str, lines: int = 25) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) if kept else "    (no output)"


def grade_through_run_autograder(root: Path, folder: Path, problems: str | None = None) -> tuple[dict[str, Any], float]:
    """Put ``folder`` as a submission zip in ``$ROOT/submission``, run ``run_autograder``; its report and seconds.

    ``problems``: grade only these (``AUTOGRADER_PROBLEMS``, which ``run_autograder`` reads), for a quicker check.
    """
    from autograder.results import validate

    for name in ("submission", "results"):
        shutil.rmtree(root / name, ignore_errors=True)
    (root / "submission").mkdir(mode=0o755)
    submission_zip(folder, root / "submission" / "submission.zip")
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [str(root / "source" / "run_autograder")],
            env={**gradescope_environment(root), **({"AUTOGRADER_PROBLEMS": problems} if problems else {})},
            capture_output=True,
            text=True,
            timeout=GRADING_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        raise PackageError(f"run_autograder did not finish grading {folder.name}/ in {GRADING_SECONDS} s") from error
    seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise PackageError(f"run_autograder exited with status {completed.returncode} on {folder.name}/:\n{_tail(output)}")
    results = root / "results" / "results.json"
    try:
        report = json.loads(results.read_text(encoding="utf-8"))
        validate(report)
    except Exception as error:  # any reason the report is unusable fails this check
        raise PackageError(
            f"run_autograder wrote no valid results.json for {folder.name}/ ({error}):\n{_tail(output)}"
        ) from error
    if report.get("extra_data", {}).get("autograder_failed"):
        raise PackageError(
            f"run_autograder reported an autograder failure on {folder.name}/:\n{_tail(report.get('output', ''))}\n{_tail(output)}"
        )
    return report, seconds


def describe_score(report: dict[str, Any], maximum: float, what: str, expected: str) -> str:
    """``run_autograder scored the reference 20/33: ...``, with the tests that did not score as ``expected`` ("full" or "zero")."""
    if expected == "full":
        odd = [t for t in report["tests"] if t["score"] < t.get("max_score", 0) - 1e-9]
        verb = "failed"
    else:
        odd = [t for t in report["tests"] if t["score"] > 1e-9]
        verb = "scored points"
    names = [f"{t.get('number', '?')} {t.get('name', '?')}".strip() for t in odd]
    shown = ", ".join(names[:FAILED_TESTS_SHOWN])
    if len(names) > FAILED_TESTS_SHOWN:
        shown += f", and {len(names) - FAILED_TESTS_SHOWN} more"
    wanted = f"{maximum:g}" if expected == "full" else "0"
    return f"run_autograder scored {what} {report['score']:g}/{maximum:g} (expected {wanted}); {verb}: {shown or 'none'}"


def verify(
    archive: Path,
    *,
    source_root: Path = HARNESS_ROOT,
    reuse_venv: Path | None = None,
    problems: str | None = None,
    report: Callable[[Check], None] = lambda check: None,
) -> list[Check]:
    """Run the zip as Gradescope would (see the module's docstring); the checks, or :class:`PackageError` at the first failure.

    ``report`` is called after each check that passed (the command line prints it).
    """
    from autograder.problems import PROBLEMS

    maximum = float(sum(problem.points for problem in PROBLEMS))
    checks: list[Check] = []

    def passed(what: str, started: float) -> None:
        checks.append(Check(what, time.monotonic() - started))
        report(checks[-1])

    started = time.monotonic()
    wrong = check_entries(archive)
    if wrong:
        raise PackageError("; ".join(wrong))
    template = source_root / "student_template"
    if not template.is_dir():
        raise PackageError(f"{template} is missing: the check grades the starter code")
    passed(
        "the zip's entries: setup.sh and run_autograder, executable, at its root; requirements, autograder/, reference/", started
    )

    # As root, the worker user must be able to read the venv under the root: mkdtemp makes it 0700.
    root = Path(tempfile.mkdtemp(prefix="gradescope-check-"))
    try:
        root.chmod(0o755)
        source = root / "source"
        unpack(archive, source)

        started = time.monotonic()
        if reuse_venv is not None:
            reuse_venv_in(source, reuse_venv)
        try:
            completed = subprocess.run(
                [str(source / "setup.sh")],
                env=gradescope_environment(root),
                capture_output=True,
                text=True,
                timeout=SETUP_SECONDS,
            )
        except subprocess.TimeoutExpired as error:
            raise PackageError(f"setup.sh did not finish in {SETUP_SECONDS} s") from error
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            raise PackageError(f"setup.sh failed (exit status {completed.returncode}):\n{_tail(output)}")
        if reuse_venv is not None:
            if "is up to date" not in output:
                raise PackageError(f"setup.sh did not take the reused venv as up to date:\n{_tail(output)}")
            passed(f"setup.sh, with {reuse_venv}'s packages (found up to date: nothing installed)", started)
        else:
            passed("setup.sh: a new .venv, as Gradescope builds it", started)

        started = time.monotonic()
        physical = source.resolve()
        # As run_autograder runs it: from the source folder, where `python -m autograder` finds the harness first.
        python = str(source / ".venv" / "bin" / "python")
        imported = _run([python, "-c", "import autograder; print(autograder.__file__)"], physical, gradescope_environment(root))
        if Path(imported).resolve() != physical / "autograder" / "__init__.py":
            raise PackageError(f"run_autograder's python imports the harness from {imported}, not from the zip's {physical}")
        passed(f"run_autograder's python imports the zip's harness ({imported})", started)

        for folder, what, expected in (
            (source_root / "reference", "the reference", "full"),
            (template, "the starter code", "zero"),
        ):
            graded, seconds = grade_through_run_autograder(root, folder, problems)
            if not graded["tests"]:
                raise PackageError(f"run_autograder graded no test of {what}:\n{_tail(graded.get('output', ''))}")
            score, graded_maximum = graded["score"], sum(test["max_score"] for test in graded["tests"])
            if (expected == "full" and abs(score - graded_maximum) > 1e-6) or (expected == "zero" and score > 1e-9):
                raise PackageError(describe_score(graded, graded_maximum, what, expected))
            some = "" if abs(graded_maximum - maximum) < 1e-6 else f" (only some problems: {maximum:g} points in all)"
            checks.append(
                Check(f"run_autograder on {folder.name}/ as a submission zip: {score:g}/{graded_maximum:g}{some}", seconds)
            )
            report(checks[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return checks


def _bad_arguments(out: Path, reuse_venv: Path | None, salt_file: Path | None) -> str | None:
    if out.suffix.lower() != ".zip":
        return f"{out} does not end in .zip"
    if out.is_dir():
        return f"{out} is a folder; give the zip's name"
    if reuse_venv is not None and not (reuse_venv / "bin" / "python").exists():
        return f"--reuse-venv {reuse_venv}: not a venv (it has no bin/python)"
    if salt_file is not None and not salt_file.is_file():
        return f"--salt-file {salt_file}: no such file"
    return None


def _bad_problems(problems: str | None) -> str | None:
    from autograder.problems import select

    try:
        select(problems)
    except ValueError as error:
        return f"--problems: {error}"
    return None


def main(
    out: Path,
    *,
    quiet: bool = False,
    reuse_venv: Path | None = None,
    salt_file: Path | None = None,
    problems: str | None = None,
    source_root: Path = HARNESS_ROOT,
) -> int:
    """``build gradescope OUT.zip``: build the zip, verify it, then write it; 0 once written, 1 when a check failed, 2 for bad arguments.

    ``problems``: check by grading only these problems (quicker; the zip itself grades what its
    ``run_autograder`` says). ``source_root``: the tree the zip is built from and checked with (the
    checkout; the tests give a broken copy).
    """
    out = Path(out)
    wrong = _bad_arguments(out, reuse_venv, salt_file) or _bad_problems(problems)
    if wrong:
        print(f"error: {wrong}", file=sys.stderr)
        return 2
    say = (lambda text: None) if quiet else (lambda text: print(text, flush=True))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=".zip", dir=out.parent)
        os.close(handle)
    except OSError as error:
        print(f"error: cannot write in {out.parent}: {error}", file=sys.stderr)
        return 2
    temporary = Path(name)
    try:
        files = package_files(source_root, salt_file)
        data = zip_bytes(files)
        temporary.write_bytes(data)
        salted = SALT in files
        say(f"Built the zip from {source_root}: {len(files)} files, {len(data) / 1024:.0f} KiB; {salt_sentence(salted)}")
        where = "a new .venv (as Gradescope does; 1 to 2 minutes)" if reuse_venv is None else f"{reuse_venv}'s packages"
        say(f"Checking it as Gradescope runs it, in a temporary /autograder, with {where}:")
        started = time.monotonic()
        verify(
            temporary,
            source_root=source_root,
            reuse_venv=reuse_venv,
            problems=problems,
            report=lambda check: say(f"  ok {check.seconds:6.1f} s  {check.what}"),
        )
        temporary.chmod(0o644)
        temporary.replace(out)
    except PackageError as error:
        print(f"error: the zip failed its check, so {out} was not written: {error}", file=sys.stderr)
        return 1
    except (OSError, subprocess.SubprocessError) as error:
        print(f"error: {out} was not written: {error}", file=sys.stderr)
        return 1
    finally:
        temporary.unlink(missing_ok=True)
    say(
        f"Wrote {out} ({len(data) / 1024:.0f} KiB, {len(files)} files, {'with' if salted else 'no'} salt), "
        f"checked in {time.monotonic() - started:.0f} s. Upload it on Gradescope as the autograder (see README.md)."
    )
    return 0


def salt_sentence(salted: bool) -> str:
    if salted:
        return f"it holds the course's salt ({SALT}): its generated cases are the course's secret."
    return (
        f"it holds no salt ({SALT} does not exist): its generated cases are the handout's public ones "
        "(docs/handout.md, 'The course's salt')."
    )
