"""Style loss: ``StyleLoss().forward(feats, style_layers, style_targets, style_weights)``.

Expected: ``sum_i style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) - style_targets[i]) ** 2)``.
The student's ``gram_matrix`` is replaced by the course's while this problem
is graded, so a mistake there costs only the Gram matrix problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_scalar, expect, expect_close, expect_gradients, zip_strict
from autograder.known_answers import plain_value, recorded
from autograder.strategies import dtypes, loss_weights, map_sides, seeded, seeds
from autograder.student import StudentCode, Target

PROBLEM = "style_loss"
STYLE_LOSS = Target("style_modules.style_loss", "StyleLoss", "__call__")
COURSE_GRAM = {"gram_matrix": "StyleLoss.gram_matrix"}


@dataclass(frozen=True)
class StyleCase:
    """Features at several layers, the layers used, their weights (targets drawn from ``seed``)."""

    shapes: tuple[tuple[int, int, int, int], ...]
    layers: tuple[int, ...]
    weights: tuple[float, ...]
    dtype: torch.dtype
    seed: int

    def feats(self) -> list[torch.Tensor]:
        return [seeded(shape, self.dtype, self.seed, salt=i) for i, shape in enumerate(self.shapes)]

    def targets(self) -> list[torch.Tensor]:
        return [gram(seeded(self.shapes[layer], self.dtype, self.seed, salt=100 + layer)) for layer in self.layers]

    def describe(self) -> str:
        return (
            f"StyleLoss.forward(feats, style_layers={list(self.layers)}, style_targets, style_weights={list(self.weights)}) "
            f"with feats of shapes {list(self.shapes)}, {plain_value(self.dtype)}"
        )


@st.composite
def style_cases(draw: st.DrawFn, *, nonzero: bool = False, degenerate: bool = False) -> StyleCase:
    """1 to 5 layers of realistic maps (2 to 6 channels, pixels high and wide), or of degenerate ones (a side of 1)."""
    count = draw(st.integers(1, 5))
    sides = [draw(map_sides(highs=(6, 6, 6), degenerate=degenerate)) for _ in range(count)]
    shapes = tuple((1, channels, height, width) for channels, height, width in sides)
    layers = tuple(draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count, unique=True)))
    weights = tuple(draw(st.lists(loss_weights(zero=not nonzero), min_size=len(layers), max_size=len(layers))))
    return StyleCase(shapes, layers, weights, draw(dtypes()), draw(seeds()))


@recorded
def gram(features: torch.Tensor) -> torch.Tensor:
    return reference.module("style_modules.style_loss").StyleLoss().gram_matrix(features)


def reference_loss(
    feats: list[torch.Tensor],
    layers: tuple[int, ...] | list[int],
    targets: list[torch.Tensor],
    weights: tuple[float, ...] | list[float],
) -> torch.Tensor:
    return reference.module("style_modules.style_loss").StyleLoss()(feats, list(layers), targets, list(weights))


expected_loss = recorded(reference_loss)
"""The reference's value, recorded for the handout (``known_answers``)."""


@recorded
def expected_gradient(
    feats: list[torch.Tensor], layers: tuple[int, ...], targets: list[torch.Tensor], weights: tuple[float, ...]
) -> list[torch.Tensor]:
    """The gradient of the reference's loss with respect to every layer's features (zeros for a layer not used)."""
    leaves = [f.clone().requires_grad_(True) for f in feats]
    grads = torch.autograd.grad(reference_loss(leaves, layers, targets, weights), leaves, allow_unused=True)
    return [torch.zeros_like(leaf) if g is None else g for leaf, g in zip_strict(leaves, grads)]


def student_loss(student: StudentCode, case: StyleCase, weights: tuple[float, ...], targets: list[torch.Tensor]) -> torch.Tensor:
    reply = student.call(STYLE_LOSS, case.feats(), list(case.layers), targets, list(weights), course_methods=COURSE_GRAM)
    return as_scalar(reply.value, case.describe())


