"""Fooling images: ``FoolingImage().make_fooling_image(X, target_y, model)``.

Gradient ascent on the target class's score, ``dX = learning_rate * g / ||g||_2``
with ``learning_rate = 10``, at most 100 steps, stopping as soon as the model
predicts ``target_y``. The points are split between two parts:

* the outcome: the returned image fools the grader's own copy of the model
  (it is classified as ``target_y``), within the loop's own budget of
  ``MAX_STEPS * learning_rate`` from the input (L2). A loop that takes a step
  more after fooling the model, or that never stops early, earns it;
* the process: the worker records every image the student's code feeds the
  model, and each step between them must have length 10 and point along the
  target score's gradient; the first image the model takes for the target
  must be the last, within a step of as many steps as the reference takes.

The recordings come from the worker, where student code runs and can add to
them: before the grader runs the model on any of them, they must be at most
:data:`MAX_RECORDED` finite floating-point images of X's shape, of which at
most ``MAX_STEPS + 1`` distinct (:func:`ascent_path`); anything else fails the
process part at once, so the grader's own work per case is bounded.

A seeded random model cannot be fooled towards every class in 100 steps, so
the cases are drawn from a table of (model, picture, target) that the
reference reaches in a few steps; ``tests/test_problem_suites.py`` checks the
table against the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, figures
from autograder.compare import as_tensor, expect
from autograder.failures import PropertyFailed, StudentRaised
from autograder.mistakes import Mistake, Suspect, diagnose, explained, known
from autograder.student import StudentCode, Target
from autograder.worker.models import build_model
from autograder.worker.wire import Ref

PROBLEM = "fooling_image"
FOOLING_IMAGE = Target("visualizers.fooling_image", "FoolingImage", "make_fooling_image")
LEARNING_RATE = 10.0
MAX_STEPS = 100
SLACK = 1
MAX_RECORDED = 4 * (MAX_STEPS + 1)
"""The most images one run may give the model. A correct loop gives it at most MAX_STEPS + 1 images (X and one
per step), each once, or twice if it scores an image and then takes its gradient apart: 2 * (MAX_STEPS + 1).
Twice that leaves room for a loop that also evaluates the model once more per step (to print the scores, say).
The worker stops recording at 500 on its own, but student code can add to its recording; more is refused
before the grader computes anything with them."""


@dataclass(frozen=True)
class FoolingCase:
    """A picture (preprocessed, float64), a seeded model, a target, and how many steps the reference takes."""

    model_seed: int
    picture_seed: int
    size: int
    target: int
    steps: int

    def image(self) -> torch.Tensor:
        return course_setting.picture_batch((self.picture_seed,), self.size, torch.float64)

    def model(self) -> torch.nn.Module:
        return build_model(course_setting.VISUAL_MODEL, self.model_seed, torch.float64)

    def describe(self) -> str:
        return (
            f"make_fooling_image(X, target_y={self.target}, model) with X a {self.size}x{self.size} picture and model a "
            f"SqueezeNet 1.1 with random weights (seed {self.model_seed})"
        )


COURSE_CASE = FoolingCase(model_seed=0, picture_seed=0, size=64, target=143, steps=9)
# Each case (and the course's) is reached by the reference in a few steps, and still reached if the ascent takes
# one step more or goes on to MAX_STEPS: a loop that takes a step more, or never stops early, fools the model, and
# the outcome part is about the outcome. tests/test_problem_suites.py checks all three.
CASES = (
    FoolingCase(0, 1, 48, 416, 7),
    FoolingCase(0, 2, 48, 416, 3),
    FoolingCase(0, 2, 48, 997, 4),
    FoolingCase(0, 3, 48, 136, 9),
    FoolingCase(1, 1, 48, 371, 3),
    FoolingCase(1, 3, 48, 371, 8),
    FoolingCase(2, 0, 48, 529, 6),
    FoolingCase(2, 1, 64, 666, 3),
    FoolingCase(2, 3, 48, 353, 6),
    FoolingCase(2, 4, 48, 213, 3),
    FoolingCase(3, 2, 48, 131, 3),
    FoolingCase(3, 4, 48, 36, 4),
    FoolingCase(3, 5, 48, 131, 8),
)


DESCENDS = known(
    "fooling_image.descends",
    "the step goes exactly against the gradient of the target score, so the score falls: add the step "
    "(X_fooling += learning_rate * g / g.norm()), do not subtract it.",
    "mistake_fooling_image_descends",
)
SOFTMAX_OF_SCORES = known(
    "fooling_image.softmax_of_scores",
    "the step follows the gradient of the softmax probability of target_y (or of its log, which is what descending "
    "a cross-entropy loss gives: the same direction), not of the raw score: call backward() on scores[0, target_y] "
    "itself, before any softmax.",
    "mistake_fooling_image_cross_entropy_loss",
    "mistake_fooling_image_softmax_probability",
)
GRADIENT_NOT_ZEROED = known(
    "fooling_image.gradient_not_zeroed",
    "the step points along the sum of the target score's gradients at every image so far, not along the gradient "
    "at the current image: X_fooling.grad is never cleared. Zero it after each step (X_fooling.grad.zero_()).",
    "mistake_fooling_image_grad_not_zeroed",
)
NOT_NORMALIZED = known(
    "fooling_image.gradient_not_normalized",
    "the step is learning_rate * g, the gradient not divided by its L2 norm: use learning_rate * g / g.norm().",
    "mistake_fooling_image_gradient_not_normalized",
)
LEARNING_RATE_ONE = known(
    "fooling_image.learning_rate_missing",
    "the step is g / ||g||_2, of length 1: the learning rate (10) is missing from the step.",
    "mistake_fooling_image_learning_rate_one",
)
NORMALIZED_BY_MAX = known(
    "fooling_image.normalized_by_max",
    "the step is the gradient divided by its largest absolute value, not by its L2 norm: use g / g.norm().",
    "mistake_fooling_image_normalized_by_max",
)
NORMALIZED_PER_CHANNEL = known(
    "fooling_image.normalized_per_channel",
    "each colour channel of the step is divided by that channel's own L2 norm: divide the whole gradient by its "
    "one norm, g.norm().",
    "mistake_fooling_image_normalized_per_channel",
)
GRADIENT_SIGN = known(
    "fooling_image.gradient_sign",
    "the step is learning_rate * sign(g) (the fast gradient sign method), not learning_rate * g / ||g||_2.",
    "mistake_fooling_image_sign_fgsm",
)
ONE_STEP_TOO_MANY = known(
    "fooling_image.one_step_too_many",
    "exactly one step was taken after the model was fooled, which is what testing scores computed before the step "
    "gives: test the model's prediction on the current image before each step, and stop before stepping.",
    "mistake_fooling_image_checks_stale_scores_after_step",
)
NEVER_STOPS = known(
    "fooling_image.never_stops",
    "the ascent took all 100 steps though the model was fooled earlier: the loop never tests whether the model "
    "predicts target_y. Stop (break) as soon as it does.",
    "mistake_fooling_image_always_100_steps",
)
DETACHED_BACKWARD = "does not require grad and does not have a grad_fn"
"""What torch says when backward() is called on a tensor with no gradient history."""
SCORE_DETACHED = known(
    "fooling_image.score_detached",
    "backward() was called on a score cut off from X_fooling: torch.autograd.Variable(score), like score.detach() "
    "or score.data, makes a new tensor with no gradient history. Call backward() on scores[0, target_y] itself.",
    "mistake_fooling_image_score_wrapped_in_variable",
)


def log_softmax_gradient(model: torch.nn.Module, image: torch.Tensor, target: int) -> torch.Tensor:
    """The gradient at ``image`` of the target's log-softmax, which a known mistake ascends instead of its score.

    The softmax's own gradient is this one times the probability: the same direction, so the same normalised step.
    """
    leaf = image.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(torch.log_softmax(model(leaf), dim=1)[0, target], leaf)
    return gradient


def step_mistake(
    model: torch.nn.Module, before: torch.Tensor, move: torch.Tensor, gradient: torch.Tensor, summed: torch.Tensor, target: int
) -> Mistake | None:
    """The known mistake whose step from ``before`` is ``move``, if one is.

    ``gradient`` is the target score's gradient at ``before``, ``summed`` the sum of its gradients at every image
    of the ascent so far (``before`` included): the step of a loop that never clears the gradient.
    """
    g = gradient
    suspects = [
        Suspect(DESCENDS, predicts=lambda: -LEARNING_RATE * g / g.norm()),
        Suspect(NOT_NORMALIZED, predicts=lambda: LEARNING_RATE * g),
        Suspect(LEARNING_RATE_ONE, predicts=lambda: g / g.norm()),
        Suspect(NORMALIZED_BY_MAX, predicts=lambda: LEARNING_RATE * g / g.abs().max()),
        Suspect(NORMALIZED_PER_CHANNEL, predicts=lambda: LEARNING_RATE * g / g.norm(dim=(2, 3), keepdim=True)),
        Suspect(GRADIENT_SIGN, predicts=lambda: LEARNING_RATE * g.sign()),
        Suspect(GRADIENT_NOT_ZEROED, predicts=lambda: LEARNING_RATE * summed / summed.norm()),
        Suspect(SOFTMAX_OF_SCORES, predicts=lambda: LEARNING_RATE * unit(log_softmax_gradient(model, before, target))),
    ]

    def close(received: torch.Tensor, predicted: torch.Tensor) -> bool:
        return bool((received - predicted).norm() <= 1e-4 * predicted.norm())

    return diagnose(move, suspects, close)


def unit(vector: torch.Tensor) -> torch.Tensor:
    return vector / vector.norm()


def distinct(images: list[torch.Tensor]) -> list[torch.Tensor]:
    """The images in order, without the repeats of one image evaluated several times in a row."""
    kept: list[torch.Tensor] = []
    for image in images:
        image = image.to(torch.float64)
        if not kept or image.shape != kept[-1].shape or not torch.allclose(image, kept[-1], rtol=1e-6, atol=1e-9):
            kept.append(image)
    return kept


def target_gradient(model: torch.nn.Module, image: torch.Tensor, target: int) -> tuple[torch.Tensor, int]:
    """The gradient of the target score at ``image``, and the class the model predicts there."""
    leaf = image.detach().clone().requires_grad_(True)
    scores = model(leaf)
    (gradient,) = torch.autograd.grad(scores[0, target], leaf)
    return gradient, int(scores.argmax(dim=1))


@dataclass(frozen=True)
class FoolingRun:
    """What one run of the student's code left to judge.

    ``result`` is the fooling image (float64, of X's shape); ``path`` the distinct images the code gave the model,
    then the result, when they can be judged; otherwise ``refused`` says why not.
    """

    result: torch.Tensor
    path: tuple[torch.Tensor, ...]
    refused: str | None


def run_student(student: StudentCode, case: FoolingCase) -> FoolingRun:
    """The student's fooling image and the images its code fed the model.

    The outcome and the ascent are judged from one run: the call is made once per case and kept (at most
    ``MAX_STEPS + 1`` images of it). Reusing it is charged to the problem's time budget like a call.
    """
    key = (PROBLEM, case)
    if key not in student.shared:
        student.shared[key] = fooling_run(student, case)
    else:
        student.check_budget()
    return student.shared[key]


def fooling_run(student: StudentCode, case: FoolingCase) -> FoolingRun:
    X = case.image()
    try:
        reply = student.call(
            FOOLING_IMAGE,
            X,
            case.target,
            Ref("model", {"name": course_setting.VISUAL_MODEL, "seed": case.model_seed, "dtype": "float64", "record": True}),
        )
    except StudentRaised as error:
        if DETACHED_BACKWARD in str(error):
            raise explained(str(error), SCORE_DETACHED) from None
        raise
    result = as_tensor(reply.value, case.describe()).to(torch.float64)
    expect(
        tuple(result.shape) == tuple(X.shape),
        f"{case.describe()}: expected an image of shape {tuple(X.shape)}, received shape {tuple(result.shape)}.",
    )
    return FoolingRun(result, *ascent_path(reply.recorded[0], result, X, case.describe()))


def ascent_path(
    recorded: list[torch.Tensor], result: torch.Tensor, X: torch.Tensor, what: str
) -> tuple[tuple[torch.Tensor, ...], str | None]:
    """The distinct images given to the model, then the result; or none, and why they cannot be judged.

    Checked in this order, each before anything costs more than a look at the images: their number
    (:data:`MAX_RECORDED`), each one's type and shape, finite values (a NaN step compares neither longer nor
    shorter than any length, so the steps' checks could not judge it), and at most ``MAX_STEPS + 1`` distinct
    images (X and a step each).
    """
    if len(recorded) > MAX_RECORDED:
        return (), (
            f"{what}: {len(recorded)} images were given to the model, more than the {MAX_RECORDED} that an ascent of "
            f"at most {MAX_STEPS} steps needs (a correct loop calls the model once or twice per step); none was judged."
        )
    for call, image in enumerate([*recorded, result], start=1):
        given = "the returned image" if call > len(recorded) else f"the image given to the model in its forward call {call}"
        if not image.is_floating_point() or tuple(image.shape) != tuple(X.shape):
            return (), (
                f"{what}: {given} is a {str(image.dtype).replace('torch.', '')} tensor of shape {tuple(image.shape)}; "
                f"the model should be given images like X: floating-point tensors of shape {tuple(X.shape)}."
            )
        if not bool(torch.isfinite(image).all()):
            return (), f"{what}: {given} holds NaN or infinite values."
    path = distinct([*recorded, result])
    if len(path) > MAX_STEPS + 1:
        return (), (
            f"{what}: {len(path)} different images were given to the model (the returned one included), more than "
            f"the {MAX_STEPS + 1} of an ascent of at most {MAX_STEPS} steps."
        )
    return tuple(path), None


def step_is_right(move: torch.Tensor, gradient: torch.Tensor) -> tuple[bool, float, float]:
    """Whether ``move`` is a step of length learning_rate along ``gradient``; and its length and cosine with it."""
    length = float(move.norm())
    cosine = float((move * gradient).sum() / (length * gradient.norm()))
    return abs(length - LEARNING_RATE) <= 1e-4 * LEARNING_RATE and cosine >= 1 - 1e-6, length, cosine


def ascent_mistake(run: FoolingRun, case: FoolingCase) -> Mistake | None:
    """The known mistake that the first wrong step of the run's ascent shows, if one does: why the outcome failed."""
    if run.refused is not None:
        return None
    model = case.model()
    summed = torch.zeros_like(run.result)
    for step in range(1, len(run.path)):
        before = run.path[step - 1]
        gradient, predicted = target_gradient(model, before, case.target)
        summed += gradient
        move = run.path[step] - before
        if predicted == case.target:
            return None
        if not step_is_right(move, gradient)[0]:
            return step_mistake(model, before, move, gradient, summed, case.target)
    return None


def expect_fooled(student: StudentCode, case: FoolingCase) -> None:
    """The outcome: the returned image is classified as the target, within the loop's budget of the input."""
    run = figures.drawn(lambda: run_student(student, case), lambda run: draw_fooling(case, run))
    try:
        expect_outcome(run.result, case)
    except PropertyFailed as failure:
        mistake = ascent_mistake(run, case)
        if mistake is None:
            raise
        raise explained(str(failure), mistake) from None


def draw_fooling(case: FoolingCase, run: object) -> None:
    """A figure of the run: the picture, the student's fooling image, ten times their difference, the classes predicted."""
    model = case.model()
    figures.fooling(
        f"The fooling image: {case.describe()}",
        case.image,
        run.result if isinstance(run, FoolingRun) else run,
        predict=lambda image: target_gradient(model, image, case.target)[1],
        target=case.target,
    )


def expect_outcome(result: torch.Tensor, case: FoolingCase) -> None:
    what = case.describe()
    expect(bool(torch.isfinite(result).all()), f"{what}: the returned image holds NaN or infinite values.")
    _, predicted = target_gradient(case.model(), result, case.target)
    expect(predicted == case.target, f"{what}: the returned image is classified as {predicted}, not as the target {case.target}.")
    distance = float((result - case.image()).norm())
    budget = MAX_STEPS * LEARNING_RATE
    expect(
        distance <= budget * (1 + 1e-6),
        f"{what}: the returned image is {distance:.6g} (L2) away from X, more than {budget:g}, what "
        f"{MAX_STEPS} steps of length learning_rate = {LEARNING_RATE:g} can move it.",
    )


def expect_ascent(student: StudentCode, case: FoolingCase) -> None:
    """The process: normalised ascent steps on the target score from X, stopping at the first image that fools the model."""
    what = case.describe()
    X = case.image()
    run = run_student(student, case)
    if run.refused is not None:
        raise PropertyFailed(run.refused)
    path = run.path
    model = case.model()
    summed = torch.zeros_like(X)
    expect(
        torch.allclose(path[0], X, rtol=1e-6, atol=1e-9),
        f"{what}: the first image given to the model should be X itself (start the ascent from X).",
    )
    for step in range(1, len(path)):  # not itertools.pairwise: the handout's check runs on Python 3.9
        before, after = path[step - 1], path[step]
        gradient, predicted = target_gradient(model, before, case.target)
        summed += gradient
        if predicted == case.target:
            steps = len(path) - 1
            too_many = ONE_STEP_TOO_MANY if step == steps else NEVER_STOPS if steps == MAX_STEPS else None
            raise explained(
                f"{what}: the model already predicts the target on the image after step {step - 1}, yet the ascent went on "
                f"({steps} steps in all): stop as soon as the model is fooled.",
                too_many,
            )
        move = after - before
        right, length, cosine = step_is_right(move, gradient)
        if right:
            continue
        mistake = step_mistake(model, before, move, gradient, summed, case.target)
        if abs(length - LEARNING_RATE) > 1e-4 * LEARNING_RATE:
            raise explained(
                f"{what}: step {step} changes the image by {length:.6g} (L2 norm); each step must be "
                f"dX = learning_rate * g / ||g||_2, of length learning_rate = {LEARNING_RATE:g}.",
                mistake,
            )
        raise explained(
            f"{what}: step {step} does not point along the gradient of the target score (cosine {cosine:.6f}; "
            "it must be +1: ascend the score of target_y itself, not a loss, and clear the gradient between steps).",
            mistake,
        )
    _, predicted = target_gradient(model, path[-1], case.target)
    expect(predicted == case.target, f"{what}: the returned image is classified as {predicted}, not as the target {case.target}.")
    steps = len(path) - 1
    expect(steps <= min(case.steps + SLACK, MAX_STEPS), f"{what}: it took {steps} steps, the reference {case.steps}.")


@weight(0.5)
@number("9.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_fools_the_model(student: StudentCode) -> None:
    """Course's setting: the image fools the model

    A picture, SqueezeNet 1.1 (random weights) and a target class: the returned image is classified as the target, and
    is within 100 steps of length learning_rate of X.
    """
    expect_fooled(student, COURSE_CASE)


@weight(0.5)
@number("9.2")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_ascends_and_stops_when_fooled(student: StudentCode) -> None:
    """Course's setting: normalised ascent, stops when fooled

    A picture, SqueezeNet 1.1 (random weights) and a target class: the ascent starts from X, each step is
    learning_rate times the normalised gradient of the target score, and it stops as soon as the model is fooled, within
    a few steps of the solution's count.
    """
    expect_ascent(student, COURSE_CASE)


@weight(0.5)
@number("9.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=6)
@given(case=st.sampled_from(CASES))
def test_fools_other_models_pictures_and_targets(student: StudentCode, case: FoolingCase) -> None:
    """Other cases: the image fools the model

    On other pictures, random weights and targets, the returned image is classified as the target, and is within 100
    steps of length learning_rate of X.
    """
    expect_fooled(student, case)


@weight(0.5)
@number("9.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=6)
@given(case=st.sampled_from(CASES))
def test_ascends_and_stops_when_fooled_on_other_cases(student: StudentCode, case: FoolingCase) -> None:
    """Other cases: normalised ascent, stops when fooled

    On other pictures, random weights and targets, the ascent starts from X, each step is learning_rate times the
    normalised gradient of the target score, and it stops as soon as the model is fooled, within a few steps of the
    solution's count.
    """
    expect_ascent(student, case)
