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
from typing import Any

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import figures, mistakes, reference
from autograder.compare import expect_close, expect_gradients
from autograder.failures import PropertyFailed
from autograder.known_answers import recorded
from autograder.mistakes import Suspect, explained, reported
from autograder.problems.saliency import COURSE_CASE, MistakenScores, VisualCase, visual_cases
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


PLAIN_RELU = mistakes.known(
    "guided_backprop.plain_relu_backward",
    "your gradient passes wherever the ReLU's input was positive, also where the incoming gradient dout is negative: "
    "that is the ordinary ReLU backward; guided backprop also blocks dout where it is negative.",
    "mistake_guided_backprop_plain_relu_backward",
)
DECONVNET = mistakes.known(
    "guided_backprop.deconvnet_mask",
    "your gradient passes wherever the incoming gradient dout is positive, also where the ReLU's input was negative: "
    "that is the deconvnet rule; guided backprop also blocks it where the input x is not positive.",
    "mistake_guided_backprop_deconvnet_mask",
)


def relu_suspects(x: torch.Tensor, dout: torch.Tensor) -> list[Suspect]:
    """CustomReLU's backward with one of its two masks: the gradient where the input is exactly 0 is not looked at."""
    decided = x != 0
    plain, deconvnet = dout * (x > 0), dout * (dout > 0)
    return [
        Suspect(PLAIN_RELU, matches=lambda got: torch.allclose(got[decided], plain[decided])),
        Suspect(DECONVNET, matches=lambda got: torch.allclose(got[decided], deconvnet[decided])),
    ]


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
        expect_gradients(reply, [expected], what=what, names=["x"], mistakes=relu_suspects(x, dout))
    except PropertyFailed as failure:
        mistake = getattr(failure, "mistake", None)
        text = str(failure).replace(f"\n{mistake.hint}", "") if mistake else str(failure)
        inputs = f"\nThe inputs were:\nx = {x.tolist()}\ndout = {dout.tolist()}"
        raise explained(text + inputs, mistake) from None


@recorded
def expected_guided(case: VisualCase) -> torch.Tensor:
    gradcam = reference.module("visualizers.gradcam")
    images = case.images().requires_grad_(True)
    return torch.from_numpy(gradcam.GradCam().guided_backprop(images, case.targets(), case.model(frozen=False)))


class OrdinaryReLU(torch.nn.ReLU):
    """A ReLU the reference's guided backprop keeps (it swaps the modules named ``ReLU``): the ordinary backward."""


