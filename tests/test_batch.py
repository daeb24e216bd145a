"""``batch`` and ``merge`` as an instructor runs them: a class from Gradescope's export, resumed, sharded, joined.

The command-line tests grade real submissions (the reference, the starter
code, scenario mistakes and correct variants, attacks, an empty folder, a
broken zip) on the cheap problems, content loss and TV loss; the rest are
unit tests of the parts: the export's metadata, shares, resumption, the tables.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import batch, class_report
from autograder.config import ConfigError, RunConfig, Shard
from autograder.results import validate
from tests.scenarios import ATTACKS, ROOT, SCENARIOS, Scenario, check_outcome, collect_submission

PROBLEMS = "content_loss,tv_loss"
FAST = {"AUTOGRADER_CALL_SECONDS": "5"}  # the infinite loop's call stops after 5 s, not 30


def ps3(*arguments: object, environment: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(environment or {})},
    )


# The export: (folder, what is in it, submitters as (name, sid, email), the YAML text of the SID).
# What is in it: "reference", "template", "reference.zip", "template.zip", "empty", "broken.zip", "missing",
# or a scenario or attack name.
CLASS = [
    ("submission_1001", "reference", [("Ada Lovelace", "0012345", "ada@gatech.edu")]),
    ("submission_1002", "reference.zip", [("Alan Turing", "903000001", "alan@gatech.edu")]),
    ("submission_1003", "template", [("Grace Hopper", "903000002", "grace@gatech.edu")]),
    ("submission_1004", "template.zip", [("Zoë Ñúñez-O'Brien", "000000007", "zoe@gatech.edu")]),
    (
        "submission_1005",
        "reference",
        [("Edsger Dijkstra", "903000003", "edsger@gatech.edu"), ("Barbara Liskov", "0903000004", "barbara@gatech.edu")],
    ),
    ("submission_1006", "mistake_tv_loss_abs", [("Student Six", "903000006", "six@gatech.edu")]),
    ("submission_1007", "mistake_tv_loss_mean", [("Student Seven", "903000007", "seven@gatech.edu")]),
    ("submission_1008", "mistake_content_loss_abs", [("Student Eight", "903000008", "eight@gatech.edu")]),
    ("submission_1009", "mistake_content_loss_weight_ignored", [("Student Nine", "903000009", "nine@gatech.edu")]),
    ("submission_1010", "correct_tv_loss_torch_diff", [("Student Ten", "903000010", "ten@gatech.edu")]),
    ("submission_1011", "correct_content_loss_flatten_dot", [("Student Eleven", "903000011", "eleven@gatech.edu")]),
    ("submission_1012", "correct_tv_loss_replicate_pad", [("Student Twelve", "903000012", "twelve@gatech.edu")]),
    ("submission_1013", "infinite_loop_in_method", [("Student Thirteen", "903000013", "thirteen@gatech.edu")]),
    ("submission_1014", "os_exit_in_method", [("Student Fourteen", "903000014", "fourteen@gatech.edu")]),
    ("submission_1015", "segfault_through_ctypes", [("Student Fifteen", "903000015", "fifteen@gatech.edu")]),
    ("submission_1016", "fake_results_then_exit_at_import", [("Student Sixteen", "903000016", "sixteen@gatech.edu")]),
    ("submission_1017", "signals_the_grader", [("Student Seventeen", "903000017", "seventeen@gatech.edu")]),
    ("submission_1018", "empty", [("Student Eighteen", "903000018", "eighteen@gatech.edu")]),
    ("submission_1019", "broken.zip", [("Student Nineteen", "903000019", "nineteen@gatech.edu")]),
    ("submission_1020", "missing", [("Student Twenty", "903000020", "")]),
    ("submission_1021", "sys_exit_in_method", [("Student Twenty-One", "00903000021", "twentyone@gatech.edu")]),
]


def scenario_named(name: str) -> Scenario | None:
    for folder in (SCENARIOS / name, ATTACKS / name):
        if folder.is_dir():
            return Scenario.load(folder)
    return None


def build_entry(what: str, folder: Path) -> None:
    """Put ``what`` into the export's ``folder`` as Gradescope keeps a submission: its uploaded files."""
    if what == "missing":
        return
    if what in ("reference", "template"):
        import shutil

        shutil.copytree(ROOT / ("reference" if what == "reference" else "student_template"), folder)
    elif what in ("reference.zip", "template.zip"):
        collect_submission(ROOT / ("reference" if what == "reference.zip" else "student_template"), folder / "hw3.zip")
    elif what == "empty":
        folder.mkdir(parents=True)
    elif what == "broken.zip":
        folder.mkdir(parents=True)
        (folder / "hw3.zip").write_bytes(b"PK\x03\x04 this is not a whole zip")
    else:
        scenario = scenario_named(what)
        assert scenario is not None, what
        scenario.build(folder)


