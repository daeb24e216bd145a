"""Saliency maps: ``SaliencyMap().compute_saliency_maps(X, y, model)``.

Expected: ``(N, H, W)``, the maximum over the channels of the absolute gradient
of each image's correct-class score (the score, not a loss after softmax) with
respect to the image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, figures, mistakes, reference
from autograder.compare import (
    as_tensor,
    expect,
    expect_close,
    known_mistake,
    proportional_factor,
    zip_strict,
)
from autograder.failures import PropertyFailed
from autograder.known_answers import recorded
from autograder.mistakes import Suspect, explained, reported
from autograder.strategies import seeds
from autograder.student import StudentCode, Target
from autograder.worker.models import build_model
from autograder.worker.wire import Ref

PROBLEM = "saliency"
SALIENCY = Target("visualizers.saliency_map", "SaliencyMap", "compute_saliency_maps")
POSITIONS = 20


@dataclass(frozen=True)
class VisualCase:
    """A batch of preprocessed pictures (one per seed), the seed of the model, and where each label sits.

    Images and models are float64: the gradient of a ReLU network jumps where
    a unit's input crosses 0, and in float32 the rounding of a batched
    computation against one image at a time is enough to cross it.

    A seeded random model's class scores are often exactly 0 (after the
    classifier's ReLU), and the gradient of such a score is 0 everywhere. So
    labels are drawn among the classes the model scores above 0 on the image:
    position k (0 to 19) is the class k/20 of the way down their ranking. The
    strongest classes are active at every position of the last feature map,
    where some Grad-CAM mistakes change nothing; weaker ones are not.
    """

    picture_seeds: tuple[int, ...]
    positions: tuple[int, ...]
    size: int
    model_seed: int

    def images(self) -> torch.Tensor:
        return course_setting.picture_batch(self.picture_seeds, self.size, torch.float64)

    @property
    def labels(self) -> tuple[int, ...]:
        return labels_of(self)

    def targets(self) -> torch.Tensor:
        return torch.tensor(self.labels)

    def model(self, *, frozen: bool = True) -> torch.nn.Module:
        return build_model(course_setting.VISUAL_MODEL, self.model_seed, torch.float64, frozen=frozen)

    def model_ref(self, *, frozen: bool = True) -> Ref:
        return Ref("model", {"name": course_setting.VISUAL_MODEL, "seed": self.model_seed, "dtype": "float64", "frozen": frozen})

    def describe(self) -> str:
        images = "1 image" if len(self.labels) == 1 else f"{len(self.labels)} images"
        return (
            f"{images} of {self.size}x{self.size} pixels, labels {list(self.labels)}, a SqueezeNet 1.1 with random weights "
            f"(seed {self.model_seed})"
        )


@cache
def labels_of(case: VisualCase) -> tuple[int, ...]:
    with torch.no_grad():
        scores = case.model()(case.images())
    labels = []
    for image_scores, position in zip_strict(scores, case.positions):
        alive = max(int((image_scores > 0).sum()), 1)
        labels.append(int(image_scores.argsort(descending=True)[position * alive // POSITIONS]))
    return tuple(labels)


COURSE_CASE = VisualCase(
    course_setting.VISUAL_PICTURE_SEEDS,
    course_setting.VISUAL_LABEL_POSITIONS,
    course_setting.VISUAL_IMAGE_SIZE,
    course_setting.VISUAL_MODEL_SEED,
)


@st.composite
def visual_cases(draw: st.DrawFn, *, max_batch: int = 3) -> VisualCase:
    count = draw(st.integers(1, max_batch))
    return VisualCase(
        tuple(draw(st.lists(seeds(), min_size=count, max_size=count))),
        tuple(draw(st.lists(st.integers(0, POSITIONS - 1), min_size=count, max_size=count))),
        draw(st.sampled_from([32, 48, 64])),
        draw(st.integers(0, 3)),
    )


@recorded
def expected_saliency(case: VisualCase) -> torch.Tensor:
    return (
        reference.module("visualizers.saliency_map")
        .SaliencyMap()
        .compute_saliency_maps(case.images(), case.targets(), case.model())
    )


class MistakenScores(torch.nn.Module):
    """``model`` whose class scores are replaced by what a mistaken backward pass differentiates.

    The reference, run on it, backpropagates the "correct-class scores" of the
    replaced scores, and so computes what the mistake gives, without a second
    solution in the suites. ``features`` is the model's own: the reference's
    Grad-CAM hooks ``features[12]`` and its guided backprop swaps their ReLUs.
    """

    def __init__(self, model: torch.nn.Module, mistake: str, labels: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.features = getattr(model, "features", model)
        self.mistake = mistake
        self.labels = labels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = self.model(images)
        if self.mistake == "probabilities":  # softmax(scores)[y]
            return torch.softmax(scores, dim=1)
        if self.mistake == "cross_entropy":  # a cross-entropy loss summed over the batch
            return -torch.log_softmax(scores, dim=1)
        if self.mistake == "mean_cross_entropy":  # the default cross-entropy: averaged over the batch
            return -torch.log_softmax(scores, dim=1) / len(scores)
        if self.mistake == "all_scores":  # scores.sum() or backward(torch.ones_like(scores))
            return scores.sum(dim=1, keepdim=True).expand_as(scores)
        if self.mistake == "score_block":  # scores[:, y].sum(): every image scored on every label
            return scores[:, self.labels].sum(dim=1, keepdim=True).expand_as(scores)
        raise ValueError(f"unknown mistaken scores {self.mistake!r}")


@recorded
def saliency_if(case: VisualCase, mistake: str) -> torch.Tensor:
    """The maps a mistake in what is backpropagated gives (see :class:`MistakenScores`)."""
    model = MistakenScores(case.model(), mistake, case.targets())
    return reference.module("visualizers.saliency_map").SaliencyMap().compute_saliency_maps(case.images(), case.targets(), model)


def within(received: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> bool:
    """``low <= received <= high`` everywhere, up to rounding."""
    slack = 1e-6 * float(high.abs().max()) + 1e-12
    return bool(((received >= low - slack) & (received <= high + slack)).all())


BATCH_MEAN = mistakes.known(
    "saliency.batch_mean",
    "your maps are the expected ones divided by N, the number of images: the correct-class scores are averaged over "
    "the batch (mean(), or a loss averaged over the batch) where they should be summed.",
    "mistake_saliency_batch_mean",
)
CROSS_ENTROPY = mistakes.known(
    "saliency.cross_entropy_loss",
    "your maps are those of the cross-entropy loss: backpropagate the correct-class scores themselves (summed), "
    "not a loss computed after a softmax.",
    "mistake_saliency_cross_entropy_loss",
)
PROBABILITY = mistakes.known(
    "saliency.softmax_probability",
    "your maps are those of the correct class's softmax probability: backpropagate its raw score, before any softmax.",
    "mistake_saliency_softmax_probability",
)
ALL_SCORES = mistakes.known(
    "saliency.sum_of_all_scores",
    "your maps are those of the sum of all class scores, as scores.sum() or backward(torch.ones_like(scores)) gives: "
    "backpropagate only each image's correct-class score, scores.gather(1, y.view(-1, 1)).sum().",
    "mistake_saliency_sum_of_all_scores",
)
SCORE_BLOCK = mistakes.known(
    "saliency.score_block_summed",
    "your maps are those of every image's scores for every label of the batch, as scores[:, y].sum() gives (an N x N "
    "block): take one score per image, scores.gather(1, y.view(-1, 1)) or scores[torch.arange(N), y].",
    "mistake_saliency_score_block_summed",
)
SQUEEZED = mistakes.known(
    "saliency.squeeze_loses_batch",
    "for a single image your maps have lost their batch dimension, as squeeze() does (it drops every dimension of "
    "size 1): use squeeze(1), or max(dim=1) without keepdim.",
    "mistake_saliency_squeeze_loses_batch",
)
NO_ABS = mistakes.known(
    "saliency.no_abs",
    "some values are negative and none is larger in size than the expected one, as the maximum of the signed gradient "
    "gives: take the absolute value of the gradient before the maximum over the channels.",
    "mistake_saliency_no_abs",
)
ABS_AFTER_MAX = mistakes.known(
    "saliency.abs_after_max",
    "your values equal the expected ones at some pixels and are smaller at others, as the absolute value of the "
    "channel maximum gives: take the absolute value first, then the maximum over the channels.",
    "mistake_saliency_abs_after_max",
)
CHANNEL_MEAN = mistakes.known(
    "saliency.channel_mean",
    "every value lies between a third of the expected one and the expected one, as the mean of the three channels' "
    "absolute gradients does: take their maximum over the channels (dim=1), not the mean.",
    "mistake_saliency_channel_mean",
)
CHANNEL_SUM = mistakes.known(
    "saliency.channel_sum",
    "every value lies between the expected one and three times it, as the sum of the three channels' absolute "
    "gradients does: take their maximum over the channels (dim=1), not the sum.",
    "mistake_saliency_channel_sum",
)


def signed_maximum(received: torch.Tensor, expected: torch.Tensor) -> bool:
    """Some values negative, none larger in size than the expected maps: the channel maximum of the signed gradient."""
    return bool((received < 0).any()) and within(received, -expected, expected)


def abs_after_max(received: torch.Tensor, expected: torch.Tensor) -> bool:
    """Nonnegative, at most the expected maps, equal to them at some of the pixels that matter and below at others."""
    if tuple(received.shape) != tuple(expected.shape) or not within(received, torch.zeros_like(expected), expected):
        return False
    alive = expected > 1e-6 * float(expected.max())
    equal = torch.isclose(received, expected, rtol=1e-4, atol=0) & alive
    return int(alive.sum()) > 0 and 0.1 <= int(equal.sum()) / int(alive.sum()) <= 0.9


def typical_ratio(received: torch.Tensor, expected: torch.Tensor) -> float:
    """The median of ``received / expected`` where the expected maps are not 0: far from 1 when the values are off by a pattern, not by rounding."""
    alive = expected > 1e-6 * float(expected.max())
    return float((received[alive] / expected[alive]).median())


def saliency_suspects(case: VisualCase, expected: torch.Tensor) -> list[Suspect]:
    """The known mistakes that may explain wrong maps for ``case``; the ones that need no reference first."""
    batch = len(case.labels)
    suspects = [Suspect(SQUEEZED, predicts=lambda: expected.squeeze())]
    if batch > 1:
        suspects.append(Suspect(BATCH_MEAN, predicts=lambda: expected / batch))
    suspects += [
        Suspect(CROSS_ENTROPY, predicts=reported(lambda: saliency_if(case, "cross_entropy"))),
        Suspect(CROSS_ENTROPY, predicts=reported(lambda: saliency_if(case, "mean_cross_entropy"))),
        Suspect(PROBABILITY, predicts=reported(lambda: saliency_if(case, "probabilities"))),
        Suspect(ALL_SCORES, predicts=reported(lambda: saliency_if(case, "all_scores"))),
    ]
    if len(set(case.labels)) > 1 or batch > 1:
        suspects.append(Suspect(SCORE_BLOCK, predicts=reported(lambda: saliency_if(case, "score_block"))))
    return [
        *suspects,
        Suspect(NO_ABS, matches=lambda got: signed_maximum(got, expected)),
        Suspect(ABS_AFTER_MAX, matches=lambda got: abs_after_max(got, expected)),
        Suspect(CHANNEL_MEAN, matches=lambda got: within(got, expected / 3, expected) and typical_ratio(got, expected) < 0.9),
        Suspect(CHANNEL_SUM, matches=lambda got: within(got, expected, 3 * expected) and typical_ratio(got, expected) > 1.1),
    ]


def student_saliency(student: StudentCode, case: VisualCase) -> torch.Tensor:
    """The student's maps; drawn over the pictures beside the expected ones on a page (``--html``)."""

    def call() -> torch.Tensor:
        reply = student.call(SALIENCY, case.images(), case.targets(), case.model_ref())
        return as_tensor(reply.value, f"compute_saliency_maps(X, y, model) on {case.describe()}")

    return figures.drawn(call, lambda received: draw_maps("Saliency maps", case, expected_saliency, received))


