"""The command line: ``ps3-autograder VERB ...``, the same as ``python -m autograder VERB ...``.

Each verb that grades builds the run's configuration (:mod:`autograder.config`)
from its options, the environment and defaults, and hands it to one function;
a bad setting is reported (exit status 2) before anything runs. Each verb's
work is in a module of its own: ``grade``, ``batch``, ``class_report`` (merge),
``handout`` and ``gradescope_package`` (build).

Exit status, for every verb: 0 when it did what was asked (for ``grade``, a
report of a real grading was written or printed), 1 when the autograder
itself failed (a report that says so is still written, for Gradescope), 2 for
bad arguments or input (a path that does not exist, an unknown problem):
then nothing is written.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path
from typing import NoReturn

from autograder import grade, gradescope_package, handout
from autograder.config import DEVICES, ConfigError, RunConfig
from autograder.problems import PROBLEMS

DEVICE_HELP = (
    "where student code runs: cuda puts the models and inputs on the GPU (code that is not device-agnostic fails), "
    "auto takes cuda when a GPU is available (default: cpu)"
)


def _default(function: object, name: str) -> object:
    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


EXIT_STATUS = (
    "Exit status: 0 once graded; 1 when the autograder itself failed (a report that says so is still written); "
    "2 for bad arguments, a bad setting or a submission that does not exist (nothing is written)."
)
SETTINGS = "Settings from the environment (the command line's options win over them):\n" + RunConfig.describe()


def _grading_options(verb: argparse.ArgumentParser) -> None:
    """The options of every verb that grades: each one's default is the environment's AUTOGRADER_* setting, else the built-in one."""
    verb.add_argument(
        "--problems", help="grade only these problems (comma-separated keys; see the 'problems' verb; default: all)"
    )
    verb.add_argument("--device", choices=DEVICES, help=DEVICE_HELP)
    verb.add_argument("--quiet", action="store_true", help="print nothing but errors")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ps3-autograder",
        description="Autograder for CS4803/7643 Problem Set 3 (also run as: python -m autograder).",
        epilog=EXIT_STATUS,
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    epilog, raw = f"{EXIT_STATUS}\n\n{SETTINGS}", argparse.RawDescriptionHelpFormatter

    grading = verbs.add_parser(
        "grade",
        help="grade a submission (a folder or a zip); print the report, and write Gradescope's results.json with --results",
        epilog=epilog,
        formatter_class=raw,
    )
    grading.add_argument("submission", type=Path, help="the submission: a folder or a zip, files loose or one folder deep")
    grading.add_argument(
        "--results",
        type=Path,
        help="also write the report here, as Gradescope's results.json (mode 0644, replaced atomically); "
        "without it, the report is only printed",
    )
    grading.add_argument(
        "--html", type=Path, metavar="REPORT.html", help="also write the report as one self-contained page to look at"
    )
    _grading_options(grading)

    many = verbs.add_parser(
        "batch",
        help="grade a class: Gradescope's export, or a folder of submission folders or zips; "
        "a results.json each, grades.csv and summary.md",
        epilog=epilog,
        formatter_class=raw,
    )
    many.add_argument(
        "submissions",
        type=Path,
        help="Gradescope's 'Export Submissions' folder (with submission_metadata.yml), or a folder whose entries "
        "(folders or zips) are the submissions",
    )
    many.add_argument(
        "--out", type=Path, required=True, help="where to write DIR/submissions/ID/results.json, grades.csv and summary.md"
    )
    many.add_argument("--jobs", type=int, help="submissions graded at once, each by its own grader (default: 1)")
    many.add_argument(
        "--shard", help="grade only the share I of N of the class (I/N, counted from 1; a deterministic split by submission)"
    )
    many.add_argument(
        "--html", action="store_true", help="also write each submission's report as a page, report.html beside its results.json"
    )
    _grading_options(many)

    merging = verbs.add_parser(
        "merge",
        help="join the outputs of batch's shards into one grades.csv and summary.md",
        epilog="Exit status: 0 once joined; 1 when some submission has no whole report (its shard was interrupted: "
        "run it again); 2 when a folder is not batch's output, or two shards graded the same submission or other problems.",
    )
    merging.add_argument("shards", type=Path, nargs="+", help="the --out folders of the shards")
    merging.add_argument("--out", type=Path, required=True, help="where to write the joined grades.csv and summary.md")
    merging.add_argument("--quiet", action="store_true", help="print nothing but errors")

    retired = verbs.add_parser("grade-class", help="retired: use batch", add_help=False)
    retired.add_argument("rest", nargs=argparse.REMAINDER)

    building = verbs.add_parser("build", help="build what a course ships: the students' handout, the Gradescope zip")
    things = building.add_subparsers(dest="thing", required=True)
    handout_verb = things.add_parser(
        "handout",
        help="the students' starter kit, without the solution: starter code, given files, collect_submission.py, README",
    )
    handout_verb.add_argument("out", type=Path, help="a new folder, or a file ending in .zip")
    handout_verb.add_argument("--quiet", action="store_true", default=_default(handout.main, "quiet"), help="print nothing")
    package_verb = things.add_parser(
        "gradescope",
        help="the autograder zip for Gradescope (setup.sh and run_autograder at its root), verified before it is written",
        description="Build the zip from the files on disk, then check it as Gradescope runs it: unpacked into a temporary "
        "/autograder, setup.sh, then run_autograder on the reference (full marks expected) and the starter code (0 expected). "
        "The zip is written only when every check passed.",
        epilog="Exit status: 0 once the zip is written; 1 when a check failed (nothing is written); 2 for bad arguments.",
    )
    package_verb.add_argument("out", type=Path, help="the zip to write (a name ending in .zip)")
    package_verb.add_argument(
        "--reuse-venv",
        type=Path,
        default=_default(gradescope_package.main, "reuse_venv"),
        metavar="VENV",
        help="check with this venv's packages (say, .venv: seconds) instead of the new venv setup.sh builds, as "
        "Gradescope does (1 to 2 minutes); the zip's code and scripts are checked, not that its requirements install",
    )
    package_verb.add_argument(
        "--salt-file",
        type=Path,
        default=_default(gradescope_package.main, "salt_file"),
        metavar="PATH",
        help="the course's salt to put in the zip as autograder/case_salt (default: autograder/case_salt, when it exists)",
    )
    package_verb.add_argument(
        "--problems",
        metavar="KEYS",
        help="check by grading only these problems (quicker; the zip itself grades every problem, or what its "
        "run_autograder's PROBLEMS line says)",
    )
    package_verb.add_argument(
        "--quiet", action="store_true", default=_default(gradescope_package.main, "quiet"), help="print nothing but errors"
    )

    verbs.add_parser("problems", help="list the graded problems, their keys and points")

    validating = verbs.add_parser(
        "validate",
        help="how strong are the graded suites? grade mutants of the reference; print each problem's kill rate",
        description="Mutation testing: for each problem, grade the reference (full marks expected), then mutants of the "
        "lines a student writes (cosmic-ray's operators and this project's own), each as a submission, on its problem "
        "only. Prints mutants made, killed, survived (with their diffs) and equivalent, and the kill rate.",
        epilog="Exit status: 0 when every problem kills at least 95% of its non-equivalent mutants; 1 otherwise, or when "
        "the reference did not get full marks; 2 for bad arguments. Needs cosmic-ray (requirements-dev.txt).",
    )
    validating.add_argument("--problems", metavar="KEYS", help="only these problems (comma-separated keys; default: all)")
    validating.add_argument("--jobs", type=int, default=1, help="mutants graded at once, each by its own grader (default: 1)")
    validating.add_argument("--json", type=Path, metavar="PATH", help="also write the verdicts here as JSON")
    validating.add_argument(
        "--sample", type=int, metavar="K", help="grade only K mutants of each problem, evenly spread over them (quicker)"
    )
    validating.add_argument("--quiet", action="store_true", help="print only the table and the survivors")
    return top


GRADE_CLASS_RETIRED = (
    "grade-class was replaced by batch, which grades the same folders (and Gradescope's export) in parallel, resumes, "
    "and writes grades.csv and summary.md:\n  ps3-autograder batch SUBMISSIONS --out DIR [--jobs N]"
)


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        return _run(arguments)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(arguments: argparse.Namespace) -> int:
    if arguments.verb == "grade":
        config = RunConfig.build(problems=arguments.problems, device=arguments.device, quiet=arguments.quiet)
        return grade.main(arguments.submission, arguments.results, config, html=arguments.html)
    if arguments.verb == "batch":
        from autograder import batch

        config = RunConfig.build(
            problems=arguments.problems,
            device=arguments.device,
            quiet=arguments.quiet,
            jobs=arguments.jobs,
            shard=arguments.shard,
        )
        return batch.main(arguments.submissions, arguments.out, config, html=arguments.html)
    if arguments.verb == "merge":
        from autograder import class_report

        return class_report.merge_main(arguments.shards, arguments.out, quiet=arguments.quiet)
    if arguments.verb == "grade-class":
        print(f"error: {GRADE_CLASS_RETIRED}", file=sys.stderr)
        return 2
    if arguments.verb == "build" and arguments.thing == "handout":
        RunConfig.build()  # a bad setting is reported before the handout's grading starts
        return handout.main(arguments.out, quiet=arguments.quiet)
    if arguments.verb == "build" and arguments.thing == "gradescope":
        return gradescope_package.main(
            arguments.out,
            quiet=arguments.quiet,
            reuse_venv=arguments.reuse_venv,
            salt_file=arguments.salt_file,
            problems=arguments.problems,
        )
    if arguments.verb == "problems":
        print(problem_table())
        return 0
    if arguments.verb == "validate":
        return _validate(arguments)
    return 2


def _validate(arguments: argparse.Namespace) -> int:
    from autograder import problems as registry

    try:
        from autograder import validate
    except ImportError as error:
        print(f"error: validate needs cosmic-ray ({error}): .venv/bin/pip install -r requirements-dev.txt", file=sys.stderr)
        return 2
    if (arguments.jobs is not None and arguments.jobs < 1) or (arguments.sample is not None and arguments.sample < 1):
        print("error: --jobs and --sample must be at least 1", file=sys.stderr)
        return 2
    try:
        selected = registry.select(arguments.problems)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return validate.main(selected, jobs=arguments.jobs, json_path=arguments.json, count=arguments.sample, quiet=arguments.quiet)


def problem_table() -> str:
    """The graded problems as a table: key, points, title, the files each one grades."""
    from tabulate import tabulate

    rows = [[p.key, f"{p.points:g}", p.title, ", ".join(p.files)] for p in PROBLEMS]
    rows.append(["total", f"{sum(p.points for p in PROBLEMS):g}", "", ""])
    return str(tabulate(rows, headers=["problem", "points", "title", "files"], colalign=("left", "right", "left", "left")))


def run() -> NoReturn:
    """The console script ``ps3-autograder``: :func:`main`, then exit at once once everything is flushed.

    The interpreter's teardown takes about a second once torch is loaded, and
    nothing is left to do by then.
    """
    try:
        code = main()
        if os.environ.get("AUTOGRADER_PROBE_LOG"):  # validate's probe (autograder.probe): written before the quick exit
            from autograder import probe

            probe.write_log()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the report piped into a reader that stopped (head): nothing more to say
        code = 0
    os._exit(code)


if __name__ == "__main__":
    run()
