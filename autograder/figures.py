"""Figures for the report's page (``--html``): what a graded test compared, kept to be drawn.

A graded suite hands this module the values it compares, where they are
pictures, maps, matrices or numbers: the student's output (the worker's
reply), the expected one (computed in the grader's process) and the input
pictures. Unless a page was asked for, every function here returns at once
and keeps nothing, so grading costs what it did. When one was, the plugin
opens a :class:`Sketchbook` for the run and, for each test, keeps:

- the figures of a test without generated inputs (the course's setting), and
- the figures of a failed test's last case, which is its smallest failing
  input (hypothesis replays it last).

Nothing is drawn here and no student code runs: the page
(:mod:`autograder.html_report`, with :mod:`autograder.pictures`) turns the
kept tensors into PNGs. Figures never fail a test: a value that cannot be
shown becomes a line of text, and an error while building a figure (an
answer the handout's check has no record of, say) is noted in its place.

Arguments that cost something to compute may be given as functions of no
arguments; they are called only when a page is being made.

This module ships in the students' handout (its check makes pages too), so
it stays Python 3.9-compatible.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, Union

import numpy as np
import torch

MAX_ROWS = 8
"""At most this many images of a batch are drawn (the course's batches have five)."""
MAX_TABLE_CELLS = 256
"""A matrix with more entries than this is drawn as heat maps, never as a table of numbers."""
MAX_ELEMENTS = 1 << 22
"""A value with more elements than this is described, not drawn (a page is not where a huge reply goes)."""
DIFFERENCE_RTOL = 1e-5
DIFFERENCE_ATOL = 1e-8
"""Received and expected values closer than this are shown as matching, without a map of their difference.

Only the page uses these; whether a test passes is the test's own tolerance."""

# Kinds of cell, by what the page does with them.
PICTURE = "picture"  # (3, H, W), preprocessed as the course does (SqueezeNet's mean and deviation): shown as the photo
RGB = "rgb"  # (3, H, W), each channel stretched to [0, 1] on its own range: a gradient as an image
HEAT = "heat"  # (H, W), a colour map on the range `scale` (shared by a row's expected, received and difference)
OVERLAY = "overlay"  # (H, W) heat map over the picture `under`, as the course draws Grad-CAM
MATRIX = "matrix"  # (R, C) values on a diverging colour map, `scale` symmetric around 0
TEXT = "text"
SQUEEZENET_MEAN = (0.485, 0.456, 0.406)
SQUEEZENET_STD = (0.229, 0.224, 0.225)
"""The course's preprocessing (image_utils.preprocess): a :data:`PICTURE` is shown with it undone."""


@dataclasses.dataclass
class Cell:
    """One panel of a figure: a tensor to draw as ``kind`` (with its caption), or a text."""

    kind: str
    caption: str = ""
    data: torch.Tensor | None = None
    under: torch.Tensor | None = None
    scale: tuple[float, float] | None = None
    text: str = ""


@dataclasses.dataclass
class Figure:
    """What one test compared: rows of cells under column headings, and/or a table of values."""

    title: str
    columns: list[str] = dataclasses.field(default_factory=list)
    rows: list[tuple[str, list[Cell]]] = dataclasses.field(default_factory=list)
    table: list[tuple[str, str, str, bool]] = dataclasses.field(default_factory=list)
    """(what, expected, received, whether they match) per row."""
    notes: list[str] = dataclasses.field(default_factory=list)


class Sketchbook:
    """The figures of one grading run, by problem and test number (``"8.1"``), in the order the tests ran.

    While a test runs, its last case's figures are kept as functions that would
    build them; :meth:`finish` builds them only for a test whose figures are
    kept, so the cases shrinking goes through, and the generated tests that
    pass, cost nothing to draw.
    """

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], list[Figure]] = {}
        self._current: list[tuple[str, Callable[[Figure], None]]] | None = None
        self.seconds = 0.0
        """The time spent building the kept figures (what a page adds to the grading itself, with its drawing)."""

    def begin_test(self) -> None:
        self._current = []

    def begin_case(self) -> None:
        """A new case of the test: only the last case's figures are kept."""
        if self._current is not None:
            self._current.clear()

    def add(self, title: str, build: Callable[[Figure], None]) -> None:
        if self._current is not None:
            self._current.append((title, build))

    def drawn(self) -> bool:
        """Whether the test now running has drawn a figure."""
        return bool(self._current)

    def finish(self, problem: str, number: str, keep: bool) -> None:
        """End the test: build its figures and file them under ``(problem, number)`` if ``keep``, else drop them.

        Consecutive rows of the table of values compared make one table. A
        figure that cannot be built says why in its place (it never fails a test).
        """
        pending, self._current = self._current or [], None
        if not keep:
            return
        started = time.perf_counter()
        built: list[Figure] = []
        for title, build in pending:
            if title == VALUES_TITLE and built and built[-1].title == VALUES_TITLE:
                figure = built[-1]
            else:
                figure = Figure(title)
                built.append(figure)
            try:
                build(figure)
            except Exception as error:  # noqa: BLE001 - a figure is an extra; it never fails a test
                figure.rows.clear()
                figure.notes.append(f"This figure could not be made: {type(error).__name__}: {error}")
        if built:
            self.figures[problem, number] = built
        self.seconds += time.perf_counter() - started

    def of(self, problem: str, number: str) -> list[Figure]:
        return self.figures.get((problem, number), [])


