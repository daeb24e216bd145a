"""One grading process of ``batch`` (:mod:`autograder.batch`): ``python -m autograder.batch_job``.

It reads the run's configuration (:meth:`RunConfig.to_json`) as its first line
on stdin, starts its fork server, then grades one submission per further line
(``{"submission": PATH, "results": PATH, "html": PATH or null}``) exactly as ``grade`` does, writing
each report, and answers each with one line of JSON on its stdout. Everything
else it prints goes to stderr (the batch's log), so nothing a grading prints
can be taken for an answer. It ends when stdin does, and is killed when the
batch that started it dies (``PR_SET_PDEATHSIG``; its argument is the batch's
process id), so a batch killed midway leaves no grading behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Be killed when ``parent`` (the batch) dies; end now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def main() -> int:
    if len(sys.argv) > 1:
        die_with(int(sys.argv[1]))
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # what anything else prints goes to the log, not into the answers
    from autograder import grade
    from autograder.config import RunConfig

    config = RunConfig.from_json(sys.stdin.readline())
    with grade.fork_server_or_error(config) as server:
        for line in sys.stdin:
            request = json.loads(line)
            html = Path(request["html"]) if request.get("html") else None
            report = grade.grade_and_write(
                Path(request["submission"]), Path(request["results"]), config, server, time.monotonic(), html=html
            )
            failed = bool(report["extra_data"].get("autograder_failed"))
            answers.write(json.dumps({"score": report["score"], "autograder_failed": failed}) + "\n")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # torch's teardown is slow, and nothing is left to do
