"""The ways a graded test can fail, as exception types.

Two families:

* ``Exception`` subclasses (:class:`PropertyFailed`, :class:`StudentRaised`)
  depend on the input; hypothesis catches them and shrinks the input to the
  smallest one that still fails, which is what the student is shown.
* :class:`Abort` subclasses are ``BaseException``: hypothesis lets them through
  at once, without shrinking or retrying. They are for failures that no smaller
  input explains and that may be expensive to repeat: code that is not
  implemented yet, a file that is missing or does not import, a worker that
  hung or crashed, a result of the wrong type.

Every class carries a message written for the student; the report shows it
without a stack trace.
"""

from __future__ import annotations


class PropertyFailed(AssertionError):
    """A graded property does not hold for the current input."""


class StudentRaised(Exception):
    """The student's code raised an exception for the current input."""

    def __init__(self, what: str, error_type: str, message: str, traceback: str) -> None:
        self.what = what
        self.error_type = error_type
        self.location = _last_place(traceback)
        text = f"{what} raised {error_type}: {message}"
        if traceback:
            text += f"\nWhere, in your code:\n{traceback.rstrip()}"
        super().__init__(text)


class Abort(BaseException):
    """A failure that ends the test at once (see the module doc)."""


class NotImplementedYet(Abort):
    """The student's function still raises ``NotImplementedError``."""


class SubmissionUnusable(Abort):
    """A file the problem needs is missing or cannot be imported."""


class WorkerFailure(Abort):
    """The worker exceeded a limit, crashed, or broke the protocol."""


class WrongResultType(Abort):
    """The student's function returned something of the wrong type."""


def _last_place(traceback: str) -> str:
    """Where a traceback ends, as ``file, line N`` (its last ``File "...", line N`` entry), or ``""``."""
    for line in reversed(traceback.splitlines()):
        text = line.strip()
        if text.startswith('File "'):
            name, _, rest = text[len('File "') :].partition('", line ')
            return f"{name}, line {rest.partition(',')[0]}"
    return ""
