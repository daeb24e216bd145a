"""Content loss: ``ContentLoss().forward(content_weight, content_current, content_original)``.

Expected: ``content_weight * sum((content_current - content_original) ** 2)``,
one number, differentiable with respect to ``content_current``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_scalar, expect, expect_close, expect_gradients
from autograder.known_answers import plain_value, recorded
from autograder.mistakes import Suspect, known
from autograder.strategies import dtypes, loss_weights, map_sides, scales, seeded, seeds
from autograder.student import StudentCode, Target

PROBLEM = "content_loss"
CONTENT_LOSS = Target("style_modules.content_loss", "ContentLoss", "__call__")


@dataclass(frozen=True)
class ContentCase:
    """Two feature maps of one shape (drawn from ``seed``) and a weight."""

    shape: tuple[int, int, int, int]
    dtype: torch.dtype
    weight: float
    seed: int
    scale: float = 1.0

    def describe(self) -> str:
        return (
            f"ContentLoss.forward(content_weight, content_current, content_original) with content_weight={self.weight!r} "
            f"and both maps of shape {self.shape}, {plain_value(self.dtype)}"
        )

    def maps(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            seeded(self.shape, self.dtype, self.seed, salt=1, scale=self.scale),
            seeded(self.shape, self.dtype, self.seed, salt=2, scale=self.scale),
        )


@st.composite
def content_cases(draw: st.DrawFn, *, degenerate: bool = False) -> ContentCase:
    """Realistic maps (2 to 8 channels, 2 to 9 pixels high and wide), or degenerate ones (a side of 1)."""
    channels, height, width = draw(map_sides(highs=(8, 9, 9), degenerate=degenerate))
    return ContentCase((1, channels, height, width), draw(dtypes()), draw(loss_weights()), draw(seeds()), draw(scales()))


COURSE_HINT = "Check: the squared differences of the two maps, summed over every element (not averaged), times content_weight."

MEAN = known(
    "content_loss.mean",
    "your loss and its gradient are the expected ones divided by the number of elements of the maps (C * H * W): the "
    "squared differences are averaged (torch.mean, or F.mse_loss's default reduction) instead of summed.",
    "mistake_content_loss_mean",
)
HALF = known(
    "content_loss.half",
    "your loss is exactly half the expected one: this loss has no factor 1/2 (the one in Gatys et al.'s formula); "
    "it is content_weight * sum of squared differences.",
    "mistake_content_loss_half_factor",
)
WEIGHT_IGNORED = known(
    "content_loss.weight_ignored",
    "your loss is the sum of squared differences without content_weight (it does not change with the weight): "
    "multiply it by content_weight.",
    "mistake_content_loss_weight_ignored",
)
ABSOLUTE = known(
    "content_loss.absolute",
    "your numbers are those of absolute differences: the loss is content_weight times the sum of |difference|, and its "
    "gradient is +content_weight or -content_weight at every element; square the differences instead of abs().",
    "mistake_content_loss_abs",
)
NORM = known(
    "content_loss.norm_not_squared",
    "your loss is content_weight times the norm (length) of the difference, the square root of the sum of squares: "
    "torch.norm is not squared; square it, or sum the squared differences.",
    "mistake_content_loss_norm_not_squared",
)
SQUARE_OF_SUM = known(
    "content_loss.square_of_sum",
    "your loss squares the sum of the differences (its gradient is the same at every element): ** 2 is applied after "
    "torch.sum; square the differences first, then sum them.",
    "mistake_content_loss_square_of_sum",
)
DETACHED = known(
    "content_loss.detached",
    "your loss has the right value but no gradient: it was cut off from autograd (.item(), numpy, .detach() or "
    "torch.autograd.Variable(loss) give a value with no history); compute it with torch operations on the inputs.",
    "mistake_content_loss_item_detached",
    "mistake_content_loss_numpy",
)


def value_suspects(weight: float, current: torch.Tensor, original: torch.Tensor) -> list[Suspect]:
    """The known mistakes that may explain a wrong loss, each with the value it gives.

    On one element an absolute value and a norm are the same number, so neither is named there.
    """
    difference = current.to(torch.float64) - original.to(torch.float64)
    return [
        Suspect(MEAN, predicts=lambda: expected_loss(weight, current, original) / current.numel()),
        Suspect(HALF, predicts=lambda: expected_loss(weight, current, original) / 2),
        Suspect(WEIGHT_IGNORED, predicts=lambda: expected_loss(1.0, current, original)),
        *(
            [
                Suspect(ABSOLUTE, predicts=lambda: weight * difference.abs().sum()),
                Suspect(NORM, predicts=lambda: weight * torch.linalg.vector_norm(difference)),
            ]
            if difference.numel() > 1
            else []
        ),
        Suspect(SQUARE_OF_SUM, predicts=lambda: weight * difference.sum() ** 2),
    ]


def gradient_suspects(weight: float, current: torch.Tensor, original: torch.Tensor) -> list[Suspect]:
    """The known mistakes that may explain a wrong gradient, each with the gradient it gives."""
    difference = current.to(torch.float64) - original.to(torch.float64)
    return [
        Suspect(MEAN, predicts=lambda: expected_gradient(weight, current, original)[0] / current.numel()),
        Suspect(HALF, predicts=lambda: expected_gradient(weight, current, original)[0] / 2),
        Suspect(WEIGHT_IGNORED, predicts=lambda: expected_gradient(1.0, current, original)),
        *(
            [
                Suspect(ABSOLUTE, predicts=lambda: weight * difference.sign()),
                Suspect(NORM, predicts=lambda: weight * difference / torch.linalg.vector_norm(difference)),
            ]
            if difference.numel() > 1
            else []
        ),
        Suspect(SQUARE_OF_SUM, predicts=lambda: torch.full_like(difference, 2 * weight * float(difference.sum()))),
    ]


def reference_loss(weight: float, current: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return reference.module("style_modules.content_loss").ContentLoss()(weight, current, original)


expected_loss = recorded(reference_loss)
"""The reference's value, recorded for the handout (``known_answers``)."""


