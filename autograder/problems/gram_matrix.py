"""Gram matrix: ``StyleLoss().gram_matrix(features, normalize=True)``.

Expected: for features ``(N, C, H, W)``, ``G[n] = F[n] @ F[n].T`` with ``F[n]``
the ``(C, H*W)`` view, shape ``(N, C, C)``, divided by ``C * H * W`` when
``normalize`` is true; differentiable with respect to the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_tensor, expect, expect_close, expect_gradients, format_values
from autograder.known_answers import plain_value, recorded
from autograder.strategies import dtypes, map_sides, scales, seeded, seeds
from autograder.student import StudentCode, Target

PROBLEM = "gram_matrix"
GRAM_MATRIX = Target("style_modules.style_loss", "StyleLoss", "gram_matrix")


@dataclass(frozen=True)
class GramCase:
    """A batch of feature maps (drawn from ``seed``) and the ``normalize`` flag."""

    shape: tuple[int, int, int, int]
    dtype: torch.dtype
    normalize: bool
    seed: int
    scale: float = 1.0

    def features(self) -> torch.Tensor:
        return seeded(self.shape, self.dtype, self.seed, scale=self.scale)

    def describe(self) -> str:
        return (
            f"StyleLoss.gram_matrix(features, normalize={self.normalize}) with features of shape {self.shape}, "
            f"{plain_value(self.dtype)}"
        )


@st.composite
def gram_cases(draw: st.DrawFn, *, normalize: bool | None = None, degenerate: bool = False) -> GramCase:
    """Batches of 1 to 3 realistic maps (2 to 8 channels, 2 to 7 pixels high and wide), or degenerate ones (a side of 1)."""
    channels, height, width = draw(map_sides(highs=(8, 7, 7), degenerate=degenerate))
    flag = draw(st.booleans()) if normalize is None else normalize
    return GramCase((draw(st.integers(1, 3)), channels, height, width), draw(dtypes()), flag, draw(seeds()), draw(scales()))


def reference_gram(features: torch.Tensor, normalize: bool) -> torch.Tensor:
    return reference.module("style_modules.style_loss").StyleLoss().gram_matrix(features, normalize=normalize)


expected_gram = recorded(reference_gram)
"""The reference's value, recorded for the handout (``known_answers``)."""


