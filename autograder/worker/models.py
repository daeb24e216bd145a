"""Models built from a (name, seed) spec, identically in the grader and the worker.

The course used torchvision's pretrained SqueezeNet 1.1, which cannot be
downloaded where grading runs. The architecture is defined here with the same
module layout and state-dict keys as torchvision's, so an instructor's
pretrained weights load into it; for grading it is built from a seed.
``tiny_cnn`` is a small feature extractor for style transfer runs that must be
fast; like SqueezeNet's ``features`` it is an ``nn.Sequential``, so the course's
``extract_features`` (which iterates ``cnn._modules``) works on it.

Both sides call :func:`build_model` with the same spec and get the same
weights (torchvision's initialisation, with biases drawn from U(-0.1, 0.1)
instead of 0, as trained biases are): construction runs under a forked RNG seeded from the spec, so it
neither depends on nor disturbs the global random state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MODEL_NAMES = ("tiny_cnn", "squeezenet1_1", "squeezenet1_1_features")
BUILT_HOOKS: list[Callable[[str, nn.Module], object]] = []
"""Called with a description and each model built (the handout's check compares the weights with recorded ones)."""
BIAS_RANGE = 0.1


class Fire(nn.Module):
    """SqueezeNet's Fire module, attribute names as in torchvision."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.1 as torchvision defines it (``features``, ``classifier``)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                if module is final_conv:
                    nn.init.normal_(module.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


def tiny_cnn() -> nn.Sequential:
    """Seven layers, three feature scales: a fast stand-in for SqueezeNet's features."""
    return nn.Sequential(
        nn.Conv2d(3, 6, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, ceil_mode=True),
        nn.Conv2d(8, 8, kernel_size=3, padding=1),
        nn.ReLU(),
    )


def input_layer(model: nn.Module) -> nn.Module:
    """The layer every forward of ``model`` starts with: it is given the model's input unchanged.

    A forward pre-hook on the model itself misses ``model.forward(X)`` (which
    bypasses the model's own hooks) and ``model.features(X)`` followed by
    ``model.classifier(...)``; every one of these calls the first layer of
    ``features`` through its ``__call__``, once per forward. For the models
    of this module that is ``features[0]`` of SqueezeNet, and the first layer
    of an ``nn.Sequential``; for any other module, the module itself.
    """
    layer = model
    while True:
        features = getattr(layer, "features", None)
        if isinstance(layer, nn.Sequential) and len(layer) > 0:
            layer = layer[0]
        elif isinstance(features, nn.Module):
            layer = features
        else:
            return layer


def build_model(
    name: str, seed: int, dtype: torch.dtype = torch.float32, num_classes: int = 1000, *, frozen: bool = True
) -> nn.Module:
    """The model ``name`` with weights drawn from ``seed``, in eval mode.

    ``frozen`` turns off the parameters' gradients (as the course did for the
    feature extractor of style transfer); torchvision's models, which Grad-CAM
    was given, keep them on.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: nn.Module
        if name == "tiny_cnn":
            model = tiny_cnn()
        else:
            model = SqueezeNet(num_classes=num_classes)
            # torchvision starts biases at 0; trained ones are not, and with the classifier's
            # biases at 0 some mistakes (Grad-CAM without pooling the gradients) change nothing.
            for module in model.modules():
                if isinstance(module, nn.Conv2d) and module.bias is not None:
                    nn.init.uniform_(module.bias, -BIAS_RANGE, BIAS_RANGE)
            if name == "squeezenet1_1_features":
                model = model.features
    model = model.to(dtype).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(not frozen)
    for hook in BUILT_HOOKS:
        hook(f"the model {name} of seed {seed} ({str(dtype).replace('torch.', '')}, {num_classes} classes)", model)
    return model
