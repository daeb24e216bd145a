"""Known answers: what the reference computes on the public cases, recorded once, replayed without it.

The students' handout holds no reference code, yet its check must compare a
student's results with the reference's. Every place where a graded suite asks
the reference (or builds an input from the course's given code, such as the
features of the style picture) is a function decorated with :func:`recorded`.
It runs in one of three ways:

- **live** (the grader, the default): the function runs, nothing is kept;
- **record** (``build handout``): the public suites grade ``reference/``; each
  call runs and its result is kept, under the function's name and a digest of
  its arguments, with the arguments of the generated case it served;
- **replay** (the handout's ``check.py``): the function does not run; its
  result is looked up by name and digest. A call whose arguments the check
  made again differently from the recording (another numpy, torch or Pillow
  made other numbers) fails its test, saying so: it never compares against a
  wrong answer, and a test never passes without a usable recorded case.

Values that are made again on both sides rather than stored (a model's
weights from its seed, a picture's pixels) go through :func:`remade`, which
compares their digest with the recorded one in the check.

The recording is stored as data that cannot run code: an ``.npz`` of plain
arrays, loaded with ``allow_pickle=False``, whose ``index`` entry is JSON.
Generated cases (the arguments hypothesis drew) are stored as JSON too, and
rebuilt only as the graded suites' own dataclasses (:func:`decode_case`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from autograder.worker.models import BUILT_HOOKS

FORMAT = 1
INDEX = "index"
SUITES_PACKAGE = "autograder.problems."

F = TypeVar("F", bound=Callable[..., Any])


class KnownAnswerMissing(AssertionError):
    """The check met a call it has no recorded answer for; the message says why, for the student."""


# --------------------------------------------------------------------------- digests


def digest(value: Any) -> str:
    """A digest of ``value``'s contents: tensors by dtype, shape and bytes; floats exactly; models by their weights."""
    hasher = hashlib.sha256()
    _feed(hasher, value)
    return hasher.hexdigest()[:32]


