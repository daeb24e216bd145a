"""The instructor's solution, imported into the grader's own process.

The grader compares students against these modules. They are trusted code:
only ``reference/`` is ever put on the grader's import path, never a
submission.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


def module(name: str) -> ModuleType:
    """The reference solution's module ``name`` (``"style_modules.style_loss"``, ``"style_utils"``)."""
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    loaded = importlib.import_module(name)
    origin = Path(getattr(loaded, "__file__", "") or "").resolve()
    if REFERENCE_DIR not in origin.parents:
        raise ImportError(f"{name} was imported from {origin}, not from the reference solution")
    return loaded


def source(path: str) -> Path:
    """A file of the reference solution, by its path inside ``reference/``."""
    return REFERENCE_DIR / path
