"""Hypothesis strategies and seeded inputs shared by the graded suites.

Tensors are not drawn element by element: a case holds a shape, a dtype and
a seed, and the tensor is made from them with a seeded generator (numpy's
legacy ``RandomState``, stable across versions: :func:`seeded`). Cases stay
small and readable in a failure message, shrinking works on the shape and the
seed, and the grader and the student see exactly the same numbers.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch
from hypothesis import strategies as st

from autograder.compare import zip_strict

FLOAT_DTYPES = (torch.float32, torch.float64)


def seeded(shape: tuple[int, ...], dtype: torch.dtype, seed: int, *, salt: int = 0, scale: float = 1.0) -> torch.Tensor:
    """A standard-normal tensor (times ``scale``) determined by ``seed`` and ``salt`` (both from 0 to 2**32 - 1).

    Drawn with numpy's legacy ``RandomState``, whose numbers numpy keeps the
    same from release to release (NEP 19), unlike torch's generators and
    numpy's ``Generator``: a case's inputs can be made again, the same, with
    whatever torch and numpy a student has (the handout's check, issue 11).
    """
    state = np.random.RandomState(np.array([seed, salt], dtype=np.uint32))
    values = np.asarray(state.standard_normal(shape) * scale, dtype=np.float64)
    return torch.from_numpy(values).to(dtype)


def dtypes() -> st.SearchStrategy[torch.dtype]:
    return st.sampled_from(FLOAT_DTYPES)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**20)


def loss_weights(*, zero: bool = True) -> st.SearchStrategy[float]:
    """Loss weights: 0 (if allowed), round values, and values across six orders of magnitude."""
    values = st.sampled_from([1.0, 0.5, 6e-2, 2.0, 1e3]) | st.floats(
        min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False
    )
    return (st.just(0.0) | values) if zero else values


def scales() -> st.SearchStrategy[float]:
    """Magnitudes of generated values."""
    return st.sampled_from([1.0, 1e-2, 10.0])


def synthetic_picture(width: int, height: int, seed: int) -> PIL.Image.Image:
    """A deterministic, smooth, colourful RGB picture (a stand-in for a photograph)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x /= max(width - 1, 1)
    y /= max(height - 1, 1)
    channels = []
    for _ in range(3):
        value = np.zeros_like(x)
        for _ in range(3):
            fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
            value += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.4)
        value += 2.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / radius**2)
        channels.append(value)
    stacked = np.stack(channels, axis=-1)
    stacked = (stacked - stacked.min()) / max(float(np.ptp(stacked)), 1e-12)
    return PIL.Image.fromarray((stacked * 255).round().astype(np.uint8))


def picture_pixels(picture: PIL.Image.Image) -> torch.Tensor:
    """A picture's pixels as a (H, W, 3) uint8 tensor, to send to a worker."""
    return torch.from_numpy(np.array(picture.convert("RGB"), dtype=np.uint8))


@st.composite
def map_sides(draw: st.DrawFn, *, highs: tuple[int, ...], degenerate: bool = False) -> tuple[int, ...]:
    """Sides of a tensor (channels, height, width, ...), each from 1 or 2 up to its entry in ``highs``.

    Realistic sides are all at least 2. Degenerate ones have at least one
    side of 1 (one channel, a 1-pixel row or column, a 1x1 map): code that
    is right on every realistic input may still trip there (``squeeze()``
    drops such a side), so they are graded in a test of their own, with a
    small weight.
    """
    if not degenerate:
        return tuple(draw(st.integers(2, high)) for high in highs)
    ones = draw(st.lists(st.booleans(), min_size=len(highs), max_size=len(highs)).filter(any))
    return tuple(1 if one else draw(st.integers(1, high)) for one, high in zip_strict(ones, highs))