def write_export(root: Path, entries: list[tuple[str, str, list[tuple[str, str, str]]]] = CLASS) -> Path:
    """Gradescope's "Export Submissions" folder: ``submission_metadata.yml`` (Ruby-flavoured YAML) and one folder each.

    SIDs are written as Gradescope's Ruby writes them: quoted when they look
    like a number, but one is left bare, as a hand-edited file might have it.
    """
    root.mkdir(parents=True)
    lines = ["---"]
    for number, (name, what, people) in enumerate(entries):
        build_entry(what, root / name)
        lines += [f"{name}:", "  :submitters:"]
        for person, sid, email in people:
            sid_text = sid if number == 0 else f"'{sid}'"  # the first bare: 0012345
            lines += [f'  - :name: "{person}"', f"    :sid: {sid_text}", f"    :email: {email}"]
        lines += [
            "  :created_at: 2026-11-20 23:59:01.123456000 -05:00",
            "  :score: 0.0",
            "  :status: processed",
        ]
    (root / batch.METADATA).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def read_grades(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_a_gradescope_export_gives_grades_csv_equal_to_every_report_with_the_metadatas_names(tmp_path: Path) -> None:
    export = write_export(tmp_path / "assignment_export")
    out = tmp_path / "graded"
    completed = ps3("batch", tmp_path, "--out", out, "--jobs", "2", "--problems", PROBLEMS, environment=FAST)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert f"{len(CLASS)} submissions: 0 already graded, {len(CLASS)} to grade with 2 jobs." in completed.stderr

    rows = {row["submission"]: row for row in read_grades(out / class_report.GRADES)}
    assert sorted(rows) == [name for name, _, _ in CLASS], "one row per submission of the metadata, in id order"
    for name, what, people in CLASS:
        report = json.loads((out / "submissions" / name / "results.json").read_text())
        validate(report)
        row = rows[name]
        assert float(row["total"]) == report["score"], name
        for key in PROBLEMS.split(","):
            assert float(row[key]) == report["extra_data"]["problems"][key]["score"], (name, key)
        assert float(row["max_score"]) == 4 and row["autograder_failed"] == "no", (name, report["output"])
        assert row["names"] == "; ".join(person for person, _, _ in people)
        assert row["sids"] == "; ".join(sid for _, sid, _ in people), "SIDs stay text: leading zeros survive"
        assert row["emails"] == "; ".join(email for _, _, email in people)
        if what in ("reference", "reference.zip"):
            assert report["score"] == 4, report["output"]
        elif what in ("template", "template.zip", "empty", "broken.zip", "missing"):
            assert report["score"] == 0, (name, report["output"])
        else:
            scenario = scenario_named(what)
            assert scenario is not None, what
            check_outcome(scenario, report)
        assert (out / "submissions" / name / "results.json").stat().st_mode & 0o777 == 0o644
    assert rows["submission_1001"]["sids"] == "0012345" and rows["submission_1021"]["sids"] == "00903000021"
    missing = json.loads((out / "submissions" / "submission_1020" / "results.json").read_text())
    assert batch.MISSING_FILES in missing["output"]

    summary = (out / class_report.SUMMARY).read_text()
    assert f"{len(CLASS)} submissions graded." in summary
    assert "| content_loss |" in summary and "| tv_loss" in summary and "Tests most often failed" in summary
    assert not any(person in summary for _, _, people in CLASS for person, _, _ in people), "the summary names no one"
    if os.geteuid() == 0:
        assert out.stat().st_mode & 0o777 == 0o755, "closed while grading, opened after"

    again = ps3("batch", export, "--out", out, "--jobs", "2", "--problems", PROBLEMS)
    assert again.returncode == 0 and f"{len(CLASS)} already graded, 0 to grade" in again.stderr, again.stderr


def small_class(folder: Path, count: int) -> Path:
    """``count`` submissions for TV loss: the reference, a mistake and the starter code, in turn."""
    import shutil

    for number in range(count):
        kind = number % 3
        target = folder / f"student{number:02d}"
        if kind == 0:
            shutil.copytree(ROOT / "reference", target)
        elif kind == 1:
            Scenario.load(SCENARIOS / "mistake_tv_loss_abs").build(target)
        else:
            collect_submission(ROOT / "student_template", folder / f"student{number:02d}.zip")
    return folder


def complete_reports(out: Path) -> dict[str, int]:
    """The submissions with a whole report, and when each was written."""
    found = {}
    for folder in sorted((out / "submissions").glob("*")):
        if class_report.read_graded(folder) is not None:
            found[folder.name] = (folder / "results.json").stat().st_mtime_ns
    return found


def start_batch(submissions: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(out), "--problems", "tv_loss"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_reports(out: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while len(complete_reports(out)) < count:
        assert process.poll() is None, (
            f"the batch ended before {count} reports: {process.stderr.read() if process.stderr else ''}"
        )
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.1)


def grading_jobs(batch: int) -> set[int]:
    """The batch_job processes the batch ``batch`` started (its children running ``autograder.batch_job``)."""
    children: set[int] = set()
    for task in Path(f"/proc/{batch}/task").glob("*"):
        try:
            children |= {int(pid) for pid in (task / "children").read_text().split()}
        except OSError:
            continue
    return {pid for pid in children if alive(pid) and b"autograder.batch_job" in cmdline(pid)}


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_an_interrupted_batch_resumes_with_only_what_has_no_complete_report(tmp_path: Path) -> None:
    submissions = small_class(tmp_path / "class", 8)
    out = tmp_path / "out"

    interrupted = start_batch(submissions, out)
    wait_for_reports(out, 2, interrupted)
    interrupted.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, stderr
    assert "Interrupted" in stderr and "run the same command again" in stderr
    first = complete_reports(out)

    killed = start_batch(submissions, out)
    wait_for_reports(out, len(first) + 1, killed)
    jobs = grading_jobs(killed.pid)
    assert jobs, "the batch grades in a process of its own"
    killed.kill()  # kill -9: its grading processes die with it
    killed.communicate(timeout=60)
    at_the_kill = complete_reports(out)
    time.sleep(5)  # a grading process left running would finish its submission and write its report
    assert complete_reports(out) == at_the_kill, "a report was written after the batch was killed"
    deadline = time.monotonic() + 30
    while any(alive(pid) and b"autograder.batch_job" in cmdline(pid) for pid in jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in jobs if alive(pid) and b"autograder.batch_job" in cmdline(pid)], (
        "a grading process outlived the batch that was killed"
    )
    second = complete_reports(out)
    assert {name: second[name] for name in first} == first, "reports already complete were left alone"

    resumed = ps3("batch", submissions, "--out", out, "--problems", "tv_loss")
    assert resumed.returncode == 0, resumed.stderr
    assert f"8 submissions: {len(second)} already graded, {8 - len(second)} to grade" in resumed.stderr, resumed.stderr
    final = complete_reports(out)
    assert len(final) == 8 and {name: final[name] for name in second} == second
    assert len(read_grades(out / class_report.GRADES)) == 8


def test_three_shards_merged_equal_the_unsharded_run(tmp_path: Path) -> None:
    submissions = small_class(tmp_path / "class", 7)
    whole = ps3("batch", submissions, "--out", tmp_path / "whole", "--jobs", "2", "--problems", "tv_loss")
    assert whole.returncode == 0, whole.stderr
    shards = [tmp_path / f"shard-{index}" for index in (1, 2, 3)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "autograder", "batch", str(submissions), "--out", str(shard), "--problems", "tv_loss"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "AUTOGRADER_SHARD": f"{index}/3"},  # the setting from the environment, as in a job array
        )
        for index, shard in zip((1, 2, 3), shards, strict=True)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr
        assert "(shard " in stderr and " of a class of 7)" in stderr
    sizes = [len(read_grades(shard / class_report.GRADES)) for shard in shards]
    assert sorted(sizes) == [2, 2, 3], "a balanced share each"
    merged = ps3("merge", *shards, "--out", tmp_path / "merged")
    assert merged.returncode == 0, merged.stderr

    def without_seconds(path: Path) -> list[dict[str, str]]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_grades(path)]

    assert without_seconds(tmp_path / "merged" / "grades.csv") == without_seconds(tmp_path / "whole" / "grades.csv")
    assert (tmp_path / "merged" / "summary.md").read_text() == (tmp_path / "whole" / "summary.md").read_text()

    twice = ps3("merge", shards[0], shards[0], "--out", tmp_path / "twice")
    assert twice.returncode == 2 and "was graded in both" in twice.stderr
    not_a_batch = ps3("merge", submissions, "--out", tmp_path / "nothing")
    assert not_a_batch.returncode == 2 and "is not the output of batch" in not_a_batch.stderr


