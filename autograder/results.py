"""Gradescope's ``results.json``: the one place results take that format.

:func:`build_results` turns graded tests into the report; :func:`write_results`
validates it against ``schema/results.schema.json`` and writes it atomically
(a temporary file in the same folder, then a rename), so a reader never sees
half a report. :func:`autograder_failure` is the report for when the harness
itself failed: it says so, and that it is not the student's doing.

``extra_data`` is measured, not derived from settings: each test's ``seconds``,
``cases`` (the inputs it checked) and ``autograder_failed`` (the harness, not
the student, failed in it); each problem's ``score``, ``max_score``,
``seconds`` and ``cases`` (the sum over its tests, 0 for tests that never ran).

Every text in a report passes through :func:`printable_text`, here and only
here: test names and outputs, the report's output, and (as a last line, in
:func:`write_results`) every string of the report. Student code controls
much of that text (what it printed, its exceptions' messages and class names,
its file names), and none of it can stop the report from being written or
play tricks on the terminal or page that shows it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from autograder.problems import Problem

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "results.schema.json"
MAX_TEST_OUTPUT = 20000
MAX_OUTPUT = 20000
MAX_LINE = 2000
CUT_SHORT = "\n... (output cut short)"
LINE_CUT_SHORT = " ... (line cut short)"
REPLACEMENT = "\ufffd"
# Terminal control sequences (ECMA-48), with their 7-bit (ESC ...) and 8-bit (C1) introducers:
# control strings (OSC, DCS, SOS, PM, APC) up to their terminator (BEL or ST), CSI sequences, and
# the other two-character (or longer, with intermediates) escape sequences.
ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x00-\x1f\x7f-\x9f]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]"
)
# The control characters (Unicode's category Cc: C0, DEL, C1) but "\n" and "\t", and Unicode's explicit
# bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which reorder the
# text shown after them ("Trojan Source").
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
AUTOGRADER_FAILED = (
    "AUTOGRADER ERROR: the autograder itself failed, so this submission was not (fully) graded. "
    "This is not a problem with your code; please tell the course staff."
)
RESULTS_MODE = 0o644
"""A report's permissions: anyone may read it (a TA reads what the grader wrote as root). It is written once
grading is over, when no student code runs; ``batch`` keeps its folder closed while it grades."""
AUTOGRADER_FAILED_IN_TEST = "The autograder failed in this test (not your fault; please tell the course staff)"
SMALLEST_FAILING_INPUT = "Smallest failing input"
"""How a failed test's output line with the smallest failing input starts (``plugin`` writes it, ``class_report`` reads it)."""


@dataclass
class GradedTest:
    """One graded test's outcome.

    ``cases`` is how many inputs it checked; ``autograder_failed`` says that
    the autograder's own code failed in it, so the failure is not the student's.
    ``cause`` names a failure's root cause when it is known (a function not
    implemented yet, an exception raised at one line, a known mistake): failed
    tests of one problem with the same cause are one mistake, which a terminal
    report shows once (:mod:`autograder.feedback`).
    """

    name: str
    number: str
    problem: str
    max_score: float
    passed: bool
    output: str
    visibility: str = "visible"
    seconds: float = 0.0
    cases: int = 0
    autograder_failed: bool = False
    cause: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The test's entry in the report, its texts made printable and its output cut to :data:`MAX_TEST_OUTPUT`."""
        return {
            "name": printable_text(self.name),
            "number": printable_text(self.number),
            "score": _points(self.max_score if self.passed else 0.0),
            "max_score": _points(self.max_score),
            "status": "passed" if self.passed else "failed",
            "output": printable_text(self.output, limit=MAX_TEST_OUTPUT),
            "visibility": self.visibility,
            "tags": [self.problem],
            "extra_data": {
                "seconds": round(self.seconds, 3),
                "cases": self.cases,
                "autograder_failed": self.autograder_failed,
                "cause": None if self.cause is None else printable_text(self.cause),
            },
        }


@dataclass
class ProblemTotals:
    """One problem's figures in ``extra_data.problems``: sums over its tests."""

    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    cases: int = 0

    def add(self, test: GradedTest) -> None:
        self.max_score += test.max_score
        self.score += test.max_score if test.passed else 0.0
        self.seconds += test.seconds
        self.cases += test.cases

    def as_json(self) -> dict[str, Any]:
        return {
            "score": _points(self.score),
            "max_score": _points(self.max_score),
            "seconds": _points(self.seconds),
            "cases": self.cases,
        }


