"""The wire format between the grader and a worker: no pickle, only data.

A message is one frame::

    u32 big-endian header length | header (UTF-8 JSON) | buffer 0 | buffer 1 | ...

The header is a JSON object; its ``"buffers"`` key lists the byte length of
each raw buffer that follows. Values inside the header are JSON trees in which
a few marker objects stand for things JSON cannot say:

``{"$tensor": i, "dtype": "float32", "shape": [2, 3], "kind": "tensor"}``
    the tensor whose raw bytes are buffer ``i`` (``"kind"`` is ``"ndarray"``
    when the worker converted a numpy array, so the grader can say what it got;
    ``"requires_grad": true`` asks the worker to track gradients for it);
``{"$tuple": [...]}``, ``{"$dict": {...}}``
    a tuple, a dict with string keys;
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
from bytes.

This module is imported by both sides and imports nothing of the autograder.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any, Callable

import torch

HEADER_PREFIX = struct.Struct(">I")

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
MARKERS = ("$tensor", "$tuple", "$dict", "$float", "$ref", "$opaque")


class WireError(Exception):
    """A frame or a value that does not follow the wire format."""


@dataclass(frozen=True)
class FrameLimits:
    """Upper bounds a receiver enforces before it allocates anything."""

    max_header_bytes: int = 1 << 20
    max_buffer_bytes: int = 256 << 20
    max_total_bytes: int = 512 << 20
    max_buffers: int = 4096


@dataclass(frozen=True)
class Opaque:
    """Stands for a value of a type the wire cannot carry; only its type name crossed."""

    type_name: str

    def __repr__(self) -> str:
        return f"<an object of type {self.type_name}>"


@dataclass
class Frame:
    """A received message: its header and its raw buffers."""

    header: dict[str, Any]
    buffers: list[bytearray]


# --------------------------------------------------------------------------- encoding


def encode_value(value: Any, buffers: list[bytes], *, convert_unknown: Callable[[Any], Any] | None = None) -> Any:
    """Turn ``value`` into a JSON tree, appending tensor bytes to ``buffers``.

    ``convert_unknown`` handles objects that are none of the supported types
    (the worker uses it to describe what a student returned); without it they
    raise :class:`WireError`.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, buffers, kind="tensor")
    if type(value).__module__ == "numpy" and type(value).__name__ == "ndarray":
        return _encode_tensor(torch.from_numpy(value.copy()), buffers, kind="ndarray")
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v, buffers, convert_unknown=convert_unknown) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, buffers, convert_unknown=convert_unknown) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: encode_value(v, buffers, convert_unknown=convert_unknown) for k, v in value.items()}}
    if isinstance(value, Opaque):
        return {"$opaque": {"type": value.type_name}}
    if isinstance(value, Ref):
        fields = {k: encode_value(v, buffers) for k, v in value.fields.items()}
        return {"$ref": {**fields, "kind": value.kind}}
    if convert_unknown is not None:
        return convert_unknown(value)
    raise WireError(f"cannot send a value of type {type(value).__qualname__}")


def _encode_tensor(tensor: torch.Tensor, buffers: list[bytes], *, kind: str) -> dict[str, Any]:
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.detach(tensor).to("cpu")
        if plain.is_conj():
            plain = plain.resolve_conj()
        plain = plain.contiguous()
        dtype = plain.dtype
        if dtype not in DTYPE_NAMES:
            raise WireError(f"cannot send a tensor of dtype {dtype}")
        raw = plain.reshape(-1).view(torch.uint8).numpy().tobytes() if plain.numel() else b""
        shape = list(plain.shape)
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
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        return [decode_value(v, buffers, resolve_ref=resolve_ref) for v in node]
    if not isinstance(node, dict) or len(node) == 0:
        raise WireError(f"unexpected JSON value {node!r:.80}")
    marker = next((m for m in MARKERS if m in node), None)
    if marker == "$tensor":
        return decode_tensor(node, buffers)
    if marker == "$tuple" and isinstance(node["$tuple"], list):
        return tuple(decode_value(v, buffers, resolve_ref=resolve_ref) for v in node["$tuple"])
    if marker == "$dict" and isinstance(node["$dict"], dict):
        return {str(k): decode_value(v, buffers, resolve_ref=resolve_ref) for k, v in node["$dict"].items()}
    if marker == "$float" and node["$float"] in ("nan", "inf", "-inf"):
        return float(node["$float"])
    if marker == "$opaque" and isinstance(node["$opaque"], dict):
        return Opaque(str(node["$opaque"].get("type", "?"))[:200])
    if marker == "$ref" and resolve_ref is not None and isinstance(node["$ref"], dict):
        return resolve_ref(node["$ref"])
    raise WireError(f"unexpected object in a message: {sorted(node)!r:.80}")