@recorded
def expected_gradient(features: torch.Tensor, normalize: bool, cotangent: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The reference's vector-Jacobian product with ``cotangent``: the gradient with respect to the features."""
    leaf = features.clone().requires_grad_(True)
    return torch.autograd.grad(reference_gram(leaf, normalize), leaf, grad_outputs=cotangent)


@weight(1.0)
@number("2.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the Gram matrix matches

    The style image's features at layer 5 of SqueezeNet, normalized: the Gram matrix matches the solution's.
    """
    features = course_setting.style_feature(course_setting.GRAM_LAYER)
    received = student.call(GRAM_MATRIX, features).value
    expect_close(
        received,
        expected_gram(features, True),
        what=f"StyleLoss.gram_matrix(features) with the style image's features at layer {course_setting.GRAM_LAYER}, "
        f"shape {tuple(features.shape)}",
        fixed=True,
        hint="Check: G[n] = F[n] @ F[n].T with F[n] the (C, H*W) view of image n, divided by C * H * W.",
    )


@weight(0.5)
@number("2.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=gram_cases())
def test_matches_reference_on_generated_batches(student: StudentCode, case: GramCase) -> None:
    """Generated batches: the Gram matrix matches

    On generated batches (N up to 3, 2 to 8 channels, maps of 2 to 7 pixels high and wide, non-square, float32 and
    float64, normalize on and off), the Gram matrix matches the solution's.
    """
    features = case.features()
    received = student.call(GRAM_MATRIX, features, kwargs={"normalize": case.normalize}).value
    expect_close(
        received,
        expected_gram(features, case.normalize),
        what=case.describe(),
        inputs={"features": features},
    )


@weight(0.3)
@number("2.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=25)
@given(case=gram_cases(), cotangent_seed=seeds())
def test_gradient_matches_reference(student: StudentCode, case: GramCase, cotangent_seed: int) -> None:
    """The Gram matrix and its gradient match

    On generated batches, the Gram matrix matches the solution's, and it is differentiable, with a gradient with
    respect to the features that matches the solution's.
    """
    expect_gradient(student, case, cotangent_seed)


def expect_gradient(student: StudentCode, case: GramCase, cotangent_seed: int) -> None:
    features = case.features()
    batch, channels = case.shape[:2]
    cotangent = seeded((batch, channels, channels), case.dtype, cotangent_seed, salt=7)
    reply = student.call(
        GRAM_MATRIX, features.clone().requires_grad_(True), kwargs={"normalize": case.normalize}, grad=True, cotangent=cotangent
    )
    expect_close(reply.value, expected_gram(features, case.normalize), what=case.describe())
    expected = expected_gradient(features, case.normalize, cotangent)
    expect_gradients(reply, expected, what=case.describe(), names=["features"])


@weight(0.3)
@number("2.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=25)
@given(case=gram_cases())
def test_symmetric_positive_semidefinite(student: StudentCode, case: GramCase) -> None:
    """(N, C, C), symmetric, positive semi-definite, quadratic

    On generated batches, each Gram matrix has the shape (N, C, C), is symmetric and positive semi-definite with a
    positive diagonal, and is 4 times larger when the features are doubled (no comparison with the solution).
    """
    batch, channels = case.shape[:2]
    features = case.features()
    gram = as_tensor(student.call(GRAM_MATRIX, features, kwargs={"normalize": case.normalize}).value, case.describe())
    expect(
        tuple(gram.shape) == (batch, channels, channels),
        f"{case.describe()}: expected shape {(batch, channels, channels)}, received {tuple(gram.shape)}.",
    )
    gram = gram.to(torch.float64)
    expect_close(gram.transpose(1, 2), gram, what=f"{case.describe()} transposed (a Gram matrix is symmetric)")
    symmetric = (gram + gram.transpose(1, 2)) / 2
    lowest = torch.linalg.eigvalsh(symmetric).min()
    tolerance = 1e-4 * max(float(gram.abs().max()), 1e-12)
    expect(
        bool(lowest >= -tolerance),
        f"{case.describe()}: a Gram matrix is positive semi-definite, but yours has the eigenvalue {float(lowest):.4g}.",
    )
    diagonal = torch.diagonal(gram, dim1=1, dim2=2)
    expect(
        bool((diagonal > 0).all()),
        f"{case.describe()}: the diagonal holds {format_values(diagonal)}; G[n, c, c] is the squared norm of channel c "
        "of image n, positive when that channel is not all zeros.",
    )
    doubled = student.call(GRAM_MATRIX, 2 * features, kwargs={"normalize": case.normalize}).value
    expect_close(
        doubled,
        4 * gram,
        what=f"{case.describe()} with the features doubled (a Gram matrix is quadratic in the features: 4 times the matrix)",
    )


@weight(0.3)
@number("2.5")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=25)
@given(case=gram_cases(normalize=True))
def test_normalize_divides_by_number_of_neurons(student: StudentCode, case: GramCase) -> None:
    """normalize=True divides by C * H * W

    On generated batches, gram_matrix(features, normalize=True) is gram_matrix(features, normalize=False), which is not
    all zeros, divided by C * H * W (no comparison with the solution).
    """
    _, channels, height, width = case.shape
    features = case.features()
    raw = as_tensor(
        student.call(GRAM_MATRIX, features, kwargs={"normalize": False}).value, "StyleLoss.gram_matrix(features, normalize=False)"
    )
    expect(
        bool(raw.ne(0).any()),
        f"{case.describe().replace('normalize=True', 'normalize=False')} is all zeros; the Gram matrix of features that "
        "are not all zeros is not.",
    )
    normalized = student.call(GRAM_MATRIX, features, kwargs={"normalize": True}).value
    expect_close(
        normalized,
        raw.to(torch.float64) / (channels * height * width),
        what=f"{case.describe()} (it should be gram_matrix(..., normalize=False) / (C * H * W) = ... / {channels * height * width})",
    )


@weight(0.1)
@number("2.6")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=gram_cases(degenerate=True), cotangent_seed=seeds())
def test_degenerate_shapes(student: StudentCode, case: GramCase, cotangent_seed: int) -> None:
    """Degenerate maps: the Gram matrix and its gradient match

    On degenerate maps (one channel, 1-pixel rows or columns, 1x1 maps), the Gram matrix and its gradient with respect
    to the features match the solution's.
    """
    expect_gradient(student, case, cotangent_seed)  # compares the value too
