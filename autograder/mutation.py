"""Mutants of the reference: the mistakes a student could make, made automatically (``validate``).

Each mutant is the reference with one small change in a line a student
writes: a line of a function the problem grades that differs from the
starter code (:data:`GRADED`). The changes are made with cosmic-ray's
mutation operators (a maintained library: arithmetic, comparison, unary and
boolean operators, numbers plus or minus one, loops that never run, removed
decorators) and, for what cosmic-ray lacks because it knows no numerical
code, with the operators of this module, written as cosmic-ray operators on
the same parso trees:

- :class:`SumAgainstMean`: ``sum`` against ``mean`` (``x.sum()``, ``torch.mean(x)``);
- :class:`AbsAgainstSquare`: ``abs`` against ``square``, and ``x ** 2`` as ``abs(x)``;
- :class:`DoubleNumber`: a constant times 2 (cosmic-ray adds and subtracts 1);
- :class:`DropTerm`: one term of a sum left out;
- :class:`SwapArguments`: two neighbouring dimensions swapped in ``transpose``,
  ``permute``, ``view``, ``reshape``;
- :class:`DropDimension`: one dimension left out of a tuple of dimensions, or
  the dimension argument of a reduction left out (it then reduces everything);
- :class:`RemoveCall`: ``.detach()``, ``.zero_()``, ``.clone()`` removed;
  ``no_grad`` made ``enable_grad``.

Mutants are made in a fixed order (file, operator, occurrence), so the same
reference gives the same mutants. A mutant whose code does not compile, or
compiles to the same syntax tree as the reference's, is not kept.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

import parso
from cosmic_ray.mutating import mutate_code
from cosmic_ray.operators.operator import Example, Operator
from cosmic_ray.plugins import get_operator
from parso.python.tree import Name

from autograder.reference import REFERENCE_DIR

TEMPLATE_DIR = REFERENCE_DIR.parent / "student_template"

GRADED: dict[str, dict[str, tuple[str, ...] | None]] = {
    "content_loss": {"style_modules/content_loss.py": ("ContentLoss.forward",)},
    "gram_matrix": {"style_modules/style_loss.py": ("StyleLoss.gram_matrix",)},
    "style_loss": {"style_modules/style_loss.py": ("StyleLoss.forward",)},
    "tv_loss": {"style_modules/tv_loss.py": ("TotalVariationLoss.forward",)},
    "style_transfer": {"style_utils.py": ("style_transfer",)},
    "saliency": {"visualizers/saliency_map.py": ("SaliencyMap.compute_saliency_maps",)},
    "guided_backprop": {"visualizers/gradcam.py": ("CustomReLU", "GradCam.guided_backprop")},
    "gradcam": {"visualizers/gradcam.py": ("GradCam.grad_cam",)},
    "fooling_image": {"visualizers/fooling_image.py": ("FoolingImage.make_fooling_image",)},
    "class_visualization": {"visualizers/class_visualization.py": ("ClassVisualization.create_class_visualization",)},
    "conv_matrices": {"conv_matrices.py": None},
    "answers": {"answers.py": None},
}
"""Per problem, the reference files it grades and the definitions in them (qualified names; a class stands for its
methods; ``None``: every definition and module-level statement). Only their lines that differ from the starter code
are mutated: the lines a student writes."""

REDUCTIONS = frozenset({"sum", "mean", "amax", "amin", "max", "min", "norm", "argmax", "argmin", "prod", "std", "var"})
SHAPING = frozenset({"transpose", "permute", "view", "reshape", "swapaxes", "movedim", "flatten", "unsqueeze", "squeeze"})


def _leaf(node: Any, text: str) -> Name:
    """A leaf that writes ``text`` where ``node`` was (the mutated code is only ever written back, never walked)."""
    return Name(text, node.start_pos, prefix=node.get_first_leaf().prefix)


def _code(node: Any) -> str:
    return node.get_code(include_prefix=False)


def _method_name(trailer: Any) -> str | None:
    """``name`` for a trailer ``.name``, else ``None``."""
    if trailer.type == "trailer" and trailer.children[0].type == "operator" and trailer.children[0].value == ".":
        return trailer.children[1].value
    return None


def _call_arguments(trailer: Any) -> list[Any] | None:
    """The argument nodes of a call trailer ``( ... )``, or ``None`` if it is not a call."""
    if trailer.type != "trailer" or trailer.children[0].value != "(":
        return None
    inner = trailer.children[1:-1]
    if not inner:
        return []
    if inner[0].type == "arglist":
        return [child for child in inner[0].children if not (child.type == "operator" and child.value == ",")]
    return [inner[0]]


def _calls(node: Any, names: frozenset[str]) -> Iterator[tuple[int, str, list[Any], bool]]:
    """In an ``atom_expr``, each ``.name(args)`` with ``name`` in ``names``: (index of the call trailer, name, args,
    whether the call is ``torch.name(tensor, args)``, whose first argument is the tensor and is left out of args)."""
    if node.type != "atom_expr":
        return
    children = node.children
    from_torch = children[0].type == "name" and children[0].value == "torch"
    for index in range(1, len(children) - 1):
        name = _method_name(children[index])
        arguments = _call_arguments(children[index + 1])
        if name in names and arguments is not None:
            on_torch = from_torch and index == 1
            yield index + 1, name, arguments[1:] if on_torch else arguments, on_torch


def _with_call_arguments(node: Any, call_index: int, arguments: list[str], skip_first: bool) -> str:
    """``node``'s code with the call trailer at ``call_index`` given ``arguments`` (``skip_first``: keep its first)."""
    children = node.children
    kept = _call_arguments(children[call_index]) or []
    written = ([_code(kept[0])] if skip_first and kept else []) + arguments
    before = "".join(child.get_code() for child in children[:call_index]).lstrip()
    after = "".join(child.get_code() for child in children[call_index + 1 :])
    return f"{before}({', '.join(written)}){after}"


