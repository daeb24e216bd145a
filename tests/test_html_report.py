"""The report as a page (``--html``): whole HTML, one section per problem, nothing from the submission as markup."""

from __future__ import annotations

import base64
import html.parser
import io
import shutil
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch

from autograder import figures, html_report
from tests.scenarios import ROOT, SCENARIOS, Scenario

HOSTILE = "<script>alert('owned')</script><img src=x onerror=alert(1)>\"' & </pre></section>"


class Picture:
    """An ``<img>`` of the page: its section, alt text, shown size, and its PNG decoded with pillow."""

    def __init__(self, section: str, attrs: dict[str, str | None]) -> None:
        self.section = section
        self.alt = attrs.get("alt") or ""
        source = attrs.get("src") or ""
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix), f"{self.alt}: not an inline PNG: {source[:40]}"
        self.png = PIL.Image.open(io.BytesIO(base64.b64decode(source[len(prefix) :], validate=True)))
        self.png.load()
        assert self.png.format == "PNG"
        self.size = self.png.size  # (width, height)
        shown = (int(attrs.get("width") or 0), int(attrs.get("height") or 0))
        factor = shown[0] // self.size[0]
        assert factor >= 1 and shown == (self.size[0] * factor, self.size[1] * factor), (self.alt, shown, self.size)


