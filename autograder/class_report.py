"""A graded class as tables: ``grades.csv`` and ``summary.md``, for ``batch`` and ``merge``.

``batch`` writes, for each submission, ``OUT/submissions/ID/submission.json``
(who submitted it and what was graded: a :class:`Record`) and then its
``results.json``. Everything here is read back from those files, so the
tables of one run, of a resumed run and of shards joined by ``merge`` are made
the same way, and a shard's tables equal the unsharded run's rows for its share.

- ``grades.csv``: one row per submission: its id, the submitters' names,
  SIDs and emails (as the export has them: text, so a SID's leading zeros
  stay), each problem's score, the total and maximum, whether the autograder
  failed, and the seconds it took.
- ``summary.md``: per problem, the mean, the distribution of scores and how
  many got full marks; then the tests most often failed, with how many
  submissions failed each and one smallest failing input, which describes
  generated inputs only (shapes, dtypes, values), never whose it was.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.feedback import cause_of
from autograder.problems import PROBLEMS
from autograder.results import SMALLEST_FAILING_INPUT, points_text, write_atomically

SUBMISSIONS = "submissions"
RECORD = "submission.json"
RESULTS = "results.json"
GRADES = "grades.csv"
SUMMARY = "summary.md"
MOST_FAILED = 15


@dataclass(frozen=True)
class Submitter:
    name: str = ""
    sid: str = ""
    email: str = ""


@dataclass(frozen=True)
class Record:
    """What ``submission.json`` says of one submission: who, from where, and what was graded of which content."""

    id: str
    source: str
    digest: str
    problems: tuple[str, ...]
    submitters: tuple[Submitter, ...] = ()
    created_at: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def read(cls, path: Path) -> Record:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            id=str(data["id"]),
            source=str(data["source"]),
            digest=str(data["digest"]),
            problems=tuple(str(key) for key in data["problems"]),
            submitters=tuple(Submitter(**{k: str(v) for k, v in s.items()}) for s in data.get("submitters", ())),
            created_at=str(data.get("created_at", "")),
        )


@dataclass
class Graded:
    """One submission's record and report, as read from its folder."""

    record: Record
    report: dict[str, Any] = field(repr=False)


def read_report(path: Path) -> dict[str, Any] | None:
    """The report in ``path``, or ``None`` when there is none or it is not a whole report (an interrupted write is not)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict) or not isinstance(report.get("tests"), list) or "score" not in report:
        return None
    return report


def read_graded(folder: Path) -> Graded | None:
    """The submission graded in ``folder`` (``OUT/submissions/ID``), or ``None`` when it has no whole record and report."""
    report = read_report(folder / RESULTS)
    if report is None:
        return None
    try:
        record = Record.read(folder / RECORD)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Graded(record, report)


def problem_keys(graded: list[Graded]) -> list[str]:
    """The problems graded, in grading order."""
    keys = {key for g in graded for key in g.record.problems}
    return [p.key for p in PROBLEMS if p.key in keys]


def autograder_failed(report: dict[str, Any]) -> bool:
    return bool(report.get("extra_data", {}).get("autograder_failed"))


def grade_rows(graded: list[Graded]) -> tuple[list[str], list[list[str]]]:
    """``grades.csv``'s header and rows (sorted by submission id), every cell text."""
    keys = problem_keys(graded)
    header = ["submission", "names", "sids", "emails", *keys, "total", "max_score", "autograder_failed", "seconds"]
    rows = []
    for g in sorted(graded, key=lambda g: g.record.id):
        problems = g.report.get("extra_data", {}).get("problems", {})
        people = g.record.submitters
        rows.append(
            [
                g.record.id,
                "; ".join(p.name for p in people),
                "; ".join(p.sid for p in people),
                "; ".join(p.email for p in people),
                *(points_text(problems.get(key, {}).get("score", 0.0)) for key in keys),
                points_text(g.report["score"]),
                points_text(sum(test.get("max_score", 0) for test in g.report["tests"])),
                "yes" if autograder_failed(g.report) else "no",
                points_text(g.report.get("execution_time", 0.0)),
            ]
        )
    return header, rows


def write_tables(out: Path, graded: list[Graded], *, missing: list[str] | None = None) -> None:
    """Write ``out/grades.csv`` and ``out/summary.md`` for ``graded``; ``missing`` names submissions without a report."""
    header, rows = grade_rows(graded)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(header)
    writer.writerows(rows)
    write_atomically(out / GRADES, table.getvalue())
    write_atomically(out / SUMMARY, summary_markdown(graded, missing=missing))


