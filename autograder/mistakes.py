"""Known mistakes: when a wrong result is what a common mistake gives, the message says which mistake.

A graded comparison (:func:`autograder.compare.expect_close` and its kin) takes
``mistakes``, a list of :class:`Suspect`: a :class:`Mistake` and either what
that mistake would return for the current input (``predicts``) or a test of
the received value (``matches``). Only when the comparison fails are they
looked at, in order; the first that fits adds its hint to the message, and
the failure carries the mistake (``PropertyFailed.mistake``), so that a report
can show one root cause once (:mod:`autograder.feedback`).

A prediction may use the reference: in the students' handout, where there is
none, it raises and the suspect is passed over (the check then gives the
hints that need no reference). A suspect never fails a test: whatever it
raises, it is passed over.

Every mistake is registered here (:data:`MISTAKES`) with the scenarios that
make it (``tests/scenarios/<name>``); ``tests/test_scenarios.py`` checks that
each hint fires on its scenarios and on no correct variant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from autograder.failures import PropertyFailed, StudentRaised

MISTAKES: dict[str, Mistake] = {}
"""Every known mistake, by key (``problem.name``)."""
HINT_PREFIX = "This looks like a known mistake: "


@dataclass(frozen=True)
class Mistake:
    """A mistake students make, and the hint a failure that shows it gets.

    ``key`` is ``<problem key>.<short name>``; ``says`` is the hint, one or two
    sentences: what the numbers show and what in the code gives them;
    ``scenarios`` are the scenario folders that make it.
    """

    key: str
    says: str
    scenarios: tuple[str, ...] = ()

    @property
    def problem(self) -> str:
        return self.key.partition(".")[0]

    @property
    def hint(self) -> str:
        """The line a failure's message ends with."""
        return HINT_PREFIX + self.says


def known(key: str, says: str, *scenarios: str) -> Mistake:
    """Register the mistake ``key`` (see :class:`Mistake`) and return it; a key is registered once."""
    mistake = Mistake(key, says, tuple(scenarios))
    if MISTAKES.get(key, mistake) != mistake:
        raise ValueError(f"the known mistake {key!r} is registered twice, differently")
    MISTAKES[key] = mistake
    return mistake


@dataclass(frozen=True)
class Suspect:
    """A mistake that may explain a failed comparison: what it would return (``predicts``), or a test (``matches``)."""

    mistake: Mistake
    predicts: Callable[[], Any] | None = None
    matches: Callable[[torch.Tensor], bool] | None = None


def diagnose(
    received: torch.Tensor, suspects: Sequence[Suspect], close: Callable[[torch.Tensor, torch.Tensor], bool]
) -> Mistake | None:
    """The first suspect's mistake that fits ``received`` (float64), or ``None``.

    ``close(received, predicted)`` is the comparison's own tolerance, so a
    mistake fits as closely as a right answer would.
    """
    for suspect in suspects:
        try:
            if suspect.predicts is not None:
                predicted = suspect.predicts()
                if isinstance(predicted, (tuple, list)) and len(predicted) == 1:
                    predicted = predicted[0]
                predicted = torch.as_tensor(predicted).detach().to(torch.float64)
                if tuple(predicted.shape) == tuple(received.shape) and close(received, predicted):
                    return suspect.mistake
            elif suspect.matches is not None and suspect.matches(received):
                return suspect.mistake
        except Exception:  # noqa: BLE001 - a suspect that cannot be checked (no reference in the handout) is passed over
            continue
    return None


def with_mistake(failure: PropertyFailed, mistake: Mistake | None) -> PropertyFailed:
    """``failure``, carrying the known mistake that explains it (``failure.mistake``), for reports to group by."""
    failure.mistake = mistake  # type: ignore[attr-defined]
    return failure


def explained(message: str, mistake: Mistake | None) -> PropertyFailed:
    """The failure saying ``message``, ended by the hint of ``mistake`` (if any) and carrying it as its cause."""
    return with_mistake(PropertyFailed(message if mistake is None else f"{message}\n{mistake.hint}"), mistake)


@contextlib.contextmanager
def raising(mistake: Mistake, when: Callable[[StudentRaised], bool]) -> Iterator[None]:
    """Student code that raises the error ``mistake`` makes (``when`` tells it by the error) fails with its hint.

    Some mistakes show as an exception, not as numbers: ``view(1, C, H*W)``
    raises on a batch of two. The failure keeps the student's error and where
    it was raised, ends with the hint, and carries the mistake as its cause.
    """
    try:
        yield
    except StudentRaised as error:
        try:
            fits = when(error)
        except Exception:  # noqa: BLE001 - as with a suspect, a test that cannot be made is passed over
            fits = False
        if not fits:
            raise
        raise explained(str(error), mistake) from None


def reported(predict: Callable[[], Any]) -> Callable[[], Any]:
    """``predict``, run only for the failure that is reported, not for each failing case hypothesis shrinks through.

    For a prediction that runs the reference on the case (a whole optimisation,
    a model's backward pass): it takes about as long as the student's code,
    and for every failing case it would eat the problem's time budget. The
    reported failure is hypothesis's final replay of the smallest case, or a
    test without generated cases (the course's setting); elsewhere the
    prediction raises, and the suspect is passed over.
    """

    def run() -> Any:
        from hypothesis.control import current_build_context
        from hypothesis.errors import InvalidArgument

        try:
            final = bool(getattr(current_build_context(), "is_final", True))
        except InvalidArgument:  # no generated case: the course's setting, or the check's replay
            final = True
        if not final:
            raise LookupError("a failing case hypothesis shrinks past, not the reported one")
        return predict()

    return run
