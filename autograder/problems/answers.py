"""The written problems with checkable answers: problems 4, 6, 7-9, 10 and 13.

Every correct answer is accepted, not one stored answer: gates are checked on
their truth tables, the piecewise-linear pieces against autograd on the
problem's own network, region counts against a brute-force count (for small
sizes), gradient descent by where it converges, receptive fields against a
measurement on a stack of 1-D convolutions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograder import figures, reference
from autograder.compare import as_tensor, expect, expect_close, kind_of, proportional_factor, zip_strict
from autograder.failures import PropertyFailed, WrongResultType
from autograder.known_answers import recorded
from autograder.mistakes import Mistake, Suspect, explained, known, raising
from autograder.strategies import seeds
from autograder.student import StudentCode, Target

PROBLEM = "answers"
MODULE = "answers"

# --------------------------------------------------------------------------- reading answers


def numbers(value: Any, count: int, what: str) -> list[float]:
    """``value`` (a number, tuple, list, array or tensor, nested or not) as exactly ``count`` floats."""
    flat: list[float] = []

    def collect(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            flat.extend(float(v) for v in item.detach().reshape(-1).tolist())
        elif isinstance(item, (list, tuple)):
            for part in item:
                collect(part)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            flat.append(float(item))
        else:
            raise WrongResultType(f"{what} holds {kind_of(item)}; expected numbers (a tuple, list, array or tensor).")

    collect(value)
    if len(flat) != count:
        raise PropertyFailed(f"{what} must hold {count} number{'s' if count > 1 else ''}; it holds {len(flat)}: {flat}.")
    return flat


def integer(value: Any, what: str) -> int:
    """An answer that must be a whole number (an int, or an integral float or 0-d tensor)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WrongResultType(f"{what} returned {kind_of(value)}; expected a whole number.")
    if isinstance(value, float) and not value.is_integer():
        raise PropertyFailed(f"{what} returned {value}, which is not a whole number.")
    return int(value)


def telling_mistake(received: Any, right: Any, predictions: list[tuple[Mistake, Any]]) -> Mistake | None:
    """The mistake whose prediction is ``received``, named only where no other mistake's prediction nor the right answer is the same.

    For answers that are whole numbers or lists of them, where two mistakes (or a mistake and the right answer)
    can give the same number on a small input: a hint there could name the wrong one.
    """
    for mistake, value in predictions:
        others = [other for named, other in predictions if named != mistake] + [right]
        if value == received and all(value != other for other in others):
            return mistake
    return None


def expect_count(
    student: StudentCode,
    function: str,
    arguments: tuple[int, ...],
    expected: int,
    predictions: list[tuple[Mistake, int]] | None = None,
) -> None:
    """``function(*arguments)`` is ``expected``; ``predictions``: what known mistakes give for these arguments."""
    what = f"{function}({', '.join(map(str, arguments))})"
    received = integer(student.call(Target(MODULE, function), *arguments).value, what)
    figures.value(what, expected, received)
    if received != expected:
        raise explained(
            f"{what}: expected {expected}, received {received}.", telling_mistake(received, expected, predictions or [])
        )


# --------------------------------------------------------------------------- problem 4


def gate_outputs(weights: list[float], bias: float) -> list[int]:
    """The threshold neuron of equation (4) on the four binary inputs, in truth-table order."""
    return [int(weights[0] * x1 + weights[1] * x2 + bias >= 0) for x1, x2 in itertools.product((0, 1), repeat=2)]


GATE_ONE_WEIGHT = known(
    "answers.gate_one_weight",
    "the weights are one number, but the neuron has a weight for each of its two inputs: give both, as (w1, w2), "
    "even when they are equal.",
    "mistake_answers_gate_weight_single_number",
)
GATE_BIAS_SIGN = known(
    "answers.gate_bias_sign",
    "with the bias's sign flipped these weights compute the gate: f fires when w.x + b >= 0, so b is minus the "
    "threshold (b = -1.5 for the threshold 1.5).",
    "mistake_answers_gate_bias_as_threshold",
)
GATE_BIAS_ON_THE_BOUNDARY = known(
    "answers.gate_bias_on_the_boundary",
    "every wrong output is an input where w.x + b is exactly 0, which fires since f(x) = 1 when w.x + b >= 0: "
    "the bias sits on the threshold; move it lower by a half (b = -1.5 for AND with w = (1, 1)).",
    "mistake_answers_and_bias_minus_one",
    "mistake_answers_or_bias_zero",
)


