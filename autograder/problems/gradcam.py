"""Grad-CAM: ``GradCam().grad_cam(X, y, model)``.

The student computes ``cam (N, K, K)``: the ReLU of the channel sum of the
activations of ``model.features[12]`` weighted by the spatially averaged
gradients of the correct-class scores. The given code resizes it to the image
and min-max normalises it over the whole batch.

What cannot be caught is not claimed: a positive rescaling of the cam (summing
instead of averaging the gradients, averaging instead of summing the channels)
disappears in the normalisation, so such code is graded as correct.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import assume, given, settings

from autograder import figures, mistakes, reference
from autograder.compare import as_tensor, expect, expect_close, known_mistake
from autograder.failures import StudentRaised
from autograder.known_answers import recorded
from autograder.mistakes import Suspect, explained, reported
from autograder.problems.saliency import COURSE_CASE, POSITIONS, MistakenScores, VisualCase, draw_maps, visual_cases
from autograder.student import StudentCode, Target

PROBLEM = "gradcam"
GRAD_CAM = Target("visualizers.gradcam", "GradCam", "grad_cam")


def reference_cam(case: VisualCase, model: torch.nn.Module) -> torch.Tensor:
    instance = reference.module("visualizers.gradcam").GradCam()
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return torch.from_numpy(instance.grad_cam(case.images(), case.targets(), model))
    finally:
        vars(instance).clear()  # its hooks and activations form a cycle the garbage collector cannot see


@recorded
def expected_cam(case: VisualCase) -> torch.Tensor:
    return reference_cam(case, case.model(frozen=False))


@recorded
def cam_if(case: VisualCase, mistake: str) -> torch.Tensor:
    """The maps a mistake in what is backpropagated gives (see ``MistakenScores``)."""
    return reference_cam(case, MistakenScores(case.model(frozen=False), mistake, case.targets()))


CROSS_ENTROPY = mistakes.known(
    "gradcam.cross_entropy_loss",
    "your maps are those of the cross-entropy loss, whose gradients point the other way: backpropagate the "
    "correct-class scores themselves (summed), not a loss computed after a softmax.",
    "mistake_gradcam_cross_entropy_loss",
)
PROBABILITY = mistakes.known(
    "gradcam.softmax_probability",
    "your maps are those of the correct class's softmax probability: backpropagate its raw score, before any softmax.",
    "mistake_gradcam_softmax_probability",
)
ALL_SCORES = mistakes.known(
    "gradcam.sum_of_all_scores",
    "your maps are those of the sum of all class scores, as backward(torch.ones_like(scores)) gives, so they ignore the "
    "labels: backpropagate only each image's correct-class score, scores.gather(1, y.view(-1, 1)).sum().",
    "mistake_gradcam_ones_like_scores",
)
NOT_RESIZED = mistakes.known(
    "gradcam.resizing_dropped",
    "your maps have the size of the hooked layer's output (K x K), not the images': keep the given code that resizes "
    "the cam to the image (the loop with Image.resize).",
    "mistake_gradcam_resizing_dropped",
)
HALF_THE_CHANNELS = mistakes.known(
    "gradcam.non_full_backward_hook",
    "the gradient you hooked has half the channels of the activations: features[12] ends with a torch.cat, and a "
    "non-full register_backward_hook sees only that last step, whose grad_input is one of the two halves; keep the "
    "gradient of the module's output (grad_output, the hook's third argument) or use register_full_backward_hook.",
    "mistake_gradcam_non_full_hook_grad_input",
)


def unresized(received: torch.Tensor, case: VisualCase) -> bool:
    """(N, K, K) with K below the images' size: the cam as computed, not resized to the images."""
    shape = tuple(received.shape)
    return len(shape) == 3 and shape[0] == len(case.labels) and shape[1] == shape[2] < case.size


def half_the_channels(error: StudentRaised) -> bool:
    """A size mismatch of C against 2C channels: weights from one half of a concatenation, against all the activations."""
    found = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", str(error))
    if found is None:
        return False
    small, large = sorted(int(size) for size in found.groups())
    return large == 2 * small


def cam_suspects(case: VisualCase) -> list[Suspect]:
    """The known mistakes that may explain wrong maps for ``case``; the ones that need no reference first."""
    return [
        Suspect(NOT_RESIZED, matches=lambda got: unresized(got, case)),
        Suspect(CROSS_ENTROPY, predicts=reported(lambda: cam_if(case, "mean_cross_entropy"))),
        Suspect(PROBABILITY, predicts=reported(lambda: cam_if(case, "probabilities"))),
        Suspect(ALL_SCORES, predicts=reported(lambda: cam_if(case, "all_scores"))),
    ]


