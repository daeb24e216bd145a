"""Comparing what a student returned with what was expected, with messages worth reading.

Modelled on ``torch.testing.assert_close``: the type is checked first, then
the shape, then that values are finite, then the values; a value mismatch
says how many elements differ, the largest absolute and relative difference,
where, and what was allowed. Tolerances depend on the coarsest floating dtype
involved, and are never tighter than float32's: a correct implementation may
compute in float32 inside even when its inputs and outputs are float64 (and
autograd then returns float64 gradients with float32's accuracy). Every
realistic mistake (a missing factor, a wrong axis, a wrong sign) is far
outside them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from autograder.failures import PropertyFailed, WrongResultType
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


def kind_of(value: Any) -> str:
    """What a received value is, in words: "a list", "an int", "an object of type fractions.Fraction"."""
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def tolerance(*dtypes: torch.dtype) -> tuple[float, float]:
    """The (rtol, atol factor) of the coarsest floating dtype among ``dtypes`` and :data:`FINEST_PRECISION`."""
    floating = [d for d in (*dtypes, FINEST_PRECISION) if d in TOLERANCES]
    return max((TOLERANCES[d] for d in floating), key=lambda pair: pair[0])


def expect_close(
    received: Any,
    expected: torch.Tensor,
    *,
    what: str,
    scalar: bool = False,
    rtol: float | None = None,
    inputs: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Check that ``received`` equals ``expected`` within tolerance; return it as a tensor.

    ``scalar`` accepts any one-element tensor (or number) for a 0-d result.
    ``inputs`` are shown in the message when they are small enough to read.
    """
    try:
        return _expect_close(received, expected, what=what, scalar=scalar, rtol=rtol)
    except PropertyFailed as failure:
        shown = [
            f"{name} =\n{format_values(value)}" for name, value in (inputs or {}).items() if value.numel() <= SHOW_VALUES_UP_TO
        ]
        if shown:
            raise PropertyFailed("\n".join([str(failure), "The inputs were:", *shown])) from None
        raise


def _expect_close(received: Any, expected: torch.Tensor, *, what: str, scalar: bool, rtol: float | None) -> torch.Tensor:
    tensor, got, want = _comparable(received, expected, what=what, scalar=scalar)
    mismatch = _Mismatch(got, want, *_tolerances(tensor, expected, rtol))
    if not bool(mismatch.mask.any()):
        return tensor
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
    raise PropertyFailed("\n".join(lines))


def expect_matrix(
    received: Any,
    expected: torch.Tensor,
    *,
    what: str,
    row_label: Callable[[int], str] = lambda row: "",
    column_label: Callable[[int], str] = lambda column: "",
) -> torch.Tensor:
    """Like :func:`expect_close` for a matrix; a mismatch names the first differing row and entry.

    ``row_label`` and ``column_label`` say what a row or column stands for
    (" (output pixel (0, 1))"), so the student can find the mistake.
    """
    tensor, got, want = _comparable(received, expected, what=what, scalar=False)
    mismatch = _Mismatch(got, want, *_tolerances(tensor, expected, None))
    if not bool(mismatch.mask.any()):
        return tensor
    row = int(torch.nonzero(mismatch.mask.any(dim=1))[0])
    column = int(torch.nonzero(mismatch.mask[row])[0])
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
    raise PropertyFailed("\n".join(lines))


def _comparable(
    received: Any, expected: torch.Tensor, *, what: str, scalar: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The student's tensor, and both sides in float64, once type, shape, dtype and finiteness are checked."""
    tensor = as_tensor(received, what, scalar=scalar)
    expected = expected.detach()
    if scalar:
        if tensor.numel() != 1:
            raise PropertyFailed(f"{what}: expected a single number (a 0-d tensor), received shape {tuple(tensor.shape)}.")
        tensor = tensor.reshape(())
        expected = expected.reshape(())
    elif tuple(tensor.shape) != tuple(expected.shape):
        raise PropertyFailed(f"{what}: expected shape {tuple(expected.shape)}, received shape {tuple(tensor.shape)}.")
    if tensor.is_complex() or not (tensor.is_floating_point() or tensor.dtype in (torch.int64, torch.int32)):
        raise PropertyFailed(f"{what}: expected real floating-point values, received dtype {tensor.dtype}.")
    got = tensor.to(torch.float64)
    want = expected.to(torch.float64)
    bad = torch.isfinite(want) & ~torch.isfinite(got)
    if bool(bad.any()):
        where = _unravel(int(torch.nonzero(bad.reshape(-1))[0]), want.shape)
        raise PropertyFailed(
            f"{what}: received {got[where].item()} at index {where}, where {want[where].item():.6g} was expected "
            f"({int(bad.sum())} of {bad.numel()} values are NaN or infinite)."
        )
    return tensor, got, want


def _tolerances(received: torch.Tensor, expected: torch.Tensor, rtol: float | None) -> tuple[float, float]:
    default_rtol, atol_factor = tolerance(received.dtype, expected.dtype)
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


def expect_gradients(reply: Reply, expected: Sequence[torch.Tensor], *, what: str, names: Sequence[str]) -> None:
    """The student's gradients (``reply.grads``) match ``expected``, one per input in ``names``.

    A result that autograd cannot differentiate fails, unless every expected
    gradient is zero: a loss that is a constant 0 for this input (a 1-pixel
    image has no neighbours) is correct whether or not it is connected.
    """
    if reply.not_differentiable is not None:
        if all(not bool(g.any()) for g in expected):
            return
        raise PropertyFailed(f"{what} is not differentiable: {reply.not_differentiable}")
    for name, received, wanted in zip(names, reply.grads, expected, strict=True):
        expect_close(received, wanted, what=f"The gradient of {what} with respect to {name}")


def expect(condition: bool, message: str) -> None:
    """A property that needs no reference: fail with ``message`` unless ``condition``."""
    if not condition:
        raise PropertyFailed(message)
