"""Tensors as PNG pictures for the report's page: the cells of :mod:`autograder.figures`, drawn.

Each cell becomes one PNG at the tensor's own size (a 64 x 64 map is a 64 x
64 PNG), which the page shows enlarged without smoothing, and inlines as a
``data:`` URI. Colour maps are matplotlib's (``hot`` for saliency and the
differences, ``jet`` over the picture for Grad-CAM, as the course's notebooks
draw them, ``RdBu_r`` for matrices); PNGs are written by pillow. Nothing here
runs student code: the tensors are the worker's reply, already decoded and
checked, and the grader's own expected values.

Shipped in the students' handout with the page (``check.py --html``):
Python 3.9-compatible.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import PIL.Image
import torch

from autograder.figures import HEAT, MATRIX, OVERLAY, PICTURE, RGB, SQUEEZENET_MEAN, SQUEEZENET_STD, Cell

SHOWN_SIZE = 192
"""A picture is shown at least this many pixels wide or tall (enlarged by a whole factor, never made smaller)."""
COLOUR_MAPS = {HEAT: "hot", OVERLAY: "jet", MATRIX: "RdBu_r"}
OVERLAY_OPACITY = 0.5


def rgb_of(cell: Cell) -> np.ndarray:
    """The cell as an (H, W, 3) array of bytes."""
    data = cell.data
    assert data is not None
    data = torch.nan_to_num(data.to(torch.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if cell.kind == PICTURE:
        mean = torch.tensor(SQUEEZENET_MEAN, dtype=data.dtype).view(3, 1, 1)
        std = torch.tensor(SQUEEZENET_STD, dtype=data.dtype).view(3, 1, 1)
        return _bytes((data * std + mean).permute(1, 2, 0).numpy())
    if cell.kind == RGB:
        low, high = cell.scale or (float(data.min()), float(data.max()))
        return _bytes(((data - low) / max(high - low, 1e-300)).permute(1, 2, 0).numpy())
    low, high = cell.scale or (float(data.min()), float(data.max()))
    unit = ((data - low) / max(high - low, 1e-300)).clamp(0, 1).numpy()
    coloured = colour_map(COLOUR_MAPS[cell.kind])(unit)[..., :3]
    if cell.kind == OVERLAY and cell.under is not None:
        under = rgb_of(Cell(PICTURE, data=cell.under)).astype(np.float64) / 255
        if under.shape[:2] == coloured.shape[:2]:
            coloured = OVERLAY_OPACITY * coloured + (1 - OVERLAY_OPACITY) * under
    return _bytes(coloured)


def colour_map(name: str) -> Any:
    """matplotlib's colour map ``name`` (imported only when a page is drawn; ``cm.get_cmap`` before matplotlib 3.5)."""
    try:
        from matplotlib import colormaps

        return colormaps[name]
    except ImportError:
        from matplotlib import cm

        return cm.get_cmap(name)  # type: ignore[attr-defined]  # removed in matplotlib 3.9, where colormaps exists


def _bytes(unit: np.ndarray) -> np.ndarray:
    return (np.clip(unit, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def png_of(cell: Cell) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.ascontiguousarray(rgb_of(cell))).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def shown_size(height: int, width: int) -> tuple[int, int]:
    """The size a picture is shown at: enlarged by a whole factor until its larger side reaches :data:`SHOWN_SIZE`."""
    factor = max(1, SHOWN_SIZE // max(height, width, 1))
    return height * factor, width * factor
