"""The visualizers; ``from visualizers import GradCam`` works.

The classes are imported on first use, so a broken file costs only the
visualizer it defines. This file is given code: the grader uses the course's
own copy.
"""

import importlib

_HOMES = {
    "SaliencyMap": "saliency_map",
    "GradCam": "gradcam",
    "CustomReLU": "gradcam",
    "FoolingImage": "fooling_image",
    "ClassVisualization": "class_visualization",
}
__all__ = list(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
