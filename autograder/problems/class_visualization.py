"""Class visualization: ``ClassVisualization().create_class_visualization(target_y, class_names, model, dtype, **kwargs)``.

Each step: jitter, gradient ascent on ``score[target_y] - l2_reg * ||img||^2``
with a normalised step, undo the jitter, clamp each channel to the valid range,
blur every ``blur_every`` steps. Short seeded runs (few steps, small images,
float64) in the worker and in the grader must end on the same image. The
given ``jitter`` and ``blur_image`` are graded only through the runs that use
them.

A seeded random model's class scores are small and often exactly 0 (after the
classifier's ReLU), so targets are drawn among the classes the model scores
highest on the run's starting image: their gradients are not 0.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, figures, reference
from autograder.compare import as_tensor, expect, expect_close, known_mistake
from autograder.failures import PropertyFailed, StudentRaised, WrongResultType
from autograder.known_answers import recorded, remade, torch_random_numbers
from autograder.mistakes import Suspect, explained, known, reported, with_mistake
from autograder.strategies import seeds
from autograder.student import StudentCode, Target
from autograder.worker.models import build_model
from autograder.worker.wire import Opaque, Ref

PROBLEM = "class_visualization"
CREATE = Target("visualizers.class_visualization", "ClassVisualization", "create_class_visualization")
CLASS_NAMES = [f"class {index}" for index in range(1000)]


@dataclass(frozen=True)
class VisualizationCase:
    """A short run: the target's rank on the starting image, the model, the options, the seed."""

    rank: int
    model_seed: int
    image_size: int
    num_iterations: int
    l2_reg: float
    learning_rate: float
    blur_every: int
    max_jitter: int
    seed: int

    def options(self, **changes: Any) -> dict[str, Any]:
        options = {
            "l2_reg": self.l2_reg,
            "learning_rate": self.learning_rate,
            "num_iterations": self.num_iterations,
            "blur_every": self.blur_every,
            "max_jitter": self.max_jitter,
            "show_every": self.num_iterations,
            "image_size": self.image_size,
            "generate_plots": False,
        }
        return {**options, **changes}

    def start(self) -> torch.Tensor:
        """The run's random starting image, as the given code draws it."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return torch.randn(1, 3, self.image_size, self.image_size).to(torch.float64)

    def target(self) -> int:
        return target_of(self)

    def describe(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items() if k not in ("show_every", "generate_plots"))
        return (
            f"create_class_visualization(target_y={self.target()}, class_names, model, dtype, {options}) with model a "
            f"SqueezeNet 1.1 with random weights (seed {self.model_seed}), the starting image drawn from seed {self.seed}"
        )


@cache
def target_of(case: VisualizationCase) -> int:
    """The class of the given rank in the model's scores on the run's starting image."""
    scores = build_model(course_setting.VISUAL_MODEL, case.model_seed, torch.float64)(case.start())[0]
    return int(scores.argsort(descending=True)[case.rank])


# The course's run (the default options, its first target class, Tarantula) shortened and at 64 pixels.
COURSE_CASE = VisualizationCase(
    rank=0, model_seed=0, image_size=64, num_iterations=12, l2_reg=1e-3, learning_rate=25, blur_every=10, max_jitter=16, seed=76
)


@st.composite
def visualization_cases(draw: st.DrawFn, *, l2_regs: tuple[float, ...] = (1e-3, 1e-2, 1e-6)) -> VisualizationCase:
    return VisualizationCase(
        rank=draw(st.integers(0, 30)),
        model_seed=draw(st.integers(0, 3)),
        image_size=draw(st.sampled_from([32, 48])),
        num_iterations=draw(st.integers(1, 6)),
        l2_reg=draw(st.sampled_from(l2_regs)),
        learning_rate=draw(st.sampled_from([25.0, 5.0])),
        blur_every=draw(st.integers(1, 4)),
        max_jitter=draw(st.integers(0, 8)),
        seed=draw(seeds()),
    )


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's and Python's generators as the worker does, and restore them afterwards."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


@contextlib.contextmanager
def gradients_never_zeroed() -> Iterator[None]:
    """Within this block, ``tensor.zero_()`` does nothing: the reference (which zeroes only img.grad) then never clears it."""
    original = torch.Tensor.zero_
    torch.Tensor.zero_ = lambda self: self  # type: ignore[method-assign,return-value,assignment]
    try:
        yield
    finally:
        torch.Tensor.zero_ = original  # type: ignore[method-assign]


@recorded
def reference_run(case: VisualizationCase, *, zero_grad: bool = True, **changes: Any) -> torch.Tensor:
    """The reference's final image for ``case`` with its options changed by ``changes``; ``zero_grad=False``: never cleared."""
    visualization = reference.module("visualizers.class_visualization").ClassVisualization()
    model = build_model(course_setting.VISUAL_MODEL, case.model_seed)
    with seeded(case.seed), gradients_never_zeroed() if not zero_grad else contextlib.nullcontext():
        return visualization.create_class_visualization(
            case.target(), CLASS_NAMES, model, torch.float64, **case.options(**changes)
        )


