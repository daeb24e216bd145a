"""Comparing what a student returned with what was expected, with messages worth reading.

Modelled on ``torch.testing.assert_close``: the type is checked first, then
the shape, then that values are finite, then the values; a value mismatch
says how many elements differ, the largest absolute and relative difference,
where, and what was allowed.

Tolerances follow the problem, never the student's answer: they are those of
the expected value's dtype (the inputs' dtype, for the reference computed on
the inputs), and never tighter than float32's: a correct implementation may
compute in float32 inside even when its inputs and outputs are float64 (and
autograd then returns float64 gradients with float32's accuracy). Every
realistic mistake (a missing factor, a wrong axis, a wrong sign) is far
outside them. A result returned in a coarser dtype (bfloat16, float16) is
compared as it is, within the same tolerance, and a mismatch says that it
lost precision.

On a fixed input (the course's setting), a mismatch says how far off the
result is and in which direction, never the expected value itself: the same
input comes back in every submission, and a printed value could be pasted in.
Generated inputs change from case to case and show both values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autograder import figures
from autograder.failures import PropertyFailed, WrongResultType
from autograder.mistakes import Mistake, Suspect, diagnose, explained
from autograder.worker.wire import Opaque

if TYPE_CHECKING:
    from autograder.student import Reply

# (rtol, atol relative to the largest expected magnitude)
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-6, 1e-9),
    torch.float32: (2e-4, 2e-5),
    torch.float16: (2e-2, 2e-3),
    torch.bfloat16: (4e-2, 4e-3),
}
SHOW_VALUES_UP_TO = 24
ROW_VALUES_UP_TO = 100
# No student result is held to more than this precision's accuracy (see the module doc).
FINEST_PRECISION = torch.float32


def as_tensor(value: Any, what: str, *, scalar: bool = False) -> torch.Tensor:
    """The student's result as a tensor, or :class:`WrongResultType` saying what it was.

    A tensor or a numpy array is accepted everywhere; a Python number only
    where a scalar is expected.
    """
    if type(value) is torch.Tensor:
        return value
    if value is None:
        raise WrongResultType(f"{what} returned None. Did you forget a return statement?")
    if scalar and isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    expected = "a tensor (a 0-d tensor, or a number)" if scalar else "a tensor or a numpy array"
    raise WrongResultType(f"{what} returned {kind_of(value)}; expected {expected}.")


def as_scalar(value: Any, what: str) -> torch.Tensor:
    """The student's one-number result as a 0-d float64 tensor, or a failure saying what it was instead."""
    tensor = _one_number(as_tensor(value, what, scalar=True), what)
    if not _is_real(tensor):
        raise PropertyFailed(f"{what}: expected a real floating-point value, received dtype {tensor.dtype}.")
    return tensor.detach().to(torch.float64)