def expect_or_known_mistake(
    holds: bool, message: str, received: torch.Tensor, expected: torch.Tensor, suspects: list[Suspect]
) -> None:
    """Like ``expect``; a failure that a known mistake explains (the maps are those it gives) ends with its hint."""
    if holds:
        return
    mistake = known_mistake(received, expected, suspects)
    raise explained(message, mistake)


def student_cam(student: StudentCode, case: VisualCase) -> torch.Tensor:
    """The student's maps; drawn over the pictures beside the expected ones on a page (``--html``)."""

    def call() -> torch.Tensor:
        with mistakes.raising(HALF_THE_CHANNELS, half_the_channels):
            received = student.call(GRAD_CAM, case.images(), case.targets(), case.model_ref(frozen=False)).value
        return as_tensor(received, f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {case.describe()}")

    return figures.drawn(call, lambda received: draw_maps("Grad-CAM maps", case, expected_cam, received, overlay=True))


@weight(1.5)
@number("8.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the Grad-CAM maps match

    SqueezeNet 1.1 (random weights) hooked at features[12], and a batch of five images: the Grad-CAM maps match the
    solution's.
    """
    expect_close(
        student_cam(student, COURSE_CASE),
        expected_cam(COURSE_CASE),
        what=f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {COURSE_CASE.describe()}",
        fixed=True,
        mistakes=cam_suspects(COURSE_CASE),
        hint="Check: the hooked activations weighted by their gradients averaged over the K x K positions, summed over "
        "the channels, then a ReLU; the gradients of the correct-class scores, not of a loss.",
    )


@weight(1.0)
@number("8.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=12)
@given(case=visual_cases())
def test_matches_reference_on_generated_batches(student: StudentCode, case: VisualCase) -> None:
    """Generated batches: the Grad-CAM maps match

    On generated batches (1 to 3 images of 32 to 64 pixels, any labels, other random weights), the Grad-CAM maps match
    the solution's.
    """
    expected = expected_cam(case)
    assume(bool(torch.isfinite(expected).all()))  # a cam that is 0 everywhere cannot be normalised
    expect_close(
        student_cam(student, case),
        expected,
        what=f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {case.describe()}",
        mistakes=cam_suspects(case),
    )


@weight(0.5)
@number("8.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=3)
@given(case=visual_cases())
def test_maps_have_the_images_size_span_zero_to_one_and_follow_the_labels(student: StudentCode, case: VisualCase) -> None:
    """(N, H, W), spans [0, 1], changes with the labels

    On generated batches, the result has the images' size (N, H, W) and spans [0, 1], as the given resizing and
    normalisation make it, and the maps change when the labels change (no comparison with the solution's values).
    """
    relabelled = VisualCase(
        case.picture_seeds,
        tuple((position + POSITIONS // 2) % POSITIONS for position in case.positions),
        case.size,
        case.model_seed,
    )
    expected, expected_relabelled = expected_cam(case), expected_cam(relabelled)
    assume(bool(torch.isfinite(expected).all() and torch.isfinite(expected_relabelled).all()))
    moved = [i for i in range(len(case.labels)) if not torch.allclose(expected[i], expected_relabelled[i], atol=1e-3)]
    assume(moved)
    cam = student_cam(student, case)
    shape = (len(case.labels), case.size, case.size)
    what = f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {case.describe()}"
    suspects = cam_suspects(case)
    expect_or_known_mistake(
        tuple(cam.shape) == shape,
        f"{what}: expected shape {shape}, received {tuple(cam.shape)} (keep the given resizing code).",
        cam,
        expected,
        suspects,
    )
    expect_or_known_mistake(
        bool(torch.isfinite(cam).all()),
        f"{what}: the result holds NaN or infinite values. The given normalisation divides by the cam's largest value, so "
        "this means your cam was 0 everywhere (check the weights' sign and what you backpropagate: the class scores).",
        cam,
        expected,
        suspects,
    )
    expect(
        abs(float(cam.min())) < 1e-6 and abs(float(cam.max()) - 1) < 1e-6,
        f"{what}: the values span [{float(cam.min()):.4g}, {float(cam.max()):.4g}], not [0, 1] (keep the given normalisation).",
    )
    other = student_cam(student, relabelled)
    expect(
        tuple(other.shape) == shape,
        f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {relabelled.describe()}: expected shape {shape}, received {tuple(other.shape)}.",
    )
    expect_or_known_mistake(
        any(not torch.allclose(cam[i].to(torch.float64), other[i].to(torch.float64), atol=1e-3) for i in moved),
        f"{what}: the maps stay the same with the labels {list(relabelled.labels)}, where Grad-CAM's change: a class "
        "activation map depends on the class (backpropagate the score of each image's label).",
        cam,
        expected,
        suspects,
    )
