"""Screenshots of the report page (``grade --html``): the reference's and a failing submission's.

Grades ``reference/`` and one scenario submission from ``tests/scenarios/``
(``--scenario``, by default a Grad-CAM mistake, so the page shows a failure)
from the command line with ``--results`` and ``--html``, as an instructor runs
it, then takes a headless full-page screenshot of each page with Chromium. The
pages, their results.json and the PNGs go to ``bench/out/screenshots/`` (git
ignores ``bench/out/``); the script prints their paths and sizes, and each
grading's score and time. It uses nothing of the page but the command line's
output, so it works whatever the page holds.

    python bench/report_screenshots.py                                   # every problem (about a minute per grading)
    python bench/report_screenshots.py --problems gradcam                # quicker: the page of one problem
    python bench/report_screenshots.py --scenario mistake_saliency_no_abs --problems saliency
    python bench/report_screenshots.py --skip-grading                    # new screenshots of the pages already there

Needs Chromium (Debian: ``apt-get install chromium``; Ubuntu: ``chromium-browser``).
A full page: Chromium's ``--screenshot`` takes the window, so the window is
made tall (``--height``, doubled until the page's end is in it, up to
``--max-height``), and the rows of background colour below the page's end are
cropped with Pillow, leaving a margin. The window is ``--width`` pixels wide
(1280), at a device scale factor of 1. As root, Chromium runs with
``--no-sandbox``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scenarios import SCENARIOS, Scenario  # noqa: E402

OUT = ROOT / "bench" / "out" / "screenshots"
DEFAULT_SCENARIO = "mistake_gradcam_no_relu"
MARGIN = 24
"""Rows of background kept below the page's last content row."""
INSTALL = (
    "Chromium was not found (neither 'chromium' nor 'chromium-browser' is on PATH).\n"
    "Install it, for example:\n"
    "    Debian:  apt-get update && apt-get install -y chromium\n"
    "    Ubuntu:  apt-get install -y chromium-browser   (or: snap install chromium)\n"
    "or give its path with --chromium PATH."
)


def find_chromium(given: str | None) -> str | None:
    if given:
        return shutil.which(given) or (given if Path(given).is_file() else None)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def grade(submission: Path, name: str, problems: str | None) -> dict[str, object]:
    """Grade ``submission`` into ``OUT/<name>.json`` and ``OUT/<name>.html``; what happened."""
    results, page = OUT / f"{name}.json", OUT / f"{name}.html"
    for stale in (results, page):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "autograder", "grade", str(submission), "--results", str(results), "--html", str(page)]
    command += ["--quiet"] + (["--problems", problems] if problems else [])
    started = time.monotonic()
    code = subprocess.run(command, cwd=ROOT).returncode
    wall = time.monotonic() - started
    if code != 0 or not page.is_file():
        raise SystemExit(f"grading {name} failed: exit status {code}; page written: {page.is_file()}\n  {' '.join(command)}")
    report = json.loads(results.read_text())
    total = sum(float(test.get("max_score", 0)) for test in report.get("tests", []))
    print(f"{name}: {float(report['score']):g} / {total:g} in {wall:.1f} s (exit status {code})", flush=True)
    return {"results": results, "page": page, "score": report["score"], "max_score": total, "wall_seconds": wall}


def screenshot(chromium: str, page: Path, png: Path, width: int, height: int, max_height: int, timeout: float) -> Image.Image:
    """A full-page screenshot of ``page`` into ``png``: a window tall enough, then the blank rows below the page cropped.

    One window cannot tell the page's end from a blank stretch that the window's
    bottom happens to cut, so each shot is checked with one twice as tall: the page
    has ended when the taller shot's content ends at the same row.
    """
    with tempfile.TemporaryDirectory(prefix="report-screenshot-") as scratch:
        image = window_shot(chromium, page, Path(scratch), width, height, timeout)
        bottom = content_bottom(image)
        while height < max_height:
            height = min(2 * height, max_height)
            taller = window_shot(chromium, page, Path(scratch), width, height, timeout)
            same, image, bottom = content_bottom(taller) == bottom, taller, content_bottom(taller)
            if same:
                break
        if bottom + MARGIN > image.height:
            print(f"warning: {page.name} may be longer than --max-height {max_height}: the screenshot may be cut", flush=True)
        image = image.crop((0, 0, image.width, min(image.height, bottom + MARGIN)))
        png.parent.mkdir(parents=True, exist_ok=True)
        image.save(png, optimize=True)
        return image


def window_shot(chromium: str, page: Path, scratch: Path, width: int, height: int, timeout: float) -> Image.Image:
    """What a headless window of ``width`` x ``height`` pixels shows of ``page``."""
    raw = scratch / f"window-{height}.png"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--run-all-compositor-stages-before-draw",
        f"--user-data-dir={scratch / 'profile'}",
        f"--screenshot={raw}",
        f"--window-size={width},{height}",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not raw.is_file():
        raise SystemExit(f"chromium failed (exit status {done.returncode}):\n{done.stderr[-3000:]}")
    with Image.open(raw) as shot:
        image = shot.convert("RGB")
    raw.unlink()
    return image


def content_bottom(image: Image.Image) -> int:
    """One past the last row that differs from the background: the colour of the window's bottom-left pixel."""
    background = Image.new("RGB", image.size, image.getpixel((0, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    return box[3] if box else 0


def size_text(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1024:.1f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.2f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"the failing submission (default: {DEFAULT_SCENARIO})")
    parser.add_argument("--problems", default=None, help="grade only these problems (comma-separated keys; default: all)")
    parser.add_argument("--chromium", default=None, help="Chromium's command or path (default: chromium, then chromium-browser)")
    parser.add_argument("--width", type=int, default=1280, help="window width in pixels (default: 1280)")
    parser.add_argument("--height", type=int, default=4000, help="first window height tried, in pixels (default: 4000)")
    parser.add_argument("--max-height", type=int, default=32000, help="the tallest window tried (default: 32000)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for one screenshot (default: 120)")
    parser.add_argument(
        "--skip-grading", action="store_true", help="only take screenshots of the pages already in the out folder"
    )
    arguments = parser.parse_args()
    chromium = find_chromium(arguments.chromium)
    if chromium is None:
        print(INSTALL, file=sys.stderr)
        return 2
    if not (SCENARIOS / arguments.scenario / "scenario.json").is_file():
        print(f"no scenario {arguments.scenario!r} in {SCENARIOS.relative_to(ROOT)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    names = ["reference", arguments.scenario]
    if not arguments.skip_grading:
        with tempfile.TemporaryDirectory(prefix="report-screenshots-") as scratch:
            built = Scenario.load(SCENARIOS / arguments.scenario).build(Path(scratch) / arguments.scenario)
            grade(ROOT / "reference", "reference", arguments.problems)
            grade(built, arguments.scenario, arguments.problems)
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"screenshots with {version or chromium}:", flush=True)
    for name in names:
        page, png = OUT / f"{name}.html", OUT / f"{name}.png"
        if not page.is_file():
            print(f"no page {page.relative_to(ROOT)}: grade first (without --skip-grading)", file=sys.stderr)
            return 1
        started = time.monotonic()
        image = screenshot(chromium, page, png, arguments.width, arguments.height, arguments.max_height, arguments.timeout)
        print(
            f"  {page.relative_to(ROOT)} ({size_text(page)})\n"
            f"  {png.relative_to(ROOT)} ({size_text(png)}, {image.width} x {image.height} pixels, {time.monotonic() - started:.1f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
