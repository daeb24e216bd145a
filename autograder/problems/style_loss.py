"""Style loss: ``StyleLoss().forward(feats, style_layers, style_targets, style_weights)``.

Expected: ``sum_i style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) - style_targets[i]) ** 2)``.
The student's ``gram_matrix`` is replaced by the course's while this problem
is graded, so a mistake there costs only the Gram matrix problem.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_scalar, expect, expect_close, expect_gradients, known_mistake, zip_strict
from autograder.failures import PropertyFailed
from autograder.known_answers import plain_value, recorded
from autograder.mistakes import Mistake, Suspect, explained, known, raising
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


MEAN = known(
    "style_loss.mean",
    "your loss and its gradient are the expected ones with each layer's term divided by the number of entries of its "
    "Gram matrix (C * C): the squared differences are averaged (torch.mean, or F.mse_loss's default reduction) instead "
    "of summed.",
    "mistake_style_loss_mean",
)
NORM = known(
    "style_loss.norm_not_squared",
    "each layer's term is the norm (length) of the Gram difference, the square root of its sum of squares: "
    "torch.norm is not squared; square it, or sum the squared differences.",
    "mistake_style_loss_norm_not_squared",
)
SQUARE_OF_SUM = known(
    "style_loss.square_of_sum",
    "each layer's term squares the sum of the Gram difference's entries: ** 2 is applied after torch.sum; square the "
    "differences first, then sum them.",
    "mistake_style_loss_square_of_sum",
)
WEIGHTS_IGNORED = known(
    "style_loss.weights_ignored",
    "your loss is the layers' summed squared Gram differences without their weights (it does not change with "
    "style_weights): multiply layer i's term by style_weights[i].",
    "mistake_style_loss_weights_ignored",
)
ONLY_LAST_LAYER = known(
    "style_loss.only_last_layer",
    "your loss is the last layer's term alone: the loop assigns the loss (loss = ...) instead of adding each layer's "
    "term to it (loss = loss + ...).",
    "mistake_style_loss_only_last_layer",
)
FEATS_BY_POSITION = known(
    "style_loss.feats_by_position",
    "your loss takes the Gram matrix of feats[i], the i-th layer, instead of feats[style_layers[i]]: style_layers "
    "says which of feats each target belongs to (a size mismatch between a Gram matrix and its target shows it too).",
    "mistake_style_loss_feats_by_position",
)
TARGETS_BY_LAYER_INDEX = known(
    "style_loss.targets_by_layer_index",
    "your loss indexes style_targets and style_weights by the layer's index (style_targets[layer]) instead of its "
    "position i in style_layers: they are lists as long as style_layers, so use style_targets[i] and style_weights[i].",
    "mistake_style_loss_targets_by_layer_index",
)
UNNORMALIZED_GRAM = known(
    "style_loss.unnormalized_gram",
    "your loss is what Gram matrices not divided by C * H * W give: compute each with self.gram_matrix(feats[...]) "
    "(normalized, its default), not with F @ F.T written out or normalize=False.",
    "mistake_style_loss_inline_unnormalized_gram",
)
DETACHED = known(
    "style_loss.detached",
    "your loss has the right value but no gradient: it was cut off from autograd (.item(), float(...), numpy, "
    ".detach() or torch.autograd.Variable(loss) give a value with no history); add the layers' terms as tensors.",
    "mistake_style_loss_item_python_float",
    "mistake_style_loss_variable_detached",
)


def sum_of_squares(difference: torch.Tensor) -> torch.Tensor:
    return (difference**2).sum()


def mistaken_loss(
    feats: Sequence[torch.Tensor],
    layers: Sequence[int],
    targets: Sequence[torch.Tensor],
    weights: Sequence[float],
    *,
    term: Callable[[torch.Tensor], torch.Tensor] = sum_of_squares,
    normalize: bool = True,
) -> torch.Tensor:
    """The loss a mistake gives: the reference's Gram matrix of ``feats[layers[i]]`` against ``targets[i]``, made one
    number by ``term`` (the right one sums the squares), times ``weights[i]``, added over i; the mistakes change an
    argument."""
    gram_matrix = reference.module("style_modules.style_loss").StyleLoss().gram_matrix
    terms = [
        weight * term(gram_matrix(feats[layer], normalize=normalize) - target)
        for layer, target, weight in zip_strict(layers, targets, weights)
    ]
    return torch.stack(terms).sum()


def mistaken_arguments(
    layers: tuple[int, ...], targets: list[torch.Tensor], weights: tuple[float, ...]
) -> list[tuple[Mistake, dict[str, Any]]]:
    """Each mistake, with the arguments of :func:`mistaken_loss` that give its loss (those it changes).

    Taking ``feats[i]`` and indexing the targets by the layer are told apart
    only where style_layers is not 0 to n - 1 in some order: there they give
    the same loss, and the targets' mistake gives no other (past the list's
    end it raises, see :func:`indexing_mistakes`).
    """
    count = len(layers)
    return [
        (MEAN, {"term": lambda difference: (difference**2).mean()}),
        (NORM, {"term": torch.linalg.vector_norm}),
        (SQUARE_OF_SUM, {"term": lambda difference: difference.sum() ** 2}),
        (WEIGHTS_IGNORED, {"weights": [1.0] * count}),
        (ONLY_LAST_LAYER, {"layers": layers[-1:], "targets": targets[-1:], "weights": weights[-1:]}),
        *([(FEATS_BY_POSITION, {"layers": list(range(count))})] if not in_some_order(layers) else []),
        (UNNORMALIZED_GRAM, {"normalize": False}),
    ]


def in_some_order(layers: Sequence[int]) -> bool:
    """Whether ``layers`` are 0 to n - 1 (n of them), in some order: then feats[i] and feats[layers[i]] are the same feats."""
    return sorted(layers) == list(range(len(layers)))


def value_suspects(
    feats: list[torch.Tensor], layers: tuple[int, ...], targets: list[torch.Tensor], weights: tuple[float, ...]
) -> list[Suspect]:
    """The known mistakes that may explain a wrong loss, each with the loss it gives (none where it cannot be made)."""
    given = {"feats": feats, "layers": layers, "targets": targets, "weights": weights}
    return [
        Suspect(mistake, predicts=predicted_loss(given, changes))
        for mistake, changes in mistaken_arguments(layers, targets, weights)
    ]


def gradient_suspects(
    feats: list[torch.Tensor], layers: tuple[int, ...], targets: list[torch.Tensor], weights: tuple[float, ...]
) -> Callable[[int], list[Suspect]]:
    """The known mistakes that may explain a wrong gradient with respect to ``feats[index]``, each with the gradient it gives."""
    given = {"feats": feats, "layers": layers, "targets": targets, "weights": weights}

    def of_input(index: int) -> list[Suspect]:
        return [
            Suspect(mistake, predicts=predicted_gradient(given, changes, index))
            for mistake, changes in mistaken_arguments(layers, targets, weights)
        ]

    return of_input


def predicted_loss(given: dict[str, Any], changes: dict[str, Any]) -> Callable[[], torch.Tensor]:
    """A prediction: the loss of :func:`mistaken_loss` with ``changes`` made to the ``given`` arguments."""
    return lambda: mistaken_loss(**{**given, **changes}).detach()


def predicted_gradient(given: dict[str, Any], changes: dict[str, Any], index: int) -> Callable[[], torch.Tensor]:
    """A prediction: the gradient with respect to ``feats[index]`` of the loss :func:`predicted_loss` gives."""

    def gradient() -> torch.Tensor:
        leaves = [f.clone().requires_grad_(True) for f in given["feats"]]
        loss = mistaken_loss(**{**given, **changes, "feats": leaves})
        (grad,) = torch.autograd.grad(loss, [leaves[index]], allow_unused=True)
        return torch.zeros_like(leaves[index]) if grad is None else grad

    return gradient


def student_loss(student: StudentCode, case: StyleCase, weights: tuple[float, ...], targets: list[torch.Tensor]) -> torch.Tensor:
    with indexing_mistakes([shape[1] for shape in case.shapes], case.layers, targets):
        reply = student.call(STYLE_LOSS, case.feats(), list(case.layers), targets, list(weights), course_methods=COURSE_GRAM)
    return as_scalar(reply.value, case.describe())


@contextlib.contextmanager
def indexing_mistakes(channels: list[int], layers: Sequence[int], targets: list[torch.Tensor]) -> Iterator[None]:
    """Errors that the indexing mistakes raise (``channels``: each layer's number of channels).

    ``style_targets[layer]`` past the end of the list is an IndexError; a
    Gram matrix against a target of another number of channels cannot be
    subtracted from it, and the sizes in the error tell which mistake paired
    them (neither is named where both would pair the same sizes first).
    """
    by_position = size_error([(channels[i], targets[i].shape[-1]) for i in range(len(layers))])
    by_layer = size_error([(channels[layer], targets[layer].shape[-1]) for layer in layers if layer < len(targets)])
    with raising(
        TARGETS_BY_LAYER_INDEX,
        lambda error: (
            (error.error_type == "IndexError" and max(layers) >= len(layers))
            or (by_layer is not None and by_layer != by_position and by_layer in str(error))
        ),
    ):
        with raising(
            FEATS_BY_POSITION,
            lambda error: by_position is not None and by_position != by_layer and by_position in str(error),
        ):
            yield


def size_error(pairs: list[tuple[int, int]]) -> str | None:
    """The error torch gives for the first (Gram matrix's, target's) number of channels that cannot be subtracted, if any."""
    for gram_channels, target_channels in pairs:
        if gram_channels != target_channels and 1 not in (gram_channels, target_channels):
            return f"The size of tensor a ({gram_channels}) must match the size of tensor b ({target_channels})"
    return None


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
    with indexing_mistakes([f.shape[1] for f in feats], layers, targets):
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
        mistakes=value_suspects(feats, tuple(layers), targets, tuple(weights)),
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
    with indexing_mistakes([shape[1] for shape in case.shapes], case.layers, targets):
        received = student.call(
            STYLE_LOSS, feats, list(case.layers), targets, list(case.weights), course_methods=COURSE_GRAM
        ).value
    expect_close(
        received,
        expected_loss(feats, case.layers, targets, case.weights),
        what=case.describe(),
        scalar=True,
        mistakes=value_suspects(feats, case.layers, targets, case.weights),
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
    with indexing_mistakes([shape[1] for shape in case.shapes], case.layers, targets):
        reply = student.call(
            STYLE_LOSS, leaves, list(case.layers), targets, list(case.weights), grad=True, course_methods=COURSE_GRAM
        )
    expected = expected_gradient(feats, case.layers, targets, case.weights)
    expect_gradients(
        reply,
        expected,
        what=case.describe(),
        names=[f"feats[{i}]" for i in range(len(feats))],
        mistakes=gradient_suspects(feats, case.layers, targets, case.weights),
        detached=[Suspect(DETACHED, predicts=lambda: expected_loss(feats, case.layers, targets, case.weights))],
    )


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
        mistakes=[Suspect(WEIGHTS_IGNORED, matches=lambda received: len(terms) > 1 and all(same(t, total) for t in terms))],
    )
    doubled = student_loss(student, case, tuple(2 * w for w in case.weights), targets)
    expect_close(
        doubled,
        2 * total,
        what=f"{case.describe()} with every weight doubled (twice the loss)",
        scalar=True,
        mistakes=[Suspect(WEIGHTS_IGNORED, predicts=lambda: total)],
    )
    own = [gram(case.feats()[layer]) for layer in case.layers]
    matched = student_loss(student, case, case.weights, own)
    scale = sum(w * float((g.to(torch.float64) ** 2).sum()) for w, g in zip_strict(case.weights, own))
    if abs(float(matched)) > 1e-5 * scale + 1e-12:
        failure = PropertyFailed(
            f"{case.describe()} with each target equal to that layer's Gram matrix: expected 0, received {float(matched):.6g}."
        )
        suspects = value_suspects(case.feats(), case.layers, own, case.weights)
        mistake = known_mistake(matched, torch.zeros((), dtype=torch.float64), suspects, scalar=True)
        raise explained(str(failure), mistake) if mistake else failure


def same(received: torch.Tensor, expected: torch.Tensor) -> bool:
    """Whether two losses are equal to float32's precision."""
    return bool(torch.allclose(received.to(torch.float64), expected.to(torch.float64), rtol=1e-4, atol=0.0))


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
