"""A log of every value the student's code returns in one grading run: ``validate``'s probe of a surviving mutant.

With ``AUTOGRADER_PROBE_LOG=PATH`` (set by ``validate`` only; never on
Gradescope, never in the handout), :class:`autograder.student.StudentCode`
hands each reply here (the value, gradients, recorded model inputs) and the
run writes them, in order, to ``PATH`` as a ``.npz`` of plain arrays when it
ends. Two runs of the same suites on two submissions that pass every test
make the same calls, so their logs compare the two submissions' outputs on
every input the suites gave them: a mutant whose log equals the reference's
within 1e-12 computes the same thing there, and is equivalent on that probe.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

ENVIRONMENT = "AUTOGRADER_PROBE_LOG"
TOLERANCE = 1e-12
_entries: list[tuple[str, np.ndarray]] = []


def enabled() -> bool:
    return bool(os.environ.get(ENVIRONMENT))


def log(what: str, value: Any) -> None:
    """Keep ``value`` (any reply: tensors, numbers, lists, text), flattened to arrays, under ``what``."""
    for index, array in enumerate(_arrays(value)):
        _entries.append((f"{what}[{index}]", array))


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.is_complex():
            tensor = torch.view_as_real(tensor)
        return [tensor.to(torch.float64).numpy()]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return [value.astype(np.float64)]
    if isinstance(value, (bool, int, float)):
        return [np.array(float(value))]
    if isinstance(value, (list, tuple)):
        return [array for item in value for array in _arrays(item)]
    if isinstance(value, dict):
        return [array for key in sorted(value, key=repr) for array in [np.array(repr(key)), *_arrays(value[key])]]
    return [np.array(repr(value))]


def write_log() -> None:
    """Write what was kept to ``AUTOGRADER_PROBE_LOG`` (the command line does, as the run ends)."""
    write(Path(os.environ[ENVIRONMENT]))


def write(path: Path) -> None:
    names = np.array([name for name, _ in _entries])
    arrays: dict[str, Any] = {f"a{index}": array for index, (_, array) in enumerate(_entries)}
    np.savez(path, names=names, **arrays)


def read(path: Path) -> list[tuple[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        names = [str(name) for name in data["names"]]
        return [(name, data[f"a{index}"]) for index, name in enumerate(names)]


def same(first: list[tuple[str, np.ndarray]], second: list[tuple[str, np.ndarray]], tolerance: float = TOLERANCE) -> bool:
    """Whether two logs hold the same calls with the same values, numbers within ``tolerance`` (relative and absolute)."""
    if len(first) != len(second):
        return False
    for (name, a), (other, b) in zip(first, second):  # noqa: B905 - the lengths are checked; Python 3.9 has no strict
        if name != other or a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind == "f":
            if not np.allclose(a, b, rtol=tolerance, atol=tolerance, equal_nan=True):
                return False
        elif not np.array_equal(a, b):
            return False
    return True
