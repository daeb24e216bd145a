"""The students' self-check: ``python check.py`` in the handout grades the files there with the public tests.

It runs the grader's own public suites, on the student's own machine, with
what the handout ships (``build handout`` copies this package's parts the
check uses into the handout's ``checker/`` folder, with the known answers):

- the student's code runs in worker processes, as in the grader, with the
  same wire format, time limits and crash isolation, but without a worker
  user, seccomp or namespaces (a student checks their own code). Where a fork
  server cannot run (not Linux), or with ``--spawn``, each problem gets a
  fresh ``python -m autograder.worker.spawned`` process instead;
- the reference's answers are not computed but replayed from the known
  answers (:mod:`autograder.known_answers`), on the cases recorded when the
  handout was built; tests that ask the reference nothing run live;
- the course parts a problem's worker is given (the Gram matrix for the style
  loss, the three losses for style transfer) are the student's own: the
  handout has no others. The grader uses the course's, so a mistake in one
  loss can cost a problem that uses it here and not there; the report says so.

It prints a progress line, one row per problem, and every failure with its
smallest failing input; ``--json`` writes the report in ``results.json``'s
format. The exit status is 0 only when every public test passes.
``--watch`` stays running and checks again the problems whose files change.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from autograder import known_answers
from autograder import problems as problem_registry
from autograder.feedback import terminal_report
from autograder.figures import Sketchbook
from autograder.intake import IntakeError, take_submission
from autograder.plugin import GradingPlugin, run_suites
from autograder.problems import COURSE_PARTS, Problem
from autograder.results import build_results, complete, write_results
from autograder.session import GradingSession
from autograder.settings import Limits

CHECKER_DIR = Path(__file__).resolve().parent.parent
"""The folder that holds this package: the handout's ``checker/`` (or the repository, where it is not shipped)."""
KNOWN_ANSWERS = CHECKER_DIR / "known_answers.npz"
GIVEN_DIR = CHECKER_DIR / "given"
"""The course's given files (image_utils.py, ...), laid over the student's copies as the grader does."""
PROGRESS_WIDTH = 72
SHARED_PARTS = {"style_loss": "gram_matrix", "style_transfer": "content_loss, style_loss and tv_loss"}
"""Problems whose worker is given other problems' code: the course's in the grader, the student's own here."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python check.py",
        description="Check your files in this folder with the problem set's public tests, before you submit.",
    )
    top.add_argument("--problems", default=None, help="check only these problems (comma-separated keys)")
    top.add_argument("--json", type=Path, default=None, help="also write the report here, in Gradescope's results.json format")
    top.add_argument(
        "--html",
        type=Path,
        default=None,
        help="also write the report as a page to look at, with your pictures beside the expected ones (open it in a browser)",
    )
    top.add_argument("--spawn", action="store_true", help="run each problem in a fresh Python process (no fork server)")
    top.add_argument("--watch", action="store_true", help="stay running; check again the problems whose files you save")
    return top


def main(argv: list[str] | None = None, folder: Path | None = None) -> int:
    arguments = parser().parse_args(argv)
    folder = Path(folder or Path.cwd()).resolve()
    try:
        selected = problem_registry.select(arguments.problems)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if os.name == "nt":
        print("error: check.py runs on Linux and macOS (Colab too); on Windows, run it in WSL", file=sys.stderr)
        return 2
    problem = environment_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not KNOWN_ANSWERS.is_file():
        print(f"error: {KNOWN_ANSWERS} is missing: get a fresh copy of the handout", file=sys.stderr)
        return 2
    try:
        book = known_answers.load(KNOWN_ANSWERS)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        print(f"error: {KNOWN_ANSWERS} is damaged ({error}): get a fresh copy of the handout", file=sys.stderr)
        return 2
    with start_workers(folder, spawn=arguments.spawn) as workers:
        if arguments.watch:
            return watch(folder, selected, workers, book, html=arguments.html)
        sketchbook = Sketchbook() if arguments.html is not None else None
        report = check(folder, selected, workers, book, terminal=sys.stderr.isatty(), sketchbook=sketchbook)
    print(describe(report, selected))
    if arguments.json is not None:
        write_results(arguments.json, report, against_schema=False)
    if arguments.html is not None:
        show_page(arguments.html, report, sketchbook)
    return 0 if all_passed(report) else 1


def show_page(path: Path, report: dict[str, Any], sketchbook: Sketchbook | None) -> None:
    """The report as a page (``--html``), and where to open it; one that cannot be written is a warning."""
    from autograder.html_report import write_page

    if write_page(path, report, sketchbook, title="PS3 check of your files (public tests)") is not None:
        print(f"The report as a page: {path.resolve().as_uri()}")


def environment_problem() -> str | None:
    """What keeps the check from running with this torch and numpy, in words, or ``None``."""
    import numpy
    import torch

    try:
        torch.from_numpy(numpy.zeros(1))
    except RuntimeError as error:
        return (
            f"torch {torch.__version__} cannot use numpy {numpy.__version__} ({error}): torch before 2.3 needs numpy 1, "
            'so run  pip install "numpy<2"  or install a newer torch'
        )
    return None


class start_workers:
    """The workers' launcher for the check: a fork server without a sandbox, or a fresh process per problem."""

    def __init__(self, folder: Path, *, spawn: bool) -> None:
        from autograder import sandbox

        confinement = dataclasses.replace(Limits.from_environment().confinement(), sandboxed=False)
        # The student's own files stand in for the course's parts (see the module's doc).
        parts = {name: str(folder / path) for name, path in COURSE_PARTS.items()}
        if spawn or not fork_server_usable():
            self.workers: Any = sandbox.SpawnedWorkers(course_parts=parts, confinement=confinement)
        else:
            self.workers = sandbox.ForkServer(course_parts=parts, confinement=confinement)

    def __enter__(self) -> Any:
        return self.workers

    def __exit__(self, *exc: object) -> None:
        self.workers.close()