_sketchbook: Sketchbook | None = None


@contextmanager
def drawing(sketchbook: Sketchbook | None) -> Iterator[None]:
    """While the block runs, the suites' figures go to ``sketchbook`` (``None``: nowhere, at no cost)."""
    global _sketchbook
    before, _sketchbook = _sketchbook, sketchbook
    try:
        yield
    finally:
        _sketchbook = before


def active() -> bool:
    """Whether a page is being made: a suite may skip work done only for a figure."""
    return _sketchbook is not None and _sketchbook._current is not None


Value = Union[Any, Callable[[], Any]]  # noqa: UP007 - evaluated at run time, and the handout runs on Python 3.9
T = TypeVar("T")


def _keep(title: str, build: Callable[[Figure], None]) -> None:
    if active():
        assert _sketchbook is not None
        _sketchbook.add(title, build)


def _value(value: Value) -> Any:
    return value() if callable(value) and not isinstance(value, torch.Tensor) else value


class _Nothing:
    def __repr__(self) -> str:
        return "nothing (see the test's message)"


NOTHING: Any = _Nothing()
"""What was received when the student's call raised or was refused: the figure shows the expected value alone."""


def drawn(call: Callable[[], T], draw: Callable[[Any], None]) -> T:
    """``call()``'s value; when a page is being made, ``draw`` is then given it (or :data:`NOTHING` if it raised)."""
    if not active():
        return call()
    value: Any = NOTHING
    try:
        value = call()
        return value
    finally:
        draw(value)


def tensor_of(value: Any) -> torch.Tensor | None:
    """``value`` as a float64 CPU tensor, or ``None`` when it is not an array of numbers (a reply can be anything)."""
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value)
        except Exception:  # noqa: BLE001 - not numbers: shown as text
            return None
    if tensor.numel() > MAX_ELEMENTS:
        return None
    if tensor.is_complex():
        tensor = tensor.real
    try:
        return tensor.detach().to("cpu", torch.float64, copy=True)
    except Exception:  # noqa: BLE001
        return None


def describe(value: Any) -> str:
    """A short text for a value that cannot be drawn: its type and shape, or the start of its text."""
    if value is NOTHING:
        return repr(value)
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differs(expected: torch.Tensor, received: torch.Tensor) -> bool:
    if expected.shape != received.shape:
        return True
    return not torch.allclose(received, expected, rtol=DIFFERENCE_RTOL, atol=DIFFERENCE_ATOL, equal_nan=True)


def _range(*tensors: torch.Tensor | None) -> tuple[float, float]:
    finite = [t[torch.isfinite(t)] for t in tensors if t is not None]
    values = [t for t in finite if t.numel()]
    if not values:
        return (0.0, 1.0)
    low = min(float(t.min()) for t in values)
    high = max(float(t.max()) for t in values)
    return (low, high if high > low else low + 1.0)