# The parts, without grading.


def test_the_exports_metadata_is_read_as_text_with_its_ruby_keys(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    (root / "submission_7").mkdir()
    (root / batch.METADATA).write_text(
        "---\nsubmission_7:\n  :submitters:\n  - :name: Ada\n    :sid: 0012345\n    :email: ada@x.edu\n"
        "  - :name: 'Bob: the second'\n    :sid: 08\n  :created_at: 2026-11-20 23:59:01.123456000 -05:00\n"
        "submission_8:\n  :submitters: []\n",
        encoding="utf-8",
    )
    found = batch.find_submissions(tmp_path)  # the export one folder down
    assert [s.id for s in found] == ["submission_7", "submission_8"]
    ada, bob = found[0].submitters
    assert (ada.name, ada.sid, ada.email) == ("Ada", "0012345", "ada@x.edu")
    assert (bob.name, bob.sid, bob.email) == ("Bob: the second", "08", "")
    assert found[0].path == root / "submission_7" and found[1].path is None
    assert found[0].created_at.startswith("2026-11-20")
    (root / "submission_9").mkdir()
    assert batch.ignored(tmp_path, batch.find_submissions(tmp_path)) == ["submission_9"], (
        "a folder the metadata does not list is not graded"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "does not map submission folders"),
        ("submission_1: [unclosed\n", "could not be read as YAML"),
        ("../escape:\n  :submitters: []\n", "cannot be a submission's id"),
    ],
)
def test_a_bad_metadata_file_is_an_error_that_says_why(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / batch.METADATA).write_text(text)
    with pytest.raises(batch.BatchError, match=message):
        batch.find_submissions(tmp_path)


