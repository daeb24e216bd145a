"""Calling a student's code for one problem, from a graded test.

:class:`StudentCode` is what a graded test holds: ``student.call(target, ...)``
sends the inputs to the problem's worker and returns the student's result as
plain data (:class:`Reply`). Protocol statuses become the exceptions of
:mod:`autograder.failures` here, at the boundary, so tests read as plain
properties. The worker is started on first use, from a fresh copy of the
submission, and started again after it dies; each problem has its own.

Student code runs in the worker and can change anything there, so every
reply is untrusted: its fields are checked (types, the number and shapes of
gradients, the number of recordings) before a test sees them, and whatever
does not fit is the submission's failure (:class:`WorkerFailure`, "a malformed
reply"), never the autograder's. Nothing a worker says can show that the
grader failed: not even its own report of a failure of the worker's code
(``harness_error``), which student code could have caused or forged.

A problem's time budget (``Limits.problem_seconds``) is wall time from its
first call on: the grader's own checks between calls count, so a problem whose
checks run long stops its remaining tests instead of taking other problems' time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import torch

from autograder.failures import NotImplementedYet, StudentRaised, SubmissionUnusable, WorkerFailure
from autograder.sandbox import CapturedOutput, Worker, WorkerDied, WorkerHost, hand_over
from autograder.settings import Limits
from autograder.worker.frames import FrameLimits, WireError
from autograder.worker.stand_ins import STANDARD_LIBRARY
from autograder.worker.wire import Ref, decode_value, encode_value

TORCHVISION_HINT = (
    "torchvision is not available where your code is graded. The course's helpers "
    "(image_utils, style_utils) need no torchvision: remove the import from this file."
)
HARNESS_ERROR = (
    "The process that runs your code failed outside your functions while {what}, so this test could not be "
    "completed. Your code runs in that process, and what it changes there (torch's settings, Python's modules, "
    "the process itself) can make it fail."
)
QUOTED_CHARS = 300
"""The most of a worker's own text a message quotes."""
STAND_IN_NOTE = (
    "Your code imports {module}, which is not part of Python where your code is graded: the import was let "
    "through with a stand-in, which fails only where your code uses {module}. Remove the import if it is unused."
)


DEVICE_MISMATCH = ("same device", "Expected all tensors to be on", "device type", "is on cpu", "cuda:0 and cpu")
DEVICE_HINT = (
    "This grading runs on the GPU and your code is not device-agnostic: it makes or moves a tensor to the CPU "
    "while the model and inputs are on the GPU. Create tensors on the inputs' device (torch.zeros_like(x), "
    "torch.zeros(..., device=x.device), t.to(x.device))."
)


MEMORY_SIGNS = ("can't allocate memory", "Cannot allocate memory", "out of memory")
NO_ACCESS_HINT = (
    "While grading, your code has no network and may write only in its own folder (the working directory); "
    "it cannot read the autograder's files."
)


@dataclass(frozen=True)
class Target:
    """A student callable: ``module.name`` (a function), or a method of ``module.name()``."""

    module: str
    name: str
    method: str | None = None

    def describe(self) -> str:
        """The callable as a student knows it: ``ContentLoss.forward``, ``style_transfer``."""
        if self.method is None:
            return self.name
        return f"{self.name}.{'forward' if self.method == '__call__' else self.method}"

    def as_json(self) -> dict[str, Any]:
        return {"module": self.module, "name": self.name, "method": self.method}


@dataclass
class Reply:
    """What the student's code returned: ``value``, and if asked for, gradients of the inputs and recorded model inputs."""

    value: Any
    grads: list[torch.Tensor] = field(default_factory=list)
    not_differentiable: str | None = None
    recorded: list[list[torch.Tensor]] = field(default_factory=list)
    """For each model built with ``record``: the input of every forward call, in order."""