class _SwapNames(Operator):
    """A function called as a method or from torch (``x.name(...)``, ``torch.name(x)``) renamed by :attr:`SWAP`."""

    SWAP: ClassVar[dict[str, str]] = {}

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        if node.type == "name" and node.value in self.SWAP and node.parent.type == "trailer":
            yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        return Name(self.SWAP[node.value], node.start_pos, prefix=node.prefix)


class SumAgainstMean(_SwapNames):
    """``sum`` as ``mean`` and ``mean`` as ``sum``, called as a method or from torch."""

    SWAP: ClassVar[dict[str, str]] = {"sum": "mean", "mean": "sum", "nansum": "nanmean", "nanmean": "nansum"}

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = x.sum()", "y = x.mean()"), Example("y = torch.mean(x)", "y = torch.sum(x)"))


class AbsAgainstSquare(_SwapNames):
    """``abs`` as ``square`` and back, and a square ``x ** 2`` as ``abs(x)``."""

    SWAP: ClassVar[dict[str, str]] = {"abs": "square", "square": "abs"}

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        yield from super().mutation_positions(node)
        if node.type == "power" and len(node.children) == 3 and node.children[1].value == "**":
            exponent = node.children[2]
            if exponent.type == "number" and exponent.value in ("2", "2.0"):
                yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        if node.type == "name":
            return super().mutate(node, index)
        return _leaf(node, f"abs({_code(node.children[0])})")

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = x.abs()", "y = x.square()"), Example("y = (a - b) ** 2", "y = abs((a - b))"))


class DoubleNumber(Operator):
    """A constant other than 0 times 2 (cosmic-ray's NumberReplacer adds and subtracts 1)."""

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        if node.type == "number":
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError):
                return
            if value != 0 and not isinstance(value, complex):
                yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        return Name(repr(ast.literal_eval(node.value) * 2), node.start_pos, prefix=node.prefix)

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("x = 3", "x = 6"), Example("x = 0.5", "x = 1.0"))


