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
kernels, sizes, strides and paddings.
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
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kh, kw = kernel.shape
    H, W = input_size
    H_out = (H + 2 * padding - kh) // stride + 1
    W_out = (W + 2 * padding - kw) // stride + 1
    A = torch.zeros(H_out * W_out, H * W, dtype=torch.float64)
    for r in range(H_out):
        for c in range(W_out):
            # the window of output (r, c) starts at (r * stride, c * stride) in the padded input
            for a in range(kh):
                for b in range(kw):
                    i = r * stride + a - padding
                    j = c * stride + b - padding
                    if 0 <= i < H and 0 <= j < W:  # otherwise it is a padding zero
                        A[r * W_out + c, i * W + j] = kernel[a, b]
    return A
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
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kh, kw = kernel.shape
    H, W = input_size
    H_out = (H - 1) * stride - 2 * padding + kh
    W_out = (W - 1) * stride - 2 * padding + kw
    A = torch.zeros(H_out * W_out, H * W, dtype=torch.float64)
    for i in range(H):
        for j in range(W):
            # input pixel (i, j) is spread over the output, starting at (i * stride, j * stride)
            for a in range(kh):
                for b in range(kw):
                    r = i * stride + a - padding
                    c = j * stride + b - padding
                    if 0 <= r < H_out and 0 <= c < W_out:  # padding crops the output
                        A[r * W_out + c, i * W + j] += kernel[a, b]
    return A
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
    w = torch.as_tensor(kernel, dtype=torch.float64)
    # The padded input is 7x7 and the windows start at rows/columns 0 and 4 of it,
    # i.e. at rows/columns -2 and 2 of X: each window sees a single pixel of X.
    A = torch.zeros(4, 9, dtype=torch.float64)
    A[0, 0] = w[2, 2]  # y(0,0) = w22 * x00
    A[1, 2] = w[2, 0]  # y(0,1) = w20 * x02
    A[2, 6] = w[0, 2]  # y(1,0) = w02 * x20
    A[3, 8] = w[0, 0]  # y(1,1) = w00 * x22
    return A
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
    w = torch.as_tensor(kernel, dtype=torch.float64)
    # x(i, j) * w(a, b) lands at output (2i + a, 2j + b): the 2x2 blocks do not overlap.
    A = torch.zeros(16, 4, dtype=torch.float64)
    for i in range(2):
        for j in range(2):
            for a in range(2):
                for b in range(2):
                    A[(2 * i + a) * 4 + (2 * j + b), i * 2 + j] = w[a, b]
    return A
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
    kernel4 = torch.as_tensor(kernel4, dtype=torch.float64)
    # output channel c is kernel4[c] * X: a scaled identity block per channel
    A = torch.zeros(16, 4, dtype=torch.float64)
    for c in range(4):
        for p in range(4):
            A[p * 4 + c, p] = kernel4[c]
    return A
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
    kernel4 = torch.as_tensor(kernel4, dtype=torch.float64)
    # K[a, b] = kernel4[2a + b]
    return kernel4.reshape(2, 2)
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
    # output (2i + a, 2j + b) is x(i, j) * kernel4[2a + b], entry (2i + j) * 4 + 2a + b of my convolution
    p = [0, 1, 4, 5,
         2, 3, 6, 7,
         8, 9, 12, 13,
         10, 11, 14, 15]
    return torch.tensor(p)
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