@weight(1.0)
@number("3.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the loss matches

    The content image's features at SqueezeNet's layers 1, 4, 6 and 7 against the style image's Gram matrices, with the
    course's weights: the loss's value matches the solution's.
    """
    feats = list(course_setting.content_features())
    targets = [gram(course_setting.style_feature(layer)) for layer in course_setting.STYLE_LAYERS]
    layers, weights = list(course_setting.STYLE_LAYERS), list(course_setting.STYLE_WEIGHTS)
    received = student.call(STYLE_LOSS, feats, layers, targets, weights, course_methods=COURSE_GRAM).value
    expect_close(
        received,
        expected_loss(feats, layers, targets, weights),
        what=f"StyleLoss.forward(feats, style_layers={layers}, style_targets, style_weights={weights}) with the content "
        "image's features and the style image's Gram matrices",
        scalar=True,
        fixed=True,
        hint="Check: for each i, style_weights[i] times the summed squared difference between the Gram matrix of "
        "feats[style_layers[i]] and style_targets[i], added over i.",
    )


@weight(0.6)
@number("3.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=50)
@given(case=style_cases())
def test_matches_reference_on_generated_layers(student: StudentCode, case: StyleCase) -> None:
    """Generated layers: the loss matches

    On generated features (1 to 5 layers of 2 to 6 channels and 2 to 6 pixels high and wide, any of them used, in any
    order, float32 and float64, weights 0 included), the loss's value matches the solution's.
    """
    expect_value(student, case)


def expect_value(student: StudentCode, case: StyleCase) -> None:
    feats, targets = case.feats(), case.targets()
    received = student.call(STYLE_LOSS, feats, list(case.layers), targets, list(case.weights), course_methods=COURSE_GRAM).value
    expect_close(
        received,
        expected_loss(feats, case.layers, targets, case.weights),
        what=case.describe(),
        scalar=True,
    )


@weight(0.4)
@number("3.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=25)
@given(case=style_cases(nonzero=True))
def test_gradient_matches_reference(student: StudentCode, case: StyleCase) -> None:
    """The gradient with respect to every layer's feats matches

    On generated features (weights other than 0), the loss is differentiable and its gradient with respect to every
    layer's features, used or not, matches the solution's.
    """
    expect_gradient(student, case)


def expect_gradient(student: StudentCode, case: StyleCase) -> None:
    feats, targets = case.feats(), case.targets()
    leaves = [f.clone().requires_grad_(True) for f in feats]
    reply = student.call(
        STYLE_LOSS, leaves, list(case.layers), targets, list(case.weights), grad=True, course_methods=COURSE_GRAM
    )
    expected = expected_gradient(feats, case.layers, targets, case.weights)
    expect_gradients(reply, expected, what=case.describe(), names=[f"feats[{i}]" for i in range(len(feats))])


@weight(0.4)
@number("3.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=style_cases(nonzero=True))
def test_sum_of_weighted_layer_terms(student: StudentCode, case: StyleCase) -> None:
    """Sum of weighted layer terms; 0 when targets match

    On generated features, the loss is positive, is the sum of the losses with one layer's weight kept at a time,
    doubles when every weight doubles, and is 0 when each target is its layer's Gram matrix (no comparison with the
    solution).
    """
    targets = case.targets()
    total = student_loss(student, case, case.weights, targets)
    expect(
        bool(total > 0),
        f"{case.describe()}: the loss is {float(total):.6g}; with positive weights and targets that are not the layers' "
        "Gram matrices, a weighted sum of squared differences is positive.",
    )
    terms = [
        student_loss(student, case, tuple(w if j == i else 0.0 for j, w in enumerate(case.weights)), targets)
        for i in range(len(case.layers))
    ]
    expect_close(
        total,
        torch.stack(terms).sum(),
        what=f"{case.describe()}, against the sum of the losses with one layer's weight kept at a time",
        scalar=True,
    )
    doubled = student_loss(student, case, tuple(2 * w for w in case.weights), targets)
    expect_close(
        doubled,
        2 * total,
        what=f"{case.describe()} with every weight doubled (twice the loss)",
        scalar=True,
    )
    own = [gram(case.feats()[layer]) for layer in case.layers]
    matched = student_loss(student, case, case.weights, own)
    scale = sum(w * float((g.to(torch.float64) ** 2).sum()) for w, g in zip_strict(case.weights, own))
    expect(
        abs(float(matched)) <= 1e-5 * scale + 1e-12,
        f"{case.describe()} with each target equal to that layer's Gram matrix: expected 0, received {float(matched):.6g}.",
    )


@weight(0.1)
@number("3.5")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(case=style_cases(nonzero=True, degenerate=True))
def test_degenerate_shapes(student: StudentCode, case: StyleCase) -> None:
    """Degenerate layers: the loss and its gradient match

    On degenerate layers (one channel, 1-pixel rows or columns, 1x1 maps), the loss's value and its gradient match the
    solution's.
    """
    expect_value(student, case)
    expect_gradient(student, case)
