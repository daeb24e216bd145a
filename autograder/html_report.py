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

Issue 14 adds pictures (the course setting's maps and images, inlined as PNG
data URIs) to the problems' sections; this module renders the text part.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

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
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def status_of(score: float, maximum: float) -> str:
    """``passed``, ``partial`` or ``failed``: the colour of a problem's row."""
    if maximum > 0 and score >= maximum - 1e-9:
        return "passed"
    return "partial" if score > 1e-9 else "failed"


def render(report: dict[str, Any], *, title: str = "PS3 autograder report", problems: tuple[Problem, ...] = PROBLEMS) -> str:
    """The page for ``report`` (a results.json object), its problems in grading order."""
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


def write_html(path: Path, report: dict[str, Any], *, title: str = "PS3 autograder report") -> None:
    """Write the page for ``report`` to ``path`` atomically (mode 0644, as the reports)."""
    write_atomically(path, render(report, title=title))
