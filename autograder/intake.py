"""Submission intake: from what a student uploaded to a clean tree of allowlisted files.

A submission is a folder or a zip, with the files at its top or nested one
folder deep (a zip whose entries sit under one folder, a folder holding one
folder, a folder holding the zip). Only the files of the allowlist (API.md)
are taken; everything else is listed as ignored. The course's own copies of
the support files are laid over the student's. Nothing is followed or
extracted that is not a plain allowlisted file of reasonable size, and no path
is written that intake did not compute itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

ALLOWLIST: tuple[str, ...] = (
    "style_modules/content_loss.py",
    "style_modules/style_loss.py",
    "style_modules/tv_loss.py",
    "style_utils.py",
    "visualizers/saliency_map.py",
    "visualizers/gradcam.py",
    "visualizers/fooling_image.py",
    "visualizers/class_visualization.py",
    "conv_matrices.py",
    "answers.py",
)
# Given code: the grader always uses the course's copies (from reference/).
SUPPORT_FILES: tuple[str, ...] = ("image_utils.py", "style_modules/__init__.py", "visualizers/__init__.py")
MAX_FILE_BYTES = 1 << 20
MAX_ARCHIVE_BYTES = 200 << 20
MAX_ENTRIES = 20000  # in a zip's directory, or looked at in a folder
MAX_DIRECTORY_BYTES = MAX_ENTRIES * 512  # a zip's directory: 20000 entries with names of up to ~460 characters
MAX_LISTED = 30
JUNK_NAMES = {"__MACOSX", ".DS_Store", "__pycache__", ".ipynb_checkpoints", ".git"}
HANDOUT_TOOLS = ("collect_submission.py", "check.py", "checker/")
"""The handout's own tools, at the top of a submission: not graded, and not worth a line in the report."""


@dataclass
class Intake:
    """What intake took from a submission, and what it has to tell the student."""

    tree: Path
    taken: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # zip entries whose names are not UTF-8, though flagged so
    replaced_support: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem_with(self, path: str) -> str | None:
        """Why ``path`` cannot be used, in words for the student; ``None`` if it was taken."""
        if path in self.rejected:
            return f"{path} in your submission could not be used: {self.rejected[path]}."
        if path in self.missing:
            hint = _misplaced_hint(path, self.ignored)
            return f"{path} is missing from your submission.{hint}"
        return None

    def report(self, used: set[str]) -> str:
        """A summary of intake for the top of the report, about the ``used`` files of the graded problems."""
        taken = [path for path in self.taken if path in used]
        missing = [path for path in self.missing if path in used]
        lines = [f"Files graded: {', '.join(taken) if taken else 'none'}."]
        if missing:
            lines.append(f"Not found in the submission: {', '.join(missing)}.")
        for path, reason in self.rejected.items():
            lines.append(f"Not used: {path}: {reason}.")
        if self.unsafe:
            lines.append(f"Ignored as unsafe (an absolute path or '..'; nothing was written for them): {_listing(self.unsafe)}.")
        if self.unreadable:
            lines.append(f"Entries whose names could not be read (not UTF-8), ignored: {_listing(self.unreadable)}.")
        if self.ignored:
            lines.append(f"Ignored (not part of what is graded): {_listing(self.ignored)}.")
        lines.extend(self.notes)
        if self.replaced_support:
            lines.append(
                f"The course's own copies of {', '.join(self.replaced_support)} were used instead of yours (given code)."
            )
        return "\n".join(lines)


def _listing(paths: list[str]) -> str:
    shown = [repr(p) if not p.isprintable() else p for p in paths[:MAX_LISTED]]
    more = f" and {len(paths) - len(shown)} more" if len(paths) > len(shown) else ""
    return f"{', '.join(shown)}{more}"


class IntakeError(Exception):
    """The submission as a whole cannot be read (not a folder or a zip, a corrupt zip)."""