def expect_gate(student: StudentCode, gate: str, truth_table: list[int]) -> None:
    given = student.get(MODULE, f"W_{gate}")
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        raise explained(f"W_{gate} must hold 2 numbers; it holds 1: {given}.", GATE_ONE_WEIGHT)
    weights = numbers(given, 2, f"W_{gate}")
    bias = numbers(student.get(MODULE, f"B_{gate}"), 1, f"B_{gate}")[0]
    outputs = gate_outputs(weights, bias)
    figures.value(f"{gate} with W_{gate} = {weights}, B_{gate} = {bias:g}: f on (0,0), (0,1), (1,0), (1,1)", truth_table, outputs)
    if outputs == truth_table:
        return
    inputs = list(itertools.product((0, 1), repeat=2))
    sums = [weights[0] * x1 + weights[1] * x2 + bias for x1, x2 in inputs]
    rows = [
        f"  x = ({x1}, {x2}): w.x + b = {total:g}, f(x) = {out} (expected {want})"
        for (x1, x2), total, out, want in zip_strict(inputs, sums, outputs, truth_table)
    ]
    wrong = [total for total, out, want in zip_strict(sums, outputs, truth_table) if out != want]
    mistake = None
    if bias != 0 and gate_outputs(weights, -bias) == truth_table:
        mistake = GATE_BIAS_SIGN
    elif all(total == 0 for total in wrong):
        mistake = GATE_BIAS_ON_THE_BOUNDARY
    raise explained(
        f"W_{gate} = {weights}, B_{gate} = {bias:g} do not realise {gate} with f(x) = 1 if w.x + b >= 0:\n" + "\n".join(rows),
        mistake,
    )


@weight(0.5)
@number("12.1")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_and_gate(student: StudentCode) -> None:
    """Problem 4: W_AND, B_AND compute AND

    The threshold neuron f(x) = 1 if w.x + b >= 0 with W_AND, B_AND computes AND on all four inputs.
    """
    expect_gate(student, "AND", [0, 0, 0, 1])


@weight(0.5)
@number("12.2")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_or_gate(student: StudentCode) -> None:
    """Problem 4: W_OR, B_OR compute OR

    The threshold neuron f(x) = 1 if w.x + b >= 0 with W_OR, B_OR computes OR on all four inputs.
    """
    expect_gate(student, "OR", [0, 1, 1, 1])


# --------------------------------------------------------------------------- problem 6

W1 = torch.tensor([[1.5], [0.5]], dtype=torch.float64)
B1 = torch.tensor([0.0, 1.0], dtype=torch.float64)
W2 = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)
B2 = torch.tensor([0.0, 1.0], dtype=torch.float64)
W3 = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
B3 = torch.tensor([-1.0], dtype=torch.float64)


def network(x: torch.Tensor) -> torch.Tensor:
    """Equation (5) with the weights of equations (6) to (11)."""
    hidden = torch.relu(W1 @ x.reshape(1) + B1)
    return (W3 @ torch.relu(W2 @ hidden + B2) + B3).reshape(())


def tangent(x0: float) -> tuple[float, float]:
    """(W, b) with W = dh/dx at x0 and W * x0 + b = h(x0), by autograd."""
    x = torch.tensor(float(x0), dtype=torch.float64, requires_grad=True)
    value = network(x)
    (slope,) = torch.autograd.grad(value, x)
    return float(slope), float(value) - float(slope) * x0


PIECE_STRING_KEYS = known(
    "answers.piece_string_keys",
    "the keys of PIECEWISE are strings ('2', '-1', '1'): key it by the numbers 2, -1 and 1.",
    "mistake_answers_piece_string_keys",
)
PIECE_ALL_UNITS_ON = known(
    "answers.piece_all_units_on",
    "W is the slope h would have with every ReLU unit active; at this x0 a unit's input is negative, so the unit is "
    "off and the paths through it add nothing to the slope.",
    "mistake_answers_piece_slope_at_minus_1_first_unit_on",
)
PIECE_VALUE_AS_INTERCEPT = known(
    "answers.piece_value_as_intercept",
    "b is the value h(x0), not the intercept: the piece is W * x + b, so b = h(x0) - W * x0.",
    "mistake_answers_piece_value_as_intercept",
)
PIECE_INTERCEPT_SIGN = known(
    "answers.piece_intercept_sign",
    "b is h(x0) + W * x0: from W * x0 + b = h(x0), the intercept is b = h(x0) - W * x0.",
    "mistake_answers_piece_intercept_wrong_sign",
)


def slope_with_every_unit_on() -> float:
    """The slope of h where every ReLU unit is active: the product of the three weight matrices."""
    return float((W3 @ W2 @ W1).reshape(()))


