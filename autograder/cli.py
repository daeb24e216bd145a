"""The command line: ``python -m autograder VERB ...``.

Each verb hands its arguments to one function; the defaults shown by
``--help`` come from that function's signature, so the two never drift.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from autograder import grade, handout
from autograder.problems import PROBLEMS
from autograder.settings import Limits

DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = (
    "where student code runs: cuda puts the models and inputs on the GPU (code that is not device-agnostic fails), "
    "auto takes cuda when a GPU is available (default: %(default)s)"
)


def _default(function: object, name: str) -> object:
    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder", description="Autograder for CS4803/7643 Problem Set 3.")
    verbs = top.add_subparsers(dest="verb", required=True)

    grading = verbs.add_parser(
        "grade",
        help="grade a submission (a folder or a zip) and write Gradescope's results.json",
        epilog="Limits can be changed through the environment:\n" + Limits.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grading.add_argument("submission", type=Path, help="the submission: a folder or a zip, files loose or one folder deep")
    grading.add_argument("--results", type=Path, required=True, help="where to write results.json")
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
    )
    many.add_argument("submissions", type=Path, help="a folder whose entries are the submissions")
    many.add_argument("--out-dir", type=Path, required=True, help="where to write <entry>.json and summary.csv")
    many.add_argument("--problems", default=_default(grade.class_main, "problems"), help="grade only these problems")
    many.add_argument("--quiet", action="store_true", default=_default(grade.class_main, "quiet"), help="print nothing")
    many.add_argument("--device", choices=DEVICES, default=_default(grade.class_main, "device"), help=DEVICE_HELP)

    building = verbs.add_parser("build", help="build what a course ships: the students' handout")
    things = building.add_subparsers(dest="thing", required=True)
    handout_verb = things.add_parser(
        "handout",
        help="the students' starter kit, without the solution: starter code, given files, collect_submission.py, README",
    )
    handout_verb.add_argument("out", type=Path, help="a new folder, or a file ending in .zip")
    handout_verb.add_argument("--quiet", action="store_true", default=_default(handout.main, "quiet"), help="print nothing")

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
    if arguments.verb == "problems":
        for problem in PROBLEMS:
            print(f"{problem.key:<16} {problem.points:>5g} points  {problem.title}  ({', '.join(problem.files)})")
        print(f"{'total':<16} {sum(p.points for p in PROBLEMS):>5g} points")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