@recorded
def channel_ranges() -> list[tuple[float, float]]:
    """Each channel's valid range after the course's preprocessing: pixels 0 to 1, less the mean, over the deviation."""
    image_utils = reference.module("image_utils")
    mean, std = image_utils.SQUEEZENET_MEAN, image_utils.SQUEEZENET_STD
    return [(float(-mean[c] / std[c]), float((1.0 - mean[c]) / std[c])) for c in range(3)]


def student_run(student: StudentCode, case: VisualizationCase) -> torch.Tensor:
    remade(f"the random numbers seed {case.seed} gives (the run's jitter)", torch_random_numbers(case.seed))
    model = Ref("model", {"name": course_setting.VISUAL_MODEL, "seed": case.model_seed})
    try:
        reply = student.call(
            CREATE, case.target(), CLASS_NAMES, model, Ref("dtype", {"name": "float64"}), kwargs=case.options(), seed=case.seed
        )
    except StudentRaised as error:
        if DETACHED_BACKWARD in str(error):
            raise explained(str(error), SCORE_DETACHED) from None
        raise
    if isinstance(reply.value, Opaque):
        raise WrongResultType(
            f"create_class_visualization returned {reply.value!r}. In this project it returns the final image, a tensor of "
            "shape (1, 3, image_size, image_size), and takes image_size and generate_plots among its keyword arguments; "
            "see the template."
        )
    return as_tensor(reply.value, "create_class_visualization")


STEP_HINT = (
    "Things to check in the step: it ascends score[target_y] - l2_reg * ||img||^2 (the sign and the square of the "
    "L2 term), the step is learning_rate * g / ||g||_2, the gradient is cleared after each step, and the step changes "
    "img itself (not a copy) before the given code undoes the jitter."
)


NO_L2 = known(
    "class_visualization.no_l2",
    "the final image is what the run gives with l2_reg = 0: the L2 term is missing. Ascend "
    "score[target_y] - l2_reg * (img ** 2).sum().",
    "mistake_class_visualization_no_l2",
)
L2_WRONG_SIGN = known(
    "class_visualization.l2_wrong_sign",
    "the final image is what the run gives with l2_reg of the opposite sign: the L2 term is added to the score; "
    "subtract it (score[target_y] - l2_reg * (img ** 2).sum()).",
    "mistake_class_visualization_l2_wrong_sign",
)
L2_MEAN = known(
    "class_visualization.l2_mean",
    "the final image is what the run gives with l2_reg divided by the number of pixel values: the L2 term takes "
    "the mean of img ** 2; take the sum.",
    "mistake_class_visualization_l2_mean",
)
DESCENDS = known(
    "class_visualization.descends",
    "the final image is what the run gives with a negative learning rate: the steps go down the target score. "
    "Add the step (img += learning_rate * g / g.norm()), do not subtract it.",
    "mistake_class_visualization_descends_score",
)
GRADIENT_NOT_ZEROED = known(
    "class_visualization.gradient_not_zeroed",
    "the final image is what the run gives when img.grad is never cleared, so each step follows the sum of all "
    "gradients so far: zero it after each step (img.grad.zero_()).",
    "mistake_class_visualization_grad_not_zeroed",
)
IMAGE_NEVER_STEPS = known(
    "class_visualization.image_never_steps",
    "the final image is what the run gives with learning rate 0: only the jitter, clamping and blur changed img, "
    "no step did. Take the step on img itself (img += ..., or img.data), not on a copy of it.",
    "mistake_class_visualization_updates_copy",
)
DETACHED_BACKWARD = "does not require grad and does not have a grad_fn"
"""What torch says when backward() is called on a tensor with no gradient history."""
SCORE_DETACHED = known(
    "class_visualization.score_detached",
    "backward() was called on a score cut off from img: torch.autograd.Variable(score), like score.detach() or "
    "score.data, makes a new tensor with no gradient history. Call backward() on the score itself.",
    "mistake_class_visualization_score_wrapped_in_variable",
)