def expect_piece(student: StudentCode, x0: int) -> None:
    pieces = student.get(MODULE, "PIECEWISE")
    if not isinstance(pieces, dict):
        raise WrongResultType(f"PIECEWISE must be a dict {{2: (W, b), -1: (W, b), 1: (W, b)}}; it is {kind_of(pieces)}.")
    if x0 not in pieces:
        raise explained(
            f"PIECEWISE has no entry for x0 = {x0} (its keys are {sorted(pieces, key=str)}).",
            PIECE_STRING_KEYS if str(x0) in pieces else None,
        )
    slope, intercept = numbers(pieces[x0], 2, f"PIECEWISE[{x0}]")
    want_slope, want_intercept = tangent(x0)
    value = want_slope * x0 + want_intercept
    suspects = {
        "W": [Suspect(PIECE_ALL_UNITS_ON, predicts=slope_with_every_unit_on)],
        "b": [
            Suspect(PIECE_VALUE_AS_INTERCEPT, predicts=lambda: value),
            Suspect(PIECE_INTERCEPT_SIGN, predicts=lambda: value + want_slope * x0),
        ],
    }
    for name, got, want in (("W", slope, want_slope), ("b", intercept, want_intercept)):
        expect_close(
            torch.tensor(got, dtype=torch.float64),
            torch.tensor(want, dtype=torch.float64),
            what=f"PIECEWISE[{x0}] = (W, b) = ({slope:g}, {intercept:g}): {name}",
            scalar=True,
            fixed=True,
            hint=f"W is the slope of h on its linear piece around x = {x0} (which units are active there?), "
            f"and b makes W * {x0} + b = h({x0}).",
            mistakes=suspects[name],
        )


@weight(0.5)
@number("12.3")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_piece_at_2(student: StudentCode) -> None:
    """Problem 6: PIECEWISE[2] is the piece at x = 2

    PIECEWISE[2] = (W, b) is the slope and intercept of the network's linear piece at x = 2.
    """
    expect_piece(student, 2)


@weight(0.5)
@number("12.4")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_piece_at_minus_1(student: StudentCode) -> None:
    """Problem 6: PIECEWISE[-1] is the piece at x = -1

    PIECEWISE[-1] = (W, b) is the slope and intercept of the network's linear piece at x = -1.
    """
    expect_piece(student, -1)


@weight(0.5)
@number("12.5")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_piece_at_1(student: StudentCode) -> None:
    """Problem 6: PIECEWISE[1] is the piece at x = 1

    PIECEWISE[1] = (W, b) is the slope and intercept of the network's linear piece at x = 1.
    """
    expect_piece(student, 1)


# --------------------------------------------------------------------------- problems 7-9


def identified_regions(d: int, layers: int) -> int:
    """Brute force: the linear regions of (0, 1)^d that ``layers`` of |2x - 1| map onto (0, 1)^d.

    Every linear region of the stack is a box of side 2**-layers; the grid's
    points sit inside boxes, never on their walls. A region counts when its
    points are mapped into (0, 1)^d; regions are told apart by the signs of
    2h - 1 at every layer.
    """
    steps = 2 ** (layers + 1)
    axis = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    points = torch.cartesian_prod(*([axis] * d)).reshape(-1, d)
    hidden, signs = points, []
    for _ in range(layers):
        pre = 2 * hidden - 1
        signs.append(pre > 0)
        hidden = pre.abs()
    inside = ((hidden > 0) & (hidden < 1)).all(dim=1)
    patterns = torch.cat(signs, dim=1)[inside]
    return len({tuple(row.tolist()) for row in patterns})


@recorded
def course_count(function: str, *arguments: int) -> int:
    """What the course's answers.py gives for ``function(*arguments)`` (a count of regions)."""
    return int(getattr(reference.module("answers"), function)(*arguments))


REGIONS_ADDED_PER_COORDINATE = known(
    "answers.regions_added_per_coordinate",
    "the count is 2 * d, as if each coordinate's two halves added up; the halves of the d coordinates combine in "
    "every way, so the counts multiply: 2 ** d.",
    "mistake_answers_regions_one_layer_two_d",
)
REGIONS_COMPOSED_ADDED = known(
    "answers.regions_composed_added",
    "the count is n_f + n_g: each of g's n_g regions is mapped onto all of (0, 1)^d, where f identifies its n_f "
    "regions, so the counts multiply.",
    "mistake_answers_regions_composed_sum",
)
REGIONS_DEEP_MULTIPLIED = known(
    "answers.regions_deep_multiplied",
    "the count is d * 2 ** L or L * 2 ** d, a product where it is a power: by problem 8 each layer multiplies the "
    "count by 2 ** d, so L layers give (2 ** d) ** L.",
    "mistake_answers_regions_deep_2_pow_L_times_d",
    "mistake_answers_regions_deep_linear_in_depth",
)
REGIONS_DEEP_EXPONENTS_ADDED = known(
    "answers.regions_deep_exponents_added",
    "the count is 2 ** (L + d): the exponents multiply, not add, as (2 ** d) ** L = 2 ** (d * L).",
    "mistake_answers_regions_deep_exponent_sum",
)
REGIONS_DEEP_OVERFLOW = known(
    "answers.regions_deep_overflow",
    "the count wrapped around: 2 ** (d * L) does not fit in a 64-bit integer once d * L >= 63, so a torch or numpy "
    "int64 gives 0 or a negative number; compute it with Python's int, which has no limit.",
    "mistake_answers_regions_deep_int64_overflow",
)


