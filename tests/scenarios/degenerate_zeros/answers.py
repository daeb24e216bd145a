"""The written problems with checkable answers, as code: problems 4, 6, 7-9, 10 and 13.

Fill in each constant (they are None until you answer) and each function. The
grader accepts every correct answer, not one stored answer: your gate weights
are checked on the truth tables, your slopes against the network itself, your
counts and functions on many generated inputs. The proofs and explanations the
problems ask for are still written in your PDF. Where you make tensors from
tensors you are given, make them on the same device (X.new_zeros(...)).
"""

import torch

# ------------------------------------------------------------------------------
# Problem 4. A linear threshold neuron: f(x) = 1 if w . x + b >= 0, else 0, for
# x in {0, 1}^2. Give weights w (two numbers: a tuple, list or tensor) and a bias
# b (one number) such that f computes AND, and others such that it computes OR.
# ------------------------------------------------------------------------------
W_AND = (0.0, 0.0)
B_AND = 0.0
W_OR = (0.0, 0.0)
B_OR = 0.0

# ------------------------------------------------------------------------------
# Problem 6. h(x) = W3 max(0, W2 max(0, W1 x + b1) + b2) + b3 with
#   W1 = [1.5, 0.5]^T, b1 = [0, 1]^T, W2 = [[1, 2], [2, 1]], b2 = [0, 1]^T,
#   W3 = [1, 1], b3 = -1.
# For each point x0 in {2, -1, 1}, give (W, b) with W = dh/dx at x0 and
# W * x0 + b = h(x0): the slope and intercept of the linear piece h follows there.
# ------------------------------------------------------------------------------
PIECEWISE = {2: (0.0, 0.0), -1: (0.0, 0.0), 1: (0.0, 0.0)}


def regions_one_layer(d):
    """
    Problem 7. f_1(x) = |W x + b| (elementwise) with W = 2 I (d x d) and b_i = -1.
    Returns: how many regions of the input R^d f_1 identifies onto O = (0, 1)^d, an int.
    """
    return 0


def regions_composed(n_f, n_g):
    """
    Problem 8. g identifies n_g regions of (0, 1)^d onto (0, 1)^d and f identifies n_f.
    Returns: how many regions of its input f(g(.)) identifies onto (0, 1)^d, an int.
    """
    return 0


def regions_deep(d, L):
    """
    Problem 9. L layers h_l = |W h_(l-1) + b|, each the layer of problem 7, on x in (0, 1)^d.
    Returns: how many regions of its input f(x) = h_L identifies onto (0, 1)^d, an int.
    """
    return 0


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
    return torch.full((X.shape[1],), 0.0, dtype=X.dtype)


def min_norm_solution(X, y):
    """
    Problem 10. The solution of X w = y with the smallest norm ||w||_2 (equations 24-25).
    Inputs: X, a (n, d) tensor with n < d and full row rank; y, a (n,) tensor.
    Returns: w, a (d,) tensor.
    """
    return torch.full((X.shape[1],), 0.0, dtype=X.dtype)


def feature_map_size(size, k, s, p):
    """
    Problem 13, equation (26): the size of the feature map after a layer with kernel size k,
    stride s and padding p, from an input of size `size`. When the division is not exact,
    round down (as convolution and pooling layers do). Returns an int.
    """
    return 0


def receptive_fields(layers):
    """
    Problem 13. layers: a list of (k, s, p) for layers 1..L, applied in order to the input f_0.
    Returns: a list of L ints: entry l - 1 is the receptive field r of one pixel of the
    feature map f_l, in pixels of the input f_0 (equations 28-29). For the problem's network,
    receptive_fields([(11, 4, 0), (3, 2, 0)]) gives the answers to 13 (b).
    """
    return [0] * len(layers)
