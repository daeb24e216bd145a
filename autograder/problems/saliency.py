"""Saliency maps: ``SaliencyMap().compute_saliency_maps(X, y, model)``.

Expected: ``(N, H, W)``, the maximum over the channels of the absolute gradient
of each image's correct-class score (the score, not a loss after softmax) with
respect to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, reference
from autograder.compare import as_tensor, expect, expect_close, proportional_factor, zip_strict
from autograder.failures import PropertyFailed
from autograder.known_answers import recorded
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


def student_saliency(student: StudentCode, case: VisualCase) -> torch.Tensor:
    reply = student.call(SALIENCY, case.images(), case.targets(), case.model_ref())
    return as_tensor(reply.value, f"compute_saliency_maps(X, y, model) on {case.describe()}")


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
        expect_close(received, expected, what=what, fixed=fixed)
    except PropertyFailed as mismatch:
        factor = proportional_factor(received, expected)
        if factor is None:
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
    expect(
        bool((maps >= 0).all()),
        f"{what} have negative values (the smallest is {float(maps.min()):.4g}); "
        "a saliency map is the largest absolute gradient over the channels.",
    )
    expected = expected_saliency(case)
    factor = proportional_factor(maps, expected)
    if factor is None:
        expect_close(maps, expected, what=f"{what} (not the expected ones times any one positive factor either)")