class DropTerm(Operator):
    """One term of a sum or difference left out (``a + b - c`` as ``a - c``, ``a + b``, ``b - c``)."""

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        if node.type == "arith_expr":
            for _ in range((len(node.children) + 1) // 2):
                yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        terms = [_code(child) for child in node.children[0::2]]
        signs = ["+"] + [child.value for child in node.children[1::2]]
        kept = [(sign, term) for k, (sign, term) in enumerate(zip(signs, terms, strict=True)) if k != index]
        first_sign, first = kept[0]
        text = ("-" if first_sign == "-" else "") + first + "".join(f" {sign} {term}" for sign, term in kept[1:])
        return _leaf(node, f"({text})")

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = a + b - c", "y = (b - c)"), Example("y = a + b - c", "y = (a - c)", occurrence=1))


class SwapArguments(Operator):
    """Two neighbouring dimensions swapped in a ``transpose``, ``permute``, ``view`` or ``reshape``."""

    def _positions(self, node: Any) -> list[tuple[int, int, bool]]:
        found: list[tuple[int, int, bool]] = []
        for call, _, arguments, on_torch in _calls(node, SHAPING):
            positional = [k for k, argument in enumerate(arguments) if argument.type != "argument"]
            found += [(call, k, on_torch) for k in positional[:-1] if k + 1 in positional]
        return found

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        for _ in self._positions(node):
            yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        call, k, on_torch = self._positions(node)[index]
        arguments = [_code(argument) for argument in _call_arguments(node.children[call]) or []][1 if on_torch else 0 :]
        arguments[k], arguments[k + 1] = arguments[k + 1], arguments[k]
        return _leaf(node, _with_call_arguments(node, call, arguments, skip_first=on_torch))

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = x.permute(0, 2, 3, 1)", "y = x.permute(2, 0, 3, 1)"),)


class DropDimension(Operator):
    """A dimension left out: one element of a tuple of dimensions in a reduction or reshape, or a reduction's
    dimension argument (``x.sum(dim=1)`` as ``x.sum()``, ``x.mean(dim=(2, 3))`` as ``x.mean(dim=(3,))``)."""

    def _positions(self, node: Any) -> list[tuple[int, int, int | None, bool]]:
        found: list[tuple[int, int, int | None, bool]] = []
        for call, name, arguments, on_torch in _calls(node, REDUCTIONS | SHAPING):
            for k, argument in enumerate(arguments):
                value = argument.children[2] if argument.type == "argument" and len(argument.children) == 3 else argument
                elements = _tuple_elements(value)
                if elements is not None and len(elements) > 1:
                    found += [(call, k, element, on_torch) for element in range(len(elements))]
                elif name in REDUCTIONS and (argument.type != "argument" or argument.children[0].value in ("dim", "axis")):
                    found.append((call, k, None, on_torch))
        return found

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        for _ in self._positions(node):
            yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        call, k, element, on_torch = self._positions(node)[index]
        arguments = (_call_arguments(node.children[call]) or [])[1 if on_torch else 0 :]
        written = [_code(argument) for argument in arguments]
        if element is None:
            del written[k]
        else:
            argument = arguments[k]
            keyword = argument.type == "argument" and len(argument.children) == 3
            value = argument.children[2] if keyword else argument
            elements = [_code(e) for e in _tuple_elements(value) or []]
            del elements[element]
            shown = f"({elements[0]},)" if len(elements) == 1 else f"({', '.join(elements)})"
            written[k] = (f"{argument.children[0].value}=" if keyword else "") + shown
        return _leaf(node, _with_call_arguments(node, call, written, skip_first=on_torch))

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = x.sum(dim=1)", "y = x.sum()"), Example("y = x.mean(dim=(2, 3))", "y = x.mean(dim=(3,))"))


def _tuple_elements(node: Any) -> list[Any] | None:
    """The elements of a tuple or list literal ``(a, b)`` / ``[a, b]``, else ``None``."""
    if node.type == "atom" and node.children[0].value in "([" and len(node.children) == 3:
        inner = node.children[1]
        if inner.type == "testlist_comp" and not any(child.type == "sync_comp_for" for child in inner.children):
            return [child for child in inner.children if not (child.type == "operator" and child.value == ",")]
    return None


class RemoveCall(Operator):
    """``.detach()``, ``.zero_()`` or ``.clone()`` removed; ``torch.no_grad`` as ``torch.enable_grad``."""

    REMOVED = frozenset({"detach", "zero_", "clone", "requires_grad_"})

    def _positions(self, node: Any) -> list[int]:
        if node.type == "name" and node.value == "no_grad" and node.parent.type == "trailer":
            return [-1]
        if node.type != "atom_expr":
            return []
        children = node.children
        return [
            index
            for index in range(1, len(children) - 1)
            if _method_name(children[index]) in self.REMOVED and _call_arguments(children[index + 1]) is not None
        ]

    def mutation_positions(self, node: Any) -> Iterator[tuple[Any, Any]]:
        for _ in self._positions(node):
            yield node.start_pos, node.end_pos

    def mutate(self, node: Any, index: int) -> Any:
        where = self._positions(node)[index]
        if where == -1:
            return Name("enable_grad", node.start_pos, prefix=node.prefix)
        children = node.children
        text = "".join(child.get_code() for k, child in enumerate(children) if k not in (where, where + 1)).lstrip()
        return _leaf(node, text)

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (Example("y = x.detach().numpy()", "y = x.numpy()"), Example("x.grad.zero_()", "x.grad"))


COSMIC_RAY_OPERATORS = (
    "core/ReplaceBinaryOperator_Add_Sub",
    "core/ReplaceBinaryOperator_Sub_Add",
    "core/ReplaceBinaryOperator_Mul_Div",
    "core/ReplaceBinaryOperator_Div_Mul",
    "core/ReplaceBinaryOperator_Pow_Mul",
    "core/ReplaceBinaryOperator_FloorDiv_Div",
    "core/ReplaceBinaryOperator_Div_FloorDiv",
    "core/ReplaceComparisonOperator_Lt_LtE",
    "core/ReplaceComparisonOperator_LtE_Lt",
    "core/ReplaceComparisonOperator_Gt_GtE",
    "core/ReplaceComparisonOperator_GtE_Gt",
    "core/ReplaceComparisonOperator_Eq_NotEq",
    "core/ReplaceComparisonOperator_NotEq_Eq",
    "core/ReplaceComparisonOperator_Lt_Gt",
    "core/ReplaceComparisonOperator_Gt_Lt",
    "core/ReplaceUnaryOperator_USub_UAdd",
    "core/ReplaceUnaryOperator_Delete_Not",
    "core/ReplaceTrueWithFalse",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue",
    "core/NumberReplacer",
    "core/ZeroIterationForLoop",
    "core/RemoveDecorator",
)
"""cosmic-ray's operators used, by name: the swaps a student makes (not every pair of its 13 binary operators)."""
OWN_OPERATORS: dict[str, type[Operator]] = {
    "own/SumAgainstMean": SumAgainstMean,
    "own/AbsAgainstSquare": AbsAgainstSquare,
    "own/DoubleNumber": DoubleNumber,
    "own/DropTerm": DropTerm,
    "own/SwapArguments": SwapArguments,
    "own/DropDimension": DropDimension,
    "own/RemoveCall": RemoveCall,
}
OPERATOR_NAMES = COSMIC_RAY_OPERATORS + tuple(OWN_OPERATORS)


def operator(name: str) -> Operator:
    if name in OWN_OPERATORS:
        return OWN_OPERATORS[name]()
    return get_operator(name)()


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutant: the reference with ``operator``'s ``occurrence``-th change made in ``path`` (one problem's)."""

    problem: str
    path: str
    operator: str
    occurrence: int
    line: int
    before: str
    after: str
    source: str

    where: str = ""
    """The definition the line is in (``GradCam.grad_cam``; empty at module level)."""
    repeat: int = 0
    """How many mutants before this one make the same change to the same text in the same definition."""

    @property
    def key(self) -> str:
        """A name that stays the same while the reference's lines do: the file, the definition, the operator, the
        change (and which of the same lines it is, when the definition has the line more than once); not the line's
        number."""
        text = f"{self.path}\n{self.where}\n{self.operator}\n{self.before.strip()}\n{self.after.strip()}\n{self.repeat}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def diff(self) -> str:
        original = (REFERENCE_DIR / self.path).read_text(encoding="utf-8").splitlines(keepends=True)
        changed = self.source.splitlines(keepends=True)
        return "".join(difflib.unified_diff(original, changed, f"reference/{self.path}", f"mutant/{self.path}", n=1))


def graded_lines(path: str, names: tuple[str, ...] | None) -> set[int]:
    """The reference's lines of ``path`` a student writes, in the definitions ``names``: those the starter code lacks."""
    reference = (REFERENCE_DIR / path).read_text(encoding="utf-8").splitlines()
    template_path = TEMPLATE_DIR / path
    template = template_path.read_text(encoding="utf-8").splitlines() if template_path.is_file() else []
    written: set[int] = set()
    matcher = difflib.SequenceMatcher(a=template, b=reference, autojunk=False)
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            written.update(range(start + 1, end + 1))
    if names is None:
        return written
    inside: set[int] = set()
    for qualname, (first, last) in definitions(path).items():
        if any(qualname == name or qualname.startswith(name + ".") for name in names):
            inside.update(range(first, last + 1))
    return written & inside


