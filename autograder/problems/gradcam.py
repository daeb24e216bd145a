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

import numpy as np
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import assume, given, settings

from autograder import reference
from autograder.compare import as_tensor, expect, expect_close
from autograder.known_answers import recorded
from autograder.problems.saliency import COURSE_CASE, POSITIONS, VisualCase, visual_cases
from autograder.student import StudentCode, Target

PROBLEM = "gradcam"
GRAD_CAM = Target("visualizers.gradcam", "GradCam", "grad_cam")


@recorded
def expected_cam(case: VisualCase) -> torch.Tensor:
    instance = reference.module("visualizers.gradcam").GradCam()
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return torch.from_numpy(instance.grad_cam(case.images(), case.targets(), case.model(frozen=False)))
    finally:
        vars(instance).clear()  # its hooks and activations form a cycle the garbage collector cannot see


def student_cam(student: StudentCode, case: VisualCase) -> torch.Tensor:
    received = student.call(GRAD_CAM, case.images(), case.targets(), case.model_ref(frozen=False)).value
    return as_tensor(received, f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {case.describe()}")


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
        student_cam(student, case), expected, what=f"GradCam.grad_cam(X_tensor, y_tensor, gc_model) on {case.describe()}"
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
    expect(
        tuple(cam.shape) == shape, f"{what}: expected shape {shape}, received {tuple(cam.shape)} (keep the given resizing code)."
    )
    expect(
        bool(torch.isfinite(cam).all()),
        f"{what}: the result holds NaN or infinite values. The given normalisation divides by the cam's largest value, so "
        "this means your cam was 0 everywhere (check the weights' sign and what you backpropagate: the class scores).",
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
    expect(
        any(not torch.allclose(cam[i].to(torch.float64), other[i].to(torch.float64), atol=1e-3) for i in moved),
        f"{what}: the maps stay the same with the labels {list(relabelled.labels)}, where Grad-CAM's change: a class "
        "activation map depends on the class (backpropagate the score of each image's label).",
    )
