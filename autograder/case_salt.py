"""The course secret that chooses a deployed grader's generated cases.

The students' handout ships the public tests' generated cases with their
answers (issue 11), so a submission could carry a table of them and answer
from it whenever it meets one. The grader that a course deploys therefore
draws its generated cases from a secret salt: each hypothesis test gets a seed
of its own, derived from the salt and the test's id, in place of the one
hypothesis derives from the test itself. Without a salt the cases are those of
the handout (and of this repository's tests). The course's own settings are
fixed inputs, not drawn, and stay the same.

The salt lives in a file of the harness (:data:`CASE_SALT_FILE`, which the
worker user cannot read and git ignores; ``AUTOGRADER_CASE_SALT_FILE`` names
another), never in the environment itself: a worker is forked from the grader
and could read the grader's initial environment in its own
``/proc/self/environ``. The grader reads the file only once its workers' fork
server is running, so no worker has the salt in memory either.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CASE_SALT_FILE = Path(__file__).resolve().parent / "case_salt"


def read_case_salt(path: Path | None = None) -> str:
    """The course's salt, or ``""`` when there is none (the handout's cases)."""
    if path is None:
        path = Path(os.environ.get("AUTOGRADER_CASE_SALT_FILE") or CASE_SALT_FILE)
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def case_seed(salt: str, test_id: str) -> int:
    """The seed of one test's generated cases under ``salt``: no two tests share one, and it does not give the salt away."""
    return int.from_bytes(hashlib.sha256(f"{salt}\0{test_id}".encode()).digest()[:16], "big")
