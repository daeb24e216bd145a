"""The README and docs/ stay true to the project: cheap checks, no grading.

An instructor adopting the grader reads the README's first screen, so their
steps must come first; its first commands are the ones that work on a fresh
machine (and CI runs the second); links and the names of settings go stale
when files move or settings change, and nothing else would notice.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from autograder.settings import Limits

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
SETUP_AND_GRADE = "./setup.sh && .venv/bin/python -m autograder grade reference --results results.json"
SETUP_AND_TEST = "./setup.sh --dev && ./run_tests"
BUILD_GRADESCOPE = ".venv/bin/ps3-autograder build gradescope autograder.zip"
"""The README's command for the upload zip; tests/test_packaging.py runs it."""
INSTRUCTORS_HEADING = "## For instructors"
INSTRUCTORS_BEFORE_LINE = 80
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SETTING = re.compile(r"\bAUTOGRADER_[A-Z_]+\b")


def without_code_blocks(text: str) -> str:
    """The text with fenced code blocks blanked out (line numbers kept): links in code are not links."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return "\n".join(lines)


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks' contents, indented ones (in a list item) included."""
    return re.findall(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", text, flags=re.DOTALL | re.MULTILINE)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    found = set()
    for line in without_code_blocks(path.read_text()).splitlines():
        heading = re.match(r"#+\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def test_the_instructors_steps_are_on_the_first_screen() -> None:
    lines = README.read_text().splitlines()
    assert INSTRUCTORS_HEADING in lines, f"the README has no {INSTRUCTORS_HEADING!r} section"
    line = lines.index(INSTRUCTORS_HEADING) + 1
    assert line < INSTRUCTORS_BEFORE_LINE, f"the instructors' steps start at line {line}"


def test_the_first_code_block_sets_up_and_grades_then_sets_up_and_tests() -> None:
    first = code_blocks(README.read_text())[0]
    assert first.splitlines() == [SETUP_AND_GRADE, SETUP_AND_TEST]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    commands = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands == [SETUP_AND_TEST]


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file_and_heading(document: Path) -> None:
    broken = []
    for target in LINK.findall(without_code_blocks(document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{document.name}: broken links: {broken}"


def test_every_limit_is_documented() -> None:
    documented = README.read_text() + "".join(doc.read_text() for doc in DOCS)
    missing = [
        f"AUTOGRADER_{spec.name.upper()}" for spec in fields(Limits) if f"AUTOGRADER_{spec.name.upper()}" not in documented
    ]
    assert not missing, f"settings not in the README or docs/: {missing}"


def test_every_setting_the_docs_name_exists() -> None:
    """A variable the docs name is read somewhere: a limit, or run_autograder's, setup.sh's or a test's."""
    code = "".join(
        path.read_text(errors="replace")
        for folder in ("autograder", "tests", "bench")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".sh"} and path.is_file() and "scenarios" not in path.parts and "attacks" not in path.parts
    )
    code += (ROOT / "run_autograder").read_text() + (ROOT / "setup.sh").read_text()
    limits = {f"AUTOGRADER_{spec.name.upper()}" for spec in fields(Limits)}
    for document in (README, *DOCS):
        unknown = sorted(name for name in set(SETTING.findall(document.read_text())) if name not in limits and name not in code)
        assert not unknown, f"{document.name} names settings nothing reads: {unknown}"


def test_the_upload_zip_is_built_by_the_command_the_tests_run() -> None:
    """The README builds the upload zip with ``BUILD_GRADESCOPE``, which tests/test_packaging.py runs (with a venv reused)."""
    blocks = [block.strip() for block in code_blocks(README.read_text()) if "build gradescope" in block]
    assert BUILD_GRADESCOPE in blocks, f"the README's build command is not {BUILD_GRADESCOPE!r}: {blocks}"
    assert not any("git archive" in block for block in code_blocks(README.read_text())), "the zip is built, not archived"
