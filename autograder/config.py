"""One grading run's configuration, built once from the command line, the environment and defaults.

Every verb that grades builds a :class:`RunConfig` first (:meth:`RunConfig.build`)
and passes it down: the problems, the device, the workers' limits
(:class:`autograder.settings.Limits`), the course's salt file, and for ``batch``
its jobs and shard. A value given on the command line wins over the
environment's ``AUTOGRADER_*`` variable, which wins over the default. A bad
value is a :class:`ConfigError` that names the setting and where it came from;
the command line reports it with exit status 2 before anything is graded.

This is the only module of the grader that reads the environment for a run's
settings (the handout's ``check.py`` reads the limits through
:meth:`Limits.from_environment` alone).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import problems as problem_registry
from autograder.case_salt import CASE_SALT_FILE
from autograder.problems import PROBLEMS, Problem
from autograder.settings import Limits

DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A setting with a bad value; the message names the setting and says what is wrong."""


@dataclass(frozen=True)
class Shard:
    """The share ``index`` of ``count`` (both counted from 1) of a class: ``--shard 2/3``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str, setting: str = "--shard") -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ConfigError(f"{setting}={text!r} must be I/N, the share I of N, counted from 1 (say, 2/3)")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise ConfigError(f"{setting}={text!r}: the share must be from 1 to {count} (shares are counted from 1)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


# Each setting: its environment variable, and what it means (for --help).
SETTINGS = {
    "problems": ("AUTOGRADER_PROBLEMS", "the problems to grade, comma-separated keys (default: all)"),
    "device": ("AUTOGRADER_DEVICE", "where student code runs: auto, cpu or cuda (default: cpu)"),
    "jobs": ("AUTOGRADER_JOBS", "batch: submissions graded at once, each by its own grader (default: 1)"),
    "shard": ("AUTOGRADER_SHARD", "batch: grade only the share I/N of the class (default: 1/1, all)"),
    "case_salt_file": ("AUTOGRADER_CASE_SALT_FILE", f"the course's salt (default: {CASE_SALT_FILE})"),
}


@dataclass(frozen=True)
class RunConfig:
    """What one run grades, where, and under which limits."""

    problems: tuple[Problem, ...] = PROBLEMS
    device: str = "cpu"
    """``cpu`` or ``cuda``, resolved (``auto`` is resolved when the configuration is built)."""
    limits: Limits = field(default_factory=Limits)
    case_salt_file: Path = CASE_SALT_FILE
    quiet: bool = False
    jobs: int = 1
    shard: Shard = field(default_factory=Shard)

    @classmethod
    def build(
        cls,
        *,
        problems: str | None = None,
        device: str | None = None,
        quiet: bool = False,
        jobs: int | None = None,
        shard: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> RunConfig:
        """The configuration from the command line's values (``None``: not given), the environment, and defaults.

        ``ConfigError`` names the first bad setting.
        """
        environ = os.environ if environ is None else environ

        def given(name: str, value: Any) -> tuple[Any, str]:
            """The value and where it came from: the command line, else the environment, else ``None``."""
            variable = SETTINGS[name][0]
            if value is not None:
                return value, f"--{name}"
            if environ.get(variable, "") != "":
                return environ[variable], variable
            return None, variable

        try:
            limits = Limits.from_environment(dict(environ))
        except ValueError as error:
            raise ConfigError(str(error)) from None

        keys, source = given("problems", problems)
        try:
            selected = problem_registry.select(keys)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None

        wanted, source = given("device", device)
        wanted = wanted or "cpu"
        if wanted not in DEVICES:
            raise ConfigError(f"{source}={wanted!r} must be one of {', '.join(DEVICES)}")
        try:
            resolved = resolve_device(wanted)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None

        count, source = given("jobs", jobs)
        try:
            count = 1 if count is None else int(count)
        except ValueError:
            raise ConfigError(f"{source}={count!r} must be a whole number of jobs") from None
        if count < 1:
            raise ConfigError(f"{source}={count!r} must be at least 1")

        share, source = given("shard", shard)
        parsed_shard = Shard() if share is None else Shard.parse(str(share), source)

        salt_file, _ = given("case_salt_file", None)
        return cls(
            problems=selected,
            device=resolved,
            limits=limits,
            case_salt_file=Path(salt_file) if salt_file else CASE_SALT_FILE,
            quiet=quiet,
            jobs=count,
            shard=parsed_shard,
        )

    def to_json(self) -> str:
        """The configuration as JSON, for a batch's grading processes (:meth:`from_json`)."""
        return json.dumps(
            {
                "problems": [p.key for p in self.problems],
                "device": self.device,
                "limits": dataclasses.asdict(self.limits),
                "case_salt_file": str(self.case_salt_file),
                "quiet": self.quiet,
                "jobs": self.jobs,
                "shard": [self.shard.index, self.shard.count],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        data = json.loads(text)
        return cls(
            problems=problem_registry.select(",".join(data["problems"])),
            device=data["device"],
            limits=Limits(**data["limits"]),
            case_salt_file=Path(data["case_salt_file"]),
            quiet=data["quiet"],
            jobs=data["jobs"],
            shard=Shard(*data["shard"]),
        )

    @staticmethod
    def describe() -> str:
        """The settings read from the environment, one per line, for ``--help``."""
        lines = [f"{variable}: {meaning}" for variable, meaning in SETTINGS.values()]
        return "\n".join(lines) + "\n" + Limits.describe()


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda`` for ``auto``, ``cpu`` or ``cuda``; ``ValueError`` for ``cuda`` without a GPU.

    The check asks NVML, not CUDA: CUDA must not be initialised in the grader
    before it forks the fork server (a forked child cannot use it then).
    """
    if device not in DEVICES:
        raise ValueError(f"the device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise ValueError("cuda: no CUDA GPU is available here (torch.cuda.is_available() is False)")
    return "cpu"