class Page(html.parser.HTMLParser):
    """What a browser would build from the page: its elements, their attributes, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: list[str] = []
        self.unbalanced: list[str] = []
        self.section = ""
        self.images: list[Picture] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self.section = dict(attrs).get("id") or ""
        if tag == "img":
            self.images.append(Picture(self.section, dict(attrs)))
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


def pictures_of(page: Page, section: str, name: str) -> list[Picture]:
    """The pictures of ``section`` whose alt text starts with ``name`` (a figure's name, a colon, a column)."""
    return [picture for picture in page.images if picture.section == section and picture.alt.startswith(name)]


# The pictures the issue names, on the course's settings: section, alt text's start, how many, size (width, height).
REFERENCE_PICTURES = [
    ("saliency", "Saliency maps: input,", 5, (64, 64)),
    ("saliency", "Saliency maps: expected,", 5, (64, 64)),
    ("saliency", "Saliency maps: received,", 5, (64, 64)),
    ("guided_backprop", "Guided backprop: input,", 5, (64, 64)),
    ("guided_backprop", "Guided backprop: expected,", 5, (64, 64)),
    ("guided_backprop", "Guided backprop: received,", 5, (64, 64)),
    ("gradcam", "Grad-CAM maps: input,", 5, (64, 64)),
    ("gradcam", "Grad-CAM maps: expected,", 5, (64, 64)),
    ("gradcam", "Grad-CAM maps: received,", 5, (64, 64)),
    ("fooling_image", "The fooling image: original,", 1, (64, 64)),
    ("fooling_image", "The fooling image: fooling image,", 1, (64, 64)),
    ("fooling_image", "The fooling image: difference, magnified,", 1, (64, 64)),
    ("class_visualization", "The final image: expected,", 1, (64, 64)),
    ("class_visualization", "The final image: received,", 1, (64, 64)),
    ("style_transfer", "The final image: content picture,", 1, (320, 240)),
    ("style_transfer", "The final image: style picture,", 1, (300, 260)),
    ("style_transfer", "The final image: expected,", 1, (64, 48)),
    ("style_transfer", "The final image: received,", 1, (64, 48)),
    ("gram_matrix", "The Gram matrix of the style image's features at layer 5: expected", 1, (128, 128)),
    ("gram_matrix", "The Gram matrix of the style image's features at layer 5: received", 1, (128, 128)),
]


def test_the_reference_page_shows_each_course_setting_picture_at_full_marks(tmp_path: Path) -> None:
    """grade --html on reference/: every picture is a PNG that decodes at the output's size, none shows a difference."""
    page_path, results = tmp_path / "report.html", tmp_path / "results.json"
    command = [sys.executable, "-m", "autograder", "grade", str(ROOT / "reference"), "--results", str(results)]
    completed = subprocess.run(
        [*command, "--html", str(page_path), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert completed.returncode == 0, completed.stderr
    page = parse(page_path.read_text(encoding="utf-8"))  # decodes every picture (Picture)
    text = "".join(page.text)
    rows = [attrs.get("class") for tag, attrs in page.tags if tag == "tr" and attrs.get("class")]
    assert rows == ["passed"] * 12, "every problem at full marks"
    for section, name, count, size in REFERENCE_PICTURES:
        found = pictures_of(page, section, name)
        assert len(found) == count, (section, name, [picture.alt for picture in page.images if picture.section == section])
        assert {picture.size for picture in found} == {size}, (name, {picture.size for picture in found})
    assert not [picture.alt for picture in page.images if "|received - expected|" in picture.alt], "nothing differs"
    assert "predicted: class 143 (the target)" in text, "the fooling image's class after, the target"
    assert "could not be" not in text
    tables = [attrs.get("class") for tag, attrs in page.tags if tag == "td" and attrs.get("class") in ("same", "differs")]
    assert tables and set(tables) == {"same"}, "the losses, conv matrices and answers: each received value matches"
    for loss in ("ContentLoss.forward(", "StyleLoss.forward(", "TotalVariationLoss.forward(", "feature_map_size(259"):
        assert loss in text, loss


def test_a_gradcam_mistake_shows_the_failing_tests_with_both_maps_and_their_difference(tmp_path: Path) -> None:
    submission = Scenario.load(SCENARIOS / "mistake_gradcam_no_relu").build(tmp_path / "submission")
    page_path = tmp_path / "report.html"
    command = [sys.executable, "-m", "autograder", "grade", str(submission), "--problems", "gradcam"]
    completed = subprocess.run(
        [*command, "--html", str(page_path), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    page = parse(page_path.read_text(encoding="utf-8"))
    failed = [attrs for tag, attrs in page.tags if tag == "h3" and attrs.get("class") == "test-failed"]
    assert len(failed) == 2, "8.1 (the course's setting) and 8.2 (generated batches) fail"
    text = "".join(page.text)
    assert "8.1 Grad-CAM: Course's setting" in text and "values differ from the expected ones" in text
    for column, count in (("expected", 6), ("received", 6), ("|received - expected|", 6)):
        found = pictures_of(page, "gradcam", f"Grad-CAM maps: {column},")
        assert len(found) == count, (column, len(found))  # five images of the course's batch, one of the smallest failing
    assert {picture.size for picture in pictures_of(page, "gradcam", "Grad-CAM maps: expected,")} == {(64, 64), (48, 48)}


def test_figures_are_kept_only_while_a_page_is_made_and_never_fail_a_test() -> None:
    assert not figures.active()
    called: list[str] = []
    figures.maps_over_pictures("never", lambda: called.append("pictures"), torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))
    assert figures.drawn(lambda: 3, lambda value: called.append("drawn")) == 3
    assert not called, "without a page, nothing is drawn or computed"

    sketchbook = figures.Sketchbook()
    with figures.drawing(sketchbook):
        sketchbook.begin_test()
        figures.maps_over_pictures(
            "a case shrinking went through", torch.zeros(1, 3, 8, 8), torch.ones(1, 8, 8), torch.ones(1, 8, 8)
        )
        sketchbook.begin_case()
        with pytest.raises(ZeroDivisionError):
            figures.drawn(lambda: 1 / 0, lambda value: figures.value("f(x)", 1.0, value))
        figures.maps_over_pictures("broken", lambda: 1 / 0, torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))
        figures.value("answer", 1, HOSTILE)
        sketchbook.finish("answers", "12.1", keep=True)
        sketchbook.begin_test()
        figures.value("dropped", 1, 2)
        sketchbook.finish("answers", "12.2", keep=False)
    kept = sketchbook.of("answers", "12.1")
    assert [figure.title for figure in kept] == [figures.VALUES_TITLE, "broken", figures.VALUES_TITLE]
    assert kept[0].table == [("f(x)", "1", "nothing (see the test's message)", False)]
    assert kept[1].notes and "ZeroDivisionError" in kept[1].notes[0] and not kept[1].rows
    assert kept[2].table[0][2].startswith("'<script>") and not sketchbook.of("answers", "12.2")
    page = parse(html_report.render(report({"answers": 0.0}), sketchbook))
    assert "script" not in [tag for tag, _ in page.tags] and not page.images
    assert any(HOSTILE[:30] in chunk for chunk in page.text), "a received text is shown as text"


def test_a_received_value_of_any_shape_or_kind_is_drawn_or_described() -> None:
    sketchbook = figures.Sketchbook()
    pictures = torch.randn(2, 3, 8, 8)
    expected = torch.rand(2, 8, 8)
    replies = [torch.rand(2, 8, 8) * 2, torch.rand(2, 8), "maps", torch.full((2, 8, 8), float("nan")), None, expected.clone()]
    replies.append(torch.zeros(2, 2400, 1))  # the wrong shape
    replies.append(torch.zeros(2, 1500, 1500))  # more elements than a page draws: described, never converted
    with figures.drawing(sketchbook):
        for number, received in enumerate(replies):
            sketchbook.begin_test()
            figures.maps_over_pictures("Maps", pictures, expected, received, overlay=number % 2 == 0)
            sketchbook.finish("saliency", str(number), keep=True)
    for number in range(len(replies)):
        (figure,) = sketchbook.of("saliency", str(number))
        assert len(figure.rows) == 2 and not figure.notes, (number, figure.notes)
        lines = html_report.figure_html(figure)
        page = parse("<!DOCTYPE html>" + "".join(lines))
        columns = [picture.alt.split(": ")[1].split(",")[0] for picture in page.images]
        if number in (1, 2, 4, 6, 7):  # the wrong shape, not numbers, nothing: the expected maps, and what was received, in words
            assert "received" not in columns and "received" in "".join(page.text)
            if number == 7:
                assert "a tensor of shape (2, 1500, 1500)" in "".join(page.text)
        elif number == 5:
            assert "|received - expected|" not in columns, "the same maps: no difference drawn"
        else:
            assert columns.count("|received - expected|") == 2
