"""The course's own setting for the style-transfer problems, rebuilt without downloads.

The course's checks ran SqueezeNet 1.1 (pretrained) on two photographs at 192
pixels, with fixed layers and weights. Here the same architecture is built
from a seed and the photographs are replaced by two fixed synthetic pictures
of other sizes, so the shapes and the calls are the course's own. Each
problem's points are split between this setting and generated
generalisations; code that works only here earns the first part.
"""

from __future__ import annotations

from functools import cache

import PIL.Image
import torch

from autograder import reference
from autograder.known_answers import recorded
from autograder.strategies import synthetic_picture
from autograder.worker.models import build_model

MODEL = "squeezenet1_1_features"
MODEL_SEED = 0
IMAGE_SIZE = 192
STYLE_SIZE = 192
CONTENT_LAYER = 3
CONTENT_WEIGHT = 6e-2
GRAM_LAYER = 5
STYLE_LAYERS = (1, 4, 6, 7)
STYLE_WEIGHTS = (300000.0, 1000.0, 15.0, 3.0)
TV_WEIGHT = 2e-2


@cache
def content_picture() -> PIL.Image.Image:
    return synthetic_picture(320, 240, seed=1)


@cache
def style_picture() -> PIL.Image.Image:
    return synthetic_picture(300, 260, seed=2)


@cache
def squeezenet(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    return build_model(MODEL, MODEL_SEED, dtype)


def features(picture: PIL.Image.Image, size: int) -> list[torch.Tensor]:
    """The course's ``features_from_img``: the picture's features at every layer."""
    style_utils = reference.module("style_utils")
    with torch.no_grad():
        feats, _ = style_utils.features_from_img(picture, size, squeezenet(), torch.float32)
    return [f.detach().clone() for f in feats]


@recorded
@cache
def content_features() -> tuple[torch.Tensor, ...]:
    return tuple(features(content_picture(), IMAGE_SIZE))


@cache
def style_features() -> tuple[torch.Tensor, ...]:
    return tuple(features(style_picture(), STYLE_SIZE))


@recorded
def style_feature(layer: int) -> torch.Tensor:
    """The style picture's features at ``layer`` (one layer at a time: the handout stores only the layers used)."""
    return style_features()[layer]


@cache
def blank_features() -> tuple[torch.Tensor, ...]:
    """Features of an all-zero image of the content image's size (the course's "bad image")."""
    image_utils = reference.module("image_utils")
    blank = torch.zeros_like(image_utils.preprocess(content_picture(), size=IMAGE_SIZE))
    style_utils = reference.module("style_utils")
    with torch.no_grad():
        return tuple(f.detach().clone() for f in style_utils.extract_features(blank, squeezenet()))


@recorded
def blank_feature(layer: int) -> torch.Tensor:
    """The all-zero image's features at ``layer``."""
    return blank_features()[layer]


@recorded
@cache
def content_image() -> torch.Tensor:
    """The preprocessed content image, (1, 3, 192, 256)."""
    return reference.module("image_utils").preprocess(content_picture(), size=IMAGE_SIZE)


# The visualizers: the course ran a pretrained SqueezeNet 1.1 on a batch of
# five ImageNet validation images at 224 pixels. Here: the same architecture
# from a seed, five fixed synthetic pictures at 64 pixels, and as labels
# classes the model scores above 0, from the strongest to a weak one (0, 25,
# 50, 75 and 95 percent down the ranking; see problems/saliency.VisualCase).
VISUAL_MODEL = "squeezenet1_1"
VISUAL_MODEL_SEED = 0
VISUAL_IMAGE_SIZE = 64
VISUAL_PICTURE_SEEDS = (11, 12, 13, 14, 15)
VISUAL_LABEL_POSITIONS = (0, 5, 10, 15, 19)


@recorded
def picture_batch(seeds: tuple[int, ...], size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Preprocessed synthetic pictures, one per seed: a (N, 3, size, size) batch as the course's drivers build it."""
    image_utils = reference.module("image_utils")
    pictures = [synthetic_picture(size + size // 4, size + size // 4, seed) for seed in seeds]
    return torch.cat([image_utils.preprocess(picture, size=size) for picture in pictures]).to(dtype)