def as_int64(count: int) -> int:
    """What ``count`` wraps to in a 64-bit signed integer (a torch or numpy int64)."""
    return (count + 2**63) % 2**64 - 2**63


def deep_count_mistakes(d: int, layers: int, expected: int) -> list[tuple[Mistake, int]]:
    return [
        (REGIONS_DEEP_MULTIPLIED, d * 2**layers),
        (REGIONS_DEEP_MULTIPLIED, layers * 2**d),
        (REGIONS_DEEP_EXPONENTS_ADDED, 2 ** (layers + d)),
        (REGIONS_DEEP_OVERFLOW, as_int64(expected)),
    ]


@weight(0.5)
@number("12.6")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=30)
@given(d=st.integers(1, 40))
def test_regions_one_layer(student: StudentCode, d: int) -> None:
    """Problem 7: regions_one_layer(d) counts the regions

    For d from 1 to 40, regions_one_layer(d) is the number of regions one layer identifies onto (0, 1)^d (counted by
    brute force for d <= 4).
    """
    expected = identified_regions(d, 1) if d <= 4 else course_count("regions_one_layer", d)
    expect_count(student, "regions_one_layer", (d,), expected, [(REGIONS_ADDED_PER_COORDINATE, 2 * d)])


@weight(0.5)
@number("12.7")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=20)
@given(
    d=st.integers(1, 2),
    layers_f=st.integers(1, 2),
    layers_g=st.integers(1, 2),
    n_f=st.integers(1, 10**6),
    n_g=st.integers(1, 10**6),
)
def test_regions_composed(student: StudentCode, d: int, layers_f: int, layers_g: int, n_f: int, n_g: int) -> None:
    """Problem 8: regions_composed(n_f, n_g) is f o g's count

    regions_composed(n_f, n_g) counts the regions f o g identifies: on stacks of the problem's layer (counted by brute
    force), and for any n_f and n_g.
    """
    brute = (identified_regions(d, layers_f), identified_regions(d, layers_g), identified_regions(d, layers_f + layers_g))
    expect_count(student, "regions_composed", brute[:2], brute[2], [(REGIONS_COMPOSED_ADDED, brute[0] + brute[1])])
    expect_count(
        student, "regions_composed", (n_f, n_g), course_count("regions_composed", n_f, n_g), [(REGIONS_COMPOSED_ADDED, n_f + n_g)]
    )


@weight(0.5)
@number("12.8")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=100)  # every one of the 96 pairs: int64 overflows (from d * L = 63) are never left to luck
@given(d=st.integers(1, 12), layers=st.integers(1, 8))
def test_regions_deep(student: StudentCode, d: int, layers: int) -> None:
    """Problem 9: regions_deep(d, L) counts the regions

    For d from 1 to 12 and L from 1 to 8, regions_deep(d, L) is the number of regions L layers identify (counted by
    brute force for d * L <= 6).
    """
    expected = identified_regions(d, layers) if d * layers <= 6 else course_count("regions_deep", d, layers)
    expect_count(student, "regions_deep", (d, layers), expected, deep_count_mistakes(d, layers, expected))


# --------------------------------------------------------------------------- problem 10