def take_submission(source: Path, tree: Path, support_dir: Path) -> Intake:
    """Copy the allowlisted files of ``source`` into the new folder ``tree``, and the support files."""
    tree.mkdir(parents=True, exist_ok=False)
    intake = Intake(tree=tree)
    files = _read_source(Path(source), intake)
    for path in ALLOWLIST:
        if path in intake.rejected:
            continue
        if path not in files:
            intake.missing.append(path)
            continue
        destination = tree / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(files[path])
        intake.taken.append(path)
    for path in SUPPORT_FILES:
        if path in files:
            intake.replaced_support.append(path)
        destination = tree / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(support_dir / path, destination)
    return intake


# --------------------------------------------------------------------------- sources


def _read_source(source: Path, intake: Intake) -> dict[str, bytes]:
    """The allowlisted and support files of a submission, by relative path."""
    if source.is_symlink():
        raise IntakeError(f"{source} is a symbolic link; submit the folder or zip itself")
    if source.is_file():
        return _read_zip(source, intake)
    if not source.is_dir():
        raise IntakeError(f"{source} is neither a folder nor a zip file")
    root = source
    for _ in range(2):
        if any(_regular_file(root / path) for path in ALLOWLIST):
            break
        entries = [e for e in root.iterdir() if e.name not in JUNK_NAMES and not e.name.startswith(".")]
        folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
        zips = [e for e in entries if e.suffix.lower() == ".zip" and _regular_file(e)]
        if len(folders) == 1 and not zips:
            root = folders[0]
        elif len(zips) == 1 and not folders:
            return _read_zip(zips[0], intake)
        else:
            break
    return _read_folder(root, intake)


def _regular_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _read_folder(root: Path, intake: Intake) -> dict[str, bytes]:
    """The wanted files under ``root``; :func:`_walk` never enters a linked folder."""
    files: dict[str, bytes] = {}
    wanted = set(ALLOWLIST) | set(SUPPORT_FILES)
    budget = [MAX_ENTRIES]
    found = _walk(root, budget=budget)
    if budget[0] <= 0:
        intake.notes.append(f"The submission holds more than {MAX_ENTRIES} files and folders; only the first were looked at.")
    for path in sorted(found):
        relative = path.relative_to(root).as_posix()
        if relative not in wanted:
            if not relative.startswith(HANDOUT_TOOLS):
                intake.ignored.append(relative)
            continue
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            intake.rejected[relative] = "it is a symbolic link, which is not followed"
        elif not stat.S_ISREG(mode):
            intake.rejected[relative] = "it is not a regular file"
        elif path.lstat().st_size > MAX_FILE_BYTES:
            intake.rejected[relative] = f"it is larger than {MAX_FILE_BYTES // 1024} KiB"
        else:
            files[relative] = path.read_bytes()
    return files


def _walk(root: Path, depth: int = 0, budget: list[int] | None = None) -> list[Path]:
    """Files and links under ``root``, without following links, bounded in depth and count."""
    budget = [MAX_ENTRIES] if budget is None else budget
    found: list[Path] = []
    if depth > 8:
        return found
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        if budget[0] <= 0:
            break
        budget[0] -= 1
        if entry.name in JUNK_NAMES:
            continue
        if entry.is_dir() and not entry.is_symlink():
            found.extend(_walk(entry, depth + 1, budget))
        else:
            found.append(entry)
    return found