@cache
def definitions(path: str) -> dict[str, tuple[int, int]]:
    """Every function and class of the reference's ``path`` by qualified name: its first and last line."""
    tree = ast.parse((REFERENCE_DIR / path).read_text(encoding="utf-8"))
    found: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                found[name] = (child.lineno, child.end_lineno or child.lineno)
                visit(child, name + ".")

    visit(tree, "")
    return found


def enclosing(path: str, line: int) -> str:
    """The innermost definition of the reference's ``path`` that holds ``line`` (empty at module level)."""
    holding = [(last - first, name) for name, (first, last) in definitions(path).items() if first <= line <= last]
    return min(holding)[1] if holding else ""


class _Positions:
    """Every position where ``operator`` would mutate the code, in cosmic-ray's walk order (its occurrences)."""

    def __init__(self, source: str, op: Operator) -> None:
        self.starts: list[int] = []
        self._walk(parso.parse(source), op)

    def _walk(self, node: Any, op: Operator) -> None:
        for start, _ in op.mutation_positions(node):
            self.starts.append(start[0])
        for child in getattr(node, "children", ()):
            self._walk(child, op)


def mutants_of(problem: str) -> list[Mutant]:
    """The mutants of ``problem``, in a fixed order: by file, operator, occurrence; one for each code they make
    (two operators can make the same change: NumberReplacer's ``:-2`` and DoubleNumber's)."""
    found: list[Mutant] = []
    repeats: dict[tuple[str, str, str, str, str], int] = {}
    for path, names in GRADED[problem].items():
        source = (REFERENCE_DIR / path).read_text(encoding="utf-8")
        lines = graded_lines(path, names)
        original_tree = ast.dump(ast.parse(source))
        made: set[str] = set()
        original_lines = source.splitlines()
        for name in OPERATOR_NAMES:
            op = operator(name)
            for occurrence, line in enumerate(_Positions(source, op).starts):
                if line not in lines:
                    continue
                mutated = mutate_code(source, op, occurrence)
                if mutated is None or mutated == source:
                    continue
                try:
                    tree = ast.dump(ast.parse(mutated))
                except SyntaxError:
                    continue
                if tree == original_tree:
                    continue  # the same code: equivalent by construction
                changed = mutated.splitlines()
                after = changed[line - 1] if line - 1 < len(changed) else ""
                before = original_lines[line - 1]
                where = enclosing(path, line)
                same = (path, where, name, before.strip(), after.strip())
                repeat = repeats.get(same, 0)
                repeats[same] = repeat + 1
                if tree in made:
                    continue
                made.add(tree)
                found.append(Mutant(problem, path, name, occurrence, line, before, after, mutated, where, repeat))
    return found
