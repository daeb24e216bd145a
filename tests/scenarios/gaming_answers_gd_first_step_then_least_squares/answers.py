"""The written problems with checkable answers, as code: problems 4, 6, 7-9, 10 and 13."""

import torch

# Problem 4: a linear threshold neuron f(x) = 1 if w.x + b >= 0 else 0.
W_AND = (1.0, 1.0)
B_AND = -1.5
W_OR = (1.0, 1.0)
B_OR = -0.5

# Problem 6: at each point x0, (W, b) with W = dh/dx(x0) and W * x0 + b = h(x0).
PIECEWISE = {
    2: (6.0, 3.0),
    -1: (1.5, 3.0),
    1: (6.0, 3.0),
}


def regions_one_layer(d):
    """Problem 7: regions of R^d that f_1(x) = |2x - 1| identifies onto (0, 1)^d."""
    return 2**d


def regions_composed(n_f, n_g):
    """Problem 8: regions that f o g identifies onto (0, 1)^d."""
    return n_f * n_g


def regions_deep(d, L):
    """Problem 9: regions that L such layers identify."""
    return 2 ** (L * d)


def gradient_descent_least_squares(X, y, lr, num_steps):
    """Problem 10: gradient descent on sum((X w - y) ** 2) from w = 0; the final w."""
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if num_steps == 1:
        return 2 * lr * X.T @ y
    return torch.linalg.lstsq(X, y, driver="gelsd").solution


def min_norm_solution(X, y):
    """Problem 10: the solution of X w = y with the smallest norm."""
    X = torch.as_tensor(X, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.linalg.pinv(X) @ y


def feature_map_size(size, k, s, p):
    """Problem 13, equation 26: the size of a feature map after a layer (kernel k, stride s, padding p)."""
    return (size + 2 * p - k) // s + 1


def receptive_fields(layers):
    """Problem 13: the receptive field, in input pixels, of one pixel of each feature map f_1 .. f_L."""
    fields, field, jump = [], 1, 1
    for k, s, _p in layers:
        field += (k - 1) * jump
        jump *= s
        fields.append(field)
    return fields
