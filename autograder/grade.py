"""``grade``: grade one submission and write its ``results.json``.

The report is written whatever happens: a submission that cannot be read
costs the student the problems (with the reason in the report); a failure of
the autograder itself is reported as such, with what was graded before it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import problems as problem_registry
from autograder import reference
from autograder.case_salt import read_case_salt
from autograder.feedback import terminal_report
from autograder.intake import IntakeError, take_submission
from autograder.privilege import PrivilegeError, must_be_readable, must_stay_hidden, protect_grader_files, worker_confinement
from autograder.problems import COURSE_PARTS, Problem
from autograder.results import autograder_failure, build_results, complete, write_results
from autograder.sandbox import ForkServer
from autograder.settings import Limits
from autograder.worker import confine
from autograder.worker.confine import Confinement

if TYPE_CHECKING:
    from autograder.known_answers import Book


def main(
    submission: Path, results: Path | None = None, problems: str | None = None, quiet: bool = False, device: str = "cpu"
) -> int:
    """Grade ``submission`` (a folder or a zip), print the report, and write it to ``results`` when given.

    The exit status (see :mod:`autograder.cli`): 0 once graded, 1 when the
    autograder itself failed (the report says so, and is written), 2 for bad
    arguments or a submission that does not exist: then nothing is written.
    """
    started = time.monotonic()
    try:
        selected = problem_registry.select(problems)
        device = resolve_device(device)
        must_be_a_submission(Path(submission))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with _fork_server_or_error(device) as server:
        report = _grade_and_write(Path(submission), results, selected, server, started, device)
    if not quiet:
        print(terminal_report(report, selected))
    return 1 if report["extra_data"].get("autograder_failed") else 0


def must_be_a_submission(path: Path) -> None:
    """``ValueError``, saying what is wrong, unless ``path`` is a folder or a file (a zip, or what intake says is not one)."""
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not (path.is_dir() or path.is_file()):
        raise ValueError(f"{path} is neither a folder nor a file")


def class_main(submissions: Path, out_dir: Path, problems: str | None = None, quiet: bool = False, device: str = "cpu") -> int:
    """Grade every submission in the folder ``submissions`` (each entry, a folder or a zip, is one).

    Each report goes to ``out_dir/<entry>.json``, and one line per submission
    to ``out_dir/summary.csv``. One grader and one fork server serve them all,
    so the start-up is paid once; each submission still gets fresh workers.
    As root, ``out_dir`` is closed to others (0700) while student code runs,
    so that no worker reads another student's report, and opened (0755) at the end.
    Exit status as :func:`main`'s: 1 when the autograder failed on any submission.
    """
    try:
        selected = problem_registry.select(problems)
        device = resolve_device(device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not Path(submissions).is_dir():
        print(f"error: {submissions} is not a folder of submissions", file=sys.stderr)
        return 2
    entries = sorted(e for e in Path(submissions).iterdir() if not e.name.startswith("."))
    if not entries:
        print(f"error: {submissions} holds no submissions (no folder or zip in it)", file=sys.stderr)
        return 2
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    if as_root:
        Path(out_dir).chmod(0o700)  # other students' reports are not the worker user's to read
    rows: list[list[object]] = []
    failed = False
    try:
        with _fork_server_or_error(device) as server:
            for entry in entries:
                report = _grade_and_write(entry, Path(out_dir) / f"{entry.name}.json", selected, server, time.monotonic(), device)
                rows.append(summary_row(entry.name, report, selected))
                failed = failed or bool(report["extra_data"].get("autograder_failed"))
                if not quiet:
                    print(f"{entry.name}: {report['score']:g} / {rows[-1][2]:g}", flush=True)
    finally:
        write_summary(Path(out_dir) / "summary.csv", rows, selected)
        if as_root:
            Path(out_dir).chmod(0o755)
    return 1 if failed else 0


@contextlib.contextmanager
def _fork_server_or_error(device: str) -> Iterator[ForkServer | Exception]:
    """The fork server for a grading run, or the error that kept it from starting (reported per submission)."""
    try:
        server = start_fork_server(Limits.from_environment(), device)
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


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda`` for ``--device auto|cpu|cuda``.

    The check asks NVML, not CUDA: CUDA must not be initialised in the grader
    before it forks the fork server (a forked child cannot use it then).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise ValueError("--device cuda: no CUDA GPU is available here (torch.cuda.is_available() is False)")
    return "cpu"


def _grade_and_write(
    submission: Path,
    results: Path | None,
    selected: tuple[Problem, ...],
    server: ForkServer | Exception,
    started: float,
    device: str,
) -> dict[str, Any]:
    """Grade one submission and write its report to ``results`` (when given), whatever happens."""
    try:
        if isinstance(server, PrivilegeError):
            raise RuntimeError(f"student code cannot be run safely here: {server}")
        if not isinstance(server, ForkServer):
            raise RuntimeError(f"the worker processes could not be started: {server}")
        report = grade(submission, selected, server, device)
        report["extra_data"]["sandbox"] = server.sandbox
    except BaseException as error:
        traceback.print_exception(type(error), error, error.__traceback__)
        report = autograder_failure(selected, f"{type(error).__name__}: {error}", execution_time=time.monotonic() - started)
        if isinstance(error, KeyboardInterrupt):
            if results is not None:
                write_results(results, report)
            raise
    report["execution_time"] = round(time.monotonic() - started, 3)
    if results is not None:
        write_results(results, report)
    return report


def grade(
    submission: Path, selected: tuple[Problem, ...], server: ForkServer, device: str = "cpu", *, book: Book | None = None
) -> dict[str, Any]:
    """Run the graded suites of ``selected`` on ``submission``, student code on ``device``; the results.json object.

    With ``book``, the reference's answers are recorded into it, on the handout's cases (no course salt).
    """
    started = time.monotonic()
    limits = Limits.from_environment()
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        try:
            intake = take_submission(submission, Path(scratch) / "submission", reference.REFERENCE_DIR)
        except IntakeError as error:
            reason = f"Your submission could not be read: {error}."
            tests = complete([], selected, reason)
            return build_results(tests, selected, output=reason, execution_time=time.monotonic() - started)
        from autograder.plugin import GradingPlugin, run_suites
        from autograder.session import GradingSession

        salt = "" if book is not None else read_case_salt()
        plugin = GradingPlugin(GradingSession(intake, limits, server, device, case_salt=salt), book)
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


def summary_row(name: str, report: dict[str, Any], selected: tuple[Problem, ...]) -> list[object]:
    """One line of summary.csv: the submission, its score and maximum, each problem's score, failures."""
    problems = report["extra_data"].get("problems", {})
    maximum = round(sum(test["max_score"] for test in report["tests"]), 4)
    return [
        name,
        report["score"],
        maximum,
        *(problems.get(p.key, {}).get("score", 0.0) for p in selected),
        "yes" if report["extra_data"].get("autograder_failed", False) else "no",
        report["execution_time"],
    ]


def write_summary(path: Path, rows: list[list[object]], selected: tuple[Problem, ...]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["submission", "score", "max_score", *(p.key for p in selected), "autograder_failed", "seconds"])
        writer.writerows(rows)