def not_graded(problem: Problem, max_score: float, reason: str, *, autograder_failed: bool = False) -> GradedTest:
    """A placeholder for points of ``problem`` that no test could award (it checked no case).

    ``autograder_failed`` when it is the autograder's fault, not the submission's.
    """
    return GradedTest(
        name=f"{problem.title}: not graded",
        number=f"{problem.number}.99",
        problem=problem.key,
        max_score=max_score,
        passed=False,
        output=reason,
        autograder_failed=autograder_failed,
        cause=reason.partition("\n")[0],
    )


def complete(
    tests: list[GradedTest], problems: tuple[Problem, ...], reason: str, *, autograder_failed: bool = False
) -> list[GradedTest]:
    """``tests`` plus a not-graded entry for every problem whose tests do not reach its points."""
    tests = list(tests)
    for problem in problems:
        graded = sum(t.max_score for t in tests if t.problem == problem.key)
        if graded < problem.points - 1e-9:
            tests.append(not_graded(problem, problem.points - graded, reason, autograder_failed=autograder_failed))
    return tests


def build_results(
    tests: list[GradedTest],
    problems: tuple[Problem, ...],
    *,
    output: str,
    execution_time: float,
    autograder_failed: bool = False,
) -> dict[str, Any]:
    """The ``results.json`` object for these tests.

    The report says the autograder failed when ``autograder_failed`` is set or
    when it failed in any one test. Every text is made printable
    (:func:`printable_text`), the report's output cut to :data:`MAX_OUTPUT`
    and each test's to :data:`MAX_TEST_OUTPUT`.
    """
    tests = sorted(tests, key=lambda t: [int(part) for part in t.number.split(".")])
    autograder_failed = autograder_failed or any(test.autograder_failed for test in tests)
    scores = {p.key: ProblemTotals() for p in problems}
    for test in tests:
        scores.setdefault(test.problem, ProblemTotals()).add(test)
    summary = [
        f"{p.title} ({p.key}): {_points(scores[p.key].score):g} / {_points(scores[p.key].max_score):g}"
        f" ({scores[p.key].cases} case{'' if scores[p.key].cases == 1 else 's'} checked)"
        for p in problems
    ]
    text = "\n\n".join(part for part in [AUTOGRADER_FAILED if autograder_failed else "", output, "\n".join(summary)] if part)
    text = printable_text(text, limit=MAX_OUTPUT)
    entries = [t.as_json() for t in tests]
    return {
        "score": _points(sum(entry["score"] for entry in entries)),
        "execution_time": round(max(execution_time, 0.0), 3),
        "output": text,
        "output_format": "text",
        "stdout_visibility": "hidden",
        "visibility": "visible",
        "extra_data": {
            "autograder_failed": autograder_failed,
            "problems": {key: totals.as_json() for key, totals in scores.items()},
        },
        "tests": entries,
    }


def nothing_graded(problems: tuple[Problem, ...], reason: str, *, execution_time: float) -> dict[str, Any]:
    """The report of a submission none of whose tests could run (it could not be read, it has no files): ``reason``."""
    return build_results(complete([], problems, reason), problems, output=reason, execution_time=execution_time)


def autograder_failure(
    problems: tuple[Problem, ...], error: str, *, execution_time: float, tests: list[GradedTest] | None = None
) -> dict[str, Any]:
    """The report when the autograder failed: what was graded stays, the rest is marked not graded."""
    reason = f"{AUTOGRADER_FAILED}\n\n{error}"
    return build_results(
        complete(tests or [], problems, reason, autograder_failed=True),
        problems,
        output=error,
        execution_time=execution_time,
        autograder_failed=True,
    )


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))


def validate(results: dict[str, Any], *, against_schema: bool = True) -> None:
    """Raise ``jsonschema.ValidationError`` (or ``ValueError``) unless ``results`` is a valid report.

    ``against_schema=False`` checks the scores only: the handout's check writes the same report without jsonschema.
    """
    if against_schema:
        import jsonschema

        jsonschema.validate(results, schema())
    for test in results["tests"]:
        if test["score"] > test["max_score"] + 1e-9:
            raise ValueError(f"test {test['name']!r} scores more than its maximum")
    total = sum(test["score"] for test in results["tests"])
    if abs(total - results["score"]) > 1e-3:
        raise ValueError(f"the score {results['score']} is not the sum of the tests' scores {total}")


