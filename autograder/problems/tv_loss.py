"""Total variation loss: ``TotalVariationLoss().forward(img, tv_weight)``.

Expected: ``tv_weight * (sum of squared differences of vertical neighbours +
sum of squared differences of horizontal neighbours)`` for ``img (1, 3, H, W)``.
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

PROBLEM = "tv_loss"
TV_LOSS = Target("style_modules.tv_loss", "TotalVariationLoss", "__call__")


@dataclass(frozen=True)
class TVCase:
    """An image of shape (1, 3, H, W) drawn from ``seed``, and a weight."""

    height: int
    width: int
    dtype: torch.dtype
    weight: float
    seed: int
    scale: float = 1.0

    def image(self) -> torch.Tensor:
        return seeded((1, 3, self.height, self.width), self.dtype, self.seed, scale=self.scale)

    def describe(self) -> str:
        return f"TotalVariationLoss()(img of shape (1, 3, {self.height}, {self.width}) ({self.dtype}), {self.weight!r})"


@st.composite
def tv_cases(draw: st.DrawFn, *, zero: bool = True, degenerate: bool = False) -> TVCase:
    """Realistic images (2 to 12 pixels high and wide), or degenerate ones (1-pixel rows or columns, 1x1)."""
    height, width = draw(map_sides(highs=(12, 12), degenerate=degenerate))
    return TVCase(
        height,
        width,
        draw(dtypes()),
        draw(loss_weights(zero=zero)),
        draw(seeds()),
        draw(scales()),
    )


def reference_loss(image: torch.Tensor, tv_weight: float) -> torch.Tensor:
    return reference.module("style_modules.tv_loss").TotalVariationLoss()(image, tv_weight)


expected_loss = recorded(reference_loss)
"""The reference's value, recorded for the handout (``known_answers``)."""


@recorded
def expected_gradient(image: torch.Tensor, tv_weight: float) -> tuple[torch.Tensor, ...]:
    """The gradient of the reference's loss with respect to the image."""
    leaf = image.clone().requires_grad_(True)
    return torch.autograd.grad(reference_loss(leaf, tv_weight), leaf)


def student_loss(student: StudentCode, image: torch.Tensor, tv_weight: float, what: str) -> torch.Tensor:
    return as_scalar(student.call(TV_LOSS, image, tv_weight).value, what)


@weight(1.0)
@number("4.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """In the course's setting (the preprocessed content image, weight 2e-2), the loss matches"""
    image = course_setting.content_image()
    received = student.call(TV_LOSS, image, course_setting.TV_WEIGHT).value
    expect_close(
        received,
        expected_loss(image, course_setting.TV_WEIGHT),
        what=f"TotalVariationLoss()(the content image, shape {tuple(image.shape)}, {course_setting.TV_WEIGHT})",
        scalar=True,
        fixed=True,
        hint="Check: the squared differences of vertically and of horizontally adjacent pixels, summed over every "
        "channel and position (not averaged), times tv_weight.",
    )


@weight(0.3)
@number("4.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=tv_cases())
def test_matches_reference_on_generated_images(student: StudentCode, case: TVCase) -> None:
    """On generated images (2 to 12 pixels high and wide, non-square, float32 and float64, weight 0 included), the loss matches"""
    expect_value(student, case)


def expect_value(student: StudentCode, case: TVCase) -> None:
    image = case.image()
    received = student.call(TV_LOSS, image, case.weight).value
    expect_close(
        received,
        expected_loss(image, case.weight),
        what=case.describe(),
        scalar=True,
        inputs={"img": image},
    )


@weight(0.3)
@number("4.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=35)
@given(case=tv_cases(zero=False))
def test_gradient_matches_reference(student: StudentCode, case: TVCase) -> None:
    """The loss is differentiable and its gradient with respect to the image matches"""
    expect_gradient(student, case)


def expect_gradient(student: StudentCode, case: TVCase) -> None:
    image = case.image()
    reply = student.call(TV_LOSS, image.clone().requires_grad_(True), case.weight, grad=True)
    expected = expected_gradient(image, case.weight)
    expect_gradients(reply, expected, what=case.describe(), names=["img"])


@weight(0.3)
@number("4.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=tv_cases(zero=False), offset=st.sampled_from([0.5, -3.0, 20.0]))
def test_zero_on_constant_images_shift_invariant_and_linear(student: StudentCode, case: TVCase, offset: float) -> None:
    """The loss is 0 on a constant image, positive on others, unchanged by adding a constant, and doubles with the weight (no reference needed)"""
    image = case.image()
    offset *= case.scale
    constant = torch.full_like(image, offset)
    flat = student_loss(student, constant, case.weight, case.describe())
    expect_close(
        flat,
        torch.zeros((), dtype=torch.float64),
        what=f"{case.describe()} on an image whose pixels all equal {offset}",
        scalar=True,
    )
    loss = student_loss(student, image, case.weight, case.describe())
    expect(
        bool(loss > 0),
        f"{case.describe()}: the loss is {float(loss):.6g}; an image whose neighbouring pixels differ has a positive "
        "total variation (for a positive weight).",
    )
    shifted = student_loss(student, image + offset, case.weight, case.describe())
    expect_close(
        shifted,
        loss,
        what=f"{case.describe()} with {offset} added to every pixel (total variation ignores a constant)",
        scalar=True,
        rtol=1e-3,
    )
    doubled = student_loss(student, image, 2 * case.weight, case.describe())
    expect_close(doubled, 2 * loss, what=f"{case.describe()} with the weight doubled (twice the loss)", scalar=True)


@weight(0.1)
@number("4.5")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=tv_cases(zero=False, degenerate=True))
def test_degenerate_shapes(student: StudentCode, case: TVCase) -> None:
    """On degenerate images (1-pixel rows or columns, 1x1), the loss and its gradient match"""
    expect_value(student, case)
    expect_gradient(student, case)
