"""The report as a page (``--html``): whole HTML, one section per problem, nothing from the submission as markup."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
import sys
from pathlib import Path

from autograder import html_report
from tests.scenarios import ROOT

HOSTILE = "<script>alert('owned')</script><img src=x onerror=alert(1)>\"' & </pre></section>"


class Page(html.parser.HTMLParser):
    """What a browser would build from the page: its elements, their attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "img", "link", "input", "hr"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.unbalanced.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert text.startswith("<!DOCTYPE html>") and not page.unbalanced and not page.open, (page.unbalanced, page.open)
    return page


def report(score_of: dict[str, float], output: str = "") -> dict[str, object]:
    tests = []
    for number, (key, score) in enumerate(score_of.items(), start=1):
        tests.append(
            {
                "name": f"{key}: a test {HOSTILE}",
                "number": f"{number}.1",
                "score": score,
                "max_score": 2.0,
                "status": "passed" if score == 2.0 else "failed",
                "output": f"Expected 1, received 2.\nSmallest failing input: f(x) with x of shape (1,)\n{HOSTILE}",
                "tags": [key],
            }
        )
    return {"score": sum(score_of.values()), "output": output, "tests": tests, "extra_data": {}}


def test_the_page_is_whole_inert_and_shows_each_problem_with_its_status() -> None:
    text = html_report.render(report({"content_loss": 2.0, "tv_loss": 1.0, "answers": 0.0}, output=f"Files: {HOSTILE}"))
    page = parse(text)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "img" not in tags, "nothing the submission wrote becomes markup"
    assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]
    assert sum(HOSTILE in chunk for chunk in page.text) >= 4, "the text is shown, as text"
    policy = next(attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv"))
    assert policy is not None and "default-src 'none'" in policy and "script-src" not in policy
    rows = {attrs.get("class") for tag, attrs in page.tags if tag == "tr" and attrs.get("class")}
    assert rows == {"passed", "partial", "failed"}
    sections = [attrs["id"] for tag, attrs in page.tags if tag == "section"]
    assert sections == ["content_loss", "tv_loss", "answers"], "in grading order"
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert links == [f"#{key}" for key in sections]
    assert "3 / 6" in "".join(page.text)


def test_grade_html_escapes_what_a_submission_prints_and_batch_writes_a_page_each(tmp_path: Path) -> None:
    submission = tmp_path / "hw3"
    shutil.copytree(ROOT / "reference", submission)
    tv_loss = submission / "style_modules" / "tv_loss.py"
    tv_loss.write_text(tv_loss.read_text() + f"\nprint({HOSTILE!r})\nraise RuntimeError({HOSTILE!r})\n")
    page_path = tmp_path / "report.html"
    command = [sys.executable, "-m", "autograder", "grade", str(submission), "--problems", "tv_loss,content_loss"]
    completed = subprocess.run(
        [*command, "--html", str(page_path), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    text = page_path.read_text(encoding="utf-8")
    page = parse(text)
    assert "script" not in [tag for tag, _ in page.tags] and "<script>" not in text
    assert "&lt;script&gt;" in text and "RuntimeError" in text, "the failure is shown, escaped"
    assert page_path.stat().st_mode & 0o777 == 0o644

    out = tmp_path / "out"
    classroom = tmp_path / "class"
    classroom.mkdir()
    shutil.copytree(submission, classroom / "mallory")
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "batch", str(classroom), "--out", str(out), "--problems", "tv_loss", "--html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    parse((out / "submissions" / "mallory" / "report.html").read_text(encoding="utf-8"))