def _feed(hasher: Any, value: Any) -> None:
    if isinstance(value, torch.nn.Module):
        value = {f"{name}": tensor for name, tensor in value.state_dict().items()}
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().contiguous()
        hasher.update(f"T{array.dtype!s}{tuple(array.shape)}".encode())
        hasher.update(array.view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    elif isinstance(value, np.ndarray):
        hasher.update(f"A{value.dtype.str}{value.shape}".encode())
        hasher.update(np.ascontiguousarray(value).tobytes())
    elif hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # a PIL image
        hasher.update(f"P{value.mode}{value.size}".encode())
        hasher.update(value.tobytes())
    elif isinstance(value, bool) or value is None:
        hasher.update(f"B{value}".encode())
    elif isinstance(value, (int, str, torch.dtype)):
        hasher.update(f"{type(value).__name__}{value}".encode())
    elif isinstance(value, float):
        hasher.update(f"f{value.hex()}".encode())
    elif isinstance(value, (tuple, list)):
        hasher.update(f"{type(value).__name__}{len(value)}(".encode())
        for item in value:
            _feed(hasher, item)
        hasher.update(b")")
    elif isinstance(value, dict):
        hasher.update(f"d{len(value)}(".encode())
        for key in sorted(value, key=str):
            _feed(hasher, str(key))
            _feed(hasher, value[key])
        hasher.update(b")")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed(hasher, type(value).__qualname__)
        _feed(hasher, {field.name: getattr(value, field.name) for field in dataclasses.fields(value)})
    else:
        raise TypeError(f"a recorded function's argument of type {type(value).__name__} has no digest")


def size_of(value: Any) -> int:
    """How big an argument is: the elements of its tensors (how the check orders cases, smallest first)."""
    if isinstance(value, torch.Tensor):
        return int(value.numel())
    if isinstance(value, (tuple, list)):
        return sum(size_of(item) for item in value)
    if isinstance(value, dict):
        return sum(size_of(item) for item in value.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(size_of(getattr(value, field.name)) for field in dataclasses.fields(value))
    return 0


# --------------------------------------------------------------------------- cases as JSON


def encode_case(value: Any) -> Any:
    """A generated case (what hypothesis drew for one test) as JSON: dataclasses, tuples, dtypes, numbers, text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, tuple):
        return {"tuple": [encode_case(item) for item in value]}
    if isinstance(value, list):
        return [encode_case(item) for item in value]
    if isinstance(value, dict):
        return {"dict": {str(key): encode_case(item) for key, item in value.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        if not kind.__module__.startswith(SUITES_PACKAGE):
            raise TypeError(f"a generated case of type {kind.__qualname__} is not one of the graded suites' own")
        return {
            "case": f"{kind.__module__}:{kind.__qualname__}",
            "fields": {field.name: encode_case(getattr(value, field.name)) for field in dataclasses.fields(value)},
        }
    raise TypeError(f"a generated case holds a {type(value).__name__}, which cannot be stored")


def decode_case(data: Any) -> Any:
    """The inverse of :func:`encode_case`; builds nothing but the graded suites' own dataclasses."""
    if isinstance(data, list):
        return [decode_case(item) for item in data]
    if not isinstance(data, dict):
        return data
    if "float" in data:
        return float(data["float"])
    if "dtype" in data:
        dtype = getattr(torch, str(data["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {data['dtype']!r}")
        return dtype
    if "tuple" in data:
        return tuple(decode_case(item) for item in data["tuple"])
    if "dict" in data:
        return {key: decode_case(item) for key, item in data["dict"].items()}
    if "case" in data:
        module_name, _, qualname = str(data["case"]).partition(":")
        if not module_name.startswith(SUITES_PACKAGE) or "." in qualname:
            raise ValueError(f"{data['case']!r} is not a graded suite's case")
        kind = getattr(importlib.import_module(module_name), qualname, None)
        if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
            raise ValueError(f"{data['case']!r} is not a graded suite's case")
        return kind(**{key: decode_case(item) for key, item in data["fields"].items()})
    raise ValueError(f"cannot read the stored case {data!r}")


def describe_case(kwargs: dict[str, Any], any_value: Collection[str] = ()) -> str:
    """A generated case in a student's words, as the grader's and the check's "Smallest failing input" say it.

    A value with a ``describe()`` (the graded suites' cases) says itself, in
    the terms of the function the student wrote; a seed says only that values
    were drawn from it (its number lets no one rebuild them by hand); other
    values read ``name=value``, a dtype as ``float32``. An argument named in
    ``any_value`` fails with any value (hypothesis found so).
    """
    parts = []
    for name, value in kwargs.items():
        text = _describe_argument(name, value)
        parts.append(f"{text} (any value fails)" if name in any_value else text)
    return ", ".join(parts)


def _describe_argument(name: str, value: Any) -> str:
    describe = getattr(value, "describe", None)
    if callable(describe):
        return str(describe())
    if name == "seed" or name.endswith("_seed"):
        drawn = name[: -len("_seed")].replace("_", " ") + " values" if name != "seed" else "values"
        return f"{drawn} drawn from seed {value}"
    return f"{name}={plain_value(value)}"


def plain_value(value: Any) -> str:
    """A value as a student writes it: ``float32``, not ``torch.float32``; tuples and lists of such; others as Python does."""
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, (tuple, list)):
        items = [plain_value(item) for item in value]
        if isinstance(value, list):
            return f"[{', '.join(items)}]"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    describe = getattr(value, "describe", None)
    if callable(describe):
        return str(describe())
    return repr(value)


# --------------------------------------------------------------------------- answers as arrays


def _pack(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        arrays.append(value.detach().cpu().numpy().copy())
        return {"tensor": len(arrays) - 1, "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, tuple):
        return {"tuple": [_pack(item, arrays) for item in value]}
    if isinstance(value, list):
        return [_pack(item, arrays) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    raise TypeError(f"a recorded function returned a {type(value).__name__}, which cannot be stored")


def _unpack(data: Any, arrays: Callable[[int], np.ndarray]) -> Any:
    if isinstance(data, list):
        return [_unpack(item, arrays) for item in data]
    if not isinstance(data, dict):
        return data
    if "tensor" in data:
        tensor = torch.from_numpy(np.array(arrays(int(data["tensor"]))))
        return tensor.to(getattr(torch, str(data["dtype"])))
    if "tuple" in data:
        return tuple(_unpack(item, arrays) for item in data["tuple"])
    if "float" in data:
        return float(data["float"])
    raise ValueError(f"cannot read the stored answer {data!r}")


# --------------------------------------------------------------------------- the book


@dataclasses.dataclass
class Case:
    """One recorded case of one test: the arguments hypothesis drew, and the recorded calls it made."""

    kwargs: Any
    calls: list[list[str]] = dataclasses.field(default_factory=list)
    """``[name, digest]`` of each recorded call, in order."""
    size: int = 0


class Book:
    """The recorded answers of the public suites, and the cases each test met."""

    def __init__(self, replaying: bool, index: dict[str, Any] | None = None, arrays: Any = None) -> None:
        self.replaying = replaying
        index = index or {}
        self.tests: dict[str, dict[str, Any]] = index.get("tests", {})
        self.answers: dict[str, Any] = index.get("answers", {})
        self.remade_digests: dict[str, str] = index.get("remade", {})
        self.built_with: dict[str, str] = index.get("built_with", {})
        self._arrays = arrays
        self._packed: list[np.ndarray] = []
        self._cache: dict[tuple[str, str], Any] = {}
        self._verified: set[str] = set()
        self.test: str | None = None
        self.case: Case | None = None

    # -- where the calls are

    def begin_test(self, test: str) -> None:
        self.test = test
        self.case = None
        if not self.replaying:
            self.tests[test] = {"cases": []}

    def begin_case(self, kwargs: dict[str, Any], recorded: Case | None = None) -> None:
        """Calls from now on serve this case (``recorded``: the stored case being replayed)."""
        self.case = recorded if recorded is not None else Case(encode_case(kwargs))

    def end_case(self, kept: bool) -> None:
        """Recording: keep the case (it ran through) or drop it (hypothesis rejected it)."""
        if not self.replaying and self.test is not None and self.case is not None and kept:
            self.tests[self.test]["cases"].append(dataclasses.asdict(self.case))
        self.case = None

    def tests_of(self, problem: str) -> list[str]:
        """The recorded tests of ``problem``'s suite."""
        return [test for test in self.tests if test.startswith(f"{problem}.py::")]

    def recorded_cases(self, test: str) -> list[Case] | None:
        """The stored cases of ``test``, smallest first; ``None`` if it asked the reference nothing (run it live)."""
        entry = self.tests.get(test)
        if entry is None:
            return []
        cases = [Case(**case) for case in entry["cases"]]
        if not any(case.calls for case in cases):
            return None
        # Smallest first: by the elements of their tensors, then (numbers only) by how long the case is written.
        return sorted(cases, key=lambda case: (case.size, len(json.dumps(case.kwargs, sort_keys=True))))

    # -- the calls

    def call(self, name: str, arguments: Any, run: Callable[[], Any]) -> Any:
        key = digest(arguments)
        if self.case is None:  # outside the tests' cases (a fixture): answered, not kept with a case
            self.case = Case({})
        if not self.replaying:
            value = run()
            self.case.calls.append([name, key])
            self.case.size += size_of(arguments) + size_of(value)  # a case given as seeds is as big as its result
            if key not in self.answers.setdefault(name, {}):
                self.answers[name][key] = _pack(value, self._packed)
            return value
        stored = self.answers.get(name, {}).get(key)
        if stored is None:
            raise KnownAnswerMissing(self._missing(name))
        if (name, key) not in self._cache:
            self._cache[name, key] = _unpack(stored, self._array)
        return _copy(self._cache[name, key])

    def remade(self, label: str, value: Any) -> None:
        """Check (replay) or keep (record) the digest of ``value``, made again on both sides from a seed."""
        if label in self._verified or (not self.replaying and label in self.remade_digests):
            return
        found = digest(value)
        if not self.replaying:
            self.remade_digests[label] = found
            return
        stored = self.remade_digests.get(label)
        if stored is None or stored == found:
            self._verified.add(label)
        if stored is not None and stored != found:
            raise KnownAnswerMissing(
                f"The check could not make {label} again exactly as when the known answers were recorded (its digest "
                f"is {found[:12]} here, {stored[:12]} there), so it cannot compare your results on it. "
                f"{self._versions()}"
            )

    def _missing(self, name: str) -> str:
        recorded = {digest_ for called, digest_ in (self.case.calls if self.case else []) if called == name}
        if recorded:
            return (
                f"The stored case's input could not be made again exactly: {short(name)} was called with inputs whose "
                "digest is not the recorded one, so the check has no known answer to compare your result with. "
                f"{self._versions()}"
            )
        return (
            f"The check has no recorded answer for this call of {short(name)}: the reference was never asked it when the "
            "known answers were recorded (your code took a path the reference does not take). The grader computes "
            "it; submit to be graded on it."
        )

    def _versions(self) -> str:
        import hypothesis

        here = {"torch": torch.__version__, "numpy": np.__version__, "hypothesis": hypothesis.__version__}
        differ = [
            f"{name} {here[name]} (recorded with {self.built_with[name]})"
            for name in here
            if self.built_with.get(name) not in (None, here[name])
        ]
        if differ:
            return "Versions that differ from the recording's: " + ", ".join(differ) + "."
        return "The known answers file may be damaged: get a fresh copy of the handout."

    def _array(self, index: int) -> np.ndarray:
        return np.asarray(self._arrays[f"a{index}"])

    # -- storage

    def save(self, path: Path) -> int:
        """Write the recording to ``path`` (``.npz``); its size in bytes."""
        import hypothesis

        index = {
            "format": FORMAT,
            "built_with": {"torch": torch.__version__, "numpy": np.__version__, "hypothesis": hypothesis.__version__},
            "tests": self.tests,
            "answers": self.answers,
            "remade": self.remade_digests,
        }
        raw = np.frombuffer(json.dumps(index, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        with Path(path).open("wb") as stream:
            arrays: dict[str, Any] = {INDEX: raw, **{f"a{i}": array for i, array in enumerate(self._packed)}}
            np.savez_compressed(stream, **arrays)
        return Path(path).stat().st_size


def load(path: Path) -> Book:
    """The recording at ``path``, for replay (plain arrays only: ``allow_pickle=False``)."""
    arrays = np.load(Path(path), allow_pickle=False)
    index = json.loads(bytes(arrays[INDEX]).decode("utf-8"))
    if index.get("format") != FORMAT:
        raise ValueError(f"{path} is a known-answers file of format {index.get('format')}, not {FORMAT}")
    return Book(True, index, arrays)


def short(name: str) -> str:
    return name.rpartition(":")[2]


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(_copy(item) for item in value)
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# --------------------------------------------------------------------------- answers kept while grading


class AnswerCache:
    """The reference's answers within one grading process, by function and digest of the arguments.

    Cases are derandomized: every submission graded in one process (a ``batch`` job)
    asks the reference the same questions, and the course's setting's answers
    (features of its pictures, whole optimisation runs) are asked for by
    several tests. Each is computed once, then answered from here, as a copy.
    At most ``limit`` bytes of tensors are kept, the least recently used
    dropped first; an answer that is not plain data (tensors, numbers, tuples
    and lists of them) or an argument with no digest is computed every time.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: collections.OrderedDict[tuple[str, str], tuple[Any, int]] = collections.OrderedDict()
        self.bytes = 0
        self.hits = 0

    def answer(self, name: str, arguments: Any, run: Callable[[], Any]) -> Any:
        try:
            key = (name, digest(arguments))
        except TypeError:
            return run()
        if key in self.entries:
            self.entries.move_to_end(key)
            self.hits += 1
            return _copy(self.entries[key][0])
        value = run()
        size = _plain_bytes(value)
        if size is not None and size <= self.limit:
            self.entries[key] = (_copy(value), size)
            self.bytes += size
            while self.bytes > self.limit:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.bytes -= dropped
        return value


def _plain_bytes(value: Any) -> int | None:
    """The bytes of ``value``'s tensors when it is plain data an answer can be kept as, else ``None``."""
    if isinstance(value, torch.Tensor):
        return None if value.requires_grad else int(value.numel() * value.element_size())
    if isinstance(value, (tuple, list)):
        sizes = [_plain_bytes(item) for item in value]
        return None if any(size is None for size in sizes) else sum(size or 0 for size in sizes)
    if value is None or isinstance(value, (bool, int, float, str)):
        return 0
    return None


ANSWER_CACHE_BYTES = 64 << 20
ANSWERS = AnswerCache(ANSWER_CACHE_BYTES)
"""The grader's answers, kept for the rest of the process (see :class:`AnswerCache`)."""


# --------------------------------------------------------------------------- the switch

_book: Book | None = None


@contextmanager
def using(book: Book | None) -> Iterator[Book | None]:
    """Record into, or replay from, ``book`` while the block runs (``None``: live)."""
    global _book
    previous, _book = _book, book
    try:
        yield book
    finally:
        _book = previous


def current() -> Book | None:
    return _book


def _check_model(label: str, model: torch.nn.Module) -> None:
    if _book is not None:
        _book.remade(label, model)


BUILT_HOOKS.append(_check_model)


def recorded(function: F) -> F:
    """Mark a function whose result comes from the reference (or the course's given code): see the module's doc."""
    name = f"{function.__module__.rpartition('.')[2]}:{function.__qualname__}"

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        book = _book
        if book is None:
            return ANSWERS.answer(name, (args, kwargs), lambda: function(*args, **kwargs))
        return book.call(name, (args, kwargs), lambda: function(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def remade(label: str, value: Any) -> Any:
    """``value``, made again from a seed on both sides; the check compares its digest with the recording's."""
    if _book is not None:
        _book.remade(label, value)
    return value


def torch_random_numbers(seed: int) -> tuple[torch.Tensor, list[int]]:
    """A sample of what a run seeded with ``seed`` draws (torch's normal and uniform numbers, Python's integers).

    Runs that start from random numbers (style transfer's random start, the class
    visualization's jitter) are compared with recorded ones: a torch or Python
    whose generators give other numbers would make another run, and the check
    says so (:func:`remade`) instead of reporting the student's code wrong.
    """
    import random

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        drawn = torch.cat([torch.randn(8, dtype=torch.float64), torch.rand(8, dtype=torch.float64), torch.randn(8)])
    generator = random.Random(seed)
    return drawn, [generator.randint(-16, 16) for _ in range(8)]


def recording() -> bool:
    """Whether the public suites are being recorded (a suite then also asks what only some students' paths ask)."""
    return _book is not None and not _book.replaying
