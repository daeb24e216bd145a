"""Convolutions as matrices: problems 1-3 of the problem set, and their generalisations.

Single channel, cross-correlation as ``torch.nn.functional.conv2d`` computes
it, row-major flattening. Every expected matrix is measured here, by applying
``F.conv2d`` or ``F.conv_transpose2d`` to each input pixel's indicator image,
so the checks need no reference and accept any correct construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from autograder.compare import as_tensor, expect, expect_close, expect_matrix, known_mistake, zip_strict
from autograder.failures import PropertyFailed
from autograder.mistakes import Mistake, Suspect, explained, known
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


FLIPPED_KERNEL = known(
    "conv_matrices.flipped_kernel",
    "your matrix is that of the kernel rotated by 180 degrees (a true convolution): F.conv2d is a cross-correlation, "
    "output pixel (i, j) takes kernel[a, b] times padded input pixel (i * stride + a, j * stride + b), with no flip.",
    "mistake_conv_matrices_flipped_kernel",
    "mistake_conv_matrices_q1_kernel_flipped_by_hand",
)
TRANSPOSED_MATRIX = known(
    "conv_matrices.transposed_matrix",
    "your matrix is the transpose of the expected one: A has one row per output pixel and one column per input pixel, "
    "so that A @ x.flatten() is the output.",
    "mistake_conv_matrices_conv2d_matrix_transposed",
)
COLUMN_MAJOR = known(
    "conv_matrices.column_major",
    "your matrix flattens the images column by column (pixel (r, c) at c * H + r): flatten row by row, pixel (r, c) of "
    "an H x W image at r * W + c, as .flatten() does, for the input's columns and the output's rows.",
    "mistake_conv_matrices_column_major",
)
PADDING_NOT_SHIFTED = known(
    "conv_matrices.padding_not_shifted",
    "your windows start at input pixel (i * stride, j * stride), as if the padding were all after the image: with "
    "padding p, output pixel (i, j) reads input pixel (i * stride + a - p, j * stride + b - p).",
    "mistake_conv_matrices_padding_offset_forgotten",
)
STRIDE_NOT_IN_WINDOW = known(
    "conv_matrices.stride_not_in_window",
    "your windows slide by one pixel whatever the stride: output pixel (i, j) reads input pixel "
    "(i * stride + a - padding, j * stride + b - padding); the stride moves the window, not only the output size.",
    "mistake_conv_matrices_stride_ignored_in_window",
)
OUTPUT_SIZE_CEIL = known(
    "conv_matrices.output_size_ceil",
    "your matrix has the rows of an output size rounded up: the output is (H + 2 * padding - kh) // stride + 1 pixels "
    "high (and likewise wide), rounded down, since a window may not run past the padded image.",
    "mistake_conv_matrices_output_size_ceil",
)
OUTPUT_SIZE_PLUS_ONE_INSIDE = known(
    "conv_matrices.output_size_plus_one_inside",
    "your matrix has the rows of an output size (H + 2 * padding - kh + 1) // stride, right only for stride 1: the "
    "output is (H + 2 * padding - kh) // stride + 1 pixels high (and likewise wide), the + 1 outside the division.",
    "mistake_conv_matrices_output_size_off_by_one",
)
TRANSPOSE_FLIPPED_KERNEL = known(
    "conv_matrices.transpose_flipped_kernel",
    "your matrix is the transposed convolution's with the kernel rotated by 180 degrees: F.conv_transpose2d adds "
    "kernel[a, b] times input pixel (i, j) to output pixel (i * stride + a - padding, j * stride + b - padding); "
    "written as a convolution of the zero-inserted input, that convolution takes the rotated kernel.",
    "mistake_conv_matrices_transpose_flipped_kernel",
    "mistake_conv_matrices_q2_zero_insertion_kernel_not_flipped",
)
TRANSPOSE_PADDING_IGNORED = known(
    "conv_matrices.transpose_padding_ignored",
    "your matrix is that of the transposed convolution without padding (the full (H - 1) * stride + kh output): "
    "padding crops that many rows and columns from each side of the output.",
    "mistake_conv_matrices_transpose_padding_ignored",
)
TRANSPOSE_OF_SAME_CONV = known(
    "conv_matrices.transpose_of_same_conv",
    "your matrix is conv2d_matrix(kernel, input_size, stride, padding).T, the adjoint of a convolution of input_size: "
    "the transposed convolution's matrix is the transpose of the convolution that maps its output size back to "
    "input_size, conv2d_matrix(kernel, output_size, stride, padding).T.",
    "mistake_conv_matrices_transpose_as_conv_same_arguments",
)
Q1_NO_PADDING = known(
    "conv_matrices.q1_no_padding",
    "your q1_matrix is the convolution's without the zero padding of 2 (one output pixel): problem 1 pads the 3x3 "
    "input with 2 rows and columns of zeros on every side.",
    "mistake_conv_matrices_q1_no_padding",
)
Q1_STRIDE_ONE = known(
    "conv_matrices.q1_stride_one",
    "your q1_matrix is the convolution's with stride 1 (a 5x5 output): problem 1's stride is 4.",
    "mistake_conv_matrices_q1_stride_one",
)
Q2_PLAIN_CONVOLUTION = known(
    "conv_matrices.q2_plain_convolution",
    "your q2_matrix is that of a plain stride-2 convolution of the 2x2 input (one output pixel): problem 2 asks for the "
    "transposed convolution, whose output is 4x4.",
    "mistake_conv_matrices_q2_plain_convolution",
)
Q3_CHANNEL_LAST = known(
    "conv_matrices.q3_channel_last",
    "your q3_conv_matrix orders its rows pixel, then channel ((2 * r + c) * 4 + channel): order them channel, then row, "
    "then column (channel * 4 + 2 * r + c), as the (4, 2, 2) output flattens, and q3_permutation's indices with them.",
    "mistake_conv_matrices_q3_channel_last",
    "mistake_conv_matrices_q3_channel_last_consistent_permutation",
)
Q3_ONE_BASED = known(
    "conv_matrices.q3_one_based",
    "your q3_permutation holds 1 to 16, as the written solution counts: tensor indices start at 0; subtract 1 from each.",
    "mistake_conv_matrices_q3_permutation_one_based",
)
Q3_IDENTITY = known(
    "conv_matrices.q3_identity",
    "your q3_permutation is the identity: the convolution's outputs (channel, row, column) do not come out in the "
    "transposed convolution's row-major order; entry m must name the output that lands at position m.",
    "mistake_conv_matrices_q3_identity_permutation",
)
Q3_INVERSE = known(
    "conv_matrices.q3_inverse",
    "your q3_permutation is the inverse of a right one: it says where each convolution output goes, while entry m must "
    "name the output that lands at position m (torch.argsort(p) inverts it).",
    "mistake_conv_matrices_q3_inverse_permutation",
)


def matrix_of(operator: Callable[[torch.Tensor], torch.Tensor], input_size: tuple[int, int]) -> torch.Tensor:
    """The matrix of ``operator`` (images (N, 1, H, W) in, images out), column by column, as :func:`measured_matrix`."""
    height, width = input_size
    basis = torch.eye(height * width, dtype=torch.float64).reshape(height * width, 1, height, width)
    return operator(basis).reshape(height * width, -1).T


def conv_suspects(case: ConvCase) -> list[Suspect]:
    """The known mistakes of a convolution's matrix, each with the matrix it gives (shape included)."""
    kernel, size, stride, padding = case.kernel(), case.input_size, case.stride, case.padding
    weights = kernel.reshape(1, 1, *kernel.shape)
    (height, width), (out_h, out_w) = size, output_size(case, transposed=False)

    def column_major() -> torch.Tensor:
        expected = measured_matrix(kernel, size, stride, padding, transposed=False)
        return expected.reshape(out_h, out_w, height, width).permute(1, 0, 3, 2).reshape(out_h * out_w, height * width)

    return [
        Suspect(FLIPPED_KERNEL, predicts=lambda: measured_matrix(kernel.flip(0, 1), size, stride, padding, transposed=False)),
        Suspect(TRANSPOSED_MATRIX, predicts=lambda: measured_matrix(kernel, size, stride, padding, transposed=False).T),
        Suspect(COLUMN_MAJOR, predicts=column_major),
        Suspect(
            PADDING_NOT_SHIFTED,
            predicts=lambda: matrix_of(
                lambda x: F.conv2d(F.pad(x, (0, 2 * padding, 0, 2 * padding)), weights, stride=stride), size
            ),
        ),
        Suspect(
            STRIDE_NOT_IN_WINDOW,
            predicts=lambda: matrix_of(lambda x: F.conv2d(x, weights, padding=padding)[..., :out_h, :out_w], size),
        ),
        *output_size_suspects(case),
    ]