def test_a_folder_of_submissions_names_each_by_its_entry_skips_other_files_and_refuses_two_of_one_name(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "bob.zip").write_bytes(b"")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("grade these by Friday")
    assert [(s.id, s.path) for s in batch.find_submissions(tmp_path)] == [
        ("alice", tmp_path / "alice"),
        ("bob", tmp_path / "bob.zip"),
    ]
    assert batch.ignored(tmp_path, batch.find_submissions(tmp_path)) == ["notes.txt"], (
        "a file that is not a zip is not a submission"
    )
    (tmp_path / "alice.zip").write_bytes(b"")
    with pytest.raises(batch.BatchError, match="would both be the submission 'alice'"):
        batch.find_submissions(tmp_path)


def test_shards_are_disjoint_balanced_deterministic_and_cover_the_class() -> None:
    people = [batch.ClassSubmission(f"s{n:03d}", None) for n in range(23)]
    shares = [batch.share(list(reversed(people)), Shard(index, 4)) for index in range(1, 5)]
    ids = [s.id for part in shares for s in part]
    assert sorted(ids) == [s.id for s in people] and len(set(ids)) == len(ids)
    assert sorted(len(part) for part in shares) == [5, 6, 6, 6]
    assert shares == [batch.share(people, Shard(index, 4)) for index in range(1, 5)], "the order given does not matter"
    for text, message in (("0/3", "counted from 1"), ("4/3", "from 1 to 3"), ("a/b", "must be I/N")):
        with pytest.raises(ConfigError, match=message):
            Shard.parse(text)