def _caption(name: str, tensor: torch.Tensor) -> str:
    finite = tensor[torch.isfinite(tensor)]
    if not finite.numel():
        return f"{name}: no finite value"
    text = f"{name}: {float(finite.min()):.3g} to {float(finite.max()):.3g}"
    if finite.numel() < tensor.numel():
        text += f", {tensor.numel() - finite.numel()} not finite"
    return text


def _batch(value: Any, image_shape: tuple[int, ...], what: str) -> tuple[torch.Tensor | None, str]:
    """``value`` as a batch of ``image_shape`` items, or ``None`` and why it cannot be drawn."""
    tensor = tensor_of(value) if value is not NOTHING else None
    if tensor is None:
        return None, f"received {describe(value)}"
    if tuple(tensor.shape[1:]) != image_shape:
        return None, f"received {what} of shape {tuple(tensor.shape)}"
    return tensor, ""


def maps_over_pictures(
    title: str,
    pictures: Value,
    expected: Value,
    received: Value,
    *,
    overlay: bool = False,
    labels: Value = None,
) -> None:
    """Maps of shape (N, H, W), one per picture (N, 3, H, W): each image's row shows the picture, the expected map,
    the received one and, where they differ, the absolute difference. ``overlay`` draws the maps over the picture
    (Grad-CAM); otherwise they are heat maps on one colour range per row."""

    def build(figure: Figure) -> None:
        images = tensor_of(_value(pictures))
        want = tensor_of(_value(expected))
        assert images is not None and want is not None
        got, why = _batch(_value(received), tuple(want.shape[1:]), "maps")
        names = _value(labels)
        figure.columns = ["input", "expected", "received", "|received - expected|"]
        for index in range(min(len(want), MAX_ROWS)):
            label, mine = _row(index, names, got)
            scale = _range(want[index], mine)
            cells = [Cell(PICTURE, "", images[index])]
            cells.append(_map_cell(_caption("expected", want[index]), want[index], scale, images[index], overlay))
            if mine is None:
                cells.append(Cell(TEXT, text=why or f"no map {index} received"))
            else:
                cells.append(_map_cell(_caption("received", mine), mine, scale, images[index], overlay))
                if differs(want[index], mine):
                    difference = (mine - want[index]).abs()
                    cells.append(Cell(HEAT, _caption("difference", difference), difference, scale=_range(difference)))
            figure.rows.append((label, cells))

    _keep(title, build)


def _row(index: int, labels: Any, received: torch.Tensor | None) -> tuple[str, torch.Tensor | None]:
    """Row ``index`` of a batch's figure: its heading, and the received item (``None`` when there is none)."""
    heading = f"image {index}" + (f", label {labels[index]}" if labels is not None else "")
    return heading, received[index] if received is not None and index < len(received) else None


def _map_cell(caption: str, data: torch.Tensor, scale: tuple[float, float], picture: torch.Tensor, overlay: bool) -> Cell:
    if overlay:
        return Cell(OVERLAY, caption, data, under=picture, scale=scale)
    return Cell(HEAT, caption, data, scale=scale)


