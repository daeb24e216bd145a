"""Values on the wire between the grader and a worker: no pickle, only data.

Messages are frames (see :mod:`autograder.worker.frames`): a JSON header and
raw buffers. Values inside the header are JSON trees in which
a few marker objects stand for things JSON cannot say:

``{"$tensor": i, "dtype": "float32", "shape": [2, 3], "kind": "tensor"}``
    the tensor whose raw bytes are buffer ``i`` (``"kind"`` is ``"ndarray"``
    when the worker converted a numpy array, so the grader can say what it got;
    ``"requires_grad": true`` asks the worker to track gradients for it);
``{"$tuple": [...]}``, ``{"$dict": {...}}``, ``{"$items": [[key, value], ...]}``
    a tuple, a dict with string keys, a dict with other keys (numbers,
    strings, booleans or None: keys are never containers or tensors);
``{"$float": "nan" | "inf" | "-inf"}``
    a non-finite float (strict JSON has none);
``{"$ref": {...}}``
    an object the worker builds itself from a description (a model from its
    seed, a course module, a torch dtype, an image file); see
    ``autograder.worker.server``;
``{"$opaque": {"type": "module.Name"}}``
    a value the worker could not send (a student returned an object of an
    unsupported type); it decodes to :class:`Opaque`, so the grader can say
    what it received.

Decoding is strict: unknown markers, unknown dtypes, shapes that do not match
their buffer, or sizes beyond the limits raise :class:`WireError`. Decoded
tensors are always fresh ``torch.Tensor`` objects (never a subclass), built
from bytes. The limits, the same both ways (what cannot be decoded is not
encoded either, so a student's result beyond them fails in the worker, with
the student's own error):

:data:`MAX_DEPTH` (64)
    levels of containers (lists, tuples, dicts) in one value; deeper values
    (or a list that contains itself) are refused, so neither side recurses
    without bound on what the other sent;
:data:`MAX_DIMS` (16)
    dimensions of a tensor;
:data:`MAX_ELEMENTS` (2**40)
    the product of a tensor's dimensions, counting a dimension of 0 as 1: a
    tensor with data is bounded by its buffer (``FrameLimits``), and an empty
    one, ``[0, 2**63]`` say, must still be one torch can make.

This module is imported by both sides and imports nothing of the autograder.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from autograder.worker.frames import WireError

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
MARKERS = ("$tensor", "$tuple", "$dict", "$items", "$float", "$ref", "$opaque")
KEY_TYPES = (int, float, str, bool, type(None))
MAX_DEPTH = 64
MAX_DIMS = 16
MAX_ELEMENTS = 2**40


@dataclass(frozen=True)
class Opaque:
    """Stands for a value of a type the wire cannot carry; only its type name crossed."""

    type_name: str

    def __repr__(self) -> str:
        return f"<an object of type {self.type_name}>"


# --------------------------------------------------------------------------- encoding


def encode_value(
    value: Any, buffers: list[bytes], *, convert_unknown: Callable[[Any], Any] | None = None, _depth: int = 0
) -> Any:
    """Turn ``value`` into a JSON tree, appending tensor bytes to ``buffers``.

    ``convert_unknown`` handles objects that are none of the supported types
    (the worker uses it to describe what a student returned); without it they
    raise :class:`WireError`. A value nested deeper than :data:`MAX_DEPTH` raises
    :class:`WireError` (the other side would refuse it).
    """
    if isinstance(value, (tuple, list, dict)):
        _depth += 1
        if _depth > MAX_DEPTH:
            raise WireError(f"cannot send a value nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) in PLAIN_TENSOR_TYPES:
        return _encode_tensor(value, buffers, kind="tensor")
    if isinstance(value, torch.Tensor) and convert_unknown is not None:
        # A subclass (one with __torch_function__, say) is not a plain result: the grader is told its type.
        return convert_unknown(value)
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers, kind="tensor")
    if type(value).__module__ == "numpy" and hasattr(value, "__array__") and hasattr(value, "dtype"):
        # an ndarray, or a numpy scalar such as numpy.float32 (a 0-d array)
        import numpy

        return _encode_tensor(torch.from_numpy(numpy.array(value, copy=True)), buffers, kind="ndarray")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):  # float, fractions.Fraction, ...
        number = float(value)
        if math.isfinite(number):
            return number
        return {"$float": "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v, buffers, convert_unknown=convert_unknown, _depth=_depth) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, buffers, convert_unknown=convert_unknown, _depth=_depth) for v in value]
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {"$dict": {k: encode_value(v, buffers, convert_unknown=convert_unknown, _depth=_depth) for k, v in value.items()}}
    if isinstance(value, dict) and all(_plain_key(k) is not _NO_KEY for k in value):
        items = [
            [_plain_key(k), encode_value(v, buffers, convert_unknown=convert_unknown, _depth=_depth)] for k, v in value.items()
        ]
        return {"$items": items}
    if isinstance(value, Opaque):
        return {"$opaque": {"type": value.type_name}}
    if isinstance(value, Ref):
        fields = {k: encode_value(v, buffers) for k, v in value.fields.items()}
        return {"$ref": {**fields, "kind": value.kind}}
    if convert_unknown is not None:
        return convert_unknown(value)
    raise WireError(f"cannot send a value of type {type(value).__qualname__}")


_NO_KEY = object()
PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)


def _plain_key(key: Any) -> Any:
    """A dict key as a plain number, string, bool or None (numpy integers become ints); ``_NO_KEY`` if it cannot be one."""
    if type(key) in KEY_TYPES:
        return key
    if isinstance(key, numbers.Integral):
        return int(key)
    if isinstance(key, numbers.Real) and math.isfinite(float(key)):
        return float(key)
    if isinstance(key, str):
        return str(key)
    return _NO_KEY


def _encode_tensor(tensor: torch.Tensor, buffers: list[bytes], *, kind: str) -> dict[str, Any]:
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.detach(tensor).to("cpu")
        if plain.is_conj():
            plain = plain.resolve_conj()
        plain = plain.contiguous()
        dtype = plain.dtype
        if dtype not in DTYPE_NAMES:
            raise WireError(f"cannot send a tensor of dtype {dtype}")
        shape = list(plain.shape)
        _check_shape(shape)
        flat = plain.reshape(-1)
        if flat.numel() and flat.stride(0) != 1:  # one element broadcast (expand) stays "contiguous" with stride 0
            flat = flat.clone(memory_format=torch.contiguous_format)
        raw = flat.view(torch.uint8).numpy().tobytes() if plain.numel() else b""
    node = {"$tensor": len(buffers), "dtype": DTYPE_NAMES[dtype], "shape": shape, "kind": kind}
    if tensor.requires_grad:
        node["requires_grad"] = True
    buffers.append(raw)
    return node


@dataclass(frozen=True)
class Ref:
    """An object the worker builds itself from this description (sent as ``$ref``)."""

    kind: str
    fields: dict[str, Any]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.fields.items() if not isinstance(v, torch.Tensor))
        return f"{self.kind}({shown})"


# --------------------------------------------------------------------------- decoding


def decode_value(node: Any, buffers: list[bytearray], *, resolve_ref: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """Rebuild a value from a JSON tree and its buffers (see the module doc)."""
    return _decode(node, buffers, resolve_ref, 0)


def _decode(node: Any, buffers: list[bytearray], resolve_ref: Callable[[dict[str, Any]], Any] | None, depth: int) -> Any:
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        return [_decode(v, buffers, resolve_ref, _deeper(depth)) for v in node]
    if not isinstance(node, dict) or len(node) == 0:
        raise WireError(f"unexpected JSON value {node!r:.80}")
    marker = next((m for m in MARKERS if m in node), None)
    if marker in ("$tuple", "$dict", "$items"):
        depth = _deeper(depth)
    if marker == "$tensor":
        return decode_tensor(node, buffers)
    if marker == "$tuple" and isinstance(node["$tuple"], list):
        return tuple(_decode(v, buffers, resolve_ref, depth) for v in node["$tuple"])
    if marker == "$dict" and isinstance(node["$dict"], dict):
        return {str(k): _decode(v, buffers, resolve_ref, depth) for k, v in node["$dict"].items()}
    if marker == "$items" and isinstance(node["$items"], list):
        items = {}
        for pair in node["$items"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("malformed dict item in a message")
            key = _decode(pair[0], buffers, None, depth)
            if type(key) not in KEY_TYPES:
                raise WireError(f"a dict key of type {type(key).__name__} in a message")
            items[key] = _decode(pair[1], buffers, resolve_ref, depth)
        return items
    if marker == "$float" and node["$float"] in ("nan", "inf", "-inf"):
        return float(node["$float"])
    if marker == "$opaque" and isinstance(node["$opaque"], dict) and isinstance(node["$opaque"].get("type", "?"), str):
        return Opaque(node["$opaque"].get("type", "?")[:200])
    if marker == "$ref" and resolve_ref is not None and isinstance(node["$ref"], dict):
        return resolve_ref(node["$ref"])
    raise WireError(f"unexpected object in a message: {sorted(str(key)[:20] for key in node)[:8]!r:.80}")


def _deeper(depth: int) -> int:
    """The depth inside one more container; :class:`WireError` beyond :data:`MAX_DEPTH`."""
    if depth >= MAX_DEPTH:
        raise WireError(f"a value nested more than {MAX_DEPTH} levels deep")
    return depth + 1


def _check_shape(shape: list[int]) -> None:
    """:class:`WireError` for a shape beyond :data:`MAX_DIMS` or :data:`MAX_ELEMENTS` (see the module doc)."""
    if len(shape) > MAX_DIMS:
        raise WireError(f"a tensor of {len(shape)} dimensions (at most {MAX_DIMS})")
    if math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise WireError(f"a tensor of shape {shape!r:.80} (at most {MAX_ELEMENTS} elements, counting a size of 0 as 1)")


def decode_tensor(node: dict[str, Any], buffers: list[bytearray]) -> torch.Tensor:
    """A fresh ``torch.Tensor`` from a ``$tensor`` node, checked against its buffer."""
    index, dtype_name, shape = node.get("$tensor"), node.get("dtype"), node.get("shape")
    if type(index) is not int or not 0 <= index < len(buffers):
        raise WireError("a tensor refers to a buffer that is not there")
    if type(dtype_name) is not str or dtype_name not in DTYPES:
        raise WireError(f"unsupported tensor dtype {dtype_name!r:.40}")
    if not isinstance(shape, list) or any(type(d) is not int or d < 0 for d in shape):
        raise WireError(f"malformed tensor shape {shape!r:.80}")
    _check_shape(shape)
    dtype = DTYPES[dtype_name]
    numel = math.prod(shape)
    buffer = buffers[index]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if numel * itemsize != len(buffer):
        raise WireError(
            f"a tensor of shape {tuple(shape)} and dtype {dtype_name} needs {numel * itemsize} bytes, got {len(buffer)}"
        )
    if numel == 0:
        tensor = torch.empty(shape, dtype=dtype)
    else:
        tensor = torch.frombuffer(buffer, dtype=dtype).reshape(shape)
    if node.get("requires_grad") is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor
