"""Frames: how a message crosses a socket between the grader and a worker.

A message is one frame::

    u32 big-endian header length | header (UTF-8 JSON) | buffer 0 | buffer 1 | ...

The header is a JSON object; its ``"buffers"`` key lists the byte length of
each raw buffer that follows (the values in the header and what the buffers
hold are :mod:`autograder.worker.wire`'s business). Receivers check every size
against :class:`FrameLimits` before they allocate, and refuse a header nested
more than :data:`MAX_HEADER_DEPTH` levels deep (arrays and objects), whether
the JSON parser itself runs out of stack on it or not: nothing a worker sends
can make the grader recurse without bound. Standard library only, so the
grader can start workers before it imports torch.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

HEADER_PREFIX = struct.Struct(">I")
MAX_HEADER_DEPTH = 256
"""The deepest nesting of JSON arrays and objects a header may hold (the values of
:mod:`autograder.worker.wire`, at most ``wire.MAX_DEPTH`` containers deep, take at
most three levels of JSON each, under a few levels of the header itself)."""


class WireError(Exception):
    """A frame or a value that does not follow the wire format."""


@dataclass(frozen=True)
class FrameLimits:
    """Upper bounds a receiver enforces before it allocates anything."""

    max_header_bytes: int = 1 << 20
    max_buffer_bytes: int = 256 << 20
    max_total_bytes: int = 512 << 20
    max_buffers: int = 4096


@dataclass
class Frame:
    """A received message: its header and its raw buffers."""

    header: dict[str, Any]
    buffers: list[bytearray]


def pack_frame(header: dict[str, Any], buffers: list[bytes]) -> list[bytes]:
    """The byte chunks of one frame (header length, header, buffers)."""
    header = dict(header, buffers=[len(b) for b in buffers])
    raw = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return [HEADER_PREFIX.pack(len(raw)), raw, *buffers]


def send_frame(sock: socket.socket, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
    """Write one frame to a blocking socket."""
    for chunk in pack_frame(header, list(buffers)):
        if chunk:
            sock.sendall(chunk)


def _reject_constant(name: str) -> Any:
    raise WireError(f"non-standard JSON constant {name}")


def parse_header(raw: bytes | bytearray, limits: FrameLimits) -> dict[str, Any]:
    """Decode and check a frame header: a JSON object whose buffer sizes fit the limits."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise WireError(f"malformed message header: {error}") from None
    except RecursionError:
        raise WireError(f"a message header nested more than {MAX_HEADER_DEPTH} levels deep") from None
    if not isinstance(header, dict):
        raise WireError("a message header must be a JSON object")
    if _depth(header) > MAX_HEADER_DEPTH:
        raise WireError(f"a message header nested more than {MAX_HEADER_DEPTH} levels deep")
    sizes = header.get("buffers", [])
    if not isinstance(sizes, list) or any(type(s) is not int or s < 0 for s in sizes):
        raise WireError("malformed buffer list in a message header")
    if len(sizes) > limits.max_buffers:
        raise WireError(f"a message with {len(sizes)} buffers (at most {limits.max_buffers} allowed)")
    if any(s > limits.max_buffer_bytes for s in sizes) or sum(sizes) > limits.max_total_bytes:
        raise TooLarge(
            f"{_mib(sum(sizes))} of tensor data was sent back (at most {_mib(limits.max_buffer_bytes)} per tensor "
            f"and {_mib(limits.max_total_bytes)} in all are accepted)"
        )
    return header


def _depth(value: Any) -> int:
    """How many levels of arrays and objects ``value`` (parsed JSON) nests; without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_HEADER_DEPTH:
            pending.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


class TooLarge(WireError):
    """A message announces more data than the limits allow; nothing of it is read."""


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


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
        frames: list[Frame] = []
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