def _one_number(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """``tensor`` as a 0-d tensor, or a failure when it holds more or fewer than one value."""
    if tensor.numel() != 1:
        raise PropertyFailed(f"{what}: expected a single number (a 0-d tensor), received shape {tuple(tensor.shape)}.")
    return tensor.reshape(())


def _is_real(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` holds real numbers a comparison can take: floating point, or int32/int64."""
    return not tensor.is_complex() and (tensor.is_floating_point() or tensor.dtype in (torch.int64, torch.int32))


def kind_of(value: Any) -> str:
    """What a received value is, in words: "a list", "an int", "an object of type fractions.Fraction"."""
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def tolerance(expected: torch.dtype) -> tuple[float, float]:
    """The (rtol, atol factor) for a result expected in ``expected``'s dtype, never tighter than :data:`FINEST_PRECISION`'s.

    The received dtype plays no part: a student cannot loosen the comparison
    by returning bfloat16.
    """
    floating = [d for d in (expected, FINEST_PRECISION) if d in TOLERANCES]
    return max((TOLERANCES[d] for d in floating), key=lambda pair: pair[0])


def precision_note(received: torch.dtype, expected: torch.dtype) -> str | None:
    """A note for a mismatch when ``received`` is coarser than the comparison's precision (bfloat16 for float32 inputs)."""
    if not received.is_floating_point:
        return None
    finest = torch.finfo(FINEST_PRECISION).eps
    wanted = max(torch.finfo(expected).eps if expected.is_floating_point else finest, finest)
    if torch.finfo(received).eps <= wanted:
        return None
    shown = str(expected if expected.is_floating_point else FINEST_PRECISION).replace("torch.", "")
    return (
        f"Your result is {str(received).replace('torch.', '')}, less precise than the {shown} this is computed in: "
        f"it lost precision. Compute and return it in the inputs' dtype."
    )


def expect_close(
    received: Any,
    expected: torch.Tensor,
    *,
    what: str,
    scalar: bool = False,
    rtol: float | None = None,
    inputs: dict[str, torch.Tensor] | None = None,
    fixed: bool = False,
    hint: str | None = None,
    mistakes: Sequence[Suspect] = (),
) -> torch.Tensor:
    """Check that ``received`` equals ``expected`` within tolerance; return it as a tensor.

    ``scalar`` accepts any one-element tensor (or number) for a 0-d result.
    ``inputs`` are shown in the message when they are small enough to read.
    ``fixed`` marks a fixed input (the course's setting): the message then
    says how far off the result is, not what was expected. ``hint`` (what to
    check) ends the message of a mismatch; ``mistakes`` are known mistakes
    that may explain one (:mod:`autograder.mistakes`): the first that fits
    replaces ``hint`` with its own.
    """
    if scalar and figures.active():
        relative, atol_factor = _tolerances(expected, rtol)
        scale = float(expected.abs().max()) if expected.numel() and bool(torch.isfinite(expected).all()) else 0.0
        figures.value(what, expected, received, rtol=relative, atol=atol_factor * scale + 1e-30)
    try:
        return _expect_close(received, expected, what=what, scalar=scalar, rtol=rtol, fixed=fixed)
    except PropertyFailed as failure:
        lines = [str(failure)]
        shown = [
            f"{name} =\n{format_values(value)}" for name, value in (inputs or {}).items() if value.numel() <= SHOW_VALUES_UP_TO
        ]
        if shown:
            lines += ["The inputs were:", *shown]
        mistake = known_mistake(received, expected, mistakes, rtol=rtol, scalar=scalar)
        if mistake is not None:
            raise explained("\n".join(lines), mistake) from None
        if hint:
            lines.append(hint)
        if len(lines) > 1:
            raise PropertyFailed("\n".join(lines)) from None
        raise


def known_mistake(
    received: Any, expected: torch.Tensor, mistakes: Sequence[Suspect], *, rtol: float | None = None, scalar: bool = False
) -> Mistake | None:
    """The first of ``mistakes`` that explains ``received``, within the tolerance ``expected`` is held to, or ``None``."""
    if not mistakes:
        return None
    if isinstance(received, np.ndarray):
        received = torch.from_numpy(received)
    if isinstance(received, (int, float, np.floating)) and not isinstance(received, bool):
        received = torch.tensor(float(received))
    if type(received) is not torch.Tensor or not _is_real(received):
        return None
    got = received.detach().to(torch.float64)
    if scalar and got.numel() == 1:
        got = got.reshape(())
    tolerances = _tolerances(expected, rtol)

    def close(got: torch.Tensor, predicted: torch.Tensor) -> bool:
        if scalar and predicted.numel() == 1:
            predicted = predicted.reshape(())
        if tuple(got.shape) != tuple(predicted.shape) or not bool(torch.isfinite(got).eq(torch.isfinite(predicted)).all()):
            return False
        return not bool(_Mismatch(got, predicted, *tolerances).mask.any())

    return diagnose(got, mistakes, close)


def _expect_close(
    received: Any, expected: torch.Tensor, *, what: str, scalar: bool, rtol: float | None, fixed: bool
) -> torch.Tensor:
    tensor, got, want = _comparable(received, expected, what=what, scalar=scalar, fixed=fixed)
    mismatch = _Mismatch(got, want, *_tolerances(expected, rtol))
    if not bool(mismatch.mask.any()):
        return tensor
    lines = _fixed_mismatch(what, got, want, mismatch) if fixed else _mismatch(what, got, want, mismatch)
    note = precision_note(tensor.dtype, expected.dtype)
    raise PropertyFailed("\n".join([*lines, *([note] if note else [])]))


def _mismatch(what: str, got: torch.Tensor, want: torch.Tensor, mismatch: _Mismatch) -> list[str]:
    """Expected against received: the largest differences, and all values when there are few."""
    worst = _unravel(int(torch.where(mismatch.mask, mismatch.difference, -1.0).argmax()), want.shape)
    lines = [
        f"{what}: {int(mismatch.mask.sum())} of {mismatch.mask.numel()} values differ from the expected ones."
        if want.dim() > 0
        else f"{what}: expected {want.item():.8g}, received {got.item():.8g}.",
        f"Largest absolute difference: {float(mismatch.difference[worst]):.3g}"
        + (f" at index {worst} (expected {want[worst].item():.6g}, received {got[worst].item():.6g})" if want.dim() > 0 else ""),
        mismatch.allowed(),
    ]
    if 0 < want.numel() <= SHOW_VALUES_UP_TO and want.dim() > 0:
        lines.append(f"Expected:\n{format_values(want)}\nReceived:\n{format_values(got)}")
    return lines


def _fixed_mismatch(what: str, got: torch.Tensor, want: torch.Tensor, mismatch: _Mismatch) -> list[str]:
    """How far off, and which way, without the expected values (see the module doc)."""
    allowed = f"(allowed: rtol={mismatch.rtol:g})"
    if want.dim() == 0:
        return [f"{what}: your value is {_how_far(float(got), float(want))} {allowed}."]
    worst = _unravel(int(torch.where(mismatch.mask, mismatch.relative, -1.0).argmax()), want.shape)
    lines = [
        f"{what}: {int(mismatch.mask.sum())} of {mismatch.mask.numel()} values differ from the expected ones.",
        f"The largest relative difference is at index {worst}, where your value is "
        f"{_how_far(float(got[worst]), float(want[worst]))} {allowed}.",
    ]
    expected_norm = float(want.norm())
    if expected_norm > 0:
        lines.append(f"In norm, your result is about {_one_digit(float(got.norm()) / expected_norm)} times the expected one.")
    return lines


def _how_far(got: float, want: float) -> str:
    """How ``got`` stands against ``want``, in words, to one significant digit: about 3% too large, about 2 times too small.

    One digit says what kind of mistake it is (a factor, a slightly different
    formula) without handing out the expected value: with more digits,
    dividing the received value by the ratio would give it back.
    """
    if want == 0:
        return "not 0 (the expected value is 0)"
    if got == 0:
        return "0 (the expected value is not)"
    if (got > 0) != (want > 0):
        return "of the wrong sign"
    ratio = got / want
    direction = "too large" if abs(got) > abs(want) else "too small"
    if 0.5 < ratio < 2:
        return f"about {_one_digit(abs(ratio - 1) * 100)}% {direction}"
    return f"about {_one_digit(max(ratio, 1 / ratio))} times {direction}"


def _one_digit(value: float) -> str:
    """``value`` rounded to one significant digit, written plainly: 0.003, 3, 50, 2000."""
    return f"{float(f'{value:.1g}'):f}".rstrip("0").rstrip(".")


def expect_matrix(
    received: Any,
    expected: torch.Tensor,
    *,
    what: str,
    row_label: Callable[[int], str] = lambda row: "",
    column_label: Callable[[int], str] = lambda column: "",
    mistakes: Sequence[Suspect] = (),
) -> torch.Tensor:
    """Like :func:`expect_close` for a matrix; a mismatch names the first differing row and entry.

    ``row_label`` and ``column_label`` say what a row or column stands for
    (" (output pixel (0, 1))"), so the student can find the mistake; ``mistakes`` as for :func:`expect_close`.
    """
    figures.matrix(what, expected, received)
    try:
        return _expect_matrix(received, expected, what=what, row_label=row_label, column_label=column_label)
    except PropertyFailed as failure:
        mistake = known_mistake(received, expected, mistakes)
        if mistake is None:
            raise
        raise explained(str(failure), mistake) from None


def _expect_matrix(
    received: Any,
    expected: torch.Tensor,
    *,
    what: str,
    row_label: Callable[[int], str],
    column_label: Callable[[int], str],
) -> torch.Tensor:
    tensor, got, want = _comparable(received, expected, what=what, scalar=False)
    mismatch = _Mismatch(got, want, *_tolerances(expected, None))
    if not bool(mismatch.mask.any()):
        return tensor
    row = int(torch.nonzero(mismatch.mask.any(dim=1))[0])
    column = int(torch.nonzero(mismatch.mask[row])[0])
    note = precision_note(tensor.dtype, expected.dtype)
    lines = [
        f"{what}: {int(mismatch.mask.sum())} of {mismatch.mask.numel()} entries differ. The first is in row {row}"
        f"{row_label(row)}, column {column}{column_label(column)}: expected {want[row, column].item():.6g}, "
        f"received {got[row, column].item():.6g}.",
        mismatch.allowed(),
    ]
    if want.shape[1] <= ROW_VALUES_UP_TO:
        lines.append(
            f"Expected row {row}:\n{format_values(want[row], ROW_VALUES_UP_TO)}\n"
            f"Received row {row}:\n{format_values(got[row], ROW_VALUES_UP_TO)}"
        )
    raise PropertyFailed("\n".join([*lines, *([note] if note else [])]))


def _comparable(
    received: Any, expected: torch.Tensor, *, what: str, scalar: bool, fixed: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The student's tensor, and both sides in float64, once type, shape, dtype and finiteness are checked."""
    tensor = as_tensor(received, what, scalar=scalar)
    expected = expected.detach()
    if scalar:
        tensor = _one_number(tensor, what)
        expected = expected.reshape(())
    elif tuple(tensor.shape) != tuple(expected.shape):
        raise PropertyFailed(f"{what}: expected shape {tuple(expected.shape)}, received shape {tuple(tensor.shape)}.")
    if not _is_real(tensor):
        raise PropertyFailed(f"{what}: expected real floating-point values, received dtype {tensor.dtype}.")
    got = tensor.to(torch.float64)
    want = expected.to(torch.float64)
    bad = torch.isfinite(want) & ~torch.isfinite(got)
    if bool(bad.any()):
        where = _unravel(int(torch.nonzero(bad.reshape(-1))[0]), want.shape)
        expected_there = "a finite value" if fixed else f"{want[where].item():.6g}"
        raise PropertyFailed(
            f"{what}: received {got[where].item()} at index {where}, where {expected_there} was expected "
            f"({int(bad.sum())} of {bad.numel()} values are NaN or infinite)."
        )
    return tensor, got, want


def _tolerances(expected: torch.Tensor, rtol: float | None) -> tuple[float, float]:
    default_rtol, atol_factor = tolerance(expected.dtype)
    return (default_rtol if rtol is None else rtol), atol_factor


class _Mismatch:
    """Where ``got`` is outside the tolerance around ``want`` (finite expected values only)."""

    def __init__(self, got: torch.Tensor, want: torch.Tensor, rtol: float, atol_factor: float) -> None:
        finite = torch.isfinite(want)
        scale = float(want[finite].abs().max()) if bool(finite.any()) else 0.0
        self.rtol = rtol
        self.atol = atol_factor * scale + 1e-30
        self.difference = (got - want).abs()
        self.mask = (self.difference > self.atol + rtol * want.abs()) & finite
        self.relative = self.difference / want.abs().clamp_min(self.atol)

    def allowed(self) -> str:
        if self.atol > 1e-20:
            return (
                f"Largest relative difference: {float(self.relative[self.mask].max()):.3g} "
                f"(allowed: rtol={self.rtol:g}, atol={self.atol:.3g})."
            )
        return "The expected values are all 0, and so must yours be."


def _unravel(flat: int, shape: torch.Size) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, tuple(shape))) if len(shape) else ()


def format_values(tensor: torch.Tensor, limit: int = SHOW_VALUES_UP_TO) -> str:
    """A tensor's values, compactly, for a message (all of them up to ``limit``, else the ends)."""
    with np.printoptions(precision=5, suppress=False, linewidth=100, threshold=limit):
        return str(tensor.detach().to(torch.float64).numpy())


def proportional_factor(received: torch.Tensor, expected: torch.Tensor) -> float | None:
    """The one positive factor ``f`` with ``received`` = ``f * expected`` (within the usual tolerance), or ``None``.

    For results whose scale is a convention the student may get wrong on its
    own (a loss averaged instead of summed over the batch): the shape and
    the pattern are right even when the scale is not.
    """
    if tuple(received.shape) != tuple(expected.shape):
        return None
    got, want = received.detach().to(torch.float64), expected.detach().to(torch.float64)
    if not bool(torch.isfinite(got).all()) or not bool(want.ne(0).any()):
        return None
    factor = float((got * want).sum() / (want * want).sum())
    if factor <= 0:
        return None
    mismatch = _Mismatch(got, factor * want, *_tolerances(expected, None))
    return None if bool(mismatch.mask.any()) else factor


def expect_gradients(
    reply: Reply,
    expected: Sequence[torch.Tensor],
    *,
    what: str,
    names: Sequence[str],
    mistakes: Sequence[Suspect] | Callable[[int], Sequence[Suspect]] = (),
    detached: Sequence[Suspect] = (),
) -> None:
    """The student's gradients (``reply.grads``) match ``expected``, one per input in ``names``.

    ``mistakes`` (see :func:`expect_close`) explain a wrong gradient of the first input; for a
    function of several inputs whose gradients a mistake changes (the style loss's layers), it
    may be a function of the input's index that returns the suspects for that input's gradient.

    A result that autograd cannot differentiate fails, unless every expected
    gradient is zero: a loss that is a constant 0 for this input (a 1-pixel
    image has no neighbours) is correct whether or not it is connected.
    ``detached`` are known mistakes that explain such a result from its value
    (``reply.value``; a prediction is held to the gradients' tolerance): a
    loss whose value is right yet has no gradient was cut off from autograd
    (``.item()``, numpy, ``.detach()``, ``Variable(loss)``).
    """
    if reply.not_differentiable is not None:
        if all(not bool(g.any()) for g in expected):
            return
        failure = PropertyFailed(f"{what} is not differentiable: {reply.not_differentiable}")
        dtype = expected[0].dtype if expected else FINEST_PRECISION
        mistake = known_mistake(reply.value, torch.zeros((), dtype=dtype), detached)
        if mistake is None:
            raise failure
        raise explained(str(failure), mistake)
    for index, (name, received, wanted) in enumerate(zip_strict(names, reply.grads, expected)):
        suspects = mistakes(index) if callable(mistakes) else mistakes if index == 0 else ()
        expect_close(received, wanted, what=f"The gradient of {what} with respect to {name}", mistakes=suspects)


def zip_strict(*iterables: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """``zip(*iterables, strict=True)`` on Python 3.9 too (the handout's check runs there): ValueError if a length differs."""
    missing = object()
    for items in itertools.zip_longest(*iterables, fillvalue=missing):
        if any(item is missing for item in items):
            raise ValueError("zip_strict: the iterables have different lengths")
        yield items


def expect(condition: bool, message: str) -> None:
    """A property that needs no reference: fail with ``message`` unless ``condition``."""
    if not condition:
        raise PropertyFailed(message)
