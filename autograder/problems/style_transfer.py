"""Style transfer: the optimisation step of ``style_utils.style_transfer``.

The student writes the step of the course's Adam loop over the image's pixels:
zero the gradients, sum the three losses, backward, decay the learning rate at
``decay_lr_at``, step. A short version of the loop (few steps, a small image, a
seeded CNN, the course's own losses) runs in the worker and in the grader, in
float64 so that rounding cannot tell two correct programs apart, and the final
images are compared. Both correct ways of decaying the learning rate are
accepted: a new Adam at the decayed rate (the course's code) or a new ``lr``
in the optimizer's ``param_groups``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import PIL.Image
import torch
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import course_setting, figures, reference
from autograder.compare import as_tensor, expect_close
from autograder.failures import PropertyFailed, StudentRaised, WrongResultType
from autograder.known_answers import recorded, recording, remade, torch_random_numbers
from autograder.mistakes import Suspect, explained, known, reported, with_mistake
from autograder.strategies import picture_pixels, seeds, synthetic_picture
from autograder.student import StudentCode, Target
from autograder.worker.models import build_model
from autograder.worker.wire import Ref

PROBLEM = "style_transfer"
STYLE_TRANSFER = Target("style_utils", "style_transfer")
COURSE_LR = {"initial_lr": 3.0, "decayed_lr": 0.1}
LAYERS = 7  # tiny_cnn's layers


@dataclass(frozen=True)
class TransferCase:
    """One short style-transfer run: pictures, sizes, layers, weights, schedule."""

    model: str
    content_picture: tuple[int, int, int] | None  # width, height, seed; None: the course's picture
    style_picture: tuple[int, int, int] | None
    image_size: int
    style_size: int
    content_layer: int
    content_weight: float
    style_layers: tuple[int, ...]
    style_weights: tuple[float, ...]
    tv_weight: float
    init_random: bool
    num_iterations: int
    decay_lr_at: int
    clamp_until: int
    seed: int = 0

    def pictures(self) -> tuple[PIL.Image.Image, PIL.Image.Image]:
        content = course_setting.content_picture() if self.content_picture is None else synthetic_picture(*self.content_picture)
        style = course_setting.style_picture() if self.style_picture is None else synthetic_picture(*self.style_picture)
        return content, style

    def schedule(self) -> dict[str, Any]:
        return {
            "num_iterations": self.num_iterations,
            "decay_lr_at": self.decay_lr_at,
            "clamp_until": self.clamp_until,
            **COURSE_LR,
        }

    def arguments(self, content: Any, style: Any, losses: tuple[Any, Any, Any], cnn: Any, dtype: Any) -> list[Any]:
        return [
            "grading",
            content,
            style,
            self.image_size,
            self.style_size,
            self.content_layer,
            self.content_weight,
            list(self.style_layers),
            list(self.style_weights),
            self.tv_weight,
            *losses,
            cnn,
            dtype,
            self.init_random,
        ]

    def describe(self) -> str:
        cnn = "SqueezeNet 1.1's features" if self.model == course_setting.MODEL else "a small CNN of the grader's"
        pictures = [
            f"the course's {role} picture" if picture is None else f"a generated {role} picture of {picture[0]}x{picture[1]}"
            for role, picture in (("content", self.content_picture), ("style", self.style_picture))
        ]
        return (
            f"style_transfer(..., image_size={self.image_size}, style_size={self.style_size}, "
            f"content_layer={self.content_layer}, content_weight={self.content_weight!r}, style_layers={list(self.style_layers)}, "
            f"style_weights={list(self.style_weights)}, tv_weight={self.tv_weight!r}, init_random={self.init_random}, "
            f"num_iterations={self.num_iterations}, decay_lr_at={self.decay_lr_at}, clamp_until={self.clamp_until}) "
            f"with cnn {cnn}, {pictures[0]} and {pictures[1]}"
        )


# The course's "composition_vii_tubingen" run (content layer 3, style layers
# 1, 4, 6, 7 and their weights) on SqueezeNet, at a small size and shortened,
# with the decay and the end of clamping inside the run.
COURSE_CASE = TransferCase(
    model=course_setting.MODEL,
    content_picture=None,
    style_picture=None,
    image_size=48,
    style_size=64,
    content_layer=3,
    content_weight=5e-2,
    style_layers=(1, 4, 6, 7),
    style_weights=(20000.0, 500.0, 12.0, 1.0),
    tv_weight=5e-2,
    init_random=False,
    num_iterations=8,
    decay_lr_at=5,
    clamp_until=6,
)


@st.composite
def transfer_cases(draw: st.DrawFn, *, crosses_decay: bool) -> TransferCase:
    picture = st.tuples(st.integers(6, 40), st.integers(6, 40), seeds())
    layers = draw(st.lists(st.integers(0, LAYERS - 1), min_size=1, max_size=3, unique=True))
    weights = st.sampled_from([0.0, 1.0, 5e-2, 20.0]) | st.floats(1e-3, 1e3)
    if crosses_decay:
        iterations = draw(st.integers(2, 8))
        decay = draw(st.integers(1, iterations - 1))  # 0 (decayed from the start) is no schedule anyone writes
    else:
        iterations = draw(st.integers(1, 6))
        decay = iterations + draw(st.integers(0, 3))
    return TransferCase(
        model="tiny_cnn",
        content_picture=draw(picture),
        style_picture=draw(picture),
        image_size=draw(st.integers(4, 24)),
        style_size=draw(st.integers(4, 24)),
        content_layer=draw(st.integers(0, LAYERS - 1)),
        content_weight=draw(weights),
        style_layers=tuple(layers),
        style_weights=tuple(draw(weights) for _ in layers),
        tv_weight=draw(weights),
        init_random=draw(st.booleans()),
        num_iterations=iterations,
        decay_lr_at=decay,
        clamp_until=draw(st.integers(0, iterations)),
        seed=draw(seeds()),
    )


@contextlib.contextmanager
def decay_in_param_groups() -> Iterator[None]:
    """Within this block, a second ``torch.optim.Adam`` over the same tensors sets the first one's ``lr`` instead.

    The reference decays the learning rate the course's way (a new Adam);
    this turns the same code into the other correct way, without a second
    copy of the loop.
    """
    original = torch.optim.Adam
    created: dict[tuple[int, ...], torch.optim.Optimizer] = {}

    def adam(params: Any, lr: float = 1e-3, **options: Any) -> torch.optim.Optimizer:
        params = list(params)
        key = tuple(id(p) for p in params)
        if key in created:
            for group in created[key].param_groups:
                group["lr"] = lr
            return created[key]
        created[key] = original(params, lr=lr, **options)
        return created[key]

    torch.optim.Adam = adam  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        torch.optim.Adam = original  # type: ignore[misc]


@contextlib.contextmanager
def gradients_never_zeroed() -> Iterator[None]:
    """Within this block, ``optimizer.zero_grad()`` does nothing: the reference then makes the forgotten-zeroing mistake."""
    original = torch.optim.Optimizer.zero_grad
    torch.optim.Optimizer.zero_grad = lambda self, set_to_none=True: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.optim.Optimizer.zero_grad = original  # type: ignore[method-assign]


@recorded
def reference_run(
    case: TransferCase, *, lr_in_param_groups: bool = False, decayed_lr: float | None = None, zero_grad: bool = True
) -> torch.Tensor:
    """The reference's final image for ``case``, computed like the worker's run (float64, same seed).

    ``decayed_lr`` and ``zero_grad=False`` make a known mistake's run (another decayed rate, gradients never zeroed).
    """
    style_utils = reference.module("style_utils")
    losses = (
        reference.module("style_modules.content_loss").ContentLoss(),
        reference.module("style_modules.style_loss").StyleLoss(),
        reference.module("style_modules.tv_loss").TotalVariationLoss(),
    )
    content, style = case.pictures()
    cnn = build_model(case.model, course_setting.MODEL_SEED, torch.float64)
    previous = torch.get_default_dtype()
    schedule = case.schedule() if decayed_lr is None else {**case.schedule(), "decayed_lr": decayed_lr}
    with contextlib.ExitStack() as mistakes_made:
        if lr_in_param_groups:
            mistakes_made.enter_context(decay_in_param_groups())
        if not zero_grad:
            mistakes_made.enter_context(gradients_never_zeroed())
        mistakes_made.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(case.seed)
        torch.set_default_dtype(torch.float64)
        try:
            return style_utils.style_transfer(*case.arguments(content, style, losses, cnn, torch.float64), **schedule)
        finally:
            torch.set_default_dtype(previous)


def student_run(student: StudentCode, case: TransferCase) -> torch.Tensor:
    content, style = case.pictures()
    remade(
        f"the pictures {case.content_picture or 'of the course'} and {case.style_picture or 'of the course'}", (content, style)
    )
    remade(f"the random numbers seed {case.seed} gives (the random start image)", torch_random_numbers(case.seed))
    losses = (
        Ref("course", {"name": "ContentLoss"}),
        Ref("course", {"name": "StyleLoss"}),
        Ref("course", {"name": "TotalVariationLoss"}),
    )
    arguments = case.arguments(
        Ref("image_file", {"name": "content.png", "pixels": picture_pixels(content)}),
        Ref("image_file", {"name": "style.png", "pixels": picture_pixels(style)}),
        losses,
        Ref("model", {"name": case.model, "seed": course_setting.MODEL_SEED, "dtype": "float64"}),
        Ref("dtype", {"name": "float64"}),
    )
    try:
        reply = student.call(STYLE_TRANSFER, *arguments, kwargs=case.schedule(), seed=case.seed, default_dtype=torch.float64)
    except StudentRaised as error:
        if error.error_type == "TypeError" and "unexpected keyword argument" in str(error):
            raise WrongResultType(
                f"{error}\nThis project's style_transfer takes the loop's schedule as keyword arguments "
                "(num_iterations=200, initial_lr=3.0, decayed_lr=0.1, decay_lr_at=180, clamp_until=190) "
                "so that a grader can run a short version; see the template's signature."
            ) from None
        if DETACHED_BACKWARD in str(error):
            raise explained(str(error), LOSS_DETACHED) from None
        raise
    if reply.value is None:
        raise WrongResultType(
            "style_transfer returned None. In this project it returns the final image, a tensor of shape (1, 3, H, W) "
            "(end with `return img.detach()`); plotting happens elsewhere."
        )
    return as_tensor(reply.value, "style_transfer")


DETACHED_BACKWARD = "does not require grad and does not have a grad_fn"
"""What torch says when backward() is called on a tensor with no gradient history."""
LOSS_DETACHED = known(
    "style_transfer.loss_detached",
    "backward() was called on a loss cut off from img: torch.autograd.Variable(loss), like loss.detach() or "
    "loss.data, makes a new tensor with no gradient history. Call backward() on the sum of the losses itself.",
    "mistake_style_transfer_loss_wrapped_in_variable",
)
ONLY_TV_MOVES_IMAGE = known(
    "style_transfer.only_tv_loss_moves_the_image",
    "the final image is what the total-variation loss alone makes of it, as if the content and style weights were 0: "
    "the content and style losses do not depend on img. Extract the features from img itself, inside the loop "
    "(feats = extract_features(img, cnn)), not from img.detach(), content_img or the features left from before the loop.",
    "mistake_style_transfer_features_of_detached_img",
    "mistake_style_transfer_features_of_content_image",
)
NO_STYLE_LOSS = known(
    "style_transfer.no_style_loss",
    "the final image is what the run gives with every style weight 0: the style loss is missing from the sum of losses.",
    "mistake_style_transfer_no_style_loss",
)
NO_TV_LOSS = known(
    "style_transfer.no_tv_loss",
    "the final image is what the run gives with tv_weight 0: the total-variation loss is missing from the sum of losses.",
    "mistake_style_transfer_no_tv_loss",
)
CONTENT_WEIGHT_TWICE = known(
    "style_transfer.content_weight_twice",
    "the final image is what the run gives with content_weight squared: the content loss is multiplied by "
    "content_weight again, though the ContentLoss module already applies it.",
    "mistake_style_transfer_content_weight_twice",
)
NO_LR_DECAY = known(
    "style_transfer.no_lr_decay",
    "the final image is what the run gives when the learning rate never decays: decay it to decayed_lr at "
    "t == decay_lr_at (the arguments, not the course's fixed 180 and 0.1).",
    "mistake_style_transfer_no_lr_decay",
    "mistake_style_transfer_hardcoded_decay_180",
)
DECAY_ONE_STEP_LATE = known(
    "style_transfer.decay_one_step_late",
    "the final image is what the run gives when the learning rate decays one step late: step decay_lr_at must "
    "already use decayed_lr, so decay before optimizer.step() at t == decay_lr_at.",
    "mistake_style_transfer_decay_one_step_late",
    "mistake_style_transfer_decay_after_step",
)
DECAY_ONE_STEP_EARLY = known(
    "style_transfer.decay_one_step_early",
    "the final image is what the run gives when the learning rate decays one step early: decay at t == decay_lr_at.",
    "mistake_style_transfer_decay_one_step_early",
)
LR_MULTIPLIED = known(
    "style_transfer.lr_multiplied_by_decayed_lr",
    "the final image is what the run gives when the learning rate decays to initial_lr * decayed_lr: set the "
    "learning rate to decayed_lr itself, do not multiply it.",
    "mistake_style_transfer_lr_multiplied_by_decayed_lr",
)
NO_ZERO_GRAD = known(
    "style_transfer.gradients_not_zeroed",
    "the final image is what the run gives when img.grad is never cleared, so each step follows the sum of all "
    "gradients so far: call optimizer.zero_grad() at every step, before loss.backward().",
    "mistake_style_transfer_no_zero_grad",
)
IMAGE_NEVER_MOVES = known(
    "style_transfer.image_never_moves",
    "the final image is the starting image, only clamped: no step moved it, as img.grad was empty at "
    "optimizer.step(). Call loss.backward() before optimizer.step(), on the loss itself: "
    "torch.autograd.Variable(loss, requires_grad=True) cuts the loss off from img.",
    "mistake_style_transfer_step_before_backward",
    "mistake_style_transfer_loss_variable_requires_grad",
)


def transfer_suspects(case: TransferCase) -> list[Suspect]:
    """The known mistakes whose runs may explain a wrong final image of ``case``, each as the reference's run of a changed case.

    A mistake that leaves out a loss is the run with that loss's weight 0. Where two such mistakes give the same
    weights on this case (a case whose only weight is tv_weight cannot tell "no TV loss" from "the image never
    moves"), or the case's own, neither is suspected: the numbers cannot say which it is.
    """
    no_style = tuple(0.0 for _ in case.style_weights)
    weights = {
        ONLY_TV_MOVES_IMAGE: replace(case, content_weight=0.0, style_weights=no_style),
        IMAGE_NEVER_MOVES: replace(case, content_weight=0.0, style_weights=no_style, tv_weight=0.0),
        NO_STYLE_LOSS: replace(case, style_weights=no_style),
        NO_TV_LOSS: replace(case, tv_weight=0.0),
        CONTENT_WEIGHT_TWICE: replace(case, content_weight=case.content_weight**2),
    }

    def weighted(changed: TransferCase) -> tuple[float, tuple[float, ...], float]:
        return (changed.content_weight, tuple(float(w) for w in changed.style_weights), changed.tv_weight)

    told_apart = [weighted(changed) for changed in weights.values()] + [weighted(case)]
    suspects = [
        Suspect(mistake, predicts=reported(lambda changed=changed: reference_run(changed)))  # type: ignore[misc]
        for mistake, changed in weights.items()
        if told_apart.count(weighted(changed)) == 1
    ]
    suspects.append(Suspect(NO_ZERO_GRAD, predicts=reported(lambda: reference_run(case, zero_grad=False))))
    if case.decay_lr_at + 1 < case.num_iterations:  # a decay at the last step, one step late, is no decay at all
        suspects += [
            Suspect(
                DECAY_ONE_STEP_LATE, predicts=reported(lambda: reference_run(replace(case, decay_lr_at=case.decay_lr_at + 1)))
            ),
            Suspect(NO_LR_DECAY, predicts=reported(lambda: reference_run(replace(case, decay_lr_at=case.num_iterations)))),
        ]
    if case.decay_lr_at < case.num_iterations:
        suspects += [
            Suspect(
                DECAY_ONE_STEP_EARLY, predicts=reported(lambda: reference_run(replace(case, decay_lr_at=case.decay_lr_at - 1)))
            ),
            Suspect(
                LR_MULTIPLIED,
                predicts=reported(
                    lambda: reference_run(
                        case, lr_in_param_groups=True, decayed_lr=COURSE_LR["initial_lr"] * COURSE_LR["decayed_lr"]
                    )
                ),
            ),
        ]
    return suspects


def draw_run(case: TransferCase, received: object) -> None:
    """A figure of the run: the content and style pictures, the expected final image, the student's, their difference."""
    content, style = case.pictures()

    def expected() -> torch.Tensor:  # of the two correct ways to decay the learning rate, the one nearer the student's
        course_way = reference_run(case)
        mine = figures.tensor_of(received)
        if mine is None or mine.shape != course_way.shape or case.decay_lr_at >= case.num_iterations:
            return course_way
        if not figures.differs(course_way.to(torch.float64), mine):
            return course_way  # the other way is run only when this one is not the student's
        ways = [course_way, reference_run(case, lr_in_param_groups=True)]
        return min(ways, key=lambda way: float((way.to(torch.float64) - mine).abs().max()))

    figures.images(
        f"The final image: {case.describe()}",
        expected,
        received,
        given=[("content picture", lambda: figures.photo(content)), ("style picture", lambda: figures.photo(style))],
    )


def expect_same_run(student: StudentCode, case: TransferCase, *, fixed: bool = False) -> None:
    received = figures.drawn(lambda: student_run(student, case), lambda received: draw_run(case, received))
    course_way = reference_run(case)
    if recording() and case.decay_lr_at < case.num_iterations:
        reference_run(case, lr_in_param_groups=True)  # the check may need the other correct way too
    try:
        expect_close(
            received, course_way, what=f"The final image of {case.describe()}", fixed=fixed, mistakes=transfer_suspects(case)
        )
    except PropertyFailed as mismatch:
        if case.decay_lr_at >= case.num_iterations:
            raise
        try:
            expect_close(received, reference_run(case, lr_in_param_groups=True), what="", fixed=fixed)
        except PropertyFailed:
            raise with_mistake(
                PropertyFailed(
                    f"{mismatch}\n(Compared with both correct ways of decaying the learning rate: a new Adam "
                    "at decay_lr_at, and a new lr in the optimizer's param_groups.)"
                ),
                getattr(mismatch, "mistake", None),
            ) from None


@weight(1.5)
@number("5.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting(student: StudentCode) -> None:
    """Course's setting: the final image matches

    SqueezeNet, the course's pictures, layers and weights, a schedule shortened to 8 steps with the learning rate's decay
    and the end of clamping inside it: the final image matches the solution's.
    """
    expect_same_run(student, COURSE_CASE, fixed=True)


@weight(0.75)
@number("5.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=15)
@given(case=transfer_cases(crosses_decay=False))
def test_matches_reference_before_the_decay(student: StudentCode, case: TransferCase) -> None:
    """Runs before the decay: the final image matches

    On generated short runs (1 to 6 steps) that end before the learning rate decays, with other pictures, layers,
    weights, sizes and random starts, on a small CNN: the final image matches the solution's.
    """
    expect_same_run(student, case)


@weight(0.75)
@number("5.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=15)
@given(case=transfer_cases(crosses_decay=True))
def test_matches_reference_across_the_decay(student: StudentCode, case: TransferCase) -> None:
    """Runs past decay_lr_at: the final image matches

    On generated short runs (2 to 8 steps) that go past decay_lr_at, with other pictures, layers, weights, sizes and
    random starts, on a small CNN: the final image matches the solution's, so the learning rate decays at the right step
    (to a new Adam or a new lr in the optimizer's param_groups).
    """
    expect_same_run(student, case)