def _read_zip(path: Path, intake: Intake) -> dict[str, bytes]:
    """The wanted files of a zip; an entry that cannot be read is rejected, never fails the others."""
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise IntakeError(f"{path.name} is {size >> 20} MiB; a submission zip may be at most {MAX_ARCHIVE_BYTES >> 20} MiB")
    directory = zip_directory(path)
    if directory is not None and directory[0] > MAX_ENTRIES:
        raise IntakeError(f"{path.name} holds {directory[0]} entries; a submission zip may hold at most {MAX_ENTRIES}")
    if directory is not None and directory[1] > MAX_DIRECTORY_BYTES:
        raise IntakeError(
            f"{path.name} has a directory of {directory[1] >> 10} KiB; a submission zip's may be at most "
            f"{MAX_DIRECTORY_BYTES >> 10} KiB"
        )
    with contextlib.ExitStack() as stack:
        archive, unreadable = _open_zip(path, stack)
        entries = {}
        for index, info in enumerate(archive.infolist()):
            if index in unreadable:
                intake.unreadable.append(unreadable[index])
                continue
            name = info.filename
            parts = PurePosixPath(name).parts
            if not parts or parts[0] in JUNK_NAMES or info.is_dir():
                continue
            if _unsafe(name):
                intake.unsafe.append(name)
                continue
            entries[name] = info
        prefix = _zip_prefix(list(entries))
        wanted = set(ALLOWLIST) | set(SUPPORT_FILES)
        files: dict[str, bytes] = {}
        for name, info in sorted(entries.items()):
            relative = name[len(prefix) :] if name.startswith(prefix) else name
            if relative not in wanted:
                if not relative.startswith(HANDOUT_TOOLS):
                    intake.ignored.append(name)
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                intake.rejected[relative] = "it is a symbolic link, which is not followed"
            elif kind not in (0, stat.S_IFREG):
                intake.rejected[relative] = "it is not a regular file"
            elif info.flag_bits & 0x1:
                intake.rejected[relative] = "it is encrypted"
            elif info.file_size > MAX_FILE_BYTES:
                intake.rejected[relative] = f"it is larger than {MAX_FILE_BYTES // 1024} KiB"
            elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                # zipfile inflates bzip2 and LZMA a whole read at a time: a few KiB could fill the grader's memory.
                intake.rejected[relative] = (
                    f"it is compressed with method {info.compress_type}, which is not read; "
                    "zip it again with the usual compression (deflate)"
                )
            else:
                try:
                    with archive.open(info) as stream:
                        data = stream.read(MAX_FILE_BYTES + 1)
                except Exception as error:  # noqa: BLE001 - a damaged entry fails anywhere in zipfile, zlib, bz2, lzma or struct
                    intake.rejected[relative] = f"it could not be extracted ({_reason(error)})"
                    continue
                if len(data) > MAX_FILE_BYTES:
                    intake.rejected[relative] = f"it is larger than {MAX_FILE_BYTES // 1024} KiB"
                else:
                    files[relative] = data
        return files


def _open_zip(path: Path, stack: contextlib.ExitStack) -> tuple[zipfile.ZipFile, dict[int, str]]:
    """The zip at ``path``, open until ``stack`` closes, and the entries (by position) to skip, with their names shown.

    zipfile refuses a whole zip for one entry whose name is flagged UTF-8 but is
    not. The flags of such entries are cleared in a private copy of the zip,
    which is opened instead: there they read as cp437, and are skipped.
    """
    try:
        try:
            return stack.enter_context(zipfile.ZipFile(path)), {}
        except UnicodeDecodeError:
            copy = stack.enter_context(tempfile.TemporaryFile())
            with path.open("rb") as original:
                shutil.copyfileobj(original, copy)
            unreadable = _clear_false_utf8_flags(copy)
            return stack.enter_context(zipfile.ZipFile(copy)), unreadable
    except Exception as error:  # noqa: BLE001 - a damaged directory fails anywhere in zipfile or struct
        raise IntakeError(f"{path.name} is not a readable zip file ({_reason(error)})") from None


