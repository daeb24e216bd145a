"""Total variation loss: ``TotalVariationLoss().forward(img, tv_weight)``.

Expected: ``tv_weight * (sum of squared differences of vertical neighbours +
sum of squared differences of horizontal neighbours)`` for ``img (1, 3, H, W)``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_scalar, expect, expect_close, expect_gradients
from autograder.known_answers import plain_value, recorded
from autograder.mistakes import Suspect, known, raising
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
        return (
            f"TotalVariationLoss.forward(img, tv_weight={self.weight!r}) with img of shape (1, 3, {self.height}, {self.width}), "
            f"{plain_value(self.dtype)}"
        )


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


ABSOLUTE = known(
    "tv_loss.absolute",
    "the gradient is a whole multiple of tv_weight at every pixel (+-tv_weight for each neighbour), which is what "
    "absolute values give: square the differences of neighbouring pixels instead of taking abs().",
    "mistake_tv_loss_abs",
)
MEAN = known(
    "tv_loss.mean",
    "your loss is the average, not the sum, of the squared differences in each direction (each sum is divided by its "
    "number of neighbour pairs): use torch.sum instead of torch.mean (or F.mse_loss's default reduction).",
    "mistake_tv_loss_mean",
)
WEIGHT_IGNORED = known(
    "tv_loss.weight_ignored",
    "your loss is the total variation without tv_weight (it does not change with the weight): multiply it by tv_weight.",
    "mistake_tv_loss_weight_ignored",
)
VERTICAL_ONLY = known(
    "tv_loss.one_direction",
    "your loss counts the differences of vertically adjacent pixels only: add the squared differences of horizontally "
    "adjacent pixels (along the last dimension, W).",
    "mistake_tv_loss_vertical_only",
)
SQUEEZE = known(
    "tv_loss.squeeze",
    "your code breaks on an image 1 pixel high or wide: squeeze() removes every dimension of size 1, not only the "
    "batch's, so the shape has fewer dimensions than you expect; read H and W from img.shape as it is.",
    "mistake_tv_loss_squeeze_unpack",
)
DETACHED = known(
    "tv_loss.detached",
    "your loss has the right value but no gradient: it was cut off from autograd (.item(), numpy, .detach() or "
    "torch.autograd.Variable(loss) give a value with no history); compute it with torch operations on img.",
    "mistake_tv_loss_variable_detached",
)


def directions(image: torch.Tensor, tv_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference's loss split by direction, with gradients: (vertical, its gradient, horizontal, its gradient).

    The vertical part is the loss of each 1-pixel-wide column, summed; the
    horizontal part that of each 1-pixel-high row.
    """
    leaf = image.detach().clone().requires_grad_(True)
    height, width = image.shape[-2:]
    vertical = sum((reference_loss(leaf[..., j : j + 1], tv_weight) for j in range(width)), 0 * leaf.sum())
    horizontal = sum((reference_loss(leaf[..., i : i + 1, :], tv_weight) for i in range(height)), 0 * leaf.sum())
    (vertical_gradient,) = torch.autograd.grad(vertical, leaf)
    (horizontal_gradient,) = torch.autograd.grad(horizontal, leaf)
    return vertical.detach(), vertical_gradient, horizontal.detach(), horizontal_gradient


def averaged(image: torch.Tensor, tv_weight: float, part: int) -> torch.Tensor:
    """What averaging each direction's squared differences gives: the value (``part`` 0) or the gradient (1)."""
    height, width = image.shape[-2:]
    parts = directions(image, tv_weight)
    return parts[part] / (3 * (height - 1) * width) + parts[2 + part] / (3 * height * (width - 1))


def value_suspects(image: torch.Tensor, tv_weight: float) -> list[Suspect]:
    """The known mistakes that may explain a wrong loss, each with the value it gives."""
    neighbours = [torch.diff(image.to(torch.float64), dim=dim) for dim in (2, 3)]
    return [
        Suspect(ABSOLUTE, predicts=lambda: tv_weight * sum(difference.abs().sum() for difference in neighbours)),
        Suspect(MEAN, predicts=lambda: averaged(image, tv_weight, 0)),
        Suspect(WEIGHT_IGNORED, predicts=lambda: expected_loss(image, 1.0)),
        Suspect(VERTICAL_ONLY, predicts=lambda: directions(image, tv_weight)[0]),
    ]