def test_the_command_line_wins_over_the_environment_which_wins_over_the_default() -> None:
    environment = {"AUTOGRADER_PROBLEMS": "tv_loss", "AUTOGRADER_JOBS": "3", "AUTOGRADER_CALL_SECONDS": "7"}
    from_environment = RunConfig.build(environ=environment)
    assert [p.key for p in from_environment.problems] == ["tv_loss"] and from_environment.jobs == 3
    assert from_environment.limits.call_seconds == 7.0 and from_environment.device == "cpu"
    given = RunConfig.build(problems="answers", jobs=2, environ=environment)
    assert [p.key for p in given.problems] == ["answers"] and given.jobs == 2
    assert RunConfig.build(environ={}).jobs == 1 and len(RunConfig.build(environ={}).problems) == 12
    assert RunConfig.from_json(given.to_json()) == given
    with pytest.raises(ConfigError, match="--jobs=0 must be at least 1"):
        RunConfig.build(jobs=0, environ={})


def graded_folder(out: Path, record: class_report.Record, report: dict[str, object] | str) -> None:
    folder = out / "submissions" / record.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.json").write_text(record.to_json())
    (folder / "results.json").write_text(report if isinstance(report, str) else json.dumps(report))


def test_a_report_counts_as_complete_only_when_whole_of_the_same_content_and_problems_and_not_failed(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "answers.py").write_text("x = 1\n")
    submission = batch.ClassSubmission("alice", tmp_path / "alice")
    config = RunConfig.build(problems="answers", environ={})
    record = batch.record_of(submission, config)
    report = {"score": 1, "tests": [], "extra_data": {"autograder_failed": False}}
    out = tmp_path / "out"
    graded_folder(out, record, report)
    assert batch.is_complete(out, record)
    graded_folder(out, record, json.dumps(report)[:-3])
    assert not batch.is_complete(out, record), "a cut report"
    graded_folder(out, record, {**report, "extra_data": {"autograder_failed": True}})
    assert not batch.is_complete(out, record), "the autograder failed: grade it again"
    graded_folder(out, record, report)
    (tmp_path / "alice" / "answers.py").write_text("x = 2\n")
    assert not batch.is_complete(out, batch.record_of(submission, config)), "the student's files changed"
    assert not batch.is_complete(out, batch.record_of(submission, RunConfig.build(problems="tv_loss", environ={})))


def test_the_summary_counts_scores_and_failures_and_keeps_its_tables_whole() -> None:
    def graded(name: str, score: float, output: str, cause: str) -> class_report.Graded:
        record = class_report.Record(name, "", "", ("tv_loss",))
        test = {
            "number": "4.2",
            "name": "Total variation loss: Generated images | the loss matches",
            "status": "passed" if score else "failed",
            "score": score,
            "max_score": 2,
            "output": output,
            "extra_data": {"cause": cause},
        }
        report = {"score": score, "tests": [test], "extra_data": {"problems": {"tv_loss": {"score": score}}}}
        return class_report.Graded(record, report)

    long_input = "Smallest failing input: total_variation_loss(img, tv_weight) with img of shape (1, 3, 4, 4)"
    short_input = "Smallest failing input: total_variation_loss(img, tv_weight) with img of shape (1, 1, 1, 2)"
    class_ = [
        graded("a", 2, "", ""),
        graded("b", 0, f"wrong\n{long_input}\n", "a known mistake: abs"),
        graded("c", 0, f"wrong\n{short_input}\n", "a known mistake: abs"),
        graded("d", 0, "not implemented", "not implemented yet"),
    ]
    summary = class_report.summary_markdown(class_)
    assert "| tv_loss   | 2        | 0.50   | 1 of 4       | 0: 3, 2: 1" in summary, summary
    row = next(line for line in summary.splitlines() if line.startswith("| 4.2"))
    assert row.count(" | ") == 3 and "Generated images \\| the loss" in row, "a | in a name does not break the table"
    assert "| 3 " in row and "a known mistake: abs (2)" in row and "shape (1, 1, 1, 2)" in row
    header, rows = class_report.grade_rows(class_)
    assert header[-4:] == ["total", "max_score", "autograder_failed", "seconds"] and [r[0] for r in rows] == list("abcd")
