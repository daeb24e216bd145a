"""``batch SUBMISSIONS --out DIR [--jobs N] [--shard I/N]``: grade a class.

SUBMISSIONS is Gradescope's "Export Submissions" folder (its
``submission_metadata.yml`` names each submission's folder and its
submitters) or any folder whose entries, folders or zips, are the submissions.

Each submission is graded as ``grade`` grades it, by one of ``--jobs`` grading
processes (:mod:`autograder.batch_job`), each with its own fork server and
cache of the reference's answers, so start-up is paid once per job. Its report
goes to ``DIR/submissions/ID/results.json`` beside ``submission.json`` (who
submitted it, and a digest of what was graded); ``DIR/grades.csv`` and
``DIR/summary.md`` are written at the end from those files
(:mod:`autograder.class_report`), and ``DIR/logs/`` keeps what the grading
processes printed.

- **It resumes.** A submission whose report is whole, of the same content
  and problems, and not an autograder failure, is not graded again.
- **One submission costs only itself.** Student code runs in confined workers
  with time limits, as in ``grade``; if a grading process itself dies or
  overruns (twice the grading budget, plus two minutes), that submission gets
  an autograder-failure report and a fresh process takes the next.
- **Shards.** ``--shard I/N`` takes every N-th submission in the order of their
  ids, from the I-th: a deterministic, balanced share. ``merge`` joins the shards'
  tables (see the README for Slurm and Kubernetes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.class_report import (
    GRADES,
    RECORD,
    RESULTS,
    SUBMISSIONS,
    SUMMARY,
    Record,
    Submitter,
    autograder_failed,
    graded_in,
    read_graded,
    write_tables,
)
from autograder.config import RunConfig, Shard
from autograder.results import autograder_failure, nothing_graded, write_results

METADATA = "submission_metadata.yml"
REPORT_PAGE = "report.html"
"""With ``--html``: each submission's report as a page, beside its results.json."""
SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,199}")
"""A submission id is a folder name under ``DIR/submissions``: one plain path component."""
MISSING_FILES = "Gradescope's export lists this submission, but holds no files for it."
DIGEST_LIMIT = 256 * 1024 * 1024
"""Bytes of a submission read for its digest; past that, names, sizes and times stand for the content."""


class BatchError(ValueError):
    """SUBMISSIONS cannot be read as a class; the message says why."""


@dataclass(frozen=True)
class ClassSubmission:
    """One submission of the class: its id, its files (``None``: the export has none), and who submitted it."""

    id: str
    path: Path | None
    submitters: tuple[Submitter, ...] = ()
    created_at: str = ""


def find_submissions(folder: Path) -> list[ClassSubmission]:
    """The submissions in ``folder``, sorted by id: an export's (by its metadata), or its entries'."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BatchError(f"{folder} is not a folder of submissions")
    export = export_root(folder)
    if export is not None:
        return from_export(export)
    found: dict[str, ClassSubmission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not (entry.is_dir() or _is_zip_name(entry)):
            continue
        name = entry.name[:-4] if _is_zip_name(entry) else entry.name
        _must_be_an_id(name, entry)
        if name in found:
            raise BatchError(f"{found[name].path} and {entry} would both be the submission {name!r}; rename one")
        found[name] = ClassSubmission(name, entry)
    return sorted(found.values(), key=lambda s: s.id)


def _is_zip_name(entry: Path) -> bool:
    return entry.name.lower().endswith(".zip") and entry.is_file()


def ignored(folder: Path, found: list[ClassSubmission]) -> list[str]:
    """What in ``folder`` (or its export) is not one of the submissions ``found`` there: files that are not zips
    (a README, notes), or, in an export, folders its metadata does not list."""
    root = export_root(Path(folder)) or Path(folder)
    taken = {s.path.name for s in found if s.path is not None} | {METADATA}
    return sorted(e.name for e in root.iterdir() if e.name not in taken and not e.name.startswith("."))


def export_root(folder: Path) -> Path | None:
    """The folder that holds Gradescope's ``submission_metadata.yml``: ``folder`` or its only subfolder that has one."""
    if (folder / METADATA).is_file():
        return folder
    holding = [d for d in folder.iterdir() if d.is_dir() and (d / METADATA).is_file()]
    return holding[0] if len(holding) == 1 else None


def from_export(root: Path) -> list[ClassSubmission]:
    """The submissions of Gradescope's export in ``root``, by its ``submission_metadata.yml``.

    Its keys are Ruby symbols (``:submitters:``). It is read with YAML's base
    loader, which makes every value text: a SID ``0012345`` stays ``"0012345"``,
    not the number 12345 (or 5349, YAML 1.1's octal).
    """
    import yaml

    path = root / METADATA
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BatchError(f"{path} could not be read as YAML: {error}") from None
    if not isinstance(data, dict):
        raise BatchError(f"{path} does not map submission folders to their metadata")
    submissions = []
    for key, entry in data.items():
        name = str(key)
        _must_be_an_id(name, path)
        fields = _fields(entry)
        people = fields.get("submitters")
        submitters = tuple(
            Submitter(**{k: str(v) for k, v in _fields(person).items() if k in ("name", "sid", "email")})
            for person in (people if isinstance(people, list) else [])
        )
        files = root / name
        created = fields.get("created_at", "")
        submissions.append(
            ClassSubmission(name, files if files.exists() else None, submitters, created if isinstance(created, str) else "")
        )
    return sorted(submissions, key=lambda s: s.id)


