"""``build handout``: the students' starter kit, without the solution.

The handout is what a course gives students: the starter code of every file
they submit (``student_template/``), the course's given files as the grader
uses them (from ``reference/``, but only the files intake lays over every
submission: ``intake.SUPPORT_FILES``), ``collect_submission.py`` (which packs
exactly the submitted files, ``intake.ALLOWLIST``, and says which are missing
or unchanged from the starter code), a ``README.md`` for students and a
``requirements.txt``. It is written to a folder, or to a zip when the target
ends in ``.zip``.

Nothing of the solution goes in: the files are taken by name from those two
lists, and ``tests/test_handout.py`` checks the built handout against every
file and every function body of ``reference/``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.intake import ALLOWLIST, SUPPORT_FILES
from autograder.problems import PROBLEMS
from autograder.reference import REFERENCE_DIR

HARNESS_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = HARNESS_ROOT / "student_template"
HANDOUT_FILES = Path(__file__).resolve().parent / "handout_files"
"""The handout's own files: collect_submission.py (with a placeholder for the submitted files), README.md, requirements.txt."""
SUBMITTED_MARKER = "SUBMITTED: dict[str, str] = {}  # written when the handout is built"


CHECKER = "checker"
"""The handout's folder for what ``check.py`` runs: the harness's parts, the given files, the known answers."""
CHECK_MODULES = (
    "__init__.py",
    "case_salt.py",
    "check.py",
    "compare.py",
    "course_setting.py",
    "failures.py",
    "feedback.py",
    "figures.py",
    "html_report.py",
    "intake.py",
    "known_answers.py",
    "mistakes.py",
    "pictures.py",
    "plugin.py",
    "results.py",
    "sandbox.py",
    "session.py",
    "settings.py",
    "strategies.py",
    "student.py",
    "problems/__init__.py",
    "problems/pytest.ini",
    "worker/confine.py",
    "worker/course.py",
    "worker/frames.py",
    "worker/models.py",
    "worker/server.py",
    "worker/spawned.py",
    "worker/stand_ins.py",
    "worker/wire.py",
)
"""The harness's files the check uses, by path in ``autograder/`` (the suites are added, public tests only).
``reference.py`` is replaced by :data:`NO_REFERENCE`; the course salt, ``grade.py`` and the CLI stay out."""
NO_REFERENCE = '''"""The handout holds no reference solution: the check replays its known answers (autograder.known_answers)."""

from __future__ import annotations

REFERENCE_DIR = None


def module(name: str) -> object:
    raise RuntimeError(f"the handout holds no reference solution ({name}); a suite asked it outside a recorded function")


def source(path: str) -> object:
    raise RuntimeError(f"the handout holds no reference solution ({path})")
'''
CHECK_SCRIPT = '''#!/usr/bin/env python3
"""Check your files in this folder with the problem set's public tests: python check.py --help."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The checker's own code, never your files, on the import path of this process: your code runs in workers.
sys.path[:] = [str(HERE / "checker"), *(p for p in sys.path if p and Path(p).resolve() != HERE)]

from autograder.check import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(folder=HERE))
'''


class HandoutError(Exception):
    """The handout cannot be built (a file of the starter code is missing, the target is in the way)."""


@dataclass(frozen=True)
class Handout:
    """A built handout: where it is, and its files (relative paths, sorted)."""

    path: Path
    files: tuple[str, ...]

    def size(self) -> int:
        """Its size in bytes: the zip's, or the sum of the folder's files."""
        if self.path.is_file():
            return self.path.stat().st_size
        return sum((self.path / name).stat().st_size for name in self.files)


def starter_digest(data: bytes) -> str:
    """What ``collect_submission.py`` compares a student's file with: SHA-256 with ``\\r\\n`` made ``\\n``."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def collect_submission_script() -> bytes:
    """``collect_submission.py`` with the submitted files and their starter code's digests filled in.

    The starter code ships a copy (``student_template/collect_submission.py``);
    ``tests/test_handout.py`` checks that it is this one, and
    :func:`write_template_collector` writes it again when the starter code changes.
    """
    starters = {}
    for path in ALLOWLIST:
        source = TEMPLATE_DIR / path
        if not source.is_file():
            raise HandoutError(f"the starter code has no {path} ({source})")
        starters[path] = starter_digest(source.read_bytes())
    collect = (HANDOUT_FILES / "collect_submission.py").read_text(encoding="utf-8")
    if SUBMITTED_MARKER not in collect:
        raise HandoutError(f"collect_submission.py has no line {SUBMITTED_MARKER!r} to fill in")
    filled = f"SUBMITTED: dict[str, str] = {json.dumps(starters, indent=4)}"
    return collect.replace(SUBMITTED_MARKER, filled).encode()


def write_template_collector() -> Path:
    """Write the starter code's ``collect_submission.py`` again (after a change to the starter code)."""
    path = TEMPLATE_DIR / "collect_submission.py"
    path.write_bytes(collect_submission_script())
    return path


