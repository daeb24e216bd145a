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
from autograder.known_answers import recorded
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
        return f"ContentLoss()({self.weight!r}, content_current, content_original) with maps of shape {self.shape} ({self.dtype})"

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
    """In the course's setting (layer 3 of SqueezeNet, the content image against a blank one), the loss matches"""
    original = course_setting.content_features()[course_setting.CONTENT_LAYER]
    current = course_setting.blank_feature(course_setting.CONTENT_LAYER)
    received = student.call(CONTENT_LOSS, course_setting.CONTENT_WEIGHT, current, original).value
    expect_close(
        received,
        expected_loss(course_setting.CONTENT_WEIGHT, current, original),
        what=f"ContentLoss()({course_setting.CONTENT_WEIGHT}, features of a blank image, features of the content image) "
        f"at layer {course_setting.CONTENT_LAYER}, shape {tuple(original.shape)}",
        scalar=True,
        fixed=True,
        hint=COURSE_HINT,
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
    )


def expect_gradient(student: StudentCode, case: ContentCase) -> None:
    current, original = case.maps()
    reply = student.call(CONTENT_LOSS, case.weight, current.clone().requires_grad_(True), original, grad=True)
    expected = expected_gradient(case.weight, current, original)
    expect_gradients(reply, expected, what=case.describe(), names=["content_current"])


@weight(0.3)
@number("1.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=content_cases())
def test_matches_reference_on_generated_maps(student: StudentCode, case: ContentCase) -> None:
    """On generated feature maps (2 to 8 channels, 2 to 9 pixels high and wide, float32 and float64, weight 0 included), the loss matches"""
    expect_value(student, case)


@weight(0.3)
@number("1.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=35)
@given(case=content_cases().filter(lambda c: c.weight != 0.0))
def test_gradient_matches_reference(student: StudentCode, case: ContentCase) -> None:
    """The loss is differentiable and its gradient with respect to content_current matches"""
    expect_gradient(student, case)


@weight(0.3)
@number("1.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=content_cases().filter(lambda c: c.weight != 0.0))
def test_zero_for_equal_maps_and_linear_in_weight(student: StudentCode, case: ContentCase) -> None:
    """The loss is 0 for equal maps, positive for different ones, and doubles when the weight doubles (no reference needed)"""
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
    """On degenerate maps (one channel, 1-pixel rows or columns, 1x1 maps), the loss and its gradient match"""
    expect_value(student, case)
    if case.weight != 0.0:
        expect_gradient(student, case)