def fork_server_usable() -> bool:
    """Whether the grader's fork server runs here: it needs ``fork`` and Linux's SOCK_SEQPACKET sockets."""
    import socket

    return hasattr(os, "fork") and hasattr(socket, "SOCK_SEQPACKET") and sys.platform.startswith("linux")


class CheckPlugin(GradingPlugin):
    """The grading plugin, replaying the known answers, with a progress line."""

    def __init__(
        self,
        session: GradingSession,
        book: known_answers.Book,
        total: int,
        terminal: bool | None,
        sketchbook: Sketchbook | None = None,
    ) -> None:
        """``terminal``: whether stderr is a terminal (``None``: show no progress); ``sketchbook``: keep figures (--html)."""
        super().__init__(session, book, sketchbook)
        self.total = total
        self.terminal = terminal
        self.done = 0
        self.problem = ""

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """The progress line: on a terminal, one line rewritten as tests finish; elsewhere (Colab), a line a problem."""
        problem = nodeid.rpartition("/")[2].partition("::")[0].removesuffix(".py")
        if self.terminal is None:
            return
        if self.terminal:
            line = f"\rChecking: {self.done}/{self.total} tests done, now {problem}"
            print(line.ljust(PROGRESS_WIDTH), end="", file=sys.stderr, flush=True)
        elif problem != self.problem:
            print(f"Checking {problem} ...", file=sys.stderr, flush=True)
        self.problem = problem

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.done += 1


def check(
    folder: Path,
    selected: tuple[Problem, ...],
    workers: Any,
    book: known_answers.Book,
    *,
    terminal: bool | None = None,
    sketchbook: Sketchbook | None = None,
) -> dict[str, Any]:
    """Grade the files in ``folder`` with the public tests of ``selected``; the results.json object. With ``sketchbook``,
    the tests' figures are kept in it, for a page."""
    started = time.monotonic()
    limits = Limits.from_environment()
    with tempfile.TemporaryDirectory(prefix="check-") as scratch:
        try:
            intake = take_submission(folder, Path(scratch) / "submission", GIVEN_DIR)
        except IntakeError as error:
            reason = f"Your files could not be read: {error}."
            return build_results(complete([], selected, reason), selected, output=reason, execution_time=0.0)
        total = sum(len(book.tests_of(problem.key)) for problem in selected)
        plugin = CheckPlugin(GradingSession(intake, limits, workers), book, total, terminal, sketchbook)
        exit_code = run_suites([str(p.suite) for p in selected], plugin)
    if terminal:
        print("\r" + " " * PROGRESS_WIDTH + "\r", end="", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    problem = "\n\n".join(plugin.errors) or (f"pytest ended with exit code {exit_code}" if exit_code not in (0, 1) else "")
    tests = complete(
        plugin.results, selected, problem or "These points were not checked: no test ran for them.", autograder_failed=True
    )
    used = {path for p in selected for path in p.files}
    return build_results(tests, selected, output=intake.report(used), execution_time=elapsed)


def all_passed(report: dict[str, Any]) -> bool:
    return bool(report["tests"]) and all(test["status"] == "passed" for test in report["tests"])


def describe(report: dict[str, Any], selected: tuple[Problem, ...]) -> str:
    """The report for a terminal (:func:`autograder.feedback.terminal_report`), and what the exit status means."""
    notes = {key: f"uses your {parts}" for key, parts in SHARED_PARTS.items()}
    lines = [terminal_report(report, selected, notes=notes), ""]
    if all_passed(report):
        lines.append("Every public test passes. The grader runs the same tests on other generated cases: submit to be graded.")
    else:
        lines.append("Some public tests fail (exit status 1). The grader runs the same tests, on other generated cases.")
    return "\n".join(lines)


def watch(
    folder: Path, selected: tuple[Problem, ...], workers: Any, book: known_answers.Book, *, html: Path | None = None
) -> int:
    """Check once, then again each time a problem's files change (Ctrl-C ends it); ``html``: the page of each check."""
    seen: dict[str, float] = {}

    def changed() -> tuple[Problem, ...]:
        stamps = {path: _mtime(folder / path) for p in selected for path in p.files}
        stale = tuple(p for p in selected if any(stamps[path] != seen.get(path) for path in p.files))
        seen.update(stamps)
        return stale

    print("Watching your files; each save checks again the problems that use them. Ctrl-C to stop.", flush=True)
    try:
        while True:
            stale = changed()
            if stale:
                started = time.monotonic()
                sketchbook = Sketchbook() if html is not None else None
                report = check(folder, stale, workers, book, terminal=sys.stderr.isatty(), sketchbook=sketchbook)
                print(describe(report, stale))
                if html is not None:
                    show_page(html, report, sketchbook)
                print(f"(checked {', '.join(p.key for p in stale)} in {time.monotonic() - started:.1f} s)\n", flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return -1.0


if __name__ == "__main__":
    sys.exit(main())
