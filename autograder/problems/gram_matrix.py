"""Gram matrix: ``StyleLoss().gram_matrix(features, normalize=True)``.

Expected: for features ``(N, C, H, W)``, ``G[n] = F[n] @ F[n].T`` with ``F[n]``
the ``(C, H*W)`` view, shape ``(N, C, C)``, divided by ``C * H * W`` when
``normalize`` is true; differentiable with respect to the features.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, figures, reference
from autograder.compare import (
    as_tensor,
    expect,
    expect_close,
    expect_gradients,
    format_values,
    known_mistake,
)
from autograder.failures import PropertyFailed
from autograder.known_answers import plain_value, recorded
from autograder.mistakes import Mistake, Suspect, explained, known, raising
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


NO_BATCH_DIMENSION = known(
    "gram_matrix.no_batch_dimension",
    "your result is one (C, C) matrix without the batch dimension: even for a batch of one image, return (N, C, C), "
    "one matrix per image (torch.bmm on the (N, C, H * W) view, or unsqueeze(0)).",
    "mistake_gram_matrix_no_batch_dim",
)
BATCH_OF_ONE = known(
    "gram_matrix.batch_of_one",
    "your code assumes a batch of one image: view(1, C, H * W), squeeze(0) or a reshape to (C, -1) fails or merges the "
    "images when N > 1; take N from features.shape and compute one matrix per image from the (N, C, H * W) view.",
    "mistake_gram_matrix_view_batch_of_one",
    "mistake_gram_matrix_batch_flattened_together",
)
DIVIDES_BY_HW = known(
    "gram_matrix.divides_by_hw",
    "your normalized matrix is C times the expected one: it is divided by H * W only; divide by C * H * W.",
    "mistake_gram_matrix_divides_by_hw",
)
DIVIDES_BY_NCHW = known(
    "gram_matrix.divides_by_nchw",
    "your normalized matrix is the expected one divided by the batch size N: features.numel() counts every image; "
    "divide by C * H * W.",
    "mistake_gram_matrix_divides_by_nchw",
)
NEVER_DIVIDES = known(
    "gram_matrix.never_divides",
    "with normalize=True your matrix is not divided by C * H * W: the normalize flag is ignored.",
    "mistake_gram_matrix_normalize_ignored_never_divides",
)
ALWAYS_DIVIDES = known(
    "gram_matrix.always_divides",
    "with normalize=False your matrix is divided by C * H * W too: divide only when normalize is true.",
    "mistake_gram_matrix_normalize_ignored_always_divides",
)
DETACHED = known(
    "gram_matrix.detached",
    "your Gram matrix has the right values but no gradient: it was cut off from autograd (numpy, .detach(), .item() or "
    "Variable(...) give values with no history); compute it with torch operations on the features.",
    "mistake_gram_matrix_numpy_detached",
)


def scaling_suspects(shape: tuple[int, ...], normalize: bool, expected: Callable[[], torch.Tensor]) -> list[Suspect]:
    """The normalization mistakes, each as the factor it multiplies the expected matrix (or gradient) by."""
    batch, channels, height, width = shape
    factors: list[tuple[Mistake, float]] = (  # on a 1x1 map, dividing by H * W is not dividing: only one is named
        [
            (DIVIDES_BY_HW, channels if height * width > 1 else 1),
            (DIVIDES_BY_NCHW, 1 / batch),
            (NEVER_DIVIDES, channels * height * width),
        ]
        if normalize
        else [(ALWAYS_DIVIDES, 1 / (channels * height * width))]
    )
    return [Suspect(mistake, predicts=scaled(expected, factor)) for mistake, factor in factors if factor != 1]


def scaled(expected: Callable[[], torch.Tensor], factor: float) -> Callable[[], torch.Tensor]:
    """A prediction: ``factor`` times the expected result."""
    return lambda: factor * expected()


def shape_suspects(shape: tuple[int, ...]) -> list[Suspect]:
    """The batch mistakes, told by the received shape: (C, C), or one (1, C, C) matrix for a batch of N > 1."""
    batch, channels = shape[:2]
    return [
        Suspect(NO_BATCH_DIMENSION, matches=lambda received: tuple(received.shape) == (channels, channels)),
        Suspect(BATCH_OF_ONE, matches=lambda received: batch > 1 and tuple(received.shape) == (1, channels, channels)),
    ]


def value_suspects(features: torch.Tensor, normalize: bool) -> list[Suspect]:
    """The known mistakes that may explain a wrong Gram matrix."""
    shape = tuple(features.shape)
    return [*shape_suspects(shape), *scaling_suspects(shape, normalize, lambda: expected_gram(features, normalize))]


@contextlib.contextmanager
def assumes_one_image(features: torch.Tensor) -> Iterator[None]:
    """Errors that the batch mistakes raise: a shape with a batch of 1 for N > 1, or a (C, C) result that cannot be backpropagated.

    (The grader backpropagates an (N, C, C) weighting through the result; a
    result of another shape makes autograd refuse it.)
    """
    channels = features.shape[1]
    with raising(
        NO_BATCH_DIMENSION, lambda error: f"output[0] has a shape of torch.Size([{channels}, {channels}])" in str(error)
    ):
        with raising(
            BATCH_OF_ONE,
            lambda error: (
                features.shape[0] > 1
                and ("shape '[1, " in str(error) or "output[0] has a shape of torch.Size([1, " in str(error))
            ),
        ):
            yield


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
    figures.matrix(
        f"The Gram matrix of the style image's features at layer {course_setting.GRAM_LAYER}",
        lambda: expected_gram(features, True),
        received,
    )
    expect_close(
        received,
        expected_gram(features, True),
        what=f"StyleLoss.gram_matrix(features) with the style image's features at layer {course_setting.GRAM_LAYER}, "
        f"shape {tuple(features.shape)}",
        fixed=True,
        hint="Check: G[n] = F[n] @ F[n].T with F[n] the (C, H*W) view of image n, divided by C * H * W.",
        mistakes=value_suspects(features, True),
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
    with assumes_one_image(features):
        received = student.call(GRAM_MATRIX, features, kwargs={"normalize": case.normalize}).value
    expect_close(
        received,
        expected_gram(features, case.normalize),
        mistakes=value_suspects(features, case.normalize),
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
    with assumes_one_image(features):
        reply = student.call(
            GRAM_MATRIX,
            features.clone().requires_grad_(True),
            kwargs={"normalize": case.normalize},
            grad=True,
            cotangent=cotangent,
        )
    expect_close(
        reply.value,
        expected_gram(features, case.normalize),
        what=case.describe(),
        mistakes=value_suspects(features, case.normalize),
    )
    expected = expected_gradient(features, case.normalize, cotangent)
    expect_gradients(
        reply,
        expected,
        what=case.describe(),
        names=["features"],
        mistakes=scaling_suspects(case.shape, case.normalize, lambda: expected[0]),
        detached=[Suspect(DETACHED, predicts=lambda: expected_gram(features, case.normalize))],
    )


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
    with assumes_one_image(features):
        gram = as_tensor(student.call(GRAM_MATRIX, features, kwargs={"normalize": case.normalize}).value, case.describe())
    if tuple(gram.shape) != (batch, channels, channels):
        failure = PropertyFailed(
            f"{case.describe()}: expected shape {(batch, channels, channels)}, received {tuple(gram.shape)}."
        )
        mistake = known_mistake(gram, gram, shape_suspects(case.shape))
        raise explained(str(failure), mistake) if mistake else failure
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
    with assumes_one_image(features):
        unnormalized = student.call(GRAM_MATRIX, features, kwargs={"normalize": False}).value
    raw = as_tensor(unnormalized, "StyleLoss.gram_matrix(features, normalize=False)")
    expect(
        bool(raw.ne(0).any()),
        f"{case.describe().replace('normalize=True', 'normalize=False')} is all zeros; the Gram matrix of features that "
        "are not all zeros is not.",
    )
    normalized = student.call(GRAM_MATRIX, features, kwargs={"normalize": True}).value
    expect_close(
        normalized,
        raw.to(torch.float64) / (channels * height * width),
        mistakes=[
            Suspect(ALWAYS_DIVIDES, matches=lambda received: same(raw, expected_gram(features, True)) and same(received, raw)),
            *scaling_suspects(case.shape, True, lambda: raw.to(torch.float64) / (channels * height * width)),
        ],
        what=f"{case.describe()} (it should be gram_matrix(..., normalize=False) / (C * H * W) = ... / {channels * height * width})",
    )


def same(received: torch.Tensor, expected: torch.Tensor) -> bool:
    """Whether two results are equal to float32's precision."""
    received, expected = received.to(torch.float64), expected.to(torch.float64)
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    return tuple(received.shape) == tuple(expected.shape) and bool(
        torch.allclose(received, expected, rtol=1e-3, atol=1e-6 * scale)
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
