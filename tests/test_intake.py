"""Submission intake: every accepted layout, and nothing taken that is not an allowlisted plain file."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

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
