"""``grade``: grade one submission and write its ``results.json``.

The report is written whatever happens: a submission that cannot be read
costs the student the problems (with the reason in the report); a failure of
the autograder itself is reported as such, with what was graded before it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import reference
from autograder.case_salt import read_case_salt
from autograder.config import RunConfig
from autograder.feedback import terminal_report
from autograder.intake import IntakeError, take_submission
from autograder.privilege import PrivilegeError, must_be_readable, must_stay_hidden, protect_grader_files, worker_confinement
from autograder.problems import COURSE_PARTS
from autograder.results import autograder_failure, build_results, complete, nothing_graded, write_results
from autograder.sandbox import ForkServer
from autograder.settings import Limits
from autograder.worker import confine
from autograder.worker.confine import Confinement

if TYPE_CHECKING:
    from autograder.figures import Sketchbook
    from autograder.known_answers import Book


def main(submission: Path, results: Path | None, config: RunConfig, html: Path | None = None) -> int:
    """Grade ``submission`` (a folder or a zip), print the report, and write it to ``results`` when given,
    and as a page to look at to ``html`` when given (:mod:`autograder.html_report`).

    The exit status (see :mod:`autograder.cli`): 0 once graded, 1 when the
    autograder itself failed (the report says so, and is written), 2 for a
    submission that does not exist: then nothing is written.
    """
    started = time.monotonic()
    try:
        must_be_a_submission(Path(submission))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with fork_server_or_error(config) as server:
        report = grade_and_write(Path(submission), results, config, server, started, html=html)
    if not config.quiet:
        print(terminal_report(report, config.problems))
    return 1 if report["extra_data"].get("autograder_failed") else 0


def must_be_a_submission(path: Path) -> None:
    """``ValueError``, saying what is wrong, unless ``path`` is a folder or a file (a zip, or what intake says is not one)."""
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not (path.is_dir() or path.is_file()):
        raise ValueError(f"{path} is neither a folder nor a file")


@contextlib.contextmanager
def fork_server_or_error(config: RunConfig) -> Iterator[ForkServer | Exception]:
    """The fork server for a grading run, or the error that kept it from starting (reported per submission)."""
    try:
        server = start_fork_server(config.limits, config.device)
    except PrivilegeError as error:
        print(f"error: {error}", file=sys.stderr)
        yield error
        return
    except Exception as error:  # noqa: BLE001 - whatever it was, every submission's report says so
        traceback.print_exc()
        yield error
        return
    try:
        yield server
    finally:
        server.close()


def start_fork_server(limits: Limits, device: str = "cpu", *, solution_in_memory_allowed: bool = False) -> ForkServer:
    """The fork server, its workers confined; :class:`PrivilegeError` unless a probe worker shows that they are.

    As root, the grader's folders are first closed to the worker user; the
    probe then checks, as that user, that they stay closed and that Python's
    installation can be read, and that no module of the reference solution is
    in the workers' memory (the grader forks them before it imports one; the
    project's own tests, which import the reference in the process that forks
    workers, set ``solution_in_memory_allowed``). ``server.sandbox`` says what
    is in place, for the reports.
    On a GPU workers get no address-space limit: CUDA reserves tens of GiB of
    address space when it starts.
    """
    confinement = worker_confinement(limits)
    if device == "cuda":
        confinement = dataclasses.replace(confinement, memory_bytes=0)
    if confinement.uid is not None:
        protect_grader_files()
    confine.forbid_tracing()
    server = ForkServer(
        course_parts={name: str(reference.source(path)) for name, path in COURSE_PARTS.items()}, confinement=confinement
    )
    try:
        probe = server.probe(must_stay_hidden() if confinement.uid is not None else [], must_be_readable())
        if solution_in_memory_allowed:
            probe.pop("solution_in_memory", None)
        problem = _probe_problem(probe, confinement)
        if problem:
            raise PrivilegeError(problem)
    except BaseException:
        server.close()
        raise
    server.sandbox = {"user": confinement.user or "the grader's own user", **probe.get("applied", {})}
    return server


def _probe_problem(probe: dict[str, Any], confinement: Confinement) -> str | None:
    user = confinement.user or "the grader's user"
    if probe.get("error"):
        return f"a worker could not be confined: {probe['error']}"
    if probe.get("solution_in_memory"):
        return (
            f"the reference solution ({', '.join(probe['solution_in_memory'])}) was imported before the workers were "
            "forked, so student code could find it in their memory; start the fork server first"
        )
    if probe.get("exposed"):
        return f"{user} can read the grader's files ({', '.join(probe['exposed'])}); student code cannot run safely"
    if probe.get("unreadable"):
        return (
            f"{user} cannot read the Python installation ({', '.join(probe['unreadable'])}), so student code cannot "
            "import from it: create the environment with an interpreter and in a folder that user can read "
            "(./setup.sh does so as root; see the README's security section)"
        )
    return None


def grade_and_write(
    submission: Path,
    results: Path | None,
    config: RunConfig,
    server: ForkServer | Exception,
    started: float,
    *,
    html: Path | None = None,
) -> dict[str, Any]:
    """Grade one submission and write its report to ``results`` (when given), whatever happens; and to ``html``,
    with the figures the tests drew (kept only then)."""
    sketchbook = None
    if html is not None:
        from autograder.figures import Sketchbook

        sketchbook = Sketchbook()
    try:
        if isinstance(server, PrivilegeError):
            raise RuntimeError(f"student code cannot be run safely here: {server}")
        if not isinstance(server, ForkServer):
            raise RuntimeError(f"the worker processes could not be started: {server}")
        report = grade(submission, config, server, sketchbook=sketchbook)
        report["extra_data"]["sandbox"] = server.sandbox
    except BaseException as error:
        traceback.print_exception(type(error), error, error.__traceback__)
        report = autograder_failure(
            config.problems, f"{type(error).__name__}: {error}", execution_time=time.monotonic() - started
        )
        if isinstance(error, KeyboardInterrupt):
            if results is not None:
                write_results(results, report)
            raise
    report["execution_time"] = round(time.monotonic() - started, 3)
    if results is not None:
        write_results(results, report)
    if html is not None:
        write_page(html, report, sketchbook)
    return report


def write_page(path: Path, report: dict[str, Any], sketchbook: Sketchbook | None = None) -> None:
    """Write the report as a page (``--html``), and say on stderr what it cost; a failure to write it is a warning."""
    from autograder import html_report

    drawn = html_report.write_page(path, report, sketchbook)
    if drawn is None:
        return
    built = sketchbook.seconds if sketchbook is not None else 0.0
    print(
        f"Wrote the report's page {path} ({path.stat().st_size / 1024:.0f} KiB): its figures took {built:.2f} s to keep "
        f"and {drawn:.2f} s to draw.",
        file=sys.stderr,
    )


def grade(
    submission: Path, config: RunConfig, server: ForkServer, *, book: Book | None = None, sketchbook: Sketchbook | None = None
) -> dict[str, Any]:
    """Run the graded suites of ``config.problems`` on ``submission``, student code on ``config.device``; the results.json object.

    With ``book``, the reference's answers are recorded into it, on the handout's cases (no course salt). With
    ``sketchbook``, the figures the tests draw are kept in it (see :mod:`autograder.figures`).
    """
    started = time.monotonic()
    selected = config.problems
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        try:
            intake = take_submission(submission, Path(scratch) / "submission", reference.REFERENCE_DIR)
        except IntakeError as error:
            reason = f"Your submission could not be read: {error}."
            return nothing_graded(selected, reason, execution_time=time.monotonic() - started)
        from autograder.plugin import GradingPlugin, run_suites
        from autograder.session import GradingSession

        salt = "" if book is not None else read_case_salt(config.case_salt_file)
        plugin = GradingPlugin(GradingSession(intake, config.limits, server, config.device, case_salt=salt), book, sketchbook)
        exit_code = run_suites([str(p.suite) for p in selected], plugin)
    elapsed = time.monotonic() - started
    if plugin.errors or exit_code not in (0, 1):
        problem = "\n\n".join(plugin.errors) or f"pytest ended with exit code {exit_code}"
        return autograder_failure(selected, problem, execution_time=elapsed, tests=plugin.results)
    tests = complete(
        plugin.results, selected, "These points were not graded: the autograder ran no test for them.", autograder_failed=True
    )
    used = {path for problem in selected for path in problem.files}
    return build_results(tests, selected, output=intake.report(used), execution_time=elapsed)