class StudentCode:
    """The student's modules for one problem, behind a worker process."""

    def __init__(
        self,
        *,
        problem: str,
        modules: tuple[str, ...],
        course: tuple[str, ...],
        submission: Path,
        unusable: str | None,
        server: WorkerHost,
        limits: Limits,
        output: CapturedOutput,
        device: str = "cpu",
        deadline: float | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.problem = problem
        self.notes = notes if notes is not None else []
        """Lines for the top of the report, shared by the problems of a grading run (the stand-ins the worker gave)."""
        self.deadline = deadline
        """``time.monotonic()`` by which the whole submission's grading must be done."""
        self.device = device
        self.modules = modules
        self.course = course
        self.submission = submission
        self.unusable = unusable
        self.server = server
        self.limits = limits
        self.output = output
        self._first_request: float | None = None
        self.shared: dict[Hashable, Any] = {}
        """What several tests of this problem take from one call (a fooling image, judged by two tests), by the test's key."""
        self._worker: Worker | None = None
        self._workdir: Path | None = None
        self._import_error: str | None = None

    def call(
        self,
        target: Target,
        *args: Any,
        kwargs: dict[str, Any] | None = None,
        grad: bool = False,
        cotangent: torch.Tensor | None = None,
        seed: int | None = None,
        default_dtype: torch.dtype | None = None,
        course_methods: dict[str, str] | None = None,
        seconds: float | None = None,
    ) -> Reply:
        """Call ``target(*args, **kwargs)`` in the worker.

        Tensors in the arguments that require grad are the inputs whose
        gradients come back when ``grad`` is set (in the order they appear);
        the result is then backpropagated with ``cotangent`` (ones if absent).
        ``seed`` seeds the worker's random generators before the call and
        ``default_dtype`` sets torch's default dtype during it. ``course_methods`` replaces methods of the student's instance by
        the course's own (``{"gram_matrix": "StyleLoss.gram_matrix"}``), so a
        problem is graded apart from the methods it calls.
        """
        worker = self._ready_worker()
        buffers: list[bytes] = []
        inputs = (list(args), dict(kwargs or {}))
        header = {
            "op": "call",
            "target": target.as_json(),
            "args": encode_value(list(args), buffers),
            "kwargs": encode_value(dict(kwargs or {}), buffers),
            "grad": grad,
            "cotangent": None if cotangent is None else encode_value(cotangent, buffers),
            "seed": seed,
            "default_dtype": None if default_dtype is None else str(default_dtype).replace("torch.", ""),
            "course_methods": dict(course_methods or {}),
            "device": self.device,
        }
        what = f"running {target.describe()}"
        reply = self._request(worker, header, buffers, seconds or self.limits.call_seconds, what)
        status = self._status(reply, ("ok", "error", "not_differentiable", "harness_error"))
        if status == "error":
            raise self._error(target.describe(), reply.header.get("error"))
        if status == "harness_error":
            reason = self._text(reply, "reason")
            quoted = f"\nIt reported: {reason[:QUOTED_CHARS]}" if reason.strip() else ""
            self.stop()
            raise WorkerFailure(HARNESS_ERROR.format(what=what) + quoted)
        value = self._decode(reply, reply.header.get("result"))
        if status == "not_differentiable":
            return Reply(value, [], self._text(reply, "reason"))
        leaves = [leaf for leaf in _found(inputs, torch.Tensor) if leaf.requires_grad] if grad else []
        grads = self._list(reply, "grads", len(leaves))
        for index, leaf in enumerate(leaves):  # as many as leaves (checked); no zip(strict=): the check runs on Python 3.9
            received = grads[index]
            if not isinstance(received, torch.Tensor) or received.shape != leaf.shape:
                self._malformed(
                    f"gradient {index + 1} is {_kind(received)}, not a tensor of its input's shape {tuple(leaf.shape)}"
                )
        recorded = self._list(
            reply, "recorded", sum(1 for ref in _found(inputs, Ref) if ref.kind == "model" and ref.fields.get("record"))
        )
        for recording in recorded:
            if not isinstance(recording, list) or not all(isinstance(item, torch.Tensor) for item in recording):
                self._malformed("a recording of a model's inputs that is not a list of tensors")
        if os.environ.get("AUTOGRADER_PROBE_LOG"):  # validate's probe of a mutant (autograder.probe); never when grading
            from autograder import probe

            probe.log(target.describe(), [value, grads, recorded])
        return Reply(value, grads, recorded=recorded)

    def get(self, module: str, name: str) -> Any:
        """The value of ``module.name`` (an answer such as ``answers.W_AND``).

        :class:`NotImplementedYet` while it is still ``None``, as the template leaves it.
        """
        worker = self._ready_worker()
        what = f"{module}.{name}"
        reply = self._request(
            worker, {"op": "get", "module": module, "name": name}, [], self.limits.call_seconds, f"reading {what}"
        )
        if self._status(reply, ("ok", "error")) == "error":
            raise self._error(what, reply.header.get("error"))
        value = self._decode(reply, reply.header.get("result"))
        if os.environ.get("AUTOGRADER_PROBE_LOG"):
            from autograder import probe

            probe.log(what, value)
        if value is None:
            raise NotImplementedYet(f"{what} is not implemented yet (it is still None).")
        return value

    @property
    def seconds_used(self) -> float:
        """Wall time since this problem's first call: the worker's time and the grader's own between calls."""
        return 0.0 if self._first_request is None else time.monotonic() - self._first_request

    def check_budget(self) -> None:
        """:class:`WorkerFailure` once this problem's or the whole submission's time budget is used up.

        Every call checks it; a test that reuses an earlier call's result (``shared``) checks it itself.
        """
        if self.seconds_used >= self.limits.problem_seconds:
            raise WorkerFailure(
                f"The time budget of {self.limits.problem_seconds:g} s for this problem is used up; "
                "the remaining tests of this problem were not run."
            )
        if self.deadline is not None and self.deadline - time.monotonic() <= 0:
            raise WorkerFailure(
                f"The time budget of {self.limits.grading_seconds:g} s for grading the whole submission is used up; "
                "this test was not run."
            )

    def _decode(self, reply: Any, node: Any) -> Any:
        """A value of the reply, rebuilt; whatever keeps it from being rebuilt is the reply's fault."""
        try:
            return decode_value(node, reply.buffers)
        except WireError as error:
            self._malformed(str(error))
        except Exception as error:  # noqa: BLE001 - decoding reads nothing but the worker's data
            self._malformed(f"a value that could not be rebuilt ({type(error).__name__})")

    def _status(self, reply: Any, expected: tuple[str, ...]) -> str:
        status = reply.header.get("status")
        if not isinstance(status, str) or status not in expected:
            self._malformed(f"unexpected reply status {_kind(status) if not isinstance(status, str) else repr(status[:40])}")
        return status

    def _text(self, reply: Any, key: str) -> str:
        text = reply.header.get(key, "")
        if not isinstance(text, str):
            self._malformed(f"its {key!r} is {_kind(text)}, not text")
        return text

    def _list(self, reply: Any, key: str, count: int) -> list[Any]:
        """The reply's list ``key`` of ``count`` values (absent: none), rebuilt."""
        nodes = reply.header.get(key, [])
        if not isinstance(nodes, list) or len(nodes) != count:
            self._malformed(f"its {key!r} is {_kind(nodes)}, not a list of {count}")
        return [self._decode(reply, node) for node in nodes]

    def _malformed(self, problem: str) -> NoReturn:
        self.stop()
        raise WorkerFailure(f"The worker sent back a malformed reply: {problem}")

    def stop(self) -> None:
        """Kill the worker (if any) and remove its working copy."""
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # ----------------------------------------------------------------- internals

    def _ready_worker(self) -> Worker:
        if self._first_request is None:
            self._first_request = time.monotonic()
        if self.unusable is not None:
            raise SubmissionUnusable(self.unusable)
        if self._import_error is not None:
            raise SubmissionUnusable(self._import_error)
        if self._worker is not None and self._worker.alive:
            return self._worker
        self.stop()
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.problem}-", dir=self.server.workers_dir))
        shutil.copytree(self.submission, self._workdir, dirs_exist_ok=True)
        hand_over(self._workdir, self.server.confinement)
        try:
            self._worker = self.server.spawn(self._workdir, self.course, FrameLimits(**self.limits.frame_limits()), self.output)
        except WorkerDied as died:
            raise WorkerFailure(f"Your code could not be run: {died.reason}.") from None
        reply = self._request(
            self._worker, {"op": "import", "modules": list(self.modules)}, [], self.limits.import_seconds, "importing your files"
        )
        if self._status(reply, ("ok", "error")) == "error":
            error = reply.header.get("error")
            self._error_fields(error, ("type", "message", "traceback", "during"))
            self._import_error = import_error_message(error)
            self.stop()
            raise SubmissionUnusable(self._import_error)
        return self._worker

    def _request(self, worker: Worker, header: dict[str, Any], buffers: list[bytes], seconds: float, what: str) -> Any:
        self.check_budget()
        budget_left = self.limits.problem_seconds - self.seconds_used
        if self.deadline is not None:
            budget_left = min(budget_left, self.deadline - time.monotonic())
        try:
            reply = worker.request(header, buffers, max(min(seconds, budget_left), 0.0))
        except WorkerDied as died:
            self.stop()
            if died.timed_out:
                raise WorkerFailure(f"Time limit: {what} {died.reason}.") from None
            raise WorkerFailure(f"While {what}, {died.reason}.") from None
        self._note_stand_ins(reply.header.get("stood_in"))
        return reply

    def _note_stand_ins(self, modules: Any) -> None:
        """Say in the report which standard-library modules the worker stood in for (names checked, each once)."""
        if not isinstance(modules, list):
            return
        for module in modules[:20]:
            if (
                isinstance(module, str)
                and len(module) <= 100
                and all(part.isidentifier() for part in module.split("."))
                and module.partition(".")[0] in STANDARD_LIBRARY
            ):
                said = {STAND_IN_NOTE.format(module=name) for name in _packages_of(module)}
                if not said.intersection(self.notes):
                    self.notes.append(STAND_IN_NOTE.format(module=module))

    def _error_fields(self, error: Any, keys: tuple[str, ...]) -> None:
        """A worker's report of an exception is an object whose ``keys`` (each optional) are text."""
        if not isinstance(error, dict):
            self._malformed(f"an error report that is {_kind(error)}, not an object")
        for key in keys:
            if not isinstance(error.get(key, ""), str):
                self._malformed(f"an error report whose {key!r} is {_kind(error[key])}, not text")

    def _error(self, what: str, error: Any) -> BaseException:
        self._error_fields(error, ("type", "message", "traceback"))
        error_type = error.get("type", "Exception")
        message = error.get("message", "")
        if error_type == "NotImplementedError":
            detail = f": {message}" if message.strip() else ""
            return NotImplementedYet(f"{what} is not implemented yet (it raised NotImplementedError{detail}).")
        if error_type == "SystemExit":
            return WorkerFailure(f"{what} tried to end the grading: {message}. Remove the exit call.")
        raised = StudentRaised(what, error_type, message, error.get("traceback", ""))
        hint = self._hint(error_type, message)
        if hint:
            raised.args = (f"{raised.args[0]}\n{hint}",)
        return raised

    def _hint(self, error_type: str, message: str) -> str | None:
        """What a limit of the grading has to do with an error, when it has."""
        if self.device != "cpu" and any(sign in message for sign in DEVICE_MISMATCH):
            return DEVICE_HINT
        if error_type == "MemoryError" or any(sign in message for sign in MEMORY_SIGNS):
            return (
                f"Memory limit: your code may allocate at most {self.limits.memory_bytes / (1 << 20):.0f} MiB "
                "beyond what torch itself takes."
            )
        if "File too large" in message:
            return f"File size limit: your code may write files of at most {self.limits.file_bytes / (1 << 20):.0f} MiB."
        if error_type in ("PermissionError", "OSError", "ConnectionError") or "Errno" in message:
            return NO_ACCESS_HINT
        return None


def _kind(value: Any) -> str:
    """What a value of a reply is, in a few words (never its text: it may be anything)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"an object of type {type(value).__name__}"


T = TypeVar("T")


def _found(value: Any, kind: type[T]) -> list[T]:
    """The objects of type ``kind`` in a call's inputs, in the order the worker collects its leaves (lists, tuples, dict values)."""
    if isinstance(value, kind):
        return [value]
    items = list(value) if isinstance(value, (list, tuple)) else list(value.values()) if isinstance(value, dict) else []
    return [found for item in items for found in _found(item, kind)]


def _packages_of(module: str) -> list[str]:
    """``module`` and the packages above it: ``tkinter.ttk`` -> ``tkinter``, ``tkinter.ttk``."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_error_message(error: dict[str, Any]) -> str:
    """The student-facing message for a file that failed to import."""
    during = str(error.get("during", "importing your files"))
    text = f"Your code failed while {during}: {error.get('type', 'Error')}: {error.get('message', '')}"
    if error.get("traceback"):
        text += f"\nWhere, in your code:\n{str(error['traceback']).rstrip()}"
    if "torchvision" in str(error.get("message", "")):
        text += f"\n{TORCHVISION_HINT}"
    return text