def _fields(entry: object) -> dict[str, Any]:
    """A metadata mapping with its keys' Ruby-symbol colons taken off (``:sid`` is ``sid``)."""
    return {str(k).strip(":"): v for k, v in entry.items()} if isinstance(entry, dict) else {}


def _must_be_an_id(name: str, where: Path) -> None:
    if not SAFE_ID.fullmatch(name):
        raise BatchError(f"{name!r} (in {where}) cannot be a submission's id: ids are folder names of letters, digits and _.@+=-")


def share(submissions: list[ClassSubmission], shard: Shard) -> list[ClassSubmission]:
    """The shard's share: every ``count``-th submission in order of id, from the ``index``-th."""
    ordered = sorted(submissions, key=lambda s: s.id)
    return [s for position, s in enumerate(ordered) if position % shard.count == shard.index - 1]


def digest(path: Path | None) -> str:
    """A digest of a submission's files (names and contents); the same files give the same digest."""
    hasher = hashlib.sha256()
    if path is None:
        return "none"
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    budget = DIGEST_LIMIT
    for file in files:
        hasher.update(str(file.relative_to(path) if file != path else file.name).encode("utf-8", "surrogateescape") + b"\0")
        try:
            stat = file.stat()
            if stat.st_size <= budget:
                hasher.update(file.read_bytes())
                budget -= stat.st_size
            else:
                hasher.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        except OSError as error:
            hasher.update(f"unreadable: {error}".encode())
    return hasher.hexdigest()


def record_of(submission: ClassSubmission, config: RunConfig) -> Record:
    return Record(
        id=submission.id,
        source=str(submission.path) if submission.path is not None else "",
        digest=digest(submission.path),
        problems=tuple(p.key for p in config.problems),
        submitters=submission.submitters,
        created_at=submission.created_at,
    )


def is_complete(out: Path, record: Record) -> bool:
    """Whether ``out`` holds a whole report of this submission's content and problems, and not an autograder failure."""
    graded = read_graded(out / SUBMISSIONS / record.id)
    return (
        graded is not None
        and graded.record.digest == record.digest
        and graded.record.problems == record.problems
        and not autograder_failed(graded.report)
    )