def _clear_false_utf8_flags(stream: IO[bytes]) -> dict[int, str]:
    """Clear the UTF-8 flag of the central directory entries whose names are not UTF-8; those names, by position.

    The directory is found as zipfile (3.10, 3.11) finds it: it ends where the
    end record (or the zip64 end record) starts, and is as long as that record says.
    """
    found = _end_records(stream)
    if found is None:
        return {}
    end, record, zip64 = found
    (length,) = struct.unpack_from("<L", record, 12)
    if zip64 is not None:
        (length,) = struct.unpack_from("<Q", zip64, 40)
        end -= len(zip64)
    start = end - length
    if start < 0:
        return {}
    stream.seek(start)
    directory = stream.read(length)
    unreadable = {}
    offset = index = 0
    while len(directory) >= offset + 46 and directory[offset : offset + 4] == b"PK\x01\x02":
        (flags,) = struct.unpack_from("<H", directory, offset + 8)
        name_length, extra_length, comment_length = struct.unpack_from("<3H", directory, offset + 28)
        name = directory[offset + 46 : offset + 46 + name_length]
        if flags & 0x800 and not _is_utf8(name):
            unreadable[index] = name.decode("utf-8", "backslashreplace")
            stream.seek(start + offset + 8)
            stream.write(struct.pack("<H", flags & ~0x800))
        offset += 46 + name_length + extra_length + comment_length
        index += 1
    return unreadable


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _reason(error: BaseException) -> str:
    """An exception in one short printable line: its type and the start of its message."""
    kind = type(error)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    message = repr(str(error))[1:-1]
    text = f"{name}: {message}" if message else name
    return text if len(text) <= 200 else f"{text[:200]}..."


def _unsafe(name: str) -> bool:
    """A zip entry name that would leave the folder it is extracted to (it never is: intake computes every path)."""
    return name.startswith(("/", "\\")) or "\\" in name or ".." in PurePosixPath(name).parts or ":" in name.split("/")[0]


def zip_entry_count(path: Path) -> int | None:
    """The number of entries a zip's end records announce, read before the directory itself."""
    directory = zip_directory(path)
    return None if directory is None else directory[0]


def zip_directory(path: Path) -> tuple[int, int] | None:
    """The number of entries and the size in bytes of a zip's directory, as its end records announce them.

    zipfile reads the directory by its size, whatever the count says: both are checked before it is read.
    """
    with path.open("rb") as stream:
        found = _end_records(stream)
    if found is None:
        return None
    _, record, zip64 = found
    count, size = struct.unpack_from("<HI", record, 10)
    if zip64 is not None:
        count, size = struct.unpack_from("<QQ", zip64, 32)
    return int(count), int(size)


def _end_records(stream: IO[bytes]) -> tuple[int, bytes, bytes | None] | None:
    """Where a zip's end-of-directory record starts, that record, and the zip64 end record and locator before it, if any.

    They are found as zipfile (3.10, 3.11) finds them: in the last 22 bytes, or
    else at the last signature of the last 64 KiB (after an archive comment).
    """
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    tail_start = max(0, size - (1 << 16) - 22)
    stream.seek(tail_start)
    tail = stream.read()
    found = len(tail) - 22
    if found < 0 or tail[found : found + 4] != b"PK\x05\x06" or tail[-2:] != b"\0\0":
        found = tail.rfind(b"PK\x05\x06")
    if found < 0 or len(tail) < found + 22:
        return None
    end = tail_start + found
    zip64 = None
    if end >= 76:
        stream.seek(end - 76)
        before = stream.read(76)
        if before[:4] == b"PK\x06\x06" and before[56:60] == b"PK\x06\x07":
            zip64 = before
    return end, tail[found : found + 22], zip64


def _zip_prefix(names: list[str]) -> str:
    """The one folder all entries sit under, when the allowlisted files are not at the top."""
    if any(name in ALLOWLIST for name in names):
        return ""
    tops = {PurePosixPath(name).parts[0] for name in names}
    if len(tops) == 1 and all(len(PurePosixPath(name).parts) > 1 for name in names):
        return f"{tops.pop()}/"
    return ""


def _misplaced_hint(path: str, ignored: list[str]) -> str:
    name = PurePosixPath(path).name
    elsewhere = [p for p in ignored if PurePosixPath(p).name == name]
    if elsewhere:
        return f" A file named {name} was found at {elsewhere[0]}; it must be at {path} (as collect_submission.py packs it)."
    return ""