def images(
    title: str,
    expected: Value,
    received: Value,
    *,
    given: Sequence[tuple[str, Value]] = (),
    kind: str = PICTURE,
    channels_last: bool = False,
    labels: Value = None,
) -> None:
    """Images (N, 3, H, W), or (N, H, W, 3) with ``channels_last``: per image, the ``given`` pictures (say the content
    and style images, or the input), the expected image, the received one and, where they differ, the absolute
    difference. ``kind`` is :data:`PICTURE` (preprocessed photos) or :data:`RGB` (gradients, stretched)."""

    def build(figure: Figure) -> None:
        want = tensor_of(_value(expected))
        assert want is not None
        got, why = _batch(_value(received), tuple(want.shape[1:]), "an image")
        if channels_last:
            want = want.permute(0, 3, 1, 2)
            got = got.permute(0, 3, 1, 2) if got is not None else None
        shown = [(name, tensor_of(_value(value))) for name, value in given]
        names = _value(labels)
        figure.columns = [name for name, _ in shown] + ["expected", "received", "|received - expected|"]
        for index in range(min(len(want), MAX_ROWS)):
            label, mine = _row(index, names, got)
            cells = [Cell(PICTURE, "", picture[min(index, len(picture) - 1)]) for _, picture in shown if picture is not None]
            cells.append(Cell(kind, _caption("expected", want[index]), want[index]))
            if mine is None:
                cells.append(Cell(TEXT, text=why or f"no image {index} received"))
            else:
                cells.append(Cell(kind, _caption("received", mine), mine))
                if differs(want[index], mine):
                    difference = (mine - want[index]).abs().amax(dim=0)
                    cells.append(
                        Cell(HEAT, _caption("largest over the channels", difference), difference, scale=_range(difference))
                    )
            figure.rows.append((label, cells))

    _keep(title, build)


def fooling(
    title: str, original: Value, received: Value, *, predict: Callable[[torch.Tensor], int], target: int, magnify: float = 10.0
) -> None:
    """A fooling image: the original picture (1, 3, H, W), the received image, and their difference magnified
    ``magnify`` times (grey is no change; less, so that the largest change just fills the range, where ``magnify``
    would saturate), with the class ``predict`` gives for each."""

    def build(figure: Figure) -> None:
        picture = tensor_of(_value(original))
        assert picture is not None
        got, why = _batch(_value(received), tuple(picture.shape[1:]), "an image")
        figure.columns = ["original", "fooling image", "difference, magnified"]
        cells = [Cell(PICTURE, f"predicted: class {predict(picture)}", picture[0])]
        if got is None:
            cells.append(Cell(TEXT, text=why))
        else:
            try:
                now: object = predict(got[:1])
            except Exception:  # noqa: BLE001 - NaN, say: the picture is still shown
                now = "unknown"
            verdict = "the target" if now == target else "not the target"
            cells.append(Cell(PICTURE, f"predicted: class {now} ({verdict})", got[0]))
            # In pixels (0 to 1, the preprocessing undone), as the course's notebook shows it.
            change = (got[0] - picture[0]) * torch.tensor(SQUEEZENET_STD, dtype=torch.float64).view(3, 1, 1)
            largest = float(change.abs().max()) if bool(torch.isfinite(change).all()) else 0.0
            factor = magnify if largest * magnify <= 0.5 or largest == 0 else 0.5 / largest
            caption = f"x{factor:.3g}, largest change {largest:.3g} of the pixels' range" + (
                f" (x{magnify:g} would saturate)" if factor < magnify else ""
            )
            cells.append(Cell(RGB, caption, 0.5 + factor * change, scale=(0.0, 1.0)))
        figure.rows.append((f"target class {target}", cells))

    _keep(title, build)


VALUES_TITLE = "Values compared"


def value(
    what: str,
    expected: Value,
    received: Value,
    *,
    same: bool | None = None,
    rtol: float = DIFFERENCE_RTOL,
    atol: float = DIFFERENCE_ATOL,
) -> None:
    """One row of the test's table of values compared (a loss, a count, an answer): ``what``, expected, received, and
    whether they match (``same``, or within ``rtol`` and ``atol``)."""

    def build(figure: Figure) -> None:
        want, got = _value(expected), _value(received)
        match = _same(want, got, rtol, atol) if same is None else same
        figure.table.append((what, _text(want), _text(got), match))

    _keep(VALUES_TITLE, build)


def _text(value: Any) -> str:
    if isinstance(value, (bool, int, str)) or (isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)):
        return describe(value)
    tensor = tensor_of(value) if not isinstance(value, (str, bytes)) else None
    if tensor is not None and tensor.numel() == 1:
        return f"{float(tensor.reshape(())):.6g}"
    if tensor is not None and tensor.numel() <= 16:
        return str([round(float(v), 6) for v in tensor.reshape(-1)]) + (
            f", shape {tuple(tensor.shape)}" if tensor.dim() > 1 else ""
        )
    return describe(value)