def handout_files() -> dict[str, bytes]:
    """Every file of the handout, by its path in the handout."""
    files: dict[str, bytes] = {}
    for path in ALLOWLIST:
        source = TEMPLATE_DIR / path
        if not source.is_file():
            raise HandoutError(f"the starter code has no {path} ({source})")
        files[path] = source.read_bytes()
    for path in SUPPORT_FILES:
        files[path] = (REFERENCE_DIR / path).read_bytes()
    files["collect_submission.py"] = collect_submission_script()
    listing = "\n".join(f"- `{path}`" for path in ALLOWLIST)
    readme = (HANDOUT_FILES / "README.md").read_text(encoding="utf-8")
    files["README.md"] = readme.replace("__FILES__", listing).encode()
    files["requirements.txt"] = (HANDOUT_FILES / "requirements.txt").read_bytes()
    return dict(sorted(files.items()))


def public_suite(path: Path) -> bytes:
    """A graded suite's source without its tests that are not public (visibility other than "visible")."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    cut: list[tuple[int, int]] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and _visibility(node) != "visible":
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            cut.append((first - 1, node.end_lineno or node.lineno))
    for start, end in reversed(cut):
        del lines[start:end]
    return "".join(lines).encode("utf-8")


def _visibility(node: ast.FunctionDef) -> str:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "visibility" and decorator.args:
            argument = decorator.args[0]
            return str(argument.value) if isinstance(argument, ast.Constant) else "?"
    return "visible"  # gradescope-utils' default


def checker_files(known_answers: bytes) -> dict[str, bytes]:
    """``check.py`` and the ``checker/`` folder: the harness's parts, the public suites, the given files, the answers."""
    package = HARNESS_ROOT / "autograder"
    files = {"check.py": CHECK_SCRIPT.encode()}
    for name in CHECK_MODULES:
        files[f"{CHECKER}/autograder/{name}"] = (package / name).read_bytes()
    files[f"{CHECKER}/autograder/reference.py"] = NO_REFERENCE.encode()
    for problem in PROBLEMS:
        files[f"{CHECKER}/autograder/problems/{problem.key}.py"] = public_suite(problem.suite)
    for path in SUPPORT_FILES:
        files[f"{CHECKER}/given/{path}"] = (REFERENCE_DIR / path).read_bytes()
    files[f"{CHECKER}/known_answers.npz"] = known_answers
    return files


def record_known_answers() -> bytes:
    """Grade ``reference/`` with the public suites, recording the reference's answers; the ``.npz``'s bytes.

    Like ``grade``, it must run in a process that has not imported the reference yet (the command line's):
    the fork server refuses to start once the solution is in memory.

    The reference must pass every public test: an answer recorded from a failing
    run would be wrong, and a case it failed on is not kept.
    """
    import dataclasses

    from autograder import grade, known_answers
    from autograder.config import RunConfig

    book = known_answers.Book(replaying=False)
    config = dataclasses.replace(RunConfig.build(device="cpu"), problems=PROBLEMS)  # every problem's answers, on the CPU
    server = grade.start_fork_server(config.limits)
    try:
        report = grade.grade(REFERENCE_DIR, config, server, book=book)
    finally:
        server.close()
    failed = [f"{test['number']} {test['name']}:\n{test['output']}" for test in report["tests"] if test["status"] != "passed"]
    if failed:
        raise HandoutError("the reference fails public tests, so no answers were recorded:\n\n" + "\n\n".join(failed))
    with tempfile.TemporaryDirectory(prefix="known-answers-") as scratch:
        path = Path(scratch) / "known_answers.npz"
        book.save(path)
        return path.read_bytes()


def build_handout(out: Path, known_answers: bytes | None = None) -> Handout:
    """Write the handout to the folder ``out`` (which must not exist, or be empty), or to the zip ``out``.

    ``known_answers``: the recording to ship (``record_known_answers``, the default, takes half a minute).
    """
    out = Path(out)
    if not (out.suffix.lower() == ".zip" or not out.exists() or (out.is_dir() and not any(out.iterdir()))):
        raise HandoutError(f"{out} exists and is not an empty folder; give a new folder, or a name ending in .zip")
    files = handout_files()
    files.update(checker_files(record_known_answers() if known_answers is None else known_answers))
    files = dict(sorted(files.items()))
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".handout-", suffix=".zip", dir=out.parent)
        try:
            with open(handle, "wb") as stream, zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
            Path(temporary).replace(out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return Handout(out, tuple(files))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HandoutError(f"{out} exists and is not an empty folder; give a new folder, or a name ending in .zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".handout-", dir=out.parent))
    try:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out.exists():
            out.rmdir()
        shutil.move(str(staging), out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Handout(out, tuple(files))


def main(out: Path, quiet: bool = False) -> int:
    """``build handout OUT``: write the handout; 0 once it is written."""
    try:
        handout = build_handout(out)
    except HandoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not quiet:
        print(f"Wrote the handout to {handout.path}: {len(handout.files)} files, {handout.size() / 1024:.0f} KiB.")
        print(
            "It holds the starter code, the course's given files, collect_submission.py, check.py with the public tests "
            "and their known answers, README.md and requirements.txt."
        )
    return 0
