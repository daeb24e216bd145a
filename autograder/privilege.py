"""The worker user: who runs student code, and what of the grader's it must not reach.

When the grader runs as root (Gradescope runs everything as root), student
code runs as an unprivileged user that ``setup.sh`` creates
(``autograder-worker``; the ``AUTOGRADER_WORKER_USER`` setting). That user
must not read or write the grader's source, the reference solution or the
graded suites: :func:`protect_grader_files` takes every permission for other
users off the autograder's folders, except the Python environment workers
import from. The fork server then checks, as that user, that this holds and
that the Python installation is readable (``ForkServer.probe``); grading stops
with an autograder error when it does not.

When the grader is not root (a laptop), there is no other user to become:
workers run as the grader's user, with the same limits otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
import sys
from pathlib import Path

from autograder.settings import Limits
from autograder.worker.confine import Confinement, python_installation

HARNESS_ROOT = Path(__file__).resolve().parent.parent
# What a worker user must not read: the grader, the reference solution, the harness's tests, their history.
PROTECTED = ("autograder", "reference", "tests", "bench", ".git", ".ci")


class PrivilegeError(Exception):
    """Student code cannot be run safely here; the message says how to fix it."""


def worker_confinement(limits: Limits) -> Confinement:
    """The confinement of workers: the limits, and the worker user when the grader is root."""
    base = limits.confinement()
    if os.geteuid() != 0:
        return base
    name = str(limits.worker_user)
    if not name:
        print("warning: AUTOGRADER_WORKER_USER is empty: student code runs as root", file=sys.stderr)
        return base
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PrivilegeError(
            f"the grader runs as root and the worker user {name!r} does not exist, so student code cannot be run "
            "safely: run ./setup.sh as root (it creates the user), or set AUTOGRADER_WORKER_USER to an "
            "unprivileged user"
        ) from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise PrivilegeError(f"the worker user {name!r} has user or group id 0; it must be unprivileged")
    return dataclasses.replace(base, user=name, uid=entry.pw_uid, gid=entry.pw_gid)


def protect_grader_files(root: Path = HARNESS_ROOT) -> list[Path]:
    """Take other users' permissions off the grader's folders (root only); the folders changed.

    The Python environment the workers import from stays readable, also when
    it lies inside ``root`` (``.venv``).
    """
    environment = {Path(p).resolve() for p in python_installation()}
    changed = []
    for name in PROTECTED:
        path = root / name
        if not path.exists() or path.is_symlink():
            continue
        if any(path == p or path in p.parents for p in environment):
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & ~0o077)
            changed.append(path)
    return changed


def must_stay_hidden(root: Path = HARNESS_ROOT) -> list[str]:
    """Files a worker user must not be able to open (checked by the fork server's probe)."""
    return [str(root / "reference" / "style_modules" / "content_loss.py"), str(root / "autograder" / "problems" / "__init__.py")]


def must_be_readable() -> list[str]:
    """Folders a worker must be able to import from: the prefixes, the standard library and site-packages."""
    return list(python_installation())