def draw_maps(
    name: str, case: VisualCase, expected: Callable[[VisualCase], torch.Tensor], received: object, *, overlay: bool = False
) -> None:
    """A figure of ``case``'s maps: each picture, its expected map, the received one, and their difference."""
    figures.maps_over_pictures(
        f"{name}: {case.describe()}", case.images, lambda: expected(case), received, overlay=overlay, labels=lambda: case.labels
    )


def factor_in_words(factor: float, batch: int) -> str:
    """``factor``, and what it suggests when it is 1/N or N for a batch of N images."""
    for value, name, question in (
        (1 / batch, f"1/N = 1/{batch}", "is the loss averaged over the batch instead of summed?"),
        (float(batch), f"N = {batch}", "is each image's score counted once per image of the batch?"),
    ):
        if batch > 1 and abs(factor - value) <= 1e-3 * value:
            return f"your maps are the expected ones times {factor:.4g} = {name}: {question}"
    return f"your maps are the expected ones times {factor:.4g}: backpropagate the correct-class scores themselves, summed"


def expect_maps(student: StudentCode, case: VisualCase, *, fixed: bool = False) -> None:
    """The student's maps are the reference's; a mismatch by one positive factor is named."""
    received, expected = student_saliency(student, case), expected_saliency(case)
    what = f"compute_saliency_maps(X, y, model) on {case.describe()}"
    try:
        expect_close(received, expected, what=what, fixed=fixed, mistakes=saliency_suspects(case, expected))
    except PropertyFailed as mismatch:
        factor = proportional_factor(received, expected)
        if factor is None or getattr(mismatch, "mistake", None) is not None:
            raise
        raise PropertyFailed(
            f"{mismatch}\nThe pattern is right but the scale is not: {factor_in_words(factor, len(case.labels))}."
        ) from None


