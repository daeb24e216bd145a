"""The wire format: values survive the trip, and anything malformed is refused before it is used."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from autograder.worker.frames import MAX_HEADER_DEPTH, Frame, FrameLimits, FrameReader, WireError, pack_frame, parse_header
from autograder.worker.wire import DTYPES, MAX_DEPTH, MAX_DIMS, Opaque, Ref, decode_value, encode_value


def round_trip(value: object) -> object:
    buffers: list[bytes] = []
    header = {"value": encode_value(value, buffers)}
    reader = FrameReader(FrameLimits())
    frames: list[Frame] = []
    for chunk in pack_frame(header, buffers):
        for i in range(0, len(chunk), 7):  # byte by byte, nearly: frames arrive in pieces
            frames += reader.feed(chunk[i : i + 7])
    assert len(frames) == 1
    return decode_value(frames[0].header["value"], frames[0].buffers)


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (1, 3, 2, 5)])
def test_tensors_round_trip_exactly(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    original = (torch.arange(int(np.prod(shape)), dtype=torch.float64).reshape(shape) * 1.5 - 2).to(dtype)
    received = round_trip(original)
    assert type(received) is torch.Tensor
    assert received.dtype == dtype and received.shape == original.shape
    assert torch.equal(received, original)


def test_a_broadcast_single_element_round_trips() -> None:
    """A one-element tensor expanded from a scalar has stride 0, yet counts as contiguous (a gradient can be one)."""
    original = torch.tensor(2.5).expand(1, 1, 1, 1)
    received = round_trip(original)
    assert type(received) is torch.Tensor and received.shape == (1, 1, 1, 1) and float(received) == 2.5


def test_structures_numbers_and_markers_round_trip() -> None:
    value = {"a": [1, 2.5, None, True, "text"], "b": (float("nan"), float("inf"), -float("inf")), "c": Opaque("x.Y")}
    received = round_trip(value)
    assert isinstance(received, dict)
    assert received["a"] == [1, 2.5, None, True, "text"]
    nan, inf, minus_inf = received["b"]
    assert np.isnan(nan) and inf == float("inf") and minus_inf == -float("inf")
    assert received["c"] == Opaque("x.Y")


def test_dicts_with_number_keys_round_trip_and_container_keys_are_refused() -> None:
    assert round_trip({2: (6.0, 3.0), -1: [1.5, 3.0], 1.5: None, "x": 1}) == {2: (6.0, 3.0), -1: [1.5, 3.0], 1.5: None, "x": 1}
    with pytest.raises(WireError, match="dict key"):
        decode_value({"$items": [[[1, 2], 3]]}, [])
    with pytest.raises(WireError, match="malformed dict item"):
        decode_value({"$items": [[1]]}, [])


def test_numpy_arrays_and_scalars_arrive_as_tensors_marked_ndarray() -> None:
    buffers: list[bytes] = []
    node = encode_value(np.ones((2, 3), dtype=np.float32), buffers)
    assert node["kind"] == "ndarray"
    assert torch.equal(decode_value(node, [bytearray(b) for b in buffers]), torch.ones(2, 3))
    scalar = round_trip(np.float32(2.5))
    assert isinstance(scalar, torch.Tensor) and scalar.shape == () and float(scalar) == 2.5


def test_tensor_subclasses_arrive_as_plain_tensors() -> None:
    class Liar(torch.Tensor):
        def __eq__(self, other: object) -> bool:  # type: ignore[override]
            return True

    liar = torch.ones(3).as_subclass(Liar)
    received = round_trip(liar)
    assert type(received) is torch.Tensor
    assert torch.equal(received, torch.ones(3))


def test_requires_grad_travels_and_refs_resolve() -> None:
    buffers: list[bytes] = []
    node = encode_value([torch.ones(2, requires_grad=True), Ref("dtype", {"name": "float64"})], buffers)
    seen: list[dict[str, object]] = []

    def resolve(ref: dict[str, object]) -> str:
        seen.append(ref)
        return "built"

    value = decode_value(node, [bytearray(b) for b in buffers], resolve_ref=resolve)
    assert value[0].requires_grad and value[1] == "built"
    assert seen == [{"name": "float64", "kind": "dtype"}]


def test_unsupported_values_are_refused_unless_converted() -> None:
    with pytest.raises(WireError):
        encode_value(object(), [])
    assert encode_value(object(), [], convert_unknown=lambda v: {"$opaque": {"type": "object"}}) == {
        "$opaque": {"type": "object"}
    }


@pytest.mark.parametrize(
    "node, message",
    [
        ({"$tensor": 0, "dtype": "float128", "shape": [1]}, "dtype"),
        ({"$tensor": 0, "dtype": "float32", "shape": [3]}, "needs 12 bytes"),
        ({"$tensor": 0, "dtype": "float32", "shape": [-1]}, "shape"),
        ({"$tensor": 5, "dtype": "float32", "shape": [1]}, "buffer"),
        ({"$tensor": True, "dtype": "float32", "shape": [1]}, "buffer"),
        ({"$tensor": 0, "dtype": "float32", "shape": [1.0]}, "shape"),
        ({"$pickle": "gASV"}, "unexpected object"),
        ({"$ref": {"kind": "model"}}, "unexpected object"),
        ({}, "unexpected"),
    ],
)
def test_malformed_values_are_refused(node: dict[str, object], message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_value(node, [bytearray(4)])


def test_headers_with_non_standard_json_or_huge_sizes_are_refused() -> None:
    limits = FrameLimits(max_header_bytes=100, max_buffer_bytes=10, max_total_bytes=15, max_buffers=2)
    with pytest.raises(WireError, match="NaN"):
        parse_header(b'{"x": NaN}', limits)
    with pytest.raises(WireError, match="JSON object"):
        parse_header(b"[1, 2]", limits)
    with pytest.raises(WireError, match="at most 10 bytes per tensor"):
        parse_header(json.dumps({"buffers": [11]}).encode(), limits)
    with pytest.raises(WireError, match="at most 10 bytes per tensor"):
        parse_header(json.dumps({"buffers": [8, 8]}).encode(), limits)
    with pytest.raises(WireError, match="buffers"):
        parse_header(json.dumps({"buffers": [1, 1, 1]}).encode(), limits)
    with pytest.raises(WireError, match="header of"):
        FrameReader(limits).feed(struct.pack(">I", 101))


def nested(depth: int, leaf: object = 1.0) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def test_values_nested_deeper_than_the_limit_are_refused_both_ways() -> None:
    assert round_trip(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    with pytest.raises(WireError, match=f"nested more than {MAX_DEPTH} levels deep"):
        encode_value(nested(MAX_DEPTH + 1), [])
    with pytest.raises(WireError, match=f"nested more than {MAX_DEPTH} levels deep"):
        decode_value(nested(MAX_DEPTH + 1), [])
    # Tuples, dicts and dicts of other keys are levels too; a tensor at the deepest level is not one more.
    tuples: object = {"$tuple": [{"$dict": {"a": {"$items": [[1, nested(MAX_DEPTH - 3)]]}}}]}
    assert decode_value(tuples, []) == ({"a": {1: nested(MAX_DEPTH - 3)}},)
    with pytest.raises(WireError, match="levels deep"):
        decode_value({"$tuple": [tuples]}, [])
    deepest = round_trip(nested(MAX_DEPTH, torch.ones(2)))
    for _ in range(MAX_DEPTH):
        assert isinstance(deepest, list)
        (deepest,) = deepest
    assert isinstance(deepest, torch.Tensor) and torch.equal(deepest, torch.ones(2))
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(WireError, match="levels deep"):
        encode_value(loop, [])


def test_a_value_100000_levels_deep_is_refused_without_running_out_of_stack() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(WireError, match="nested more than"):
        parse_header(f'{{"status": "ok", "result": {deep}}}'.encode(), FrameLimits())
    with pytest.raises(WireError, match="nested more than"):
        FrameReader(FrameLimits()).feed(struct.pack(">I", len(deep)) + deep.encode())
    # Not deep enough for the JSON parser to fail, deeper than any value the wire allows.
    moderate = "[" * (MAX_HEADER_DEPTH + 1) + "]" * (MAX_HEADER_DEPTH + 1)
    with pytest.raises(WireError, match=f"nested more than {MAX_HEADER_DEPTH} levels deep"):
        parse_header(f'{{"result": {moderate}}}'.encode(), FrameLimits())
    within = "[" * (MAX_HEADER_DEPTH - 1) + "]" * (MAX_HEADER_DEPTH - 1)
    assert "result" in parse_header(f'{{"result": {within}}}'.encode(), FrameLimits())


@pytest.mark.parametrize(
    "shape, message",
    [
        ([0, 2**63], "at most 1099511627776 elements"),
        ([0, 2**40 + 1], "at most 1099511627776 elements"),
        ([0, 2**20, 2**21], "at most 1099511627776 elements"),
        ([1] * (MAX_DIMS + 1), f"at most {MAX_DIMS}"),
        ([[0]], "malformed tensor shape"),
    ],
)
def test_tensor_shapes_beyond_the_limits_are_refused(shape: list[object], message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_value({"$tensor": 0, "dtype": "float32", "shape": shape}, [bytearray()])


def test_empty_tensors_up_to_the_limits_are_made() -> None:
    empty = decode_value({"$tensor": 0, "dtype": "float32", "shape": [0, 2**40]}, [bytearray()])
    assert type(empty) is torch.Tensor and empty.shape == (0, 2**40)
    assert decode_value({"$tensor": 0, "dtype": "float32", "shape": [0] + [1] * (MAX_DIMS - 1)}, [bytearray()]).numel() == 0


def test_a_tensor_the_other_side_would_refuse_is_not_sent() -> None:
    with pytest.raises(WireError, match=f"at most {MAX_DIMS}"):
        encode_value(torch.zeros([1] * (MAX_DIMS + 1)), [])
    with pytest.raises(WireError, match="elements"):
        encode_value(torch.zeros(0, 2**41), [])


@pytest.mark.parametrize("dtype", [["float32"], {"a": 1}, 5, None])
def test_a_dtype_that_is_not_a_name_is_refused(dtype: object) -> None:
    with pytest.raises(WireError, match="dtype"):
        decode_value({"$tensor": 0, "dtype": dtype, "shape": [1]}, [bytearray(4)])
    with pytest.raises(WireError, match="unexpected object"):
        decode_value({"$opaque": {"type": ["a", "list"]}}, [])
