"""Submission intake: every accepted layout, and nothing taken that is not an allowlisted plain file."""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.intake import (
    ALLOWLIST,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    SUPPORT_FILES,
    IntakeError,
    take_submission,
    zip_entry_count,
)
from autograder.reference import REFERENCE_DIR

GRADED = ["style_modules/content_loss.py", "style_utils.py"]


def write_files(folder: Path, names: list[str], text: str = "x = 1\n") -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_zip(path: Path, names: list[str], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(prefix + name, "x = 1\n")
    return path


@pytest.mark.parametrize("layout", ["loose", "nested_folder", "folder_with_zip", "zip", "nested_zip"])
def test_every_accepted_layout_yields_the_same_files(tmp_path: Path, layout: str) -> None:
    source = tmp_path / "upload"
    source.mkdir()
    if layout == "loose":
        write_files(source, [*GRADED, "notes.txt"])
    elif layout == "nested_folder":
        write_files(source / "ps3", [*GRADED, "notes.txt"])
    elif layout == "folder_with_zip":
        write_zip(source / "submission.zip", [*GRADED, "notes.txt"])
    elif layout == "zip":
        source = write_zip(tmp_path / "upload.zip", [*GRADED, "notes.txt"])
    else:
        source = write_zip(tmp_path / "upload.zip", [*GRADED, "notes.txt"], prefix="hw3/")
    intake = take_submission(source, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == GRADED
    assert set(intake.missing) == set(ALLOWLIST) - set(GRADED)
    assert any(name.endswith("notes.txt") for name in intake.ignored)
    assert (intake.tree / "style_utils.py").read_text() == "x = 1\n"


def test_support_files_are_always_the_courses(tmp_path: Path) -> None:
    write_files(tmp_path / "upload", ["image_utils.py", *GRADED], text="import os; os.system('boom')\n")
    intake = take_submission(tmp_path / "upload", tmp_path / "tree", REFERENCE_DIR)
    assert intake.replaced_support == ["image_utils.py"]
    for name in SUPPORT_FILES:
        assert (intake.tree / name).read_bytes() == (REFERENCE_DIR / name).read_bytes()
    assert "course's own copies of image_utils.py" in intake.report(set(GRADED))


def test_files_outside_the_allowlist_never_reach_the_tree(tmp_path: Path) -> None:
    write_files(tmp_path / "upload", [*GRADED, "conftest.py", "sitecustomize.py", "pytest.ini", "x.pth", "usercustomize.py"])
    intake = take_submission(tmp_path / "upload", tmp_path / "tree", REFERENCE_DIR)
    present = sorted(p.relative_to(intake.tree).as_posix() for p in intake.tree.rglob("*") if p.is_file())
    assert present == sorted([*GRADED, *SUPPORT_FILES])
    assert {"conftest.py", "sitecustomize.py", "pytest.ini", "x.pth", "usercustomize.py"} <= set(intake.ignored)


def test_links_and_special_files_are_not_followed(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    write_files(upload, ["style_utils.py"])
    (upload / "style_modules").mkdir()
    (upload / "style_modules" / "content_loss.py").symlink_to("/etc/passwd")
    os.mkfifo(upload / "answers.py")
    (upload / "visualizers").symlink_to("/etc", target_is_directory=True)
    intake = take_submission(upload, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == ["style_utils.py"]
    assert "symbolic link" in intake.rejected["style_modules/content_loss.py"]
    assert "not a regular file" in intake.rejected["answers.py"]
    assert "symbolic link" in str(intake.problem_with("style_modules/content_loss.py"))
    assert not (intake.tree / "style_modules" / "content_loss.py").exists()


def test_large_files_are_refused_in_folders_and_zips(tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    write_files(upload, ["style_utils.py"], text="#" * (MAX_FILE_BYTES + 1))
    assert "larger than" in take_submission(upload, tmp_path / "tree1", REFERENCE_DIR).rejected["style_utils.py"]
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        stream.writestr("style_utils.py", "#" * (MAX_FILE_BYTES * 50))
    assert "larger than" in take_submission(archive, tmp_path / "tree2", REFERENCE_DIR).rejected["style_utils.py"]


def test_zip_entries_that_escape_or_link_are_not_taken(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        stream.writestr("../style_utils.py", "evil = 1\n")
        stream.writestr("/etc/answers.py", "evil = 1\n")
        link = zipfile.ZipInfo("conv_matrices.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        stream.writestr(link, "/etc/passwd")
        stream.writestr("style_modules/tv_loss.py", "ok = 1\n")
    intake = take_submission(archive, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == ["style_modules/tv_loss.py"]
    assert "symbolic link" in intake.rejected["conv_matrices.py"]
    assert not (tmp_path / "style_utils.py").exists() and not (tmp_path / "tree" / "style_utils.py").exists()


def test_a_misplaced_file_gets_a_hint(tmp_path: Path) -> None:
    write_files(tmp_path / "upload", ["content_loss.py", "style_utils.py"])
    intake = take_submission(tmp_path / "upload", tmp_path / "tree", REFERENCE_DIR)
    message = intake.problem_with("style_modules/content_loss.py")
    assert message is not None and "missing" in message and "must be at style_modules/content_loss.py" in message


def test_unreadable_submissions_raise_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IntakeError, match="not a readable zip"):
        take_submission(broken, tmp_path / "tree1", REFERENCE_DIR)
    with pytest.raises(IntakeError, match="neither a folder nor a zip"):
        take_submission(tmp_path / "nowhere", tmp_path / "tree2", REFERENCE_DIR)


def test_a_zip_with_too_many_entries_is_refused_before_its_directory_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        for index in range(MAX_ENTRIES + 1):
            stream.writestr(f"junk/{index}", b"")
    assert zip_entry_count(archive) == MAX_ENTRIES + 1
    with pytest.raises(IntakeError, match=f"holds {MAX_ENTRIES + 1} entries; a submission zip may hold at most"):
        take_submission(archive, tmp_path / "tree", REFERENCE_DIR)


def test_a_zip_whose_directory_is_larger_than_its_count_says_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """zipfile reads a directory by its size: a zip that announces one entry but holds 30000 is refused all the same."""
    archive = tmp_path / "lying.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        for index in range(30000):
            stream.writestr(f"junk/{index:0300d}", b"")
    data = bytearray(archive.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 1, 1)  # one entry, on this disk and in all
    archive.write_bytes(bytes(data))
    assert zip_entry_count(archive) == 1
    with pytest.raises(IntakeError, match=r"has a directory of .* KiB; a submission zip's may be at most"):
        take_submission(archive, tmp_path / "tree", REFERENCE_DIR)


def test_zip_entry_counts_are_read_from_zip64_records_too(tmp_path: Path) -> None:
    archive = tmp_path / "zip64.zip"
    with zipfile.ZipFile(archive, "w") as stream:
        for index in range(70000):  # more than a 16-bit count holds, so the count is in the zip64 record
            stream.writestr(zipfile.ZipInfo(f"{index}"), b"")
    assert zip_entry_count(archive) == 70000


def test_unsafe_zip_names_are_listed_as_such(tmp_path: Path) -> None:
    names = ["../answers.py", "/answers.py", "a/../../answers.py", "..\\answers.py", "C:/answers.py"]
    archive = write_zip(tmp_path / "slip.zip", [*GRADED, *names])
    intake = take_submission(archive, tmp_path / "tree", REFERENCE_DIR)
    assert sorted(intake.unsafe) == sorted(names)
    assert "Ignored as unsafe" in intake.report(set(GRADED))
    assert not (tmp_path / "answers.py").exists() and not (tmp_path / "tree" / "answers.py").exists()


# --------------------------------------------------------------------------- damaged zips

TV_LOSS = "style_modules/tv_loss.py"


def entry_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where an entry's compressed bytes start: after its local header, name and extra field."""
    name_length, extra_length = struct.unpack_from("<2H", data, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def flag_utf8_with_latin1_name(path: Path, entry: str) -> None:
    """Rename ``entry`` (which holds ``rXsumX``) to a Latin-1 name, ``r\\xe9sum\\xe9``, and flag it UTF-8."""
    placeholder = entry.encode()
    name = placeholder.replace(b"rXsumX", b"r\xe9sum\xe9")
    data = bytearray(path.read_bytes())
    headers = {b"PK\x03\x04": (30, 6), b"PK\x01\x02": (46, 8)}  # name and flags, after the local and central headers' starts
    for signature, (name_at, flags_at) in headers.items():
        header = data.find(signature)
        while header >= 0 and data[header + name_at : header + name_at + len(placeholder)] != placeholder:
            header = data.find(signature, header + 4)
        assert header >= 0, f"no {signature!r} header names {placeholder!r}"
        data[header + flags_at + 1] |= 0x800 >> 8
        data[header + name_at : header + name_at + len(name)] = name
    path.write_bytes(bytes(data))


def with_zip64_end_record(data: bytes) -> bytes:
    """The zip ``data`` with a zip64 end record and locator before its end record, which announces 0xFFFF entries."""
    end = data.rfind(b"PK\x05\x06")
    count, size, offset = struct.unpack_from("<H2L", data, end + 10)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    tail = bytearray(data[end:])
    tail[8:12] = b"\xff\xff\xff\xff"
    return data[:end] + record + locator + bytes(tail)


def test_a_corrupt_entry_costs_only_itself(tmp_path: Path) -> None:
    archive = tmp_path / "damaged.zip"
    answers = (REFERENCE_DIR / "answers.py").read_bytes()
    tv_loss = (REFERENCE_DIR / TV_LOSS).read_bytes()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        stream.writestr("answers.py", answers)
        stream.writestr(TV_LOSS, tv_loss)
        info = stream.getinfo("answers.py")
    data = bytearray(archive.read_bytes())
    start = entry_data_offset(bytes(data), info)
    for index in range(start, start + 16):
        data[index] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(zipfile.zlib.error), zipfile.ZipFile(archive) as stream:  # type: ignore[attr-defined]
        stream.read("answers.py")
    intake = take_submission(archive, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == [TV_LOSS]
    assert (intake.tree / TV_LOSS).read_bytes() == tv_loss
    assert intake.rejected["answers.py"].startswith("it could not be extracted (zlib.error: Error -3 while decompressing")
    assert not (intake.tree / "answers.py").exists()
    assert "Not used: answers.py: it could not be extracted (zlib.error" in intake.report({"answers.py", TV_LOSS})


@pytest.mark.parametrize("ending", ["plain", "comment", "zip64"])
def test_a_name_flagged_utf8_that_is_not_is_listed_and_skipped(tmp_path: Path, ending: str) -> None:
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as stream:
        stream.writestr("answers.py", "a = 1\n")
        latin1 = zipfile.ZipInfo("rXsumX.py")
        latin1.flag_bits |= 0x800
        stream.writestr(latin1, "r = 1\n")
        stream.writestr("caf\u00e9/notes.txt", "UTF-8, as flagged\n")
        stream.writestr(TV_LOSS, "t = 1\n")
        if ending == "comment":
            stream.comment = b"an archive comment, so that the end record is not the last 22 bytes"
    flag_utf8_with_latin1_name(archive, "rXsumX.py")
    if ending == "zip64":
        archive.write_bytes(with_zip64_end_record(archive.read_bytes()))
        assert zip_entry_count(archive) == 4
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(archive)
    intake = take_submission(archive, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == [TV_LOSS, "answers.py"]
    assert (intake.tree / TV_LOSS).read_text() == "t = 1\n"
    assert intake.unreadable == ["r\\xe9sum\\xe9.py"]
    assert intake.ignored == ["caf\u00e9/notes.txt"]
    assert not intake.rejected
    report = intake.report({"answers.py", TV_LOSS})
    assert "Entries whose names could not be read (not UTF-8), ignored: r\\xe9sum\\xe9.py." in report


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_entries_are_refused_unread(tmp_path: Path, method: int) -> None:
    """zipfile would inflate them a whole read at a time: a few hundred bytes of bzip2 to hundreds of MiB."""
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=method) as stream:
        stream.writestr(TV_LOSS, "t = 1\n")
        stream.writestr("answers.py", "a = 1\n", compress_type=zipfile.ZIP_DEFLATED)
    intake = take_submission(archive, tmp_path / "tree", REFERENCE_DIR)
    assert intake.taken == ["answers.py"]
    assert intake.rejected[TV_LOSS] == (
        f"it is compressed with method {method}, which is not read; zip it again with the usual compression (deflate)"
    )


def test_a_broken_directory_is_an_intake_error_that_names_the_zip(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "cut.zip", GRADED)
    data = archive.read_bytes()
    directory = data.rfind(b"PK\x01\x02")
    archive.write_bytes(data[: directory + 20] + data[data.rfind(b"PK\x05\x06") :])
    with pytest.raises(IntakeError, match=r"cut\.zip is not a readable zip file \(zipfile\.BadZipFile: "):
        take_submission(archive, tmp_path / "tree", REFERENCE_DIR)


FUZZED = {
    "answers.py": (b"answer = 42\n" * 40, zipfile.ZIP_DEFLATED),
    "style_utils.py": (b"def utils():\n    return 'stored'\n", zipfile.ZIP_STORED),
    TV_LOSS: (b"def tv_loss(img, weight):\n    return 0.0\n" * 20, zipfile.ZIP_DEFLATED),
    "conv_matrices.py": (b"M = [[1, 0], [0, 1]]\n", zipfile.ZIP_STORED),
}


def fuzzed_zip(prefix: str, false_utf8: bool) -> tuple[bytes, int]:
    """A valid zip of :data:`FUZZED` (and a few other entries), and where its central directory starts."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base.zip"
        with zipfile.ZipFile(path, "w") as stream:
            for name, (content, method) in FUZZED.items():
                stream.writestr(prefix + name, content, compress_type=method)
            stream.writestr(prefix + "notes_\u00e9t\u00e9.txt", "UTF-8 name\n")
            odd = zipfile.ZipInfo(prefix + "rXsumX.txt")
            odd.flag_bits |= 0x800
            stream.writestr(odd, "latin-1 name\n")
        if false_utf8:
            flag_utf8_with_latin1_name(path, prefix + "rXsumX.txt")
        data = path.read_bytes()
    return data, data.find(b"PK\x01\x02")


damage = st.tuples(
    st.sampled_from(["overwrite", "flip", "truncate", "insert"]),
    st.sampled_from(["anywhere", "directory"]),
    st.floats(min_value=0, max_value=1),
    st.binary(min_size=1, max_size=8),
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.sampled_from(["", "hw3/"]), st.booleans(), st.lists(damage, min_size=1, max_size=3))
def test_a_damaged_zip_never_fails_intake_otherwise(
    prefix: str, false_utf8: bool, damages: list[tuple[str, str, float, bytes]]
) -> None:
    """Whatever the damage: an IntakeError naming the zip, or every file taken intact, rejected with a reason, or missing."""
    original, directory = fuzzed_zip(prefix, false_utf8)
    data = bytearray(original)
    for kind, region, where, payload in damages:
        low = directory if region == "directory" and directory < len(data) else 0
        offset = low + int(where * (len(data) - low - 1))
        if kind == "overwrite":
            data[offset : offset + len(payload)] = payload[: len(data) - offset]
        elif kind == "flip":
            data[offset] ^= payload[0] or 1
        elif kind == "truncate":
            del data[offset:]
        else:
            data[offset:offset] = payload
        if not data:
            break
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "fuzzed.zip"
        archive.write_bytes(bytes(data))
        try:
            intake = take_submission(archive, Path(folder) / "tree", REFERENCE_DIR)
        except IntakeError as error:
            assert "fuzzed.zip" in str(error)
            str(error).encode("utf-8")
            return
        for name in intake.taken:
            assert (intake.tree / name).read_bytes() == FUZZED[name][0], name
        for name in FUZZED:
            assert name in intake.taken or name in intake.missing or intake.rejected.get(name), name
        assert all(reason.isprintable() for reason in intake.rejected.values())
        report = intake.report(set(ALLOWLIST))
        assert isinstance(report, str)
        report.encode("utf-8")
