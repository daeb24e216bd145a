"""Every scenario's expectation under other course salts: no suite may depend on lucky generated cases.

A deployed grader draws its generated cases from the course's secret salt
(``autograder/case_salt.py``). This grades the whole scenario corpus
(``tests/scenarios/``) once per salt given, through ``batch`` as the
tests do, and checks each report with the tests' own ``check_outcome``.

    python bench/salted_scenarios.py "first salt" "second salt"
    python bench/salted_scenarios.py --only mistake_gram "a salt"   # scenarios whose name holds this text

It takes as long as the scenario tests, per salt (about 5 minutes on two cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.scenarios import all_scenarios, check_outcome, grade_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("salts", nargs="+", help="course salts to grade the corpus under")
    parser.add_argument("--only", default="", help="only the scenarios whose name holds this text")
    arguments = parser.parse_args()
    scenarios = [s for s in all_scenarios() if arguments.only in s.name]
    failed_any = False
    for index, salt in enumerate(arguments.salts, start=1):
        with tempfile.TemporaryDirectory(prefix="salted-") as scratch:
            salt_file = Path(scratch) / "case_salt"
            salt_file.write_text(salt)
            started = time.monotonic()
            reports = grade_all(scenarios, Path(scratch) / "grading", environment={"AUTOGRADER_CASE_SALT_FILE": str(salt_file)})
            seconds = time.monotonic() - started
        failures = []
        for scenario in scenarios:
            try:
                check_outcome(scenario, reports[scenario.name])
            except AssertionError as error:
                failures.append(f"{scenario.name}: {str(error).splitlines()[0]}")
        failed_any = failed_any or bool(failures)
        print(f"salt {index}: {len(scenarios) - len(failures)} of {len(scenarios)} scenarios hold ({seconds:.0f} s)")
        for failure in failures:
            print(f"    {failure}")
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
