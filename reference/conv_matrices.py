"""Problems 1-3 of the problem set as code: convolutions as matrices.

Single channel, cross-correlation as torch.nn.functional.conv2d computes it,
row-major flattening of inputs and outputs.
"""

import torch


def _size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def conv2d_matrix(kernel, input_size, stride=1, padding=0):
    """The matrix A with A @ x.flatten() == conv2d(x, kernel, stride, padding).flatten()."""
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kh, kw = kernel.shape
    height, width = input_size
    out_h, out_w = _size(height, kh, stride, padding), _size(width, kw, stride, padding)
    matrix = kernel.new_zeros(out_h * out_w, height * width)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    row, column = i * stride - padding + a, j * stride - padding + b
                    if 0 <= row < height and 0 <= column < width:
                        matrix[i * out_w + j, row * width + column] += kernel[a, b]
    return matrix


def conv_transpose2d_matrix(kernel, input_size, stride=1, padding=0):
    """The matrix A with A @ x.flatten() == conv_transpose2d(x, kernel, stride, padding).flatten()."""
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kh, kw = kernel.shape
    height, width = input_size
    out_h = (height - 1) * stride - 2 * padding + kh
    out_w = (width - 1) * stride - 2 * padding + kw
    matrix = kernel.new_zeros(out_h * out_w, height * width)
    for i in range(height):
        for j in range(width):
            for a in range(kh):
                for b in range(kw):
                    row, column = i * stride - padding + a, j * stride - padding + b
                    if 0 <= row < out_h and 0 <= column < out_w:
                        matrix[row * out_w + column, i * width + j] += kernel[a, b]
    return matrix


def q1_matrix(kernel):
    """Problem 1: the 3x3 kernel on a 3x3 input, stride 4, zero padding 2: a (4, 9) matrix."""
    return conv2d_matrix(kernel, (3, 3), stride=4, padding=2)


def q2_matrix(kernel):
    """Problem 2: the transposed convolution with a 2x2 kernel on a 2x2 input, stride 2: a (16, 4) matrix."""
    return conv_transpose2d_matrix(kernel, (2, 2), stride=2, padding=0)


def q3_conv_matrix(kernel4):
    """Problem 3: the (4, 1, 1, 1) convolution on a 2x2 input, output flattened channel, row, column: (16, 4)."""
    kernel4 = torch.as_tensor(kernel4, dtype=torch.float64)
    return torch.cat([k * torch.eye(4, dtype=kernel4.dtype, device=kernel4.device) for k in kernel4])


def q3_transposed_kernel(kernel4):
    """Problem 3: the 2x2 kernel of the transposed convolution (stride 2) that computes the same outputs."""
    return torch.as_tensor(kernel4, dtype=torch.float64).reshape(2, 2)


def q3_permutation():
    """Problem 3: p with (q3_conv_matrix(k) @ x)[p] == q2_matrix(q3_transposed_kernel(k)) @ x."""
    order = []
    for row in range(4):
        for column in range(4):
            i, a = divmod(row, 2)
            j, b = divmod(column, 2)
            order.append((2 * a + b) * 4 + 2 * i + j)
    return torch.tensor(order)
