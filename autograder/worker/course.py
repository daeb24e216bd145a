"""The course's code a worker is given: single classes or methods, cut out of the reference's files.

Some problems are graded apart from the problems they build on: ``style_loss``
runs with the course's Gram matrix, ``style_transfer`` with the course's three
losses. Their workers run that code in the same process as the student's (autograd
must flow through it), so student code there can reach it: in ``sys.modules``,
through ``gc``, in stack frames, through a bound method's ``__self__``. A worker is
therefore given only the *parts* it needs, never a whole module of the
solution: :func:`load_part` compiles one class (``"ContentLoss"``) or one method
(``"StyleLoss.gram_matrix"``) out of its reference file, with nothing beside it
but the file's own top-level imports, into a namespace of its own that is not a
module (so nothing is added to ``sys.modules``). The ``style_loss`` worker
thus holds the Gram matrix and nothing of ``StyleLoss.forward``, the function it
grades.

A method comes bound to an empty object (:class:`CourseMethodOwner`), so
``__self__`` leads nowhere.

Runs in a freshly forked worker, before it is confined (the reference files
are not readable to the worker user) and before any student code is imported.
Standard library only.
"""

from __future__ import annotations

import ast
import builtins
import types
from typing import Any


class CourseMethodOwner:
    """What a course method given on its own is bound to: nothing of the course's class."""


def load_parts(parts: dict[str, str]) -> dict[str, Any]:
    """Each part (``qualified name -> reference file``) compiled on its own: a class, or a bound method."""
    return {name: load_part(path, name) for name, path in parts.items()}


def load_part(path: str, qualified_name: str) -> Any:
    """The class ``Name`` or the method ``Name.method`` of the file ``path``, compiled alone with the file's imports."""
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read(), filename=path)
    class_name, _, method_name = qualified_name.partition(".")
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    found = _named(tree.body, ast.ClassDef, class_name, path)
    if method_name:
        found = _named(found.body, (ast.FunctionDef, ast.AsyncFunctionDef), method_name, path)
    namespace: dict[str, Any] = {"__name__": "course", "__builtins__": builtins}
    where = f"<the course's {qualified_name}>"
    for statement in imports:
        try:
            exec(compile(ast.Module(body=[statement], type_ignores=[]), where, "exec"), namespace)
        except ModuleNotFoundError:
            # An import the part may not use, of a module this Python lacks (the handout's check gives a worker the
            # student's own file as the part, and it may import msvcrt unused): the grader's stand-ins (see
            # stand_ins.py) are not installed yet here, so it is left out; a use of it fails as a NameError.
            continue
    exec(compile(ast.Module(body=[found], type_ignores=[]), where, "exec"), namespace)
    part = namespace[found.name]
    if method_name:
        return types.MethodType(part, CourseMethodOwner())
    return part


def _named(body: list[ast.stmt], kinds: type | tuple[type, ...], name: str, path: str) -> Any:
    for node in body:
        if isinstance(node, kinds) and getattr(node, "name", None) == name:
            return node
    raise LookupError(f"{path} defines no {name}")