def main(submissions: Path, out: Path, config: RunConfig, html: bool = False) -> int:
    """Grade the class in ``submissions`` (this run's shard of it) into ``out``; see the module's docstring.

    Exit status: 0 when every submission of the share has a report and the
    autograder failed on none; 1 otherwise (the tables are still written);
    2 for input that is not a class (nothing is graded); 130 when interrupted.
    """
    started = time.monotonic()
    try:
        found = find_submissions(submissions)
    except (BatchError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: {submissions} holds no submissions (no folder or zip in it)", file=sys.stderr)
        return 2
    mine = share(found, config.shard)
    left_out = ignored(submissions, found)
    out = Path(out)
    (out / SUBMISSIONS).mkdir(parents=True, exist_ok=True)
    records = {s.id: record_of(s, config) for s in mine}
    todo = [s for s in mine if not is_complete(out, records[s.id])]
    say = (lambda text: None) if config.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    of_class = f" (shard {config.shard} of a class of {len(found)})" if config.shard.count > 1 else ""
    jobs = min(config.jobs, max(len(todo), 1))
    if left_out:
        say(f"Not submissions, so not graded: {', '.join(left_out[:10])}{' ...' if len(left_out) > 10 else ''}")
    say(
        f"{len(mine)} submissions{of_class}: {len(mine) - len(todo)} already graded, "
        f"{len(todo)} to grade with {jobs} job{'s' if jobs != 1 else ''}."
    )
    interrupted = False
    with _closed_while_grading(out):
        try:
            _grade_all(todo, records, out, config, html)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            graded, missing = graded_in(out, [s.id for s in mine])
            write_tables(out, graded, missing=missing)
    failed = sorted(g.record.id for g in graded if autograder_failed(g.report))
    say(f"Wrote {out / GRADES} and {out / SUMMARY}: {len(graded)} submissions, in {time.monotonic() - started:.0f} s.")
    if failed:
        say(f"The autograder failed on {len(failed)}: {', '.join(failed)} (see {out / 'logs'}); run batch again to regrade them.")
    if interrupted:
        say(f"Interrupted: {len(missing)} submissions have no report yet; run the same command again to grade them.")
        return 130
    return 1 if failed or missing else 0


@contextlib.contextmanager
def _closed_while_grading(out: Path) -> Iterator[None]:
    """As root, ``out`` is closed to others (0700) while student code runs, so no worker reads another's report."""
    if os.geteuid() != 0:
        yield
        return
    out.chmod(0o700)
    try:
        yield
    finally:
        out.chmod(0o755)


def _grade_all(todo: list[ClassSubmission], records: dict[str, Record], out: Path, config: RunConfig, html: bool = False) -> None:
    """Grade ``todo`` with ``config.jobs`` grading processes, showing progress; reports go under ``out``."""
    from tqdm import tqdm

    if not todo:
        return
    waiting: queue.Queue[ClassSubmission] = queue.Queue()
    for submission in todo:
        waiting.put(submission)
    done: queue.Queue[tuple[str, bool]] = queue.Queue()
    stop = threading.Event()
    (out / "logs").mkdir(exist_ok=True)
    jobs = [GradingJob(config, out / "logs" / f"job{number + 1}.log") for number in range(min(config.jobs, len(todo)))]
    threads = [
        threading.Thread(target=_serve, args=(job, waiting, done, records, out, config, stop, html), daemon=True) for job in jobs
    ]
    failures = 0
    bar = tqdm(total=len(todo), unit="submission", disable=config.quiet, file=sys.stderr, dynamic_ncols=True, mininterval=1.0)
    try:
        for thread in threads:
            thread.start()
        for _ in todo:
            while True:
                try:
                    _, failed = done.get(timeout=0.5)
                    break
                except queue.Empty:
                    if not any(thread.is_alive() for thread in threads):
                        raise RuntimeError("every grading thread stopped") from None
            failures += failed
            bar.set_postfix_str(f"autograder failures: {failures}", refresh=False)
            bar.update()
    finally:
        stop.set()
        bar.close()
        for job in jobs:
            job.stop()


def _serve(
    job: GradingJob,
    waiting: queue.Queue[ClassSubmission],
    done: queue.Queue[tuple[str, bool]],
    records: dict[str, Record],
    out: Path,
    config: RunConfig,
    stop: threading.Event,
    html: bool = False,
) -> None:
    """One job's thread: take submissions from ``waiting`` until none is left, grade each, say so on ``done``."""
    while not stop.is_set():
        try:
            submission = waiting.get_nowait()
        except queue.Empty:
            return
        folder = out / SUBMISSIONS / submission.id
        results = folder / RESULTS
        started = time.monotonic()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            results.unlink(missing_ok=True)  # an old report is not this content's
            (folder / REPORT_PAGE).unlink(missing_ok=True)
            (folder / RECORD).write_text(records[submission.id].to_json(), encoding="utf-8")
            if submission.path is None:
                write_results(results, nothing_graded(config.problems, MISSING_FILES, execution_time=0.0))
                done.put((submission.id, False))
                continue
            page = folder / REPORT_PAGE if html else None
            problem = job.grade(submission.path, results, page, deadline=2 * config.limits.grading_seconds + 120)
        except (OSError, ValueError) as error:
            if stop.is_set():  # its pipes were closed under it: the batch is stopping
                return
            problem = f"the batch could not grade this submission: {type(error).__name__}: {error}"
        if stop.is_set():
            return
        if problem is not None:
            report = autograder_failure(config.problems, problem, execution_time=time.monotonic() - started)
            with contextlib.suppress(OSError):
                write_results(results, report)
        graded = read_graded(folder)
        done.put((submission.id, graded is None or autograder_failed(graded.report)))


class GradingJob:
    """A grading process (:mod:`autograder.batch_job`), started when first needed and again after it dies."""

    def __init__(self, config: RunConfig, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parent.parent)
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "autograder.batch_job", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=environment,
                start_new_session=True,  # Ctrl-C stops the batch, which stops its jobs: not each job on its own
            )
        assert process.stdin is not None
        process.stdin.write(self.config.to_json().encode() + b"\n")
        process.stdin.flush()
        return process

    def grade(self, submission: Path, results: Path, html: Path | None, *, deadline: float) -> str | None:
        """Grade ``submission`` into ``results`` (and the page ``html``); ``None`` once done, else what went wrong."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        request = {"submission": str(submission), "results": str(results), "html": str(html) if html else None}
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except OSError:
            return self._ended(f"the grading process had ended ({self._status()}); see {self.log}")
        ready, _, _ = select.select([process.stdout], [], [], deadline)
        if not ready:
            self.stop()
            return f"the grading process did not finish this submission within {deadline:.0f} s and was stopped"
        reply = process.stdout.readline()
        if not reply:
            return self._ended(f"the grading process ended while grading this submission ({self._status()}); see {self.log}")
        return None

    def _ended(self, problem: str) -> str:
        self.process = None
        return problem

    def _status(self) -> str:
        if self.process is None:
            return "not started"
        code = self.process.wait()
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def stop(self) -> None:
        """Kill the grading process (and what it started in its session); its fork server then stops its workers."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