def gradient_suspects(image: torch.Tensor, tv_weight: float) -> list[Suspect]:
    """The known mistakes that may explain a wrong gradient, each with the gradient it gives (or a test of it)."""
    return [
        Suspect(ABSOLUTE, matches=lambda received: whole_multiples(received / tv_weight)),
        Suspect(MEAN, predicts=lambda: averaged(image, tv_weight, 1)),
        Suspect(WEIGHT_IGNORED, predicts=lambda: expected_gradient(image, 1.0)),
        Suspect(VERTICAL_ONLY, predicts=lambda: directions(image, tv_weight)[1]),
    ]


def whole_multiples(ratios: torch.Tensor) -> bool:
    """Whether every value is a whole number (within float32's precision), and not every one 0."""
    return bool(ratios.ne(0).any()) and bool(((ratios - ratios.round()).abs() <= 1e-3).all())


def squeezed(image: torch.Tensor) -> AbstractContextManager[None]:
    """An error on an image 1 pixel high or wide, raised at a line that calls squeeze: the squeeze mistake."""
    return raising(SQUEEZE, lambda error: min(image.shape[-2:]) == 1 and "squeeze(" in str(error))


def student_loss(student: StudentCode, image: torch.Tensor, tv_weight: float, what: str) -> torch.Tensor:
    return as_scalar(student.call(TV_LOSS, image, tv_weight).value, what)


@weight(1.0)
@number("4.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the loss matches

    The preprocessed content image, tv_weight 2e-2: the loss's value matches the solution's.
    """
    image = course_setting.content_image()
    received = student.call(TV_LOSS, image, course_setting.TV_WEIGHT).value
    expect_close(
        received,
        expected_loss(image, course_setting.TV_WEIGHT),
        what=f"TotalVariationLoss.forward(img, tv_weight={course_setting.TV_WEIGHT}) with the content image, shape "
        f"{tuple(image.shape)}",
        scalar=True,
        fixed=True,
        hint="Check: the squared differences of vertically and of horizontally adjacent pixels, summed over every "
        "channel and position (not averaged), times tv_weight.",
        mistakes=value_suspects(image, course_setting.TV_WEIGHT),
    )


@weight(0.3)
@number("4.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=tv_cases())
def test_matches_reference_on_generated_images(student: StudentCode, case: TVCase) -> None:
    """Generated images: the loss matches

    On generated images (2 to 12 pixels high and wide, non-square, float32 and float64, weight 0 included), the loss's
    value matches the solution's.
    """
    expect_value(student, case)


def expect_value(student: StudentCode, case: TVCase) -> None:
    image = case.image()
    with squeezed(image):
        received = student.call(TV_LOSS, image, case.weight).value
    expect_close(
        received,
        expected_loss(image, case.weight),
        mistakes=value_suspects(image, case.weight),
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
    """The gradient with respect to img matches

    On generated images (weights other than 0), the loss is differentiable and its gradient with respect to the image
    matches the solution's.
    """
    expect_gradient(student, case)


def expect_gradient(student: StudentCode, case: TVCase) -> None:
    image = case.image()
    with squeezed(image):
        reply = student.call(TV_LOSS, image.clone().requires_grad_(True), case.weight, grad=True)
    expected = expected_gradient(image, case.weight)
    expect_gradients(
        reply,
        expected,
        what=case.describe(),
        names=["img"],
        mistakes=gradient_suspects(image, case.weight),
        detached=[Suspect(DETACHED, predicts=lambda: expected_loss(image, case.weight))],
    )


@weight(0.3)
@number("4.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=tv_cases(zero=False), offset=st.sampled_from([0.5, -3.0, 20.0]))
def test_zero_on_constant_images_shift_invariant_and_linear(student: StudentCode, case: TVCase, offset: float) -> None:
    """0 on constant images, shift-invariant, linear

    On generated images, the loss is 0 on a constant image, positive on others, unchanged by adding a constant to every
    pixel, and doubles when the weight doubles (no comparison with the solution).
    """
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
    expect_close(
        doubled,
        2 * loss,
        mistakes=[Suspect(WEIGHT_IGNORED, predicts=lambda: loss)],
        what=f"{case.describe()} with the weight doubled (twice the loss)",
        scalar=True,
    )


@weight(0.1)
@number("4.5")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=tv_cases(zero=False, degenerate=True))
def test_degenerate_shapes(student: StudentCode, case: TVCase) -> None:
    """Degenerate images: loss and gradient match

    On degenerate images (1-pixel rows or columns, 1x1), the loss's value and its gradient match the solution's.
    """
    expect_value(student, case)
    expect_gradient(student, case)
