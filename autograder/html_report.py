"""A report to look at: one self-contained HTML file (``grade --html``, ``batch --html``).

It is rendered from the report itself (``results.json``'s object), in the
grader's process, only when asked for, so grading without it costs nothing
more. The page has a header with the total, a table with a row per problem
(coloured: passed, partly passed, failed) linking to the problem's section,
and per problem its tests: points, and for a failed test its message, with
the smallest failing input.

Every text from the report is escaped (:func:`html.escape`): test outputs,
file names and printed output come from the submission, and none of it can
add markup to the page. The page loads nothing and runs no script; its
Content-Security-Policy forbids both, so it opens offline and stays inert
even if a browser were tricked.

With the run's figures (:mod:`autograder.figures`), each test is followed by
what it compared: for the course's setting, and for a failed test its
smallest failing input. Pictures (maps, images, matrices that differ) are
PNGs inlined as ``data:`` URIs (:mod:`autograder.pictures`), the student's
output beside the expected one and, where they differ, their difference;
numbers and answers are small tables of expected against received.
"""

from __future__ import annotations

import html
import sys
import time
from pathlib import Path
from typing import Any

from autograder import figures, pictures
from autograder.feedback import tests_of
from autograder.problems import PROBLEMS, Problem
from autograder.results import points_text, write_atomically

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #1b1b1b; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
td.points { text-align: right; white-space: nowrap; }
tr.passed td.status { background: #d9f2d9; }
tr.partial td.status { background: #fff1c2; }
tr.failed td.status { background: #f8d4d4; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; }
details { margin: 0.5em 0; }
.test-passed { color: #1d6b1d; }
.test-failed { color: #a01c1c; }
figure { margin: 0.5em 0 1.5em; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
table.pictures td { text-align: center; font-size: 0.8em; }
table.pictures img { image-rendering: pixelated; display: block; margin: 0 auto 0.2em; }
td.same { background: #d9f2d9; }
td.differs { background: #f8d4d4; }
td pre { margin: 0; padding: 0.3em; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def status_of(score: float, maximum: float) -> str:
    """``passed``, ``partial`` or ``failed``: the colour of a problem's row."""
    if maximum > 0 and score >= maximum - 1e-9:
        return "passed"
    return "partial" if score > 1e-9 else "failed"


def render(
    report: dict[str, Any],
    sketchbook: figures.Sketchbook | None = None,
    *,
    title: str = "PS3 autograder report",
    problems: tuple[Problem, ...] = PROBLEMS,
) -> str:
    """The page for ``report`` (a results.json object), its problems in grading order, with ``sketchbook``'s figures."""
    by_problem = {p.key: tests_of(report, p) for p in problems}
    shown = [p for p in problems if by_problem[p.key]]
    maximum = sum(float(t.get("max_score", 0)) for t in report["tests"])
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}: {points_text(report.get('score', 0))} / {points_text(maximum)}</h1>",
    ]
    if report.get("extra_data", {}).get("autograder_failed"):
        lines.append("<p><strong>The autograder itself failed on this submission; see the report's output.</strong></p>")
    lines += ["<table>", "<tr><th>problem</th><th>points</th><th>status</th></tr>"]
    for problem in shown:
        score = sum(float(t.get("score", 0)) for t in by_problem[problem.key])
        most = sum(float(t.get("max_score", 0)) for t in by_problem[problem.key])
        status = status_of(score, most)
        lines.append(
            f'<tr class="{status}"><td><a href="#{_e(problem.key)}">{_e(problem.title)}</a></td>'
            f'<td class="points">{points_text(score)} / {points_text(most)}</td><td class="status">{status}</td></tr>'
        )
    lines.append("</table>")
    if report.get("output"):
        lines += ["<details><summary>The report's output</summary>", f"<pre>{_e(report['output'])}</pre>", "</details>"]
    for problem in shown:
        lines += [f'<section id="{_e(problem.key)}">', f"<h2>{_e(problem.title)}</h2>"]
        for test in by_problem[problem.key]:
            lines += _test(test)
            if sketchbook is not None:
                for figure in sketchbook.of(problem.key, str(test.get("number", ""))):
                    lines += figure_html(figure)
        lines.append("</section>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def _test(test: dict[str, Any]) -> list[str]:
    passed = test.get("status") == "passed"
    heading = (
        f'<h3 class="test-{"passed" if passed else "failed"}">{_e(test.get("number", ""))} {_e(test.get("name", ""))}: '
        f"{points_text(test.get('score', 0))} / {points_text(test.get('max_score', 0))}</h3>"
    )
    if passed:
        return [heading]
    return [heading, f"<pre>{_e(test.get('output', ''))}</pre>"]


def figure_html(figure: figures.Figure) -> list[str]:
    """One figure: its rows of pictures under their column headings, its table of values, its notes."""
    lines = ["<figure>", f"<figcaption>{_e(figure.title)}</figcaption>"]
    if figure.rows:
        width = max(len(cells) for _, cells in figure.rows)
        heading = "".join(f"<th>{_e(name)}</th>" for name in figure.columns[:width])
        lines += ['<table class="pictures">', f"<tr><th></th>{heading}</tr>"]
        for label, cells in figure.rows:
            shown = "".join(_cell(figure.title, label, figure.columns, index, cell) for index, cell in enumerate(cells))
            lines.append(f"<tr><th>{_e(label)}</th>{shown}</tr>")
        lines.append("</table>")
    if figure.table:
        lines += ["<table>", "<tr><th></th><th>expected</th><th>received</th></tr>"]
        for what, expected, received, same in figure.table:
            verdict = "same" if same else "differs"
            lines.append(
                f"<tr><th>{_e(what)}</th><td><pre>{_e(expected)}</pre></td>"
                f'<td class="{verdict}"><pre>{_e(received)}</pre></td></tr>'
            )
        lines.append("</table>")
    lines += [f"<p>{_e(note)}</p>" for note in figure.notes]
    lines.append("</figure>")
    return lines


def _cell(title: str, label: str, columns: list[str], index: int, cell: figures.Cell) -> str:
    if cell.kind == figures.TEXT or cell.data is None:
        return f"<td>{_e(cell.text)}</td>"
    column = columns[index] if index < len(columns) else ""
    height, width = pictures.shown_size(*cell.data.shape[-2:])
    alt = f"{title.partition(':')[0]}: {column}" + (f", {label}" if label else "")
    try:
        source = pictures.data_uri(pictures.png_of(cell))
    except Exception as error:  # noqa: BLE001 - matplotlib missing where a student checks, say: the rest of the page stands
        return f"<td>{_e(alt)}: could not be drawn ({_e(type(error).__name__)}: {_e(error)})</td>"
    return f'<td><img src="{source}" alt="{_e(alt)}" width="{width}" height="{height}">{_e(cell.caption)}</td>'


def write_page(
    path: Path, report: dict[str, Any], sketchbook: figures.Sketchbook | None = None, *, title: str = "PS3 autograder report"
) -> float | None:
    """:func:`write_html`, for a command that has already written its report: a page that cannot be written is a warning
    on stderr and costs nothing else. The seconds it took to draw and write, or ``None`` when it was not written."""
    started = time.perf_counter()
    try:
        write_html(path, report, sketchbook, title=title)
    except Exception as error:  # noqa: BLE001 - the report itself is written; the page is an extra
        print(f"warning: the report's page {path} could not be written: {type(error).__name__}: {error}", file=sys.stderr)
        return None
    return time.perf_counter() - started


def write_html(
    path: Path, report: dict[str, Any], sketchbook: figures.Sketchbook | None = None, *, title: str = "PS3 autograder report"
) -> None:
    """Write the page for ``report`` (with ``sketchbook``'s figures) to ``path`` atomically (mode 0644, as the reports)."""
    write_atomically(path, render(report, sketchbook, title=title))