def summary_markdown(graded: list[Graded], *, missing: list[str] | None = None) -> str:
    """``summary.md``: the class per problem, then the tests most often failed."""
    from tabulate import tabulate

    keys = problem_keys(graded)
    points = {p.key: p.points for p in PROBLEMS}
    failed_runs = sum(autograder_failed(g.report) for g in graded)
    lines = [
        "# Class summary",
        "",
        f"{len(graded)} submissions graded"
        + (f"; the autograder failed on {failed_runs} of them (see grades.csv)" if failed_runs else "")
        + (f"; {len(missing)} without a report: {', '.join(sorted(missing))}" if missing else "")
        + ".",
        "",
        "## Scores per problem",
        "",
    ]
    rows = []
    for key in keys:
        scores = [float(g.report.get("extra_data", {}).get("problems", {}).get(key, {}).get("score", 0.0)) for g in graded]
        rows.append(_score_row(key, points[key], scores))
    totals = [float(g.report["score"]) for g in graded]
    rows.append(_score_row("total", sum(points[key] for key in keys), totals, distribution=False))
    headers = ["problem", "points", "mean", "full marks", "distribution (score: submissions)"]
    lines += [tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]

    failures = most_failed(graded)
    lines += ["## Tests most often failed", ""]
    if not failures:
        lines += ["No test failed.", ""]
    else:
        table = [[_cell(name), str(count), _cell(cause), _cell(example)] for name, count, cause, example in failures]
        headers = ["test", "submissions failing it", "most common cause", "a smallest failing input"]
        lines += [tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


def _score_row(key: str, points: float, scores: list[float], *, distribution: bool = True) -> list[str]:
    if not scores:
        return [key, points_text(points), "", "", ""]
    counts = Counter(round(score, 4) for score in scores)
    spread = ", ".join(f"{score:g}: {counts[score]}" for score in sorted(counts)) if distribution else ""
    full = sum(score >= points - 1e-9 for score in scores)
    return [key, points_text(points), f"{statistics.fmean(scores):.2f}", f"{full} of {len(scores)}", spread]


def most_failed(graded: list[Graded], limit: int = MOST_FAILED) -> list[tuple[str, int, str, str]]:
    """The tests failed by most submissions: (number and name, how many, the most common cause, a smallest failing input).

    A test the autograder failed in is not counted: it says nothing of the student.
    The cause is the failures' most common root cause (``extra_data.cause``: not
    implemented yet, an exception, a known mistake), with how many had it; the
    example is the shortest of the failures' smallest inputs (ties: the first
    in text order), or ``""`` when none was shown.
    """
    counts: Counter[str] = Counter()
    causes: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    for g in graded:
        for test in g.report["tests"]:
            if test.get("status") != "failed" or test.get("extra_data", {}).get("autograder_failed"):
                continue
            name = f"{test.get('number', '')} {test.get('name', '')}".strip()
            counts[name] += 1
            cause = cause_of(test)
            if cause:
                causes.setdefault(name, Counter())[cause] += 1
            example = smallest_failing_input(str(test.get("output", "")))
            if example:
                examples.setdefault(name, []).append(example)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], _number_key(item[0])))[:limit]
    return [
        (name, count, _most_common(causes.get(name)), min(examples.get(name, [""]), key=lambda text: (len(text), text)))
        for name, count in ranked
    ]


def _most_common(causes: Counter[str] | None) -> str:
    if not causes:
        return ""
    cause, count = min(causes.items(), key=lambda item: (-item[1], item[0]))
    return f"{cause} ({count})"


def _number_key(name: str) -> tuple[Any, ...]:
    number = name.split(" ", 1)[0]
    return (tuple(int(part) if part.isdigit() else 0 for part in number.split(".")), name)


def smallest_failing_input(output: str) -> str:
    """The text after "Smallest failing input:" in a test's output, or ``""``."""
    start = f"{SMALLEST_FAILING_INPUT}:"
    for line in output.splitlines():
        if line.startswith(start):
            return line[len(start) :].strip()
    return ""


def _cell(text: str, limit: int = 160) -> str:
    """Text for one cell of a Markdown table: one line, no column break, not too long."""
    text = " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graded_in(out: Path, ids: list[str] | None = None) -> tuple[list[Graded], list[str]]:
    """The submissions graded in a batch's ``out`` (only ``ids``, when given), and the ids without a whole report."""
    folder = out / SUBMISSIONS
    names = ids if ids is not None else sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    graded, missing = [], []
    for name in names:
        found = read_graded(folder / name)
        if found is None:
            missing.append(name)
        else:
            graded.append(found)
    return graded, missing


def merge_main(shards: list[Path], out: Path, quiet: bool = False) -> int:
    """``merge DIR... --out DIR``: one ``grades.csv`` and ``summary.md`` for the shards' submissions together.

    Exit status 2 when a folder is not a batch's output, or two shards graded the
    same submission or different problems; 1 when some submission has no whole
    report (its shard was interrupted: run it again, it resumes), after writing
    the tables of the rest; 0 otherwise.
    """
    seen: dict[str, Path] = {}
    graded: list[Graded] = []
    missing: list[str] = []
    problems: set[tuple[str, ...]] = set()
    for shard in shards:
        if not (Path(shard) / SUBMISSIONS).is_dir():
            print(f"error: {shard} is not the output of batch (it has no {SUBMISSIONS}/ folder)", file=sys.stderr)
            return 2
        found, lacking = graded_in(Path(shard))
        for g in found:
            if g.record.id in seen:
                print(f"error: {g.record.id} was graded in both {seen[g.record.id]} and {shard}", file=sys.stderr)
                return 2
            seen[g.record.id] = Path(shard)
            problems.add(g.record.problems)
        graded += found
        missing += [f"{name} ({shard})" for name in lacking]
    if len(problems) > 1:
        listed = "; ".join(",".join(keys) for keys in sorted(problems))
        print(f"error: the shards graded different problems ({listed}); grade them alike", file=sys.stderr)
        return 2
    write_tables(Path(out), graded, missing=missing)
    if not quiet:
        print(f"Merged {len(graded)} submissions from {len(shards)} folders into {Path(out) / GRADES} and {Path(out) / SUMMARY}.")
    if missing:
        print(f"warning: {len(missing)} submissions have no whole report: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
