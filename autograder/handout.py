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

import hashlib
import json
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.intake import ALLOWLIST, SUPPORT_FILES
from autograder.reference import REFERENCE_DIR

HARNESS_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = HARNESS_ROOT / "student_template"
HANDOUT_FILES = Path(__file__).resolve().parent / "handout_files"
"""The handout's own files: collect_submission.py (with a placeholder for the submitted files), README.md, requirements.txt."""
SUBMITTED_MARKER = "SUBMITTED: dict[str, str] = {}  # written when the handout is built"


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
    submitted = {path: starter_digest(files[path]) for path in ALLOWLIST}
    collect = (HANDOUT_FILES / "collect_submission.py").read_text(encoding="utf-8")
    if SUBMITTED_MARKER not in collect:
        raise HandoutError(f"collect_submission.py has no line {SUBMITTED_MARKER!r} to fill in")
    filled = f"SUBMITTED: dict[str, str] = {json.dumps(submitted, indent=4)}"
    files["collect_submission.py"] = collect.replace(SUBMITTED_MARKER, filled).encode()
    listing = "\n".join(f"- `{path}`" for path in ALLOWLIST)
    readme = (HANDOUT_FILES / "README.md").read_text(encoding="utf-8")
    files["README.md"] = readme.replace("__FILES__", listing).encode()
    files["requirements.txt"] = (HANDOUT_FILES / "requirements.txt").read_bytes()
    return dict(sorted(files.items()))


def build_handout(out: Path) -> Handout:
    """Write the handout to the folder ``out`` (which must not exist, or be empty), or to the zip ``out``."""
    out = Path(out)
    files = handout_files()
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
        print("It holds the starter code, the course's given files, collect_submission.py, README.md and requirements.txt.")
    return 0
