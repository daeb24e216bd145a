"""The written problems with checkable answers, as code: problems 4, 6, 7-9, 10 and 13.

Fill in each constant (they are None until you answer) and each function. The
grader accepts every correct answer, not one stored answer: your gate weights
are checked on the truth tables, your slopes against the network itself, your
counts and functions on many generated inputs. The proofs and explanations the
problems ask for are still written in your PDF.
"""

import torch

# ------------------------------------------------------------------------------
# Problem 4. A linear threshold neuron: f(x) = 1 if w . x + b >= 0, else 0, for
# x in {0, 1}^2. Give weights w (two numbers: a tuple, list or tensor) and a bias
# b (one number) such that f computes AND, and others such that it computes OR.
# ------------------------------------------------------------------------------
W_AND = (1, 1)  # both inputs count the same
B_AND = -1.5  # only x1 + x2 = 2 clears the threshold
W_OR = (1, 1)
B_OR = -0.5  # x1 + x2 >= 1 clears it

# ------------------------------------------------------------------------------
# Problem 6. h(x) = W3 max(0, W2 max(0, W1 x + b1) + b2) + b3 with
#   W1 = [1.5, 0.5]^T, b1 = [0, 1]^T, W2 = [[1, 2], [2, 1]], b2 = [0, 1]^T,
#   W3 = [1, 1], b3 = -1.
# For each point x0 in {2, -1, 1}, give (W, b) with W = dh/dx at x0 and
# W * x0 + b = h(x0): the slope and intercept of the linear piece h follows there.
# ------------------------------------------------------------------------------
# x0 = 2:  layer 1 = (3, 2), layer 2 = (7, 9), h = 15, all units on: W = 2.5 + 3.5 = 6
# x0 = -1: layer 1 = (0, 0.5) (first unit off), layer 2 = (1, 1.5), h = 1.5, W = 1 + 0.5 = 1.5
# x0 = 1:  layer 1 = (1.5, 1.5), layer 2 = (4.5, 5.5), h = 9, W = 6
PIECEWISE = {
    2: (6, 15 - 6 * 2),
    -1: (1.5, 1.5 - 1.5 * (-1)),
    1: (6, 9 - 6 * 1),
}


def regions_one_layer(d):
    """
    Problem 7. f_1(x) = |W x + b| (elementwise) with W = 2 I (d x d) and b_i = -1.
    Returns: how many regions of the input R^d f_1 identifies onto O = (0, 1)^d, an int.
    """
    # each coordinate: |2 x_i - 1| maps (0, 1/2) and (1/2, 1) onto (0, 1)
    return 2**d


def regions_composed(n_f, n_g):
    """
    Problem 8. g identifies n_g regions of (0, 1)^d onto (0, 1)^d and f identifies n_f.
    Returns: how many regions of its input f(g(.)) identifies onto (0, 1)^d, an int.
    """
    # every region f identifies is reached from each of the n_g regions of g
    return n_f * n_g


def regions_deep(d, L):
    """
    Problem 9. L layers h_l = |W h_(l-1) + b|, each the layer of problem 7, on x in (0, 1)^d.
    Returns: how many regions of its input f(x) = h_L identifies onto (0, 1)^d, an int.
    """
    # problem 8 applied L - 1 times: (2^d)^L
    return (2**d) ** L


def gradient_descent_least_squares(X, y, lr, num_steps):
    """
    Problem 10. Gradient descent on f(w) = sum_i (y_i - w^T x_i)^2 = ||X w - y||^2.

    Inputs:
    - X: a (n, d) tensor, n < d (an under-determined system); y: a (n,) tensor in the range of X
    - lr: the step size eta; num_steps: how many steps to take
    Start from w = 0 (a (d,) tensor of zeros) and take num_steps steps
        w <- w - lr * grad f(w).
    Returns: the final w, a (d,) tensor. (The grader checks where it converges, with a
    step size that is stable whether or not your gradient carries the factor 2.)
    """
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(num_steps):
        grad = 2 * X.T @ (X @ w - y)
        w = w - lr * grad
    return w


def min_norm_solution(X, y):
    """
    Problem 10. The solution of X w = y with the smallest norm ||w||_2 (equations 24-25).
    Inputs: X, a (n, d) tensor with n < d and full row rank; y, a (n,) tensor.
    Returns: w, a (d,) tensor.
    """
    # a solution of X w = y: solve for the first n unknowns, set the others to 0
    n = X.shape[0]
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    w[:n] = torch.linalg.solve(X[:, :n], y)
    return w


def feature_map_size(size, k, s, p):
    """
    Problem 13, equation (26): the size of the feature map after a layer with kernel size k,
    stride s and padding p, from an input of size `size`. When the division is not exact,
    round down (as convolution and pooling layers do). Returns an int.
    """
    return (size + 2 * p - k) // s + 1


def receptive_fields(layers):
    """
    Problem 13. layers: a list of (k, s, p) for layers 1..L, applied in order to the input f_0.
    Returns: a list of L ints: entry l - 1 is the receptive field r of one pixel of the
    feature map f_l, in pixels of the input f_0 (equations 28-29). For the problem's network,
    receptive_fields([(11, 4, 0), (3, 2, 0)]) gives the answers to 13 (b).
    """
    fields = []
    r = 1  # one pixel of the input sees itself
    jump = 1  # distance, in input pixels, between neighbouring pixels of the current map
    for k, s, p in layers:
        r = r + (k - 1) * jump
        jump = jump * s
        fields.append(r)
    return fields
