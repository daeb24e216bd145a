"""Problems 1-3 of the problem set, as code: convolutions as matrices.

Conventions, for every function here:
- single input channel and single output channel (except problem 3, below);
- convolution means cross-correlation, as torch.nn.functional.conv2d computes it:
      y[i, j] = sum over a, b of kernel[a, b] * x_padded[i * stride + a, j * stride + b]
  (the kernel is NOT flipped), where x_padded is x with `padding` rows and
  columns of zeros added on every side;
- images are flattened in row-major order: pixel (r, c) of an H x W image is
  entry r * W + c of the vector (what torch's .flatten() does);
- a "matrix of an operator" is the matrix A with
      A @ x.flatten() == operator(x).flatten()
  for every input x: one row per output pixel, one column per input pixel.

Return torch tensors (numpy arrays are accepted too). The grader checks your
matrices against torch.nn.functional.conv2d and conv_transpose2d on many
kernels, sizes, strides and paddings. Keep your code device-agnostic: the
kernel may be on the GPU, so make new tensors on its device
(kernel.new_zeros(...), torch.eye(..., device=kernel.device)).
"""

import torch


def conv2d_matrix(kernel, input_size, stride=1, padding=0):
    """
    The matrix of a convolution: A with A @ x.flatten() == F.conv2d(x, kernel, stride=stride, padding=padding).flatten().

    Inputs:
    - kernel: a tensor of shape (kh, kw)
    - input_size: (H, W), the size of the input x
    - stride, padding: as in torch.nn.functional.conv2d (the same on both axes)

    Returns:
    - A: a tensor of shape (H_out * W_out, H * W), where
          H_out = (H + 2 * padding - kh) // stride + 1,  W_out = (W + 2 * padding - kw) // stride + 1
      Row r * W_out + c holds the weights with which output pixel (r, c) combines
      the input pixels. Padding contributes zeros, so it has no column.
    """
    ##############################################################################
    # TODO: Build the matrix, for any kernel size, input size, stride and        #
    # padding (stride may be larger than the kernel, padding larger than the     #
    # kernel, and the output may be a single pixel).                             #
    ##############################################################################
    return torch.full((((input_size[0] + 2 * padding - kernel.shape[0]) // stride + 1) * ((input_size[1] + 2 * padding - kernel.shape[1]) // stride + 1), input_size[0] * input_size[1]), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def conv_transpose2d_matrix(kernel, input_size, stride=1, padding=0):
    """
    The matrix of a transposed convolution:
        A @ x.flatten() == F.conv_transpose2d(x, kernel, stride=stride, padding=padding).flatten()
    (no output padding, one channel).

    A transposed convolution spreads each input pixel x[i, j] over the output:
    kernel[a, b] * x[i, j] is added to output pixel (i * stride - padding + a,
    j * stride - padding + b) when that pixel exists; `padding` crops the output.

    Inputs:
    - kernel: a tensor of shape (kh, kw)
    - input_size: (H, W)
    - stride, padding: as in torch.nn.functional.conv_transpose2d

    Returns:
    - A: a tensor of shape (H_out * W_out, H * W), where
          H_out = (H - 1) * stride - 2 * padding + kh,  W_out = (W - 1) * stride - 2 * padding + kw
    """
    ##############################################################################
    # TODO: Build the matrix.                                                    #
    ##############################################################################
    return torch.full((((input_size[0] - 1) * stride - 2 * padding + kernel.shape[0]) * ((input_size[1] - 1) * stride - 2 * padding + kernel.shape[1]), input_size[0] * input_size[1]), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def q1_matrix(kernel):
    """
    Problem 1: the 3x3 kernel W on a 3x3 input X, stride 4, zero padding 2.

    Input: kernel, a (3, 3) tensor [[w00, w01, w02], [w10, w11, w12], [w20, w21, w22]].
    Returns: A, the (4, 9) matrix with Y = A @ X.flatten() (Y is the 2x2 output, flattened row-major).
    """
    ##############################################################################
    # TODO: Problem 1.                                                           #
    ##############################################################################
    return torch.full((4, 9), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def q2_matrix(kernel):
    """
    Problem 2: the transposed convolution with a 2x2 kernel W on a 2x2 input X, stride 2, no padding.

    Input: kernel, a (2, 2) tensor.
    Returns: A, the (16, 4) matrix with Y = A @ X.flatten() (Y is the 4x4 output, flattened row-major).
    """
    ##############################################################################
    # TODO: Problem 2.                                                           #
    ##############################################################################
    return torch.full((16, 4), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def q3_conv_matrix(kernel4):
    """
    Problem 3, the convolution: a layer with kernel size (4, 1, 1, 1) (4 output channels,
    1 input channel, 1x1 kernels) on the 2x2 input X of problem 2, stride 1, no padding.

    Input: kernel4, a (4,) tensor: kernel4[c] is the 1x1 kernel of output channel c.
    Returns: A, the (16, 4) matrix with Y = A @ X.flatten(), where the output Y (4 channels
    of 2x2) is flattened channel first, then row, then column: entry c * 4 + r * 2 + col
    is pixel (r, col) of channel c.
    """
    ##############################################################################
    # TODO: Problem 3, the convolution's matrix.                                 #
    ##############################################################################
    return torch.full((16, 4), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def q3_transposed_kernel(kernel4):
    """
    Problem 3, the transposed convolution: the (2, 2) kernel K such that the transposed
    convolution of problem 2 (stride 2, no padding) with K computes the same 16 numbers
    as the convolution of q3_conv_matrix, in another order.

    Input: kernel4, a (4,) tensor as in q3_conv_matrix.
    Returns: K, a (2, 2) tensor.
    """
    ##############################################################################
    # TODO: Problem 3, the transposed convolution's kernel.                      #
    ##############################################################################
    return torch.full((2, 2), 1.0)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################


def q3_permutation():
    """
    Problem 3, the reordering: a length-16 tensor of indices p such that, for every
    kernel4 and every input x (a length-4 vector, the flattened 2x2 input),

        (q3_conv_matrix(kernel4) @ x)[p] == q2_matrix(q3_transposed_kernel(kernel4)) @ x

    Entry i of p says which output of the convolution lands at position i of the
    transposed convolution's output. Every index 0..15 appears exactly once.
    """
    ##############################################################################
    # TODO: Problem 3, the permutation.                                          #
    ##############################################################################
    return torch.arange(16)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