@dataclass(frozen=True)
class LeastSquaresCase:
    """An under-determined system X w = y (n < d), X with singular values in [1, 2], y in its range."""

    n: int
    d: int
    seed: int

    def system(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        left, _ = torch.linalg.qr(torch.randn(self.n, self.n, generator=generator, dtype=torch.float64))
        right, _ = torch.linalg.qr(torch.randn(self.d, self.n, generator=generator, dtype=torch.float64))
        singular = 1 + torch.rand(self.n, generator=generator, dtype=torch.float64)
        X = left @ torch.diag(singular) @ right.T
        y = X @ torch.randn(self.d, generator=generator, dtype=torch.float64)
        return X, y

    def step_size(self) -> float:
        """Stable whether the gradient carries the factor 2 of the squared error or not, or is averaged over n."""
        X, _ = self.system()
        return 0.25 / float(torch.linalg.matrix_norm(X, ord=2)) ** 2

    def describe(self) -> str:
        return f"a system of {self.n} equation{'s' if self.n != 1 else ''} in {self.d} unknowns"


@st.composite
def least_squares_cases(draw: st.DrawFn) -> LeastSquaresCase:
    n = draw(st.integers(1, 4))
    return LeastSquaresCase(n, draw(st.integers(n + 1, 8)), draw(seeds()))


STEPS = 2000
# The scalings of the gradient a correct step may use: 2 X^T (Xw - y) (the squared error's), without the 2, or either
# averaged over the n rows. The first step shows which one; every later iterate must follow the same.
GRADIENT_FACTORS = ("2", "1", "2/n", "1/n")


def gradient_factor(name: str, n: int) -> float:
    return {"2": 2.0, "1": 1.0, "2/n": 2.0 / n, "1/n": 1.0 / n}[name]


def iterate(X: torch.Tensor, y: torch.Tensor, lr: float, steps: int, factor: float) -> torch.Tensor:
    """The grader's own gradient descent from w = 0: w <- w - lr * factor * X^T (X w - y), ``steps`` times."""
    w = torch.zeros(X.shape[1], dtype=torch.float64)
    for _ in range(steps):
        w = w - lr * factor * (X.T @ (X @ w - y))
    return w


GD_NO_LEARNING_RATE = known(
    "answers.gd_no_learning_rate",
    "one step from w = 0 is the whole gradient's step, not lr times it: the update must multiply the gradient by lr.",
    "mistake_answers_gd_forgets_lr",
)
GD_ASCENT = known(
    "answers.gd_ascent",
    "one step from w = 0 goes up the gradient (w + lr * grad): gradient descent subtracts it, w <- w - lr * grad f(w).",
    "mistake_answers_gd_gradient_ascent",
)
GD_OWN_STEP_SIZE = known(
    "answers.gd_own_step_size",
    "one step from w = 0 points the right way (a multiple of X^T y) but has the wrong length: the update must use the "
    "lr argument, not a step size of your own, times the gradient 2 X^T (X w - y).",
    "mistake_answers_gd_hardcoded_lr",
)
GD_NOT_FROM_ZERO = known(
    "answers.gd_not_from_zero",
    "w has a part outside the span of X's rows, which gradient descent from w = 0 never gets (each step adds a "
    "combination of the rows): start from w = 0 (torch.zeros), not a random w.",
    "mistake_answers_gd_random_init",
)
GD_ONE_STEP = known(
    "answers.gd_one_step",
    "the result is w after one step, whatever num_steps is: the return statement is inside the loop (indented one "
    "level too far).",
    "mistake_answers_gd_returns_after_one_step",
)


def predicting(value: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A prediction already computed (cheap enough to compute before the comparison)."""
    return lambda: value


def outside_the_rows(X: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether ``w`` has a part, beyond rounding, in the null space of ``X``: never so for gradient descent from 0."""
    part = w - torch.linalg.pinv(X) @ (X @ w)
    return float(part.norm()) > 1e-4 * max(float(w.norm()), 1e-6)


def descend(student: StudentCode, X: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> Any:
    return student.call(Target(MODULE, "gradient_descent_least_squares"), X, y, lr, steps).value


def expect_first_step(student: StudentCode, case: LeastSquaresCase, X: torch.Tensor, y: torch.Tensor, lr: float) -> str:
    """One step from w = 0 is lr times minus the gradient there: 2 X^T y, or X^T y, or either averaged over the n rows.

    Returns the name of the factor the step used (see :data:`GRADIENT_FACTORS`).
    """
    what = f"gradient_descent_least_squares(X, y, lr={lr:.4g}, num_steps=1) on {case.describe()}"
    received = as_tensor(descend(student, X, y, lr, 1), what)
    step = lr * X.T @ y
    if tuple(received.shape) == tuple(step.shape):
        for name in GRADIENT_FACTORS:
            try:
                expect_close(received, gradient_factor(name, case.n) * step, what=what)
            except PropertyFailed:
                continue
            return name
    gradients = [gradient_factor(name, case.n) * X.T @ y for name in GRADIENT_FACTORS]
    expect_close(
        received,
        2 * step,
        what=f"{what}: one step from w = 0 should be -lr * grad f(0) = lr * 2 X^T y (or without the 2, or averaged over the rows)",
        mistakes=[
            *(Suspect(GD_NO_LEARNING_RATE, predicts=predicting(gradient)) for gradient in gradients),
            *(Suspect(GD_ASCENT, predicts=predicting(-lr * gradient)) for gradient in gradients),
            Suspect(GD_NOT_FROM_ZERO, matches=lambda got: outside_the_rows(X, got)),
            Suspect(GD_OWN_STEP_SIZE, matches=lambda got: proportional_factor(got, X.T @ y) is not None),
        ],
    )
    raise PropertyFailed(f"{what}: it matches none of the accepted first steps.")  # the comparison above already fails


@weight(0.5)
@number("12.9")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=12)
@given(case=least_squares_cases(), steps=st.integers(2, 40))
def test_gradient_descent_reaches_the_minimum_norm_solution(student: StudentCode, case: LeastSquaresCase, steps: int) -> None:
    """Problem 10: gradient descent's steps and limit match

    On generated under-determined systems, gradient_descent_least_squares starts at w = 0, steps by lr along the
    gradient, follows the iteration step by step, and converges to the minimum-norm solution.
    """
    X, y = case.system()
    lr = case.step_size()
    factor = expect_first_step(student, case, X, y, lr)
    suspects = [
        Suspect(GD_ONE_STEP, predicts=lambda: iterate(X, y, lr, 1, gradient_factor(factor, case.n))),
        Suspect(GD_NOT_FROM_ZERO, matches=lambda got: outside_the_rows(X, got)),
    ]
    expect_close(
        descend(student, X, y, lr, steps),
        iterate(X, y, lr, steps, gradient_factor(factor, case.n)),
        what=f"gradient_descent_least_squares(X, y, lr={lr:.4g}, num_steps={steps}) on {case.describe()}, against "
        f"{steps} steps of w <- w - lr * {factor} X^T (X w - y) from w = 0 (the gradient your first step used)",
        inputs={"X": X, "y": y},
        mistakes=suspects,
    )
    received = descend(student, X, y, lr, STEPS)
    expect_close(
        received,
        torch.linalg.pinv(X) @ y,
        what=f"gradient_descent_least_squares(X, y, lr={lr:.4g}, num_steps={STEPS}) on {case.describe()}, "
        "against the minimum-norm solution pinv(X) @ y",
        inputs={"X": X, "y": y},
        mistakes=suspects,
    )


MIN_NORM_NO_INVERSE = known(
    "answers.min_norm_no_inverse",
    "the result is X^T y: the minimum-norm solution X^T (X X^T)^-1 y lost its (X X^T)^-1.",
    "mistake_answers_min_norm_xt_y",
)
MIN_NORM_OVERDETERMINED = known(
    "answers.min_norm_overdetermined",
    "this is (X^T X)^-1 X^T y, the least-squares formula for more equations than unknowns; here n < d, so the d x d "
    "matrix X^T X has rank n and cannot be inverted. With n < d the minimum-norm solution is X^T (X X^T)^-1 y.",
    "mistake_answers_min_norm_overdetermined_normal_equations",
)
MIN_NORM_NOT_SMALLEST = known(
    "answers.min_norm_not_smallest",
    "w solves X w = y but is not the smallest solution: it has a part in the null space of X, which adds to its norm. "
    "The minimum-norm solution lies in the span of X's rows: X^T (X X^T)^-1 y.",
    "mistake_answers_min_norm_particular_solution",
)


def solves(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether ``X w = y``, to rounding."""
    return float((X @ w - y).norm()) <= 1e-5 * max(float(y.norm()), 1.0)


@weight(0.5)
@number("12.10")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=15)
@given(case=least_squares_cases())
def test_min_norm_solution(student: StudentCode, case: LeastSquaresCase) -> None:
    """Problem 10: min_norm_solution(X, y) matches pinv

    On generated under-determined systems, min_norm_solution(X, y) solves X w = y with the smallest norm
    (pinv(X) @ y).
    """
    X, y = case.system()
    with raising(MIN_NORM_OVERDETERMINED, when=lambda error: "singular" in str(error).lower()):
        received = student.call(Target(MODULE, "min_norm_solution"), X, y).value
    expect_close(
        received,
        torch.linalg.pinv(X) @ y,
        what=f"min_norm_solution(X, y) on {case.describe()}, against pinv(X) @ y",
        inputs={"X": X, "y": y},
        mistakes=[
            Suspect(MIN_NORM_NO_INVERSE, predicts=lambda: X.T @ y),
            Suspect(MIN_NORM_OVERDETERMINED, predicts=lambda: torch.linalg.inv(X.T @ X) @ X.T @ y),
            Suspect(MIN_NORM_NOT_SMALLEST, matches=lambda got: solves(X, y, got) and outside_the_rows(X, got)),
        ],
    )


# --------------------------------------------------------------------------- problem 13

SEED_INPUT = 259
SEED_LAYERS = ((11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1))


def equation_26(size: int, k: int, s: int, p: int) -> int:
    return math.floor((size + 2 * p - k) / s) + 1


FEATURE_MAP_NO_PADDING = known(
    "answers.feature_map_no_padding",
    "the size is what equation (26) gives without the padding: add 2 * p to the size before subtracting k.",
    "mistake_answers_feature_map_no_padding",
)
FEATURE_MAP_NOT_ROUNDED_DOWN = known(
    "answers.feature_map_not_rounded_down",
    "the size is equation (26) with the division rounded up (math.ceil) or to the nearest whole number (round): "
    "round it down, with // or math.floor.",
    "mistake_answers_feature_map_ceil",
    "mistake_answers_feature_map_round",
)


def expect_feature_map_size(received: int, size: int, k: int, s: int, p: int, message: str) -> None:
    """``received`` is equation (26)'s size, or the failure says ``message`` and the known mistake that gives ``received``.

    A mistake is named only where its size differs from the right one and from the other mistakes' on these inputs.
    """
    right = equation_26(size, k, s, p)
    figures.value(f"feature_map_size({size}, {k}, {s}, {p})", right, received)
    if received == right:
        return
    predictions: list[tuple[Mistake, int]] = [
        (FEATURE_MAP_NO_PADDING, (size - k) // s + 1),
        (FEATURE_MAP_NOT_ROUNDED_DOWN, math.ceil((size + 2 * p - k) / s) + 1),
        (FEATURE_MAP_NOT_ROUNDED_DOWN, round((size + 2 * p - k) / s) + 1),
    ]
    others = {m: {v for n, v in predictions if n != m} | {right} for m, _ in predictions}
    found = [m for m, value in predictions if value == received and value not in others[m]]
    mistake = found[0] if found else None
    raise explained(message, mistake)


FEATURE_MAP_TRUE_DIVISION = known(
    "answers.feature_map_true_division",
    "the size is a fraction: / divides exactly, while equation (26) rounds the quotient down: use // or math.floor.",
    "mistake_answers_feature_map_true_division",
)


def feature_map_answer(value: Any, size: int, k: int, s: int, p: int, what: str) -> int:
    """The student's feature-map size as a whole number; a fraction that is equation (26) without rounding is named."""
    try:
        return integer(value, what)
    except PropertyFailed as failure:
        unrounded = isinstance(value, float) and math.isclose(value, (size + 2 * p - k) / s + 1)
        raise explained(str(failure), FEATURE_MAP_TRUE_DIVISION if unrounded else None) from None


FIELDS_ONLY_LAST = known(
    "answers.fields_only_last",
    "receptive_fields returned one number, the field of the last map: return a list with the field of each map, f_1 to f_L.",
    "mistake_answers_receptive_fields_only_last",
)
FIELDS_STRIDES_LEFT_OUT = known(
    "answers.fields_strides_left_out",
    "each field is 1 plus the sum of the (k - 1), as if every stride were 1: layer l's kernel spans pixels of f_(l-1), "
    "which are s_1 * ... * s_(l-1) input pixels apart, so it widens the field by (k_l - 1) times that product.",
    "mistake_answers_receptive_fields_ignores_stride",
)
FIELDS_K_TIMES_JUMP = known(
    "answers.fields_k_times_jump",
    "each layer widens the field by k_l times the product of the earlier strides, one step too many: k pixels have "
    "k - 1 gaps between them, so the field grows by (k_l - 1) times that product.",
    "mistake_answers_receptive_fields_k_times_jump",
)
FIELDS_OWN_STRIDE = known(
    "answers.fields_own_stride",
    "each layer's widening is multiplied by its own stride too: layer l widens the field by (k_l - 1) times the "
    "strides of the layers before it only, s_1 * ... * s_(l-1); update the product of strides after using it.",
    "mistake_answers_receptive_fields_stride_product_includes_current",
)
FIELDS_FORWARDS = known(
    "answers.fields_forwards",
    "the fields follow equation (28) applied from the input forwards (r = r * s + k - s); the equation goes from "
    "one pixel of f_l back to f_0, so it runs over the layers l, l - 1, ..., 1 in that order.",
    "mistake_answers_receptive_fields_recurrence_forwards",
)
FIELDS_START_AT_ZERO = known(
    "answers.fields_start_at_zero",
    "every field is one pixel short: one pixel sees itself, so the recursion starts from r = 1, not 0.",
    "mistake_answers_receptive_fields_start_at_zero",
)


def field_mistakes(layers: tuple[tuple[int, int, int], ...], expected: list[int]) -> list[tuple[Mistake, list[int]]]:
    """What each known mistake of receptive_fields gives for ``layers``."""
    strides_before = [math.prod(s for _, s, _ in layers[:index]) for index in range(len(layers))]
    forwards, field = [], 1
    for k, s, _ in layers:
        field = field * s + k - s
        forwards.append(field)
    return [
        (FIELDS_STRIDES_LEFT_OUT, [1 + sum(k - 1 for k, _, _ in layers[: depth + 1]) for depth in range(len(layers))]),
        (FIELDS_K_TIMES_JUMP, [want + sum(strides_before[: depth + 1]) for depth, want in enumerate(expected)]),
        (
            FIELDS_OWN_STRIDE,
            [
                1 + sum((k - 1) * jump * s for (k, s, _), jump in zip_strict(layers[: depth + 1], strides_before[: depth + 1]))
                for depth in range(len(layers))
            ],
        ),
        (FIELDS_FORWARDS, forwards),
        (FIELDS_START_AT_ZERO, [want - 1 for want in expected]),
    ]


def measured_receptive_fields(layers: tuple[tuple[int, int, int], ...]) -> list[int]:
    """For each f_l: how many input pixels one central pixel of f_l depends on, by autograd.

    A stack of 1-D convolutions with positive weights (nothing cancels) on an
    input long enough that the field of the central pixel is never cut by the
    border; the gradient of that pixel is nonzero exactly on its field.
    """
    bound = 1 + sum(k * math.prod(s for _, s, _ in layers[:index]) for index, (k, _, _) in enumerate(layers))
    fields = []
    for depth in range(1, len(layers) + 1):
        x = torch.ones(1, 1, 4 * bound + 8, dtype=torch.float64, requires_grad=True)
        hidden = x
        for k, s, p in layers[:depth]:
            hidden = F.conv1d(hidden, torch.ones(1, 1, k, dtype=torch.float64), stride=s, padding=p)
        (grad,) = torch.autograd.grad(hidden[0, 0, hidden.shape[-1] // 2], x)
        reached = torch.nonzero(grad[0, 0]).flatten()
        fields.append(int(reached.max() - reached.min() + 1))
    return fields


def expect_fields(
    student: StudentCode, layers: tuple[tuple[int, int, int], ...], expected: list[int], *, fixed: bool = False
) -> None:
    what = f"receptive_fields({[list(layer) for layer in layers]})"
    value = student.call(Target(MODULE, "receptive_fields"), [list(layer) for layer in layers]).value
    if isinstance(value, torch.Tensor):
        value = value.reshape(-1).tolist()
    if not isinstance(value, (list, tuple)):
        message = f"{what} returned {kind_of(value)}; expected a list with one receptive field per layer."
        if isinstance(value, int) and not isinstance(value, bool) and value == expected[-1]:
            raise explained(message, FIELDS_ONLY_LAST)
        raise WrongResultType(message)
    received = [integer(v, f"{what}[{i}]") for i, v in enumerate(value)]
    figures.value(what, expected, received)
    if received == expected:
        return
    mistake = telling_mistake(received, expected, field_mistakes(layers, expected))
    if not fixed:
        raise explained(f"{what}: expected {expected} (f_1 to f_{len(layers)}), received {received}.", mistake)
    expect(
        len(received) == len(expected),
        f"{what}: expected one receptive field per layer ({len(expected)}), received {len(received)}.",
    )
    wrong = [
        f"f_{i}: {got} is {'too large' if got > want else 'too small'}"
        for i, (got, want) in enumerate(zip_strict(received, expected), start=1)
        if got != want
    ]
    message = f"{what} = {received}: " + "; ".join(wrong) + "."
    if mistake is None:
        message += " Check how each layer's kernel, and the strides of the layers before it, widen the field."
    raise explained(message, mistake)


@weight(0.25)
@number("12.11")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_feature_map_sizes_of_the_seed_network(student: StudentCode) -> None:
    """Problem 13 (c): feature map sizes f_1..f_7

    feature_map_size gives the sizes of f_1..f_7 from f_0 = 259, for the problem's seven layers.
    """
    size = SEED_INPUT
    for layer, (k, s, p) in enumerate(SEED_LAYERS, start=1):
        what = f"feature_map_size({size}, {k}, {s}, {p}) (the size of f_{layer})"
        received = feature_map_answer(student.call(Target(MODULE, "feature_map_size"), size, k, s, p).value, size, k, s, p, what)
        expected = equation_26(size, k, s, p)
        expect_feature_map_size(
            received,
            size,
            k,
            s,
            p,
            f"{what}: {received} is {'too large' if received > expected else 'too small'}. Check equation (26), "
            "and that it rounds down when the division is not exact.",
        )
        size = expected


@weight(0.25)
@number("12.12")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_receptive_fields_of_the_seed_network(student: StudentCode) -> None:
    """Problem 13 (b, c): receptive fields of f_1..f_7

    receptive_fields gives the receptive fields of a pixel of f_1..f_7, for the problem's seven layers.
    """
    expect_fields(student, SEED_LAYERS, measured_receptive_fields(SEED_LAYERS), fixed=True)


@st.composite
def layer_specs(draw: st.DrawFn) -> tuple[int, int, int]:
    k = draw(st.integers(1, 7))
    return k, draw(st.integers(1, min(k, 4))), draw(st.integers(0, k // 2))


@weight(0.25)
@number("12.13")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(size=st.integers(1, 300), k=st.integers(1, 11), s=st.integers(1, 5), p=st.integers(0, 5))
def test_feature_map_size_follows_equation_26(student: StudentCode, size: int, k: int, s: int, p: int) -> None:
    """Problem 13: feature_map_size follows equation (26)

    On generated sizes, kernels, strides and paddings, feature_map_size(size, k, s, p) follows equation (26), rounding
    down when the division is not exact.
    """
    assume(size + 2 * p >= k)
    what = f"feature_map_size({size}, {k}, {s}, {p})"
    received = feature_map_answer(student.call(Target(MODULE, "feature_map_size"), size, k, s, p).value, size, k, s, p, what)
    expect_feature_map_size(received, size, k, s, p, f"{what}: expected {equation_26(size, k, s, p)}, received {received}.")


@weight(0.25)
@number("12.14")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=40)
@given(layers=st.lists(layer_specs(), min_size=1, max_size=6).map(tuple))
def test_receptive_fields_match_a_measurement(student: StudentCode, layers: tuple[tuple[int, int, int], ...]) -> None:
    """Problem 13: receptive_fields matches a measurement

    On generated stacks of 1 to 6 convolutions, receptive_fields(layers) matches the fields measured by backpropagating
    one pixel through the stack.
    """
    expect_fields(student, layers, measured_receptive_fields(layers))