@recorded
def expected_gradient(weight: float, current: torch.Tensor, original: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradient of the reference's loss with respect to ``current``."""
    leaf = current.clone().requires_grad_(True)
    return torch.autograd.grad(reference_loss(weight, leaf, original), leaf)


@weight(1.0)
@number("1.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the loss matches

    Layer 3 of SqueezeNet, the content image's features against a blank image's, the course's weight: the loss's value
    matches the solution's.
    """
    original = course_setting.content_features()[course_setting.CONTENT_LAYER]
    current = course_setting.blank_feature(course_setting.CONTENT_LAYER)
    received = student.call(CONTENT_LOSS, course_setting.CONTENT_WEIGHT, current, original).value
    expect_close(
        received,
        expected_loss(course_setting.CONTENT_WEIGHT, current, original),
        what=f"ContentLoss.forward(content_weight={course_setting.CONTENT_WEIGHT}, content_current, content_original) with the "
        f"features of a blank image and of the content image at layer {course_setting.CONTENT_LAYER}, shape {tuple(original.shape)}",
        scalar=True,
        fixed=True,
        hint=COURSE_HINT,
        mistakes=value_suspects(course_setting.CONTENT_WEIGHT, current, original),
    )


def expect_value(student: StudentCode, case: ContentCase) -> None:
    current, original = case.maps()
    received = student.call(CONTENT_LOSS, case.weight, current, original).value
    expect_close(
        received,
        expected_loss(case.weight, current, original),
        what=case.describe(),
        scalar=True,
        inputs={"content_current": current, "content_original": original},
        mistakes=value_suspects(case.weight, current, original),
    )


def expect_gradient(student: StudentCode, case: ContentCase) -> None:
    current, original = case.maps()
    reply = student.call(CONTENT_LOSS, case.weight, current.clone().requires_grad_(True), original, grad=True)
    expected = expected_gradient(case.weight, current, original)
    expect_gradients(
        reply,
        expected,
        what=case.describe(),
        names=["content_current"],
        mistakes=gradient_suspects(case.weight, current, original),
        detached=[Suspect(DETACHED, predicts=lambda: expected_loss(case.weight, current, original))],
    )


@weight(0.3)
@number("1.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=content_cases())
def test_matches_reference_on_generated_maps(student: StudentCode, case: ContentCase) -> None:
    """Generated feature maps: the loss matches

    On generated feature maps (2 to 8 channels, 2 to 9 pixels high and wide, float32 and float64, weight 0 included), the
    loss's value matches the solution's.
    """
    expect_value(student, case)


@weight(0.3)
@number("1.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=35)
@given(case=content_cases().filter(lambda c: c.weight != 0.0))
def test_gradient_matches_reference(student: StudentCode, case: ContentCase) -> None:
    """The gradient with respect to content_current matches

    On generated feature maps (weights other than 0), the loss is differentiable and its gradient with respect to
    content_current matches the solution's.
    """
    expect_gradient(student, case)


@weight(0.3)
@number("1.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=content_cases().filter(lambda c: c.weight != 0.0))
def test_zero_for_equal_maps_and_linear_in_weight(student: StudentCode, case: ContentCase) -> None:
    """0 for equal maps, positive otherwise, linear in weight

    On generated feature maps, the loss is 0 when content_current equals content_original, positive when they differ,
    and doubles when the weight doubles (no comparison with the solution).
    """
    current, original = case.maps()
    same = student.call(CONTENT_LOSS, case.weight, original.clone(), original).value
    expect_close(
        same,
        torch.zeros((), dtype=torch.float64),
        what=f"{case.describe()}, with content_current equal to content_original",
        scalar=True,
    )
    once = as_scalar(student.call(CONTENT_LOSS, case.weight, current, original).value, case.describe())
    expect(
        bool(once > 0),
        f"{case.describe()}: the loss of two different maps is {float(once):.6g}; a weighted sum of squared differences "
        "is positive when the maps differ and the weight is positive.",
    )
    twice = student.call(CONTENT_LOSS, 2 * case.weight, current, original).value
    expect_close(
        twice,
        2 * once,
        mistakes=[Suspect(WEIGHT_IGNORED, predicts=lambda: once)],
        what=f"{case.describe()} with the weight doubled (it should be twice the loss at {case.weight!r})",
        scalar=True,
    )


@weight(0.1)
@number("1.5")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=content_cases(degenerate=True))
def test_degenerate_shapes(student: StudentCode, case: ContentCase) -> None:
    """Degenerate maps: the loss and its gradient match

    On degenerate maps (one channel, 1-pixel rows or columns, 1x1 maps), the loss's value and, for weights other than
    0, its gradient match the solution's.
    """
    expect_value(student, case)
    if case.weight != 0.0:
        expect_gradient(student, case)