def run_suspects(case: VisualizationCase) -> list[Suspect]:
    """The known mistakes whose runs may explain a wrong final image of ``case``: the reference's run with changed options."""
    rate, l2 = case.learning_rate, case.l2_reg
    suspects = [
        Suspect(IMAGE_NEVER_STEPS, predicts=reported(lambda: reference_run(case, learning_rate=0.0))),
        Suspect(DESCENDS, predicts=reported(lambda: reference_run(case, learning_rate=-rate))),
        Suspect(GRADIENT_NOT_ZEROED, predicts=reported(lambda: reference_run(case, zero_grad=False))),
    ]
    if l2 != 0:  # with l2_reg = 0, the L2 term's mistakes change nothing
        pixels = 3 * case.image_size**2
        suspects += [
            Suspect(DESCENDS, predicts=reported(lambda: reference_run(case, learning_rate=-rate, l2_reg=0.0))),
            Suspect(NO_L2, predicts=reported(lambda: reference_run(case, l2_reg=0.0))),
            Suspect(L2_WRONG_SIGN, predicts=reported(lambda: reference_run(case, l2_reg=-l2))),
            Suspect(L2_MEAN, predicts=reported(lambda: reference_run(case, l2_reg=l2 / pixels))),
        ]
    return suspects


def expect_same_run(student: StudentCode, case: VisualizationCase, *, fixed: bool = False) -> None:
    received = figures.drawn(
        lambda: student_run(student, case),
        lambda received: figures.images(f"The final image: {case.describe()}", lambda: reference_run(case), received),
    )
    try:
        expect_close(
            received,
            reference_run(case),
            what=f"The final image of {case.describe()}",
            fixed=fixed,
            mistakes=run_suspects(case),
        )
    except PropertyFailed as mismatch:
        mistake = getattr(mismatch, "mistake", None)
        raise with_mistake(PropertyFailed(f"{mismatch}" if mistake else f"{mismatch}\n{STEP_HINT}"), mistake) from None


@weight(1.5)
@number("10.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the final image matches

    The course's options (l2_reg 1e-3, learning_rate 25, blur_every 10, max_jitter 16), shortened to 12 steps at 64
    pixels, on SqueezeNet 1.1 (random weights): the final image matches the solution's.
    """
    expect_same_run(student, COURSE_CASE, fixed=True)


@weight(1.0)
@number("10.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=10)
@given(case=visualization_cases())
def test_matches_reference_on_generated_runs(student: StudentCode, case: VisualizationCase) -> None:
    """Generated runs: the final image matches

    On generated short runs (other targets, random weights, sizes, l2_reg, learning rates, blurs and jitters), the final
    image matches the solution's.
    """
    expect_same_run(student, case)


@weight(0.5)
@number("10.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=5)
@given(case=visualization_cases(l2_regs=(1e-6, 0.0)))
def test_target_score_rises_and_pixels_stay_in_range(student: StudentCode, case: VisualizationCase) -> None:
    """The target's score rises; pixels stay in range

    On generated short runs (little or no l2_reg), the final image has the shape (1, 3, image_size, image_size), keeps
    every channel in its valid range, and scores the target higher than the same run without steps.
    """
    image = student_run(student, case).to(torch.float64)
    shape = (1, 3, case.image_size, case.image_size)
    what = f"The final image of {case.describe()}"
    expect(tuple(image.shape) == shape, f"{what}: expected shape {shape}, received {tuple(image.shape)}.")
    expect(bool(torch.isfinite(image).all()), f"{what} holds NaN or infinite values.")
    for channel, (low, high) in enumerate(channel_ranges()):
        values = image[0, channel]
        expect(
            bool((values >= low - 1e-6).all() and (values <= high + 1e-6).all()),
            f"{what}: channel {channel} spans [{float(values.min()):.4g}, {float(values.max()):.4g}], "
            f"outside its valid range [{low:.4g}, {high:.4g}] (keep the given clamping).",
        )
    model = build_model(course_setting.VISUAL_MODEL, case.model_seed, torch.float64)
    target = case.target()
    score = float(model(image)[0, target])
    without_steps = float(model(reference_run(case, learning_rate=0.0))[0, target])
    if score <= without_steps:
        mistake = known_mistake(image, image, run_suspects(case))
        message = (
            f"{what}: the target's score is {score:.6g}, not above {without_steps:.6g}, its score after the same run without "
            "any step (the steps must climb the score: gradient ascent)."
        )
        raise explained(message, mistake)