def _same(expected: Any, received: Any, rtol: float, atol: float) -> bool:
    want = tensor_of(expected) if not isinstance(expected, (str, bytes)) else None
    got = tensor_of(received) if not isinstance(received, (str, bytes)) else None
    if want is None or got is None:
        return bool(expected == received) if type(expected) is type(received) else False
    return want.shape == got.shape and bool(torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def matrix(title: str, expected: Value, received: Value) -> None:
    """A matrix (or a batch of them, (B, R, C)): a table of numbers when it matches and is small, else heat maps of the
    expected one, the received one and their difference (a diverging colour map, symmetric around 0)."""

    def build(figure: Figure) -> None:
        want = tensor_of(_value(expected))
        assert want is not None
        reply = _value(received)
        got = tensor_of(reply)
        if want.dim() == 3 and want.shape[0] == 1:
            want = want[0]
            got = got[0] if got is not None and got.dim() == 3 and got.shape[0] == 1 else got
        if got is not None and got.shape == want.shape and not differs(want, got) and want.numel() <= MAX_TABLE_CELLS:
            figure.table.append(("every entry", _matrix_text(want), "the same", True))
            return
        bound = max(abs(v) for v in _range(want, got if got is not None and got.shape == want.shape else None))
        scale = (-bound, bound)
        figure.columns = ["expected", "received", "received - expected"]
        cells = [Cell(MATRIX, f"expected, shape {tuple(want.shape)}", want.reshape(-1, want.shape[-1]), scale=scale)]
        if got is None or got.shape != want.shape:
            cells.append(Cell(TEXT, text=f"received {describe(reply)}"))
        else:
            cells.append(Cell(MATRIX, _caption("received", got), got.reshape(-1, got.shape[-1]), scale=scale))
            difference = (got - want).reshape(-1, want.shape[-1])
            if differs(want, got):
                largest = (
                    float(difference[torch.isfinite(difference)].abs().max()) if torch.isfinite(difference).any() else math.nan
                )
                cells.append(
                    Cell(
                        MATRIX,
                        f"largest difference {largest:.3g}",
                        difference,
                        scale=(-largest, largest) if largest > 0 else scale,
                    )
                )
        figure.rows.append(("", cells))

    _keep(title, build)


def _matrix_text(matrix: torch.Tensor) -> str:
    if matrix.dim() != 2:
        return describe(matrix)
    return "\n".join(" ".join(f"{float(v) + 0.0:8.4g}" for v in row) for row in matrix)  # + 0.0: no "-0"


def photo(picture: Any) -> torch.Tensor:
    """A pillow picture as a :data:`PICTURE` batch of one, (1, 3, H, W), preprocessed as the course does (no resizing)."""
    pixels = torch.as_tensor(np.asarray(picture.convert("RGB")), dtype=torch.float64).permute(2, 0, 1) / 255
    mean = torch.tensor(SQUEEZENET_MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(SQUEEZENET_STD, dtype=torch.float64).view(3, 1, 1)
    return ((pixels - mean) / std).unsqueeze(0)


def input_pictures(failing_input: dict[str, Any]) -> None:
    """A figure of the pictures among a failed test's smallest failing input (a case with ``images()``, or a batch)."""

    def build(figure: Figure) -> None:
        for name, value in failing_input.items():
            batch = value.images() if callable(getattr(value, "images", None)) else value
            tensor = tensor_of(batch) if isinstance(batch, torch.Tensor) else None
            if tensor is not None and tensor.dim() == 4 and tensor.shape[1] == 3 and min(tensor.shape[2:]) >= 8:
                figure.columns = ["picture"]
                figure.rows += [(f"{name}: image {i}", [Cell(PICTURE, "", tensor[i])]) for i in range(min(len(tensor), MAX_ROWS))]

    if any(callable(getattr(value, "images", None)) or isinstance(value, torch.Tensor) for value in failing_input.values()):
        _keep("The smallest failing input's pictures", build)
