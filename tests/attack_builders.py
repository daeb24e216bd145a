"""Builders for the attacks that cannot be kept as plain files in git.

An attack's ``scenario.json`` names one in ``"build"``; it gets the
submission folder (the base's files with the attack's files laid over) and
changes it in place: links, named pipes, zips with hostile entries, sparse
files of hundreds of megabytes.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.scenarios import ROOT


def symlinks(folder: Path) -> None:
    (folder / "style_modules" / "content_loss.py").unlink()
    (folder / "style_modules" / "content_loss.py").symlink_to("/etc/passwd")
    (folder / "answers.py").unlink()
    (folder / "answers.py").symlink_to(ROOT / "reference" / "answers.py")
    (folder / "root").symlink_to("/")


def zip_slip(folder: Path) -> None:
    archive = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        for path in sorted(folder.rglob("*.py")):
            stream.write(path, path.relative_to(folder).as_posix())
        stream.writestr("../../../../../../tmp/attack-zipslip.py", "print('escaped')\n")
        stream.writestr("/tmp/attack-zipslip-absolute.py", "print('escaped')\n")
        stream.writestr("..\\..\\attack-zipslip-backslash.py", "print('escaped')\n")
        stream.writestr("style_modules/../../attack-zipslip-inner.py", "print('escaped')\n")
    shutil.rmtree(folder)
    folder.mkdir()
    archive.rename(folder / "submission.zip")


def many_files(folder: Path) -> None:
    junk = folder / "junk"
    junk.mkdir()
    for index in range(5000):
        (junk / f"file{index:04d}.txt").write_text(str(index))
    for path in (folder / "huge.bin", folder / "answers.py"):
        with path.open("wb") as stream:
            stream.truncate(300 * 2**20)


def zip_bomb(folder: Path) -> None:
    archive = folder.parent / f"{folder.name}.zip"
    block = b"\0" * 2**20
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        for path in sorted(folder.rglob("*.py")):
            name = path.relative_to(folder).as_posix()
            if name not in ("answers.py", "style_modules/tv_loss.py"):
                stream.write(path, name)
        with stream.open("answers.py", "w", force_zip64=True) as entry:
            for _ in range(1024):
                entry.write(block)
        with stream.open("style_modules/tv_loss.py", "w") as entry:
            for _ in range(200):
                entry.write(block)
    _lie_about_size(archive, b"style_modules/tv_loss.py", 10)
    shutil.rmtree(folder)
    folder.mkdir()
    archive.rename(folder / "submission.zip")


def _lie_about_size(archive: Path, name: str | bytes, size: int) -> None:
    """Write ``size`` as the uncompressed size of entry ``name``, in its local header and the central directory."""
    name = name.encode() if isinstance(name, str) else name
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                data[start + offset : start + offset + 4] = size.to_bytes(4, "little")
            start += 4
    archive.write_bytes(bytes(data))


def damaged_zip_entries(folder: Path) -> None:
    """The reference's files in a zip: answers.py's compressed bytes damaged, and an entry flagged UTF-8 whose name is Latin-1."""
    archive = folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        for path in sorted(folder.rglob("*.py")):
            stream.write(path, path.relative_to(folder).as_posix())
        stream.writestr("rXsumX.txt", "a name written on an old system\n")
        answers = stream.getinfo("answers.py")
    data = bytearray(archive.read_bytes())
    name_length, extra_length = struct.unpack_from("<2H", data, answers.header_offset + 26)
    start = answers.header_offset + 30 + name_length + extra_length
    data[start : start + 16] = bytes(byte ^ 0xFF for byte in data[start : start + 16])
    for signature, name_at, flags_at in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        header = data.find(signature)
        while data[header + name_at : header + name_at + 10] != b"rXsumX.txt":
            header = data.find(signature, header + 4)
        data[header + flags_at + 1] |= 0x800 >> 8  # the UTF-8 flag, over a name that is not UTF-8
        data[header + name_at : header + name_at + 6] = b"r\xe9sum\xe9"
    archive.write_bytes(bytes(data))
    shutil.rmtree(folder)
    folder.mkdir()
    archive.rename(folder / "submission.zip")


def device_files(folder: Path) -> None:
    (folder / "answers.py").unlink()
    os.mkfifo(folder / "answers.py")
    (folder / "style_modules" / "tv_loss.py").unlink()
    (folder / "style_modules" / "tv_loss.py").symlink_to("/dev/zero")


BUILDERS: dict[str, Callable[[Path], None]] = {
    "symlinks": symlinks,
    "zip_slip": zip_slip,
    "many_files": many_files,
    "zip_bomb": zip_bomb,
    "device_files": device_files,
    "damaged_zip_entries": damaged_zip_entries,
}
