"""Stand-ins for the standard-library modules this Python lacks, imported by the submission's own files.

A student's file sometimes imports a standard-library module it never uses, an
editor's auto-import such as ``from tkinter import Variable``. Debian and Ubuntu
ship tkinter apart from Python (``python3-tk``, which ``setup.sh`` installs where
it can); where it is missing, that one line would make the whole file unusable
and cost every problem that needs it.

:class:`StandInFinder`, first on ``sys.meta_path`` of a worker, lets such an
import succeed: a module of ``sys.stdlib_module_names`` (or a submodule of one)
that cannot be imported, or whose import fails with ``ImportError`` (tkinter
without its C part ``_tkinter``), imported by a file of the submission, becomes
a :class:`StandInModule`. Every name taken from it is an :class:`Unavailable`,
so an unused import costs nothing, and any use of one (a call, an attribute, an
operator, a subclass) raises ``ModuleNotFoundError`` naming the module.

Only imports written in the submission's files are served: a library's own
``try: import lzma except ImportError`` keeps its ImportError, and a
third-party module (torchvision) is never stood in for. The modules stood in
for are listed in :attr:`StandInFinder.stood_in`, so the report can say so.

Runs in the worker: imports nothing else of the harness.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import Any, NoReturn

OPTIONAL_STANDARD_LIBRARY = frozenset(
    """
    _bz2 _crypt _ctypes _curses _curses_panel _dbm _decimal _gdbm _hashlib _lzma _msi _overlapped _posixshmem
    _posixsubprocess _scproxy _sqlite3 _ssl _tkinter _uuid _winapi bz2 crypt ctypes curses dbm
    distutils ensurepip fcntl grp idlelib lib2to3 lzma msilib msvcrt nis nt ossaudiodev posix pty pwd readline
    resource spwd sqlite3 ssl syslog termios tkinter turtle turtledemo tty venv winreg winsound zlib
    """.split()
)
"""Standard-library modules that a build of Python or a platform may lack (Debian ships some apart, ``python3-tk``)."""


def listed_standard_library() -> frozenset[str]:
    """The standard library's top-level modules as this Python's folders show them, and those it may lack.

    What stands in for ``sys.stdlib_module_names`` on Python 3.9, which does
    not have it (a student's own check runs on 3.9 too).
    """
    import pkgutil
    import sysconfig

    paths = sysconfig.get_paths()
    folders = [paths["stdlib"], os.path.join(paths["platstdlib"], "lib-dynload")]
    found = {module.name for module in pkgutil.iter_modules(folders)}
    return frozenset({*sys.builtin_module_names, *found, *OPTIONAL_STANDARD_LIBRARY})


STANDARD_LIBRARY = frozenset(getattr(sys, "stdlib_module_names", ())) or listed_standard_library()
IMPORT_MACHINERY = (os.path.dirname(importlib.__file__) + os.sep, "<frozen importlib")
"""Where the frames of the import system come from (``importlib.import_module`` and the frozen bootstrap)."""

REASON = "__unavailable__"
"""The attribute of a :class:`StandInModule` that says why the real module could not be imported."""


def unavailable(module: str, used: str, reason: str) -> ModuleNotFoundError:
    """The error for a use of ``used``, a name of the missing standard-library module ``module``."""
    return ModuleNotFoundError(
        f"{module} is not available where your code is graded ({reason}). Importing it was let through with a "
        f"stand-in, so that an unused import costs nothing, but your code uses {used}: remove this use of {module}.",
        name=module,
    )


class Unavailable:
    """A name taken from a :class:`StandInModule`: any use of it raises :func:`unavailable`'s error.

    Dunder lookups answer ``AttributeError`` (so ``hasattr`` probes by libraries
    behave as for any object without the attribute); equality and hashing are
    an object's own, so the import system and containers can hold it.
    """

    __slots__ = ("_module", "_name", "_reason")

    def __init__(self, module: str, name: str, reason: str) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_reason", reason)

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise unavailable(self._module, self._name, self._reason)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise unavailable(self._module, f"{self._name}.{name}", self._reason)

    def __mro_entries__(self, bases: tuple[Any, ...]) -> NoReturn:
        raise unavailable(self._module, f"{self._name} as a base class", self._reason)

    def __repr__(self) -> str:
        return f"<stand-in for {self._name}: {self._module} is not available where grading runs>"


for _operation in (
    "__call__",
    "__setattr__",
    "__delattr__",
    "__getitem__",
    "__setitem__",
    "__delitem__",
    "__iter__",
    "__len__",
    "__contains__",
    "__bool__",
    "__int__",
    "__float__",
    "__index__",
    "__enter__",
    "__exit__",
    "__instancecheck__",
    "__subclasscheck__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__neg__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__matmul__",
    "__rmatmul__",
    "__pow__",
):
    setattr(Unavailable, _operation, Unavailable._fail)


class StandInModule(types.ModuleType):
    """A standard-library module that could not be imported: its public names are :class:`Unavailable`."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        reason = str(vars(self).get(REASON, f"No module named {self.__name__!r}"))
        return Unavailable(self.__name__, f"{self.__name__}.{name}", reason)


class StandInFinder:
    """A meta path finder that stands in for missing standard-library modules imported by the submission's files."""

    def __init__(self, own_folder: str) -> None:
        self.own_folder = os.path.realpath(own_folder) + os.sep
        self.stood_in: list[str] = []
        """The modules stood in for, in the order their imports failed."""
        self._reported = 0

    def install(self) -> None:
        """Put the finder first, so that it can wrap the loader of a module that exists but fails to import."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def newly_stood_in(self, limit: int = 20) -> list[str]:
        """The modules stood in for since the last call (the first ``limit`` of them: a reply's header stays small)."""
        fresh = self.stood_in[self._reported :]
        self._reported = len(self.stood_in)
        return fresh[:limit]

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in STANDARD_LIBRARY or not self._imported_by_own_file():
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            loader = _StandInLoader(self, f"this Python has no module named {fullname!r}")
            return importlib.machinery.ModuleSpec(fullname, loader, is_package=True)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _FallbackLoader(self, spec.loader)
        return spec

    def _imported_by_own_file(self) -> bool:
        """Whether the import being resolved is written in a file of the submission (not in a library)."""
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(IMPORT_MACHINERY):
            frame = frame.f_back
        return frame is not None and os.path.realpath(frame.f_code.co_filename).startswith(self.own_folder)

    def stand_in(self, module: types.ModuleType, reason: str) -> None:
        """Make ``module`` a :class:`StandInModule` that gives ``reason`` when used."""
        module.__class__ = StandInModule
        setattr(module, REASON, reason)
        self.stood_in.append(module.__name__)


class _StandInLoader(importlib.abc.Loader):
    """Creates the stand-in of a module that no finder knows."""

    def __init__(self, finder: StandInFinder, reason: str) -> None:
        self.finder = finder
        self.reason = reason

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = StandInModule(spec.name)
        self.finder.stand_in(module, self.reason)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the stand-in is complete when created."""


class _FallbackLoader(importlib.abc.Loader):
    """The real loader of a standard-library module, which leaves a stand-in where the import fails with ImportError."""

    def __init__(self, finder: StandInFinder, loader: Any) -> None:
        self.finder = finder
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self.loader, "create_module", None)
        try:
            return create(spec) if create is not None else None
        except ImportError as error:  # an extension module whose shared library does not load
            module = StandInModule(spec.name)
            self.finder.stand_in(module, str(error))
            return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The module runs with its real loader, as it would have without this finder.
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        if isinstance(module, StandInModule):
            return
        try:
            self.loader.exec_module(module)
        except ImportError as error:  # tkinter without _tkinter, lzma without _lzma
            try:
                self.finder.stand_in(module, str(error))
            except TypeError:
                raise error from None
