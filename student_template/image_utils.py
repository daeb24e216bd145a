"""Image helpers of the course, written with PIL, numpy and torch (no torchvision).

``preprocess`` and ``deprocess`` do what the course's torchvision pipelines
did: resize the shorter side to ``size`` (bilinear, as ``T.Resize(size)``),
convert to a float tensor in [0, 1], normalise with SqueezeNet's statistics
and add a batch dimension; and the way back.

This file is given code: the grader uses the course's own copy of it.
"""

import numpy as np
import PIL.Image
import torch

SQUEEZENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
SQUEEZENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def resized_size(width, height, size):
    """The (width, height) that ``T.Resize(size)`` gives: shorter side ``size``, aspect kept."""
    if isinstance(size, (tuple, list)):
        return int(size[1]), int(size[0])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def preprocess(img, size=224):
    """A PIL image as a normalised float tensor of shape (1, 3, H, W)."""
    img = img.convert("RGB")
    img = img.resize(resized_size(img.width, img.height, size), PIL.Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.from_numpy(SQUEEZENET_MEAN).view(3, 1, 1)
    std = torch.from_numpy(SQUEEZENET_STD).view(3, 1, 1)
    return ((x - mean) / std)[None]


def rescale(x):
    """Map the values of x linearly onto [0, 1]."""
    low, high = x.min(), x.max()
    return (x - low) / (high - low)


def deprocess(img, should_rescale=True):
    """A (1, 3, H, W) normalised tensor back to a PIL image."""
    x = img[0].detach().cpu().float()
    x = x * torch.from_numpy(SQUEEZENET_STD).view(3, 1, 1) + torch.from_numpy(SQUEEZENET_MEAN).view(3, 1, 1)
    if should_rescale:
        x = rescale(x)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return PIL.Image.fromarray(x.permute(1, 2, 0).numpy())
