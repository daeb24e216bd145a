"""Convolutions as matrices: problems 1-3 of the problem set, and their generalisations.

Single channel, cross-correlation as ``torch.nn.functional.conv2d`` computes
it, row-major flattening. Every expected matrix is measured here, by applying
``F.conv2d`` or ``F.conv_transpose2d`` to each input pixel's indicator image,
so the checks need no reference and accept any correct construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from autograder.compare import as_tensor, expect, expect_close, expect_matrix, zip_strict
from autograder.failures import PropertyFailed
from autograder.strategies import seeded, seeds
from autograder.student import StudentCode, Target

PROBLEM = "conv_matrices"
MODULE = "conv_matrices"
CONV2D_MATRIX = Target(MODULE, "conv2d_matrix")
CONV_TRANSPOSE2D_MATRIX = Target(MODULE, "conv_transpose2d_matrix")
Q1_MATRIX = Target(MODULE, "q1_matrix")
Q2_MATRIX = Target(MODULE, "q2_matrix")
Q3_CONV_MATRIX = Target(MODULE, "q3_conv_matrix")
Q3_TRANSPOSED_KERNEL = Target(MODULE, "q3_transposed_kernel")
Q3_PERMUTATION = Target(MODULE, "q3_permutation")


@dataclass(frozen=True)
class ConvCase:
    """A kernel (drawn from ``seed``), an input size, a stride and a padding."""

    kernel_size: tuple[int, int]
    input_size: tuple[int, int]
    stride: int
    padding: int
    seed: int = 0

    def kernel(self) -> torch.Tensor:
        return seeded(self.kernel_size, torch.float64, self.seed)

    def describe(self, function: str | None = None) -> str:
        """The call of ``function`` on this case, or the case alone (the smallest failing input)."""
        arguments = f"input_size={self.input_size}, stride={self.stride}, padding={self.padding}"
        if function is None:
            return f"a kernel of shape {self.kernel_size}, {arguments}"
        return f"{function}(kernel, {arguments}) with a kernel of shape {self.kernel_size}"


def output_size(case: ConvCase, *, transposed: bool) -> tuple[int, int]:
    (kh, kw), (height, width), s, p = case.kernel_size, case.input_size, case.stride, case.padding
    if transposed:
        return (height - 1) * s - 2 * p + kh, (width - 1) * s - 2 * p + kw
    return (height + 2 * p - kh) // s + 1, (width + 2 * p - kw) // s + 1


@st.composite
def conv_cases(draw: st.DrawFn, *, transposed: bool) -> ConvCase:
    case = ConvCase(
        (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        (draw(st.integers(1, 9)), draw(st.integers(1, 9))),
        draw(st.integers(1, 5)),
        draw(st.integers(0, 4)),
        draw(seeds()),
    )
    height, width = output_size(case, transposed=transposed)
    if transposed:
        assume(height >= 1 and width >= 1)
    else:
        assume(all(size + 2 * case.padding >= k for size, k in zip_strict(case.input_size, case.kernel_size)))
    return case


def measured_matrix(
    kernel: torch.Tensor, input_size: tuple[int, int], stride: int, padding: int, *, transposed: bool
) -> torch.Tensor:
    """The operator's matrix, column by column: its output on each input pixel's indicator image."""
    height, width = input_size
    basis = torch.eye(height * width, dtype=torch.float64).reshape(height * width, 1, height, width)
    operator = F.conv_transpose2d if transposed else F.conv2d
    outputs = operator(basis, kernel.reshape(1, 1, *kernel.shape), stride=stride, padding=padding)
    return outputs.reshape(height * width, -1).T


def pixel(index: int, width: int) -> str:
    return f"({index // width}, {index % width})"


def expect_operator_matrix(received: object, case: ConvCase, *, what: str, transposed: bool) -> None:
    out_h, out_w = output_size(case, transposed=transposed)
    height, width = case.input_size
    matrix = as_tensor(received, what)
    if tuple(matrix.shape) != (out_h * out_w, height * width):
        raise PropertyFailed(
            f"{what}: expected shape {(out_h * out_w, height * width)} (one row per pixel of the {out_h}x{out_w} output, "
            f"one column per pixel of the {height}x{width} input), received shape {tuple(matrix.shape)}."
        )
    expected = measured_matrix(case.kernel(), case.input_size, case.stride, case.padding, transposed=transposed)
    expect_matrix(
        matrix,
        expected,
        what=what,
        row_label=lambda row: f" (output pixel {pixel(row, out_w)})",
        column_label=lambda column: f" (input pixel {pixel(column, width)})",
    )


SEED_Q1 = ConvCase((3, 3), (3, 3), stride=4, padding=2)
SEED_Q2 = ConvCase((2, 2), (2, 2), stride=2, padding=0)


@weight(0.5)
@number("11.1")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=8)
@given(seed=seeds())
def test_course_setting_q1_matrix(student: StudentCode, seed: int) -> None:
    """Problem 1: q1_matrix(kernel) matches conv2d

    On generated 3x3 kernels, q1_matrix(kernel) is the matrix of the stride-4, padding-2 convolution of a 3x3 input by
    the kernel.
    """
    case = ConvCase(SEED_Q1.kernel_size, SEED_Q1.input_size, SEED_Q1.stride, SEED_Q1.padding, seed)
    received = student.call(Q1_MATRIX, case.kernel()).value
    expect_operator_matrix(
        received, case, what="q1_matrix(kernel) (a 3x3 kernel on a 3x3 input, stride 4, padding 2)", transposed=False
    )


@weight(0.5)
@number("11.2")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=8)
@given(seed=seeds())
def test_course_setting_q2_matrix(student: StudentCode, seed: int) -> None:
    """Problem 2: q2_matrix matches conv_transpose2d

    On generated 2x2 kernels, q2_matrix(kernel) is the matrix of the stride-2 transposed convolution of a 2x2 input by
    the kernel.
    """
    case = ConvCase(SEED_Q2.kernel_size, SEED_Q2.input_size, SEED_Q2.stride, SEED_Q2.padding, seed)
    received = student.call(Q2_MATRIX, case.kernel()).value
    expect_operator_matrix(
        received, case, what="q2_matrix(kernel) (a 2x2 kernel on a 2x2 input, transposed, stride 2)", transposed=True
    )


@weight(0.25)
@number("11.3")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=8)
@given(seed=seeds())
def test_course_setting_q3_conv_matrix(student: StudentCode, seed: int) -> None:
    """Problem 3: q3_conv_matrix(kernel4) matches

    On generated weights kernel4, q3_conv_matrix(kernel4) is the (16, 4) matrix of the (4, 1, 1, 1) convolution on a 2x2
    input, its output ordered channel, row, column.
    """
    kernel4 = seeded((4,), torch.float64, seed)
    basis = torch.eye(4, dtype=torch.float64).reshape(4, 1, 2, 2)
    expected = F.conv2d(basis, kernel4.reshape(4, 1, 1, 1)).reshape(4, 16).T
    expect_matrix(
        student.call(Q3_CONV_MATRIX, kernel4).value,
        expected,
        what=f"q3_conv_matrix(kernel4={rounded(kernel4)})",
        row_label=lambda row: f" (output channel {row // 4}, pixel {pixel(row % 4, 2)})",
        column_label=lambda column: f" (input pixel {pixel(column, 2)})",
    )


def student_permutation(student: StudentCode) -> torch.Tensor:
    """q3_permutation() as a long tensor, or a failure that says why it is not an index vector.

    A list or tuple of indices is accepted too (Python, numpy or 0-d torch integers).
    """
    value = student.call(Q3_PERMUTATION).value
    if isinstance(value, (list, tuple)) and all(is_index(v) for v in value):
        value = torch.tensor([float(v) for v in value])
    permutation = as_tensor(value, "q3_permutation()")
    expect(
        tuple(permutation.shape) == (16,),
        f"q3_permutation() must have 16 entries, one per output; received shape {tuple(permutation.shape)}.",
    )
    expect(
        not permutation.is_floating_point() or bool((permutation == permutation.round()).all()),
        f"q3_permutation() must hold integer indices; received {permutation.tolist()}.",
    )
    return permutation.to(torch.int64)


def is_index(value: object) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def rounded(values: torch.Tensor) -> list[float]:
    return [round(float(v), 4) for v in values.reshape(-1)]


@weight(0.5)
@number("11.4")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=10)
@given(kernel_seed=seeds(), input_seed=seeds())
def test_course_setting_q3_identity(student: StudentCode, kernel_seed: int, input_seed: int) -> None:
    """Problem 3: permuted conv = transposed conv

    On generated weights k and inputs x, q3_transposed_kernel(k) is a 2x2 kernel holding the four weights, and
    (q3_conv_matrix(k) @ x)[q3_permutation()] equals the stride-2 transposed convolution of x by it.
    """
    kernel4 = seeded((4,), torch.float64, kernel_seed)
    x = seeded((4,), torch.float64, input_seed, salt=1)
    permutation = student_permutation(student)
    expect(
        bool(((permutation >= 0) & (permutation < 16)).all()),
        f"q3_permutation() must index the 16 outputs (0 to 15); received {permutation.tolist()}.",
    )
    convolved = as_tensor(student.call(Q3_CONV_MATRIX, kernel4).value, "q3_conv_matrix(kernel4)").to(torch.float64)
    expect(
        tuple(convolved.shape) == (16, 4), f"q3_conv_matrix(kernel4) must have shape (16, 4); received {tuple(convolved.shape)}."
    )
    kernel = as_tensor(student.call(Q3_TRANSPOSED_KERNEL, kernel4).value, "q3_transposed_kernel(kernel4)").to(torch.float64)
    expect(
        tuple(kernel.shape) == (2, 2), f"q3_transposed_kernel(kernel4) must have shape (2, 2); received {tuple(kernel.shape)}."
    )
    expect_close(
        kernel.flatten().sort().values,
        kernel4.sort().values,
        what=f"The entries of q3_transposed_kernel(k) = {rounded(kernel)}, sorted, against those of k = {rounded(kernel4)}, "
        "sorted (each of the four weights is one entry of the equivalent 2x2 kernel)",
    )
    transposed = F.conv_transpose2d(x.reshape(1, 1, 2, 2), kernel.reshape(1, 1, 2, 2), stride=2).flatten()
    expect_close(
        (convolved @ x)[permutation],
        transposed,
        what=(
            f"(q3_conv_matrix(k) @ x)[q3_permutation()] against the stride-2 transposed convolution of x by "
            f"q3_transposed_kernel(k) = {rounded(kernel)} (flattened), for k = {rounded(kernel4)}"
        ),
        inputs={"x (2x2, flattened)": x},
    )


def permutation_mistake(permutation: list[int]) -> str | None:
    """Why ``permutation`` cannot reorder the contract's q3 outputs into a stride-2 transposed convolution, or ``None``.

    Entry ``m`` of the permuted vector is output pixel (r, c) = (m // 4, m % 4)
    of the transposed convolution, x[r // 2, c // 2] times the kernel entry at
    (r % 2, c % 2). It must take output p[m] of the 1x1 convolution, ordered
    channel, row, column: the channel p[m] // 4 at input pixel p[m] % 4. So
    the input pixel must be (r // 2, c // 2), and all outputs at one kernel
    entry must come from one channel (whose weight that entry is). Any
    assignment of channels to kernel entries is correct; the identity is not.
    """
    if sorted(permutation) != list(range(16)):
        return "it must hold each index 0..15 exactly once (a reordering of the outputs)"
    channels: dict[tuple[int, int], set[int]] = {}
    for m, index in enumerate(permutation):
        row, column = divmod(m, 4)
        channel, pixel = divmod(index, 4)
        if pixel != 2 * (row // 2) + column // 2:
            return (
                f"entry {m} (output pixel ({row}, {column}) of the transposed convolution, which depends on input pixel "
                f"({row // 2}, {column // 2}) only) takes output {index}, channel {channel} at input pixel {divmod(pixel, 2)}"
            )
        channels.setdefault((row % 2, column % 2), set()).add(channel)
    for entry, used in sorted(channels.items()):
        if len(used) > 1:
            return (
                f"the outputs at kernel entry {entry} come from channels {sorted(used)}; one channel's weight must be that entry"
            )
    return None


@weight(0.25)
@number("11.5")
@visibility("visible")
@tags(PROBLEM)
def test_course_setting_q3_permutation_reorders_into_a_transposed_convolution(student: StudentCode) -> None:
    """Problem 3: q3_permutation() reorders correctly

    q3_permutation() takes every output of the transposed convolution from the convolution's output at the same input
    pixel, one channel per kernel entry (any such reordering is correct).
    """
    permutation = student_permutation(student).tolist()
    mistake = permutation_mistake(permutation)
    expect(
        mistake is None,
        f"q3_permutation() = {permutation} cannot turn the outputs of q3_conv_matrix (ordered channel, row, column) into "
        f"the stride-2 transposed convolution's output (row-major): {mistake}.",
    )


EDGE_CASES = (
    ConvCase((2, 2), (7, 6), stride=3, padding=0, seed=1),  # stride larger than the kernel
    ConvCase((2, 3), (3, 2), stride=1, padding=4, seed=2),  # padding larger than the kernel
    ConvCase((3, 3), (3, 3), stride=2, padding=0, seed=3),  # a 1x1 output
    ConvCase((1, 1), (1, 1), stride=1, padding=0, seed=4),  # the smallest case
)


@weight(0.5)
@number("11.6")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=conv_cases(transposed=False))
@example(case=EDGE_CASES[0])
@example(case=EDGE_CASES[1])
@example(case=EDGE_CASES[2])
@example(case=EDGE_CASES[3])
def test_conv2d_matrix_matches_conv2d(student: StudentCode, case: ConvCase) -> None:
    """conv2d_matrix matches F.conv2d

    On generated kernels (1x1 to 5x5), inputs (up to 9x9), strides (1 to 5) and paddings (0 to 4), conv2d_matrix is the
    matrix of F.conv2d.
    """
    received = student.call(
        CONV2D_MATRIX, case.kernel(), case.input_size, kwargs={"stride": case.stride, "padding": case.padding}
    ).value
    expect_operator_matrix(received, case, what=case.describe("conv2d_matrix"), transposed=False)


@weight(0.5)
@number("11.7")
@visibility("visible")
@tags(PROBLEM)
@settings(max_examples=60)
@given(case=conv_cases(transposed=True))
@example(case=EDGE_CASES[0])
@example(case=ConvCase((2, 2), (5, 5), stride=3, padding=3, seed=5))
@example(case=EDGE_CASES[3])
def test_conv_transpose2d_matrix_matches_conv_transpose2d(student: StudentCode, case: ConvCase) -> None:
    """conv_transpose2d_matrix matches torch's

    On generated kernels, inputs, strides and paddings (no output padding), conv_transpose2d_matrix is the matrix of
    F.conv_transpose2d.
    """
    received = student.call(
        CONV_TRANSPOSE2D_MATRIX, case.kernel(), case.input_size, kwargs={"stride": case.stride, "padding": case.padding}
    ).value
    expect_operator_matrix(received, case, what=case.describe("conv_transpose2d_matrix"), transposed=True)