def decode_tensor(node: dict[str, Any], buffers: list[bytearray]) -> torch.Tensor:
    """A fresh ``torch.Tensor`` from a ``$tensor`` node, checked against its buffer."""
    index, dtype_name, shape = node.get("$tensor"), node.get("dtype"), node.get("shape")
    if type(index) is not int or not 0 <= index < len(buffers):
        raise WireError("a tensor refers to a buffer that is not there")
    if dtype_name not in DTYPES:
        raise WireError(f"unsupported tensor dtype {dtype_name!r:.40}")
    if not isinstance(shape, list) or len(shape) > 16 or any(type(d) is not int or d < 0 for d in shape):
        raise WireError(f"malformed tensor shape {shape!r:.80}")
    dtype = DTYPES[dtype_name]
    numel = math.prod(shape)
    buffer = buffers[index]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if numel * itemsize != len(buffer):
        raise WireError(f"a tensor of shape {tuple(shape)} and dtype {dtype_name} needs {numel * itemsize} bytes, got {len(buffer)}")
    if numel == 0:
        tensor = torch.empty(shape, dtype=dtype)
    else:
        tensor = torch.frombuffer(buffer, dtype=dtype).reshape(shape)
    if node.get("requires_grad") is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor


# --------------------------------------------------------------------------- frames


def pack_frame(header: dict[str, Any], buffers: list[bytes]) -> list[bytes]:
    """The byte chunks of one frame (header length, header, buffers)."""
    header = dict(header, buffers=[len(b) for b in buffers])
    raw = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return [HEADER_PREFIX.pack(len(raw)), raw, *buffers]


def send_frame(sock: socket.socket, header: dict[str, Any], buffers: list[bytes] = ()) -> None:  # type: ignore[assignment]
    """Write one frame to a blocking socket."""
    for chunk in pack_frame(header, list(buffers)):
        if chunk:
            sock.sendall(chunk)


def _reject_constant(name: str) -> Any:
    raise WireError(f"non-standard JSON constant {name}")


def parse_header(raw: bytes, limits: FrameLimits) -> dict[str, Any]:
    """Decode and check a frame header: a JSON object whose buffer sizes fit the limits."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise WireError(f"malformed message header: {error}") from None
    if not isinstance(header, dict):
        raise WireError("a message header must be a JSON object")
    sizes = header.get("buffers", [])
    if not isinstance(sizes, list) or any(type(s) is not int or s < 0 for s in sizes):
        raise WireError("malformed buffer list in a message header")
    if len(sizes) > limits.max_buffers:
        raise WireError(f"a message with {len(sizes)} buffers (at most {limits.max_buffers} allowed)")
    if any(s > limits.max_buffer_bytes for s in sizes) or sum(sizes) > limits.max_total_bytes:
        raise WireError(
            f"a message of {sum(sizes)} bytes (at most {limits.max_buffer_bytes} per tensor "
            f"and {limits.max_total_bytes} in all allowed)"
        )
    return header


class FrameReader:
    """Incremental frame parser: feed it bytes, take whole frames out.

    Limits are checked as soon as a header is complete, before the buffers
    are accumulated, so a peer cannot make the reader hold more than the
    limits allow.
    """

    def __init__(self, limits: FrameLimits = FrameLimits()) -> None:
        self.limits = limits
        self._data = bytearray()
        self._header: dict[str, Any] | None = None
        self._needed = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        self._data += chunk
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        if self._header is None:
            if len(self._data) < HEADER_PREFIX.size:
                return None
            (length,) = HEADER_PREFIX.unpack_from(self._data)
            if length > self.limits.max_header_bytes:
                raise WireError(f"a message header of {length} bytes (at most {self.limits.max_header_bytes} allowed)")
            if len(self._data) < HEADER_PREFIX.size + length:
                return None
            self._header = parse_header(bytes(self._data[HEADER_PREFIX.size : HEADER_PREFIX.size + length]), self.limits)
            del self._data[: HEADER_PREFIX.size + length]
            self._needed = sum(self._header.get("buffers", []))
        if len(self._data) < self._needed:
            return None
        buffers = []
        offset = 0
        for size in self._header.get("buffers", []):
            buffers.append(bytearray(self._data[offset : offset + size]))
            offset += size
        del self._data[:offset]
        header, self._header = self._header, None
        return Frame(header, buffers)


def recv_frame(sock: socket.socket, limits: FrameLimits = FrameLimits()) -> Frame | None:
    """Read one frame from a blocking socket; ``None`` at end of stream."""
    prefix = _recv_exact(sock, HEADER_PREFIX.size)
    if prefix is None:
        return None
    (length,) = HEADER_PREFIX.unpack(prefix)
    if length > limits.max_header_bytes:
        raise WireError(f"a message header of {length} bytes (at most {limits.max_header_bytes} allowed)")
    raw = _recv_exact(sock, length)
    if raw is None:
        raise WireError("the stream ended inside a message header")
    header = parse_header(raw, limits)
    buffers = []
    for size in header.get("buffers", []):
        data = _recv_exact(sock, size)
        if data is None:
            raise WireError("the stream ended inside a message")
        buffers.append(data)
    return Frame(header, buffers)


def _recv_exact(sock: socket.socket, size: int) -> bytearray | None:
    data = bytearray(size)
    view = memoryview(data)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            if received == 0:
                return None
            raise WireError("the stream ended inside a message")
        received += count
    return data
