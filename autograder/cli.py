"""The command line: ``ps3-autograder VERB ...``, the same as ``python -m autograder VERB ...``.

Each verb hands its arguments to one function; the defaults shown by
``--help`` come from that function's signature, so the two never drift.

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
from autograder.problems import PROBLEMS
from autograder.settings import Limits

DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = (
    "where student code runs: cuda puts the models and inputs on the GPU (code that is not device-agnostic fails), "
    "auto takes cuda when a GPU is available (default: %(default)s)"
)


def _default(function: object, name: str) -> object:
    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


EXIT_STATUS = (
    "Exit status: 0 once graded; 1 when the autograder itself failed (a report that says so is still written); "
    "2 for bad arguments or a submission that does not exist (nothing is written)."
)
LIMITS = "Limits can be changed through the environment:\n" + Limits.describe()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ps3-autograder",
        description="Autograder for CS4803/7643 Problem Set 3 (also run as: python -m autograder).",
        epilog=EXIT_STATUS,
    )
    verbs = top.add_subparsers(dest="verb", required=True)

    grading = verbs.add_parser(
        "grade",
        help="grade a submission (a folder or a zip); print the report, and write Gradescope's results.json with --results",
        epilog=f"{EXIT_STATUS}\n\n{LIMITS}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grading.add_argument("submission", type=Path, help="the submission: a folder or a zip, files loose or one folder deep")
    grading.add_argument(
        "--results",
        type=Path,
        default=_default(grade.main, "results"),
        help="also write the report here, as Gradescope's results.json (mode 0644, replaced atomically); "
        "without it, the report is only printed",
    )
    grading.add_argument(
        "--problems",
        default=_default(grade.main, "problems"),
        help="grade only these problems (comma-separated keys; see the 'problems' verb)",
    )
    grading.add_argument("--quiet", action="store_true", default=_default(grade.main, "quiet"), help="print nothing")
    grading.add_argument("--device", choices=DEVICES, default=_default(grade.main, "device"), help=DEVICE_HELP)

    many = verbs.add_parser(
        "grade-class",
        help="grade every submission in a folder (each entry, a folder or a zip, is one); one report each and a summary.csv",
        epilog=f"{EXIT_STATUS}\n\n{LIMITS}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    many.add_argument("submissions", type=Path, help="a folder whose entries are the submissions")
    many.add_argument("--out-dir", type=Path, required=True, help="where to write <entry>.json and summary.csv")
    many.add_argument("--problems", default=_default(grade.class_main, "problems"), help="grade only these problems")
    many.add_argument("--quiet", action="store_true", default=_default(grade.class_main, "quiet"), help="print nothing")
    many.add_argument("--device", choices=DEVICES, default=_default(grade.class_main, "device"), help=DEVICE_HELP)

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
        help="the autograder zip for Gradescope (setup.sh and run_autograder at its root), verified before it is returned",
    )
    package_verb.add_argument("out", type=Path, help="the zip to write")
    package_verb.add_argument(
        "--quiet", action="store_true", default=_default(gradescope_package.main, "quiet"), help="print nothing"
    )

    verbs.add_parser("problems", help="list the graded problems, their keys and points")
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if arguments.verb == "grade":
        return grade.main(
            arguments.submission, arguments.results, problems=arguments.problems, quiet=arguments.quiet, device=arguments.device
        )
    if arguments.verb == "grade-class":
        return grade.class_main(
            arguments.submissions, arguments.out_dir, problems=arguments.problems, quiet=arguments.quiet, device=arguments.device
        )
    if arguments.verb == "build" and arguments.thing == "handout":
        return handout.main(arguments.out, quiet=arguments.quiet)
    if arguments.verb == "build" and arguments.thing == "gradescope":
        return gradescope_package.main(arguments.out, quiet=arguments.quiet)
    if arguments.verb == "problems":
        print(problem_table())
        return 0
    return 2


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
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the report piped into a reader that stopped (head): nothing more to say
        code = 0
    os._exit(code)


if __name__ == "__main__":
    run()
