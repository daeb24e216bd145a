"""A worker started as a new Python process, where no fork server can be used.

``python -m autograder.worker.spawned SPEC`` is what
:class:`autograder.sandbox.SpawnedWorkers` starts for each problem: on macOS
(which has no ``SOCK_SEQPACKET`` for the fork server's control socket), and in
a student's ``check.py --spawn``. It becomes the same worker a fork server
forks (:func:`autograder.worker.server._run_child`), speaking the same wire
format, after doing itself what the fork server's memory holds already: the
imports of :func:`autograder.worker.server.preload`.

``SPEC`` is a JSON object:

``message``
    the fork server's spawn request, ``{"op": "spawn", "workdir": str, "course": [str]}``;
``fds``
    the inherited file descriptors, by number: the request socket, the
    output pipe (also this process's stdout and stderr until then), and the
    pipe on which the worker says that it is ready (what was put in place,
    as JSON) and which it then closes;
``course_parts``
    the parts of the course's code, each to the file it is compiled from;
``config``
    the :class:`autograder.worker.confine.Confinement`, as JSON;
``path``
    the grader's ``sys.path``, which a forked worker would inherit (this
    process starts with the harness's root alone on ``PYTHONPATH``, and the
    grader's user site-packages are not where its fixed ``HOME`` points).

Runs on Python 3.9 to 3.13 (a student's own check), like everything it imports.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    """Become a worker as the spec in ``argv[1]`` says; never returns once the worker runs."""
    spec = json.loads(argv[1])
    sys.path[:] = [str(entry) for entry in spec["path"]]
    os.environ.pop("PYTHONPATH", None)  # as a forked worker's: nothing but the fixed environment

    from autograder.worker import confine, server

    server.preload()
    server._run_child(
        dict(spec["message"]),
        [int(fd) for fd in spec["fds"]],
        {str(name): str(path) for name, path in spec["course_parts"].items()},
        confine.Confinement.from_json(spec["config"]),
    )


if __name__ == "__main__":
    main(sys.argv)