def write_results(path: Path, results: dict[str, Any], *, against_schema: bool = True, mode: int = RESULTS_MODE) -> None:
    """Validate ``results`` and write it to ``path`` atomically, in UTF-8, with permissions ``mode``.

    Every string of the report (keys included) is made printable first, so
    that a report built some other way than by :func:`build_results` is still
    written; a report from :func:`build_results` is written as it is.
    """
    results = _printable_strings(results)
    validate(results, against_schema=against_schema)
    write_atomically(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n", mode=mode)


def write_atomically(path: Path, text: str, *, mode: int = RESULTS_MODE) -> None:
    """Write ``text`` to ``path`` in UTF-8 with permissions ``mode``, atomically: a temporary file in the same
    folder, then a rename, so that a reader sees the old file or the whole new one (reports, their tables and pages)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _points(value: float) -> float:
    return round(float(value), 4)


def points_text(value: float) -> str:
    """Points as the reports show them: rounded to 4 places, no trailing zeros (``2.5``, ``33``)."""
    return f"{_points(value):g}"


def printable_text(text: str, *, limit: int | None = None) -> str:
    """``text`` made safe to write in a UTF-8 report and to show on a terminal or a web page.

    - Surrogates: a pair (high then low) becomes the character it encodes; a
      lone surrogate becomes U+FFFD (the replacement character).
    - Terminal escape sequences are removed entirely: CSI (``ESC [`` or
      U+009B, parameters, final byte, e.g. ``"\\x1b[31m"``), control strings
      (OSC, DCS, SOS, PM, APC, up to their BEL or ST terminator, e.g. a window
      title ``"\\x1b]0;title\\x07"``) and the other escape sequences
      (``"\\x1b7"``, ``"\\x1b(B"``). An unterminated control string is not a
      sequence: its text stays, its introducer goes (``ESC ]`` as an escape
      sequence, a C1 introducer as a control character, below).
    - Line ends: ``"\\r\\n"``, a lone ``"\\r"``, U+2028 and U+2029 become ``"\\n"``.
    - Every other control character (Unicode category Cc: C0, DEL and C1, NUL
      and a lone ESC included) but ``"\\n"`` and ``"\\t"``, and the bidirectional
      embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069),
      become U+FFFD, so that what was there stays visible without acting.
    - A line longer than :data:`MAX_LINE` characters is cut to that length,
      ending in ``" ... (line cut short)"``.
    - With ``limit`` (over 30), the result is at most ``limit`` characters: a
      longer text is cut and ends in ``"... (output cut short)"``. Only the
      first ``4 * limit`` characters of ``text`` are read (cleaning never
      lengthens a text); a longer one is said to be cut short even when
      cleaning left less than ``limit`` of them.

    Everything else (letters, digits, punctuation, symbols, spaces, newlines,
    tabs, any script) is kept as it is, and the function is idempotent:
    ``printable_text(printable_text(t)) == printable_text(t)`` (with the same ``limit``).
    The result always encodes as UTF-8.
    """
    cut = False
    if limit is not None and len(text) > 4 * limit:
        # A huge text costs no more than a long one: only what may be shown is cleaned.
        text, cut = text[: 4 * limit], True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = UNPRINTABLE.sub(REPLACEMENT, text)
    if any(len(line) > MAX_LINE for line in text.split("\n")):
        text = "\n".join(_cut_line(line) for line in text.split("\n"))
    if limit is not None and (cut or len(text) > limit):
        text = text[: limit - len(CUT_SHORT)] + CUT_SHORT
    return text


def _cut_line(line: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    return line[: MAX_LINE - len(LINE_CUT_SHORT)] + LINE_CUT_SHORT


def _printable_strings(value: Any) -> Any:
    """``value`` (JSON data) with every string, keys included, made printable (:func:`printable_text`)."""
    if isinstance(value, str):
        return printable_text(value)
    if isinstance(value, dict):
        return {_printable_strings(key): _printable_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable_strings(item) for item in value]
    return value