@weight(1.0)
@number("6.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the saliency maps match

    SqueezeNet 1.1 (random weights) and a batch of five images: the saliency maps match the solution's.
    """
    expect_maps(student, COURSE_CASE, fixed=True)


@weight(0.5)
@number("6.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=12)
@given(case=visual_cases())
def test_matches_reference_on_generated_batches(student: StudentCode, case: VisualCase) -> None:
    """Generated batches: the saliency maps match

    On generated batches (1 to 3 images of 32 to 64 pixels, any labels, other random weights), the saliency maps match
    the solution's.
    """
    expect_maps(student, case)


@weight(0.5)
@number("6.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=6)
@given(case=visual_cases().filter(lambda c: len(c.labels) > 1))
def test_shape_sign_and_pattern(student: StudentCode, case: VisualCase) -> None:
    """(N, H, W), nonnegative, the right pattern up to scale

    On generated batches of 2 or 3 images, the maps have the shape (N, H, W), are nonnegative, and are the solution's
    up to one positive factor for the whole batch (a loss averaged over the batch passes here).
    """
    maps = student_saliency(student, case)
    shape = (len(case.labels), case.size, case.size)
    what = f"The maps of compute_saliency_maps(X, y, model) on {case.describe()}"
    expect(tuple(maps.shape) == shape, f"{what}: expected shape {shape}, received {tuple(maps.shape)}.")
    if not bool((maps >= 0).all()):
        message = (
            f"{what} have negative values (the smallest is {float(maps.min()):.4g}); "
            "a saliency map is the largest absolute gradient over the channels."
        )
        expected = expected_saliency(case)
        mistake = known_mistake(maps, expected, [Suspect(NO_ABS, matches=lambda got: signed_maximum(got, expected))])
        raise explained(message, mistake)
    expected = expected_saliency(case)
    factor = proportional_factor(maps, expected)
    if factor is None:
        expect_close(
            maps,
            expected,
            what=f"{what} (not the expected ones times any one positive factor either)",
            mistakes=saliency_suspects(case, expected),
        )
