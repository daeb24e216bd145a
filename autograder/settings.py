"""Every limit and setting of a grading run, in one typed place.

Each field has a default and a description; :func:`Limits.from_environment`
reads overrides from ``AUTOGRADER_<FIELD>`` environment variables (so an
instructor can loosen a limit on a slow machine without editing code) and
says exactly which variable held a bad value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from autograder.worker.confine import Confinement


def _setting(default: float | str, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class Limits:
    """Limits on the worker processes that run student code."""

    call_seconds: float = _setting(30.0, "wall-clock limit of one call into student code")
    import_seconds: float = _setting(30.0, "wall-clock limit for importing a problem's student files")
    problem_seconds: float = _setting(
        150.0, "wall-clock budget of one problem from its first call: the calls and the grader's checks of their results"
    )
    grading_seconds: float = _setting(
        480.0, "wall-clock budget of all calls of one submission together (keep it under Gradescope's timeout)"
    )
    output_bytes: int = _setting(16 * 1024, "student output kept per test (the rest is counted and cut)")
    result_bytes: int = _setting(256 * 1024 * 1024, "largest tensor a worker may send back")
    header_bytes: int = _setting(1024 * 1024, "largest message header a worker may send back")
    memory_bytes: int = _setting(
        512 * 1024 * 1024, "address space a worker may allocate beyond what it starts with (torch, shared with the grader)"
    )
    cpu_seconds: int = _setting(120, "CPU time of one worker process (a worker serves one problem)")
    processes: int = _setting(64, "processes and threads of the worker user at once (only with a worker user)")
    file_bytes: int = _setting(64 * 1024 * 1024, "largest file a worker may write")
    open_files: int = _setting(256, "open file descriptors of one worker process")
    worker_user: str = _setting(
        "autograder-worker",
        "the unprivileged user that runs student code when the grader runs as root; empty: run it as root (unsafe)",
    )

    def confinement(self) -> Confinement:
        """The limits of :mod:`autograder.worker.confine`, without a worker user (see ``autograder.privilege``)."""
        return Confinement(
            memory_bytes=int(self.memory_bytes),
            cpu_seconds=int(self.cpu_seconds),
            processes=int(self.processes),
            file_bytes=int(self.file_bytes),
            open_files=int(self.open_files),
        )

    def frame_limits(self) -> dict[str, int]:
        return {
            "max_header_bytes": int(self.header_bytes),
            "max_buffer_bytes": int(self.result_bytes),
            "max_total_bytes": int(self.result_bytes) * 2,
        }

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Limits:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = f"AUTOGRADER_{spec.name.upper()}"
            if name not in environ:
                continue
            kind: type = type(spec.default)
            try:
                value = kind(environ[name])
            except ValueError:
                raise ValueError(
                    f"{name}={environ[name]!r} is not a valid {kind.__name__} ({spec.metadata['description']})"
                ) from None
            if not isinstance(value, str) and value <= 0:
                raise ValueError(f"{name}={environ[name]!r} must be positive ({spec.metadata['description']})")
            values[spec.name] = value
        return cls(**values)

    @classmethod
    def describe(cls) -> str:
        """One line per setting: its environment variable, default and meaning."""
        return "\n".join(
            f"AUTOGRADER_{spec.name.upper()} (default {spec.default}): {spec.metadata['description']}" for spec in fields(cls)
        )