class DeconvnetReLU(torch.nn.Module):
    """A ReLU whose backward passes the incoming gradient wherever it is positive, whatever the input: the deconvnet rule."""

    class Function(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx: Any, dout: torch.Tensor) -> torch.Tensor:
            return dout.clamp(min=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Function.apply(x)


def with_relus(model: torch.nn.Module, relu: type[torch.nn.Module]) -> torch.nn.Module:
    """``model`` with each ReLU of its features (and of their Fire modules) replaced by a ``relu()``."""
    features = model.get_submodule("features")
    for parent in [features, *features.children()]:
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.ReLU:
                setattr(parent, name, relu())
    return model


@recorded
def guided_if(case: VisualCase, mistake: str) -> torch.Tensor:
    """What a mistake in what is backpropagated (see ``MistakenScores``) or in the ReLUs' backward gives."""
    model = case.model(frozen=False)
    if mistake == "ordinary_relu":
        model = with_relus(model, OrdinaryReLU)
    elif mistake == "deconvnet_relu":
        model = with_relus(model, DeconvnetReLU)
    else:
        model = MistakenScores(model, mistake, case.targets())
    images = case.images().requires_grad_(True)
    return torch.from_numpy(reference.module("visualizers.gradcam").GradCam().guided_backprop(images, case.targets(), model))


CHANNELS_FIRST = mistakes.known(
    "guided_backprop.channels_first",
    "your result is (N, 3, H, W), the gradient as X_tensor.grad holds it: move the channels last with permute(0, 2, 3, 1).",
    "mistake_guided_backprop_channels_first",
)
RESHAPED = mistakes.known(
    "guided_backprop.reshape_not_permute",
    "your numbers are the expected ones in other places, as reshape or view to (N, H, W, 3) gives (they keep the "
    "memory order): move the channels last with permute(0, 2, 3, 1).",
    "mistake_guided_backprop_reshape_not_permute",
)
TRANSPOSED = mistakes.known(
    "guided_backprop.transpose_swaps_h_w",
    "your images are the expected ones with rows and columns swapped, as transpose(1, 3) gives (N, W, H, 3): use "
    "permute(0, 2, 3, 1).",
    "mistake_guided_backprop_transpose_swaps_h_w",
)
ABSOLUTE = mistakes.known(
    "guided_backprop.abs",
    "your values are the absolute values of the expected ones: return the guided gradient itself, with its signs.",
    "mistake_guided_backprop_abs",
)
NORMALIZED = mistakes.known(
    "guided_backprop.normalized_for_display",
    "your values are the expected ones rescaled to span [0, 1], as for display: return the gradient itself (the "
    "notebook rescales it to show it).",
    "mistake_guided_backprop_normalized_for_display",
)
BATCH_MEAN = mistakes.known(
    "guided_backprop.batch_mean",
    "your gradients are the expected ones divided by N, the number of images: the correct-class scores are averaged "
    "over the batch (mean(), or a loss averaged over the batch) where they should be summed.",
    "mistake_guided_backprop_batch_mean",
)
CROSS_ENTROPY = mistakes.known(
    "guided_backprop.cross_entropy_loss",
    "your gradients are those of the cross-entropy loss: backpropagate the correct-class scores themselves (summed), "
    "not a loss computed after a softmax.",
    "mistake_guided_backprop_cross_entropy_loss",
)
ALL_SCORES = mistakes.known(
    "guided_backprop.sum_of_all_scores",
    "your gradients are those of the sum of all class scores, as backward(torch.ones_like(scores)) gives: backpropagate "
    "only each image's correct-class score, scores.gather(1, y.view(-1, 1)).sum().",
    "mistake_guided_backprop_ones_like_scores",
)


def guided_suspects(case: VisualCase, expected: torch.Tensor) -> list[Suspect]:
    """The known mistakes that may explain a wrong guided backprop for ``case``; the ones that need no reference first."""
    batch = len(case.labels)
    suspects = [
        Suspect(CHANNELS_FIRST, predicts=lambda: expected.permute(0, 3, 1, 2)),
        Suspect(RESHAPED, predicts=lambda: expected.permute(0, 3, 1, 2).reshape(expected.shape)),
        Suspect(TRANSPOSED, predicts=lambda: expected.transpose(1, 2)),
        Suspect(ABSOLUTE, predicts=lambda: expected.abs()),
        Suspect(NORMALIZED, predicts=lambda: (expected - expected.min()) / (expected.max() - expected.min())),
    ]
    if batch > 1:
        suspects.append(Suspect(BATCH_MEAN, predicts=lambda: expected / batch))
    return [
        *suspects,
        Suspect(PLAIN_RELU, predicts=reported(lambda: guided_if(case, "ordinary_relu"))),
        Suspect(DECONVNET, predicts=reported(lambda: guided_if(case, "deconvnet_relu"))),
        Suspect(CROSS_ENTROPY, predicts=reported(lambda: guided_if(case, "cross_entropy"))),
        Suspect(CROSS_ENTROPY, predicts=reported(lambda: guided_if(case, "mean_cross_entropy"))),
        Suspect(ALL_SCORES, predicts=reported(lambda: guided_if(case, "all_scores"))),
    ]


def expect_guided(student: StudentCode, case: VisualCase, *, fixed: bool = False) -> None:
    received = figures.drawn(
        lambda: (
            student.call(GUIDED_BACKPROP, case.images().requires_grad_(True), case.targets(), case.model_ref(frozen=False)).value
        ),
        lambda received: figures.images(
            f"Guided backprop: {case.describe()} (gradients stretched to the colours' range)",
            lambda: expected_guided(case),
            received,
            given=[("input", case.images)],
            kind=figures.RGB,
            channels_last=True,
            labels=lambda: case.labels,
        ),
    )
    expected = expected_guided(case)
    expect_close(
        received,
        expected,
        mistakes=guided_suspects(case, expected),
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