def output_size_suspects(case: ConvCase) -> list[Suspect]:
    """The output-size mistakes, told by the matrix's number of rows (one per output pixel), where only one gives it."""
    (kh, kw), (height, width), stride, padding = case.kernel_size, case.input_size, case.stride, case.padding

    def rows(side: Callable[[int], int]) -> int:
        return side(height + 2 * padding - kh) * side(width + 2 * padding - kw)

    right = rows(lambda span: span // stride + 1)
    candidates = [
        (OUTPUT_SIZE_CEIL, rows(lambda span: -(-span // stride) + 1)),
        (OUTPUT_SIZE_PLUS_ONE_INSIDE, rows(lambda span: (span + 1) // stride)),
    ]
    counts = [count for _, count in candidates]
    return [
        Suspect(mistake, matches=has_shape((count, height * width)))
        for mistake, count in candidates
        if count != right and counts.count(count) == 1
    ]


def has_shape(shape: tuple[int, ...]) -> Callable[[torch.Tensor], bool]:
    return lambda received: tuple(received.shape) == shape


def transpose_suspects(case: ConvCase) -> list[Suspect]:
    """The known mistakes of a transposed convolution's matrix, each with the matrix it gives (shape included)."""
    kernel, size, stride, padding = case.kernel(), case.input_size, case.stride, case.padding
    return [
        Suspect(
            TRANSPOSE_FLIPPED_KERNEL,
            predicts=lambda: measured_matrix(kernel.flip(0, 1), size, stride, padding, transposed=True),
        ),
        Suspect(TRANSPOSE_PADDING_IGNORED, predicts=lambda: measured_matrix(kernel, size, stride, 0, transposed=True)),
        Suspect(TRANSPOSE_OF_SAME_CONV, predicts=lambda: measured_matrix(kernel, size, stride, padding, transposed=False).T),
    ]


def expect_operator_matrix(
    received: object, case: ConvCase, *, what: str, transposed: bool, mistakes: Sequence[Suspect] | None = None
) -> None:
    """The received matrix is the operator's; ``mistakes`` (by default those of its kind) may explain a wrong one."""
    out_h, out_w = output_size(case, transposed=transposed)
    height, width = case.input_size
    matrix = as_tensor(received, what)
    if mistakes is None:
        mistakes = transpose_suspects(case) if transposed else conv_suspects(case)
    if tuple(matrix.shape) != (out_h * out_w, height * width):
        failure = PropertyFailed(
            f"{what}: expected shape {(out_h * out_w, height * width)} (one row per pixel of the {out_h}x{out_w} output, "
            f"one column per pixel of the {height}x{width} input), received shape {tuple(matrix.shape)}."
        )
        mistake = known_mistake(matrix, torch.zeros((), dtype=torch.float64), mistakes)
        raise explained(str(failure), mistake) if mistake else failure
    expected = measured_matrix(case.kernel(), case.input_size, case.stride, case.padding, transposed=transposed)
    expect_matrix(
        matrix,
        expected,
        what=what,
        row_label=lambda row: f" (output pixel {pixel(row, out_w)})",
        column_label=lambda column: f" (input pixel {pixel(column, width)})",
        mistakes=mistakes,
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
    kernel = case.kernel()
    expect_operator_matrix(
        received,
        case,
        what="q1_matrix(kernel) (a 3x3 kernel on a 3x3 input, stride 4, padding 2)",
        transposed=False,
        mistakes=[
            Suspect(Q1_NO_PADDING, predicts=lambda: measured_matrix(kernel, (3, 3), 4, 0, transposed=False)),
            Suspect(Q1_STRIDE_ONE, predicts=lambda: measured_matrix(kernel, (3, 3), 1, 2, transposed=False)),
            *conv_suspects(case),
        ],
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
    kernel = case.kernel()
    expect_operator_matrix(
        received,
        case,
        what="q2_matrix(kernel) (a 2x2 kernel on a 2x2 input, transposed, stride 2)",
        transposed=True,
        mistakes=[
            Suspect(Q2_PLAIN_CONVOLUTION, predicts=lambda: measured_matrix(kernel, (2, 2), 2, 0, transposed=False)),
            *transpose_suspects(case),
        ],
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
        mistakes=[Suspect(Q3_CHANNEL_LAST, predicts=lambda: channel_last(expected))],
    )


def q3_expected(kernel4: torch.Tensor) -> torch.Tensor:
    """The (16, 4) matrix of the (4, 1, 1, 1) convolution on a 2x2 input, its output ordered channel, row, column."""
    basis = torch.eye(4, dtype=torch.float64).reshape(4, 1, 2, 2)
    return F.conv2d(basis, kernel4.reshape(4, 1, 1, 1)).reshape(4, 16).T


def channel_last(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix``'s rows reordered from (channel, pixel) to (pixel, channel)."""
    return matrix.reshape(4, 4, 4).transpose(0, 1).reshape(16, 4)


def permutation_known_mistake(permutation: list[int]) -> Mistake | None:
    """The known mistake a wrong q3_permutation() makes, if it is one: 1-based, the identity, meant for outputs ordered
    pixel then channel, or the inverse."""
    if sorted(permutation) == list(range(1, 17)):
        return Q3_ONE_BASED
    if permutation == list(range(16)):
        return Q3_IDENTITY
    if permutation_mistake(permutation) is not None and permutation_mistake([(q % 4) * 4 + q // 4 for q in permutation]) is None:
        return Q3_CHANNEL_LAST
    if permutation_mistake(permutation) is not None and sorted(permutation) == list(range(16)):
        inverse = torch.argsort(torch.tensor(permutation)).tolist()
        if permutation_mistake(inverse) is None:
            return Q3_INVERSE
    return None


def expect_permutation(condition: bool, message: str, permutation: list[int]) -> None:
    """``expect``, naming the known mistake of ``permutation`` when the condition fails."""
    if condition:
        return
    mistake = permutation_known_mistake(permutation)
    raise explained(message, mistake)


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


def same_matrix(received: torch.Tensor, expected: torch.Tensor) -> bool:
    return tuple(received.shape) == tuple(expected.shape) and bool(torch.allclose(received, expected, rtol=1e-6, atol=1e-9))


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
    expect_permutation(
        bool(((permutation >= 0) & (permutation < 16)).all()),
        f"q3_permutation() must index the 16 outputs (0 to 15); received {permutation.tolist()}.",
        permutation.tolist(),
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
    mistake_of_permutation = permutation_known_mistake(permutation.tolist())
    expect_close(
        (convolved @ x)[permutation],
        transposed,
        mistakes=[
            Suspect(Q3_CHANNEL_LAST, matches=lambda _: same_matrix(convolved, channel_last(q3_expected(kernel4)))),
            *([Suspect(mistake_of_permutation, matches=lambda _: True)] if mistake_of_permutation else []),
        ],
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
    expect_permutation(
        mistake is None,
        f"q3_permutation() = {permutation} cannot turn the outputs of q3_conv_matrix (ordered channel, row, column) into "
        f"the stride-2 transposed convolution's output (row-major): {mistake}.",
        permutation,
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
