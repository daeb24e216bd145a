"""Guided backprop: ``CustomReLU.backward`` and ``GradCam().guided_backprop(X, y, model)``.

``CustomReLU``'s backward passes the incoming gradient only where both the
forward input and the incoming gradient are positive. Where the input is
exactly 0 the subgradient is a convention (a ReLU network's units are never
exactly 0 on real images): passing the gradient there and blocking it are
both accepted, element by element. ``guided_backprop``
returns, as a numpy array ``(N, H, W, 3)``, the guided gradient of the
correct-class scores with respect to the images. It edits the model in place,
so every call gets a fresh model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import reference
from autograder.compare import expect_close, expect_gradients
from autograder.known_answers import recorded
from autograder.problems.saliency import COURSE_CASE, VisualCase, visual_cases
from autograder.strategies import seeds
from autograder.student import StudentCode, Target

PROBLEM = "guided_backprop"
CUSTOM_RELU = Target("visualizers.gradcam", "CustomReLU.apply")
GUIDED_BACKPROP = Target("visualizers.gradcam", "GradCam", "guided_backprop")


@dataclass(frozen=True)
class ReluCase:
    """Inputs and incoming gradients with exact zeros and both signs, drawn from ``seed``."""

    shape: tuple[int, ...]
    seed: int

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        values = torch.randint(-2, 3, (2, *self.shape), generator=generator).to(torch.float64)
        values *= torch.rand((2, *self.shape), generator=generator, dtype=torch.float64) + 0.5
        return values[0], values[1]

    def describe(self) -> str:
        return f"CustomReLU.apply(x) with x and the incoming gradient of shape {self.shape}, float64, exact zeros included"


@st.composite
def relu_cases(draw: st.DrawFn) -> ReluCase:
    return ReluCase(tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))), draw(seeds()))


@weight(0.5)
@number("7.1")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=30)
@given(case=relu_cases())
def test_custom_relu_backward_masks_by_input_and_gradient(student: StudentCode, case: ReluCase) -> None:
    """CustomReLU's backward masks by input and gradient

    On generated inputs and incoming gradients (1 to 4 dimensions, exact zeros and both signs), CustomReLU's backward
    passes the incoming gradient only where the input and the gradient are both positive (either way where the input is
    exactly 0).
    """
    x, dout = case.tensors()
    reply = student.call(CUSTOM_RELU, x.clone().requires_grad_(True), grad=True, cotangent=dout)
    blocked = dout * (x > 0) * (dout > 0)
    passed = dout * (x >= 0) * (dout > 0)
    expected = blocked
    received = reply.grads[0] if len(reply.grads) == 1 else None
    if type(received) is torch.Tensor and tuple(received.shape) == tuple(x.shape):
        expected = torch.where((x == 0) & torch.isclose(received.to(torch.float64), passed), passed, blocked)
    what = f"CustomReLU.apply(x) for x of shape {case.shape}, backpropagating the incoming gradient dout"
    try:
        expect_gradients(reply, [expected], what=what, names=["x"])
    except AssertionError as failure:
        raise type(failure)(f"{failure}\nThe inputs were:\nx = {x.tolist()}\ndout = {dout.tolist()}") from None


@recorded
def expected_guided(case: VisualCase) -> torch.Tensor:
    gradcam = reference.module("visualizers.gradcam")
    images = case.images().requires_grad_(True)
    return torch.from_numpy(gradcam.GradCam().guided_backprop(images, case.targets(), case.model(frozen=False)))


def expect_guided(student: StudentCode, case: VisualCase, *, fixed: bool = False) -> None:
    received = student.call(
        GUIDED_BACKPROP, case.images().requires_grad_(True), case.targets(), case.model_ref(frozen=False)
    ).value
    expect_close(
        received,
        expected_guided(case),
        what=f"GradCam.guided_backprop(X_tensor, y_tensor, gc_model) on {case.describe()} (a numpy array (N, H, W, 3))",
        fixed=fixed,
        hint="Check: the gradient of the correct-class scores (summed over the batch) with respect to X_tensor, "
        "through CustomReLU, moved to (N, H, W, 3) with permute."
        if fixed
        else None,
    )


@weight(1.0)
@number("7.2")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the guided backprop matches

    SqueezeNet 1.1 (random weights) and a batch of five images: the result of guided_backprop matches the solution's.
    """
    expect_guided(student, COURSE_CASE, fixed=True)


@weight(0.5)
@number("7.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=10)
@given(case=visual_cases())
def test_matches_reference_on_generated_batches(student: StudentCode, case: VisualCase) -> None:
    """Generated batches: the guided backprop matches

    On generated batches (1 to 3 images of 32 to 64 pixels, any labels, other random weights), the result of
    guided_backprop matches the solution's.
    """
    expect_guided(student, case)
