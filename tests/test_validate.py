"""validate: mutation testing of the graded suites (the operators, the mutants, the command on a sample, a weak suite)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cosmic_ray.mutating import mutate_code

from autograder import mutation, validate
from autograder.problems import BY_KEY
from tests.scenarios import ROOT


@pytest.mark.parametrize("name", sorted(mutation.OWN_OPERATORS))
def test_each_own_operator_makes_its_examples(name: str) -> None:
    """The project's operators, on their documented examples (cosmic-ray's own are tested by cosmic-ray)."""
    op = mutation.operator(name)
    for example in type(op).examples():
        assert mutate_code(example.pre_mutation_code, op, example.occurrence) == example.post_mutation_code, example


def test_the_operators_cover_the_issues_list() -> None:
    source = (
        "def f(x, y, img):\n"
        "    with torch.no_grad():\n"
        "        y.grad.zero_()\n"
        "    a = x.sum(dim=(2, 3)) + torch.abs(y) ** 2 - x.detach().mean(1)\n"
        "    return a.permute(0, 2, 3, 1).view(1, 2, 3)[1:] if a < 2 else -a\n"
    )
    changed_lines: set[str] = set()
    for name in mutation.OPERATOR_NAMES:
        op = mutation.operator(name)
        occurrence = 0
        while (changed := mutate_code(source, op, occurrence)) is not None:
            compile(changed, "mutant", "exec")  # every mutant is Python
            pairs = zip(source.splitlines(), changed.splitlines(), strict=False)
            changed_lines.update(after.strip() for before, after in pairs if before != after)
            occurrence += 1
    text = "\n".join(sorted(changed_lines))
    assert "y.grad" in changed_lines, "zero_() removed"
    for expected in (
        "with torch.enable_grad():",  # no_grad removed
        "x.mean(dim=(2, 3))",  # sum against mean
        "torch.square(y)",  # abs against square
        "x.sum(dim=(3,))",  # a dimension dropped
        "a.permute(2, 0, 3, 1)",  # dimensions swapped
        "[2:]",  # off by one (cosmic-ray)
        "a <= 2",  # comparison (cosmic-ray)
        "x.sum(dim=(2, 3)) - torch.abs(y) ** 2",  # arithmetic (cosmic-ray)
    ):
        assert expected in text, expected


def test_mutants_are_the_same_each_time_and_only_in_lines_a_student_writes() -> None:
    for key in ("tv_loss", "gradcam", "answers"):
        first, second = mutation.mutants_of(key), mutation.mutants_of(key)
        assert first == second and first, key
        assert len({m.key for m in first}) == len(first), "keys name the change"
        for mutant in first:
            lines = mutation.graded_lines(mutant.path, mutation.GRADED[key][mutant.path])
            assert mutant.line in lines
            assert mutant.source != (mutation.REFERENCE_DIR / mutant.path).read_text()


def test_every_graded_definition_exists_and_is_written_by_the_student() -> None:
    assert set(mutation.GRADED) == set(BY_KEY)
    for key, files in mutation.GRADED.items():
        for path, names in files.items():
            assert path in BY_KEY[key].files, (key, path)
            assert mutation.graded_lines(path, names), f"{key}: nothing to mutate in {path}"
            for name in names or ():
                assert any(q == name or q.startswith(name + ".") for q in mutation.definitions(path)), (key, name)


def test_sample_is_spread_and_two_operators_making_one_change_make_one_mutant() -> None:
    assert validate.sample(list(range(10)), 4) == [0, 2, 5, 7]
    assert validate.sample(list(range(3)), 4) == [0, 1, 2]
    mutants = mutation.mutants_of("tv_loss")
    trees = [ast.dump(ast.parse(m.source)) for m in mutants]
    assert len(set(trees)) == len(trees), "one mutant for each code"
    made_by = {m.operator for m in mutants if ":-2," in m.after.replace(" ", "") and "vertical" in m.after}
    assert len(made_by) == 1, "NumberReplacer's :- 2 and DoubleNumber's :-2 are one mutant"


def run_validate(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autograder", "validate", *arguments]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)


def test_validate_on_a_sample_kills_every_mutant_and_writes_its_verdicts(tmp_path: Path) -> None:
    completed = run_validate(
        ROOT, "--problems", "tv_loss,content_loss", "--sample", "4", "--jobs", "2", "--json", str(tmp_path / "v.json")
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    verdicts = json.loads((tmp_path / "v.json").read_text())["problems"]
    assert set(verdicts) == {"tv_loss", "content_loss"}
    for key, problem in verdicts.items():
        assert problem["made"] == 4 and problem["killed"] + problem["equivalent"] == 4, (key, problem)
        assert problem["kill_rate"] == 1.0 and problem["survivors"] == [] and problem["reference"].endswith("/ 2")
    assert "tv_loss" in completed.stdout and "100.0%" in completed.stdout


WEAKENED = """

# The weak suite of tests/test_validate.py: the property "matches the solution" removed from every test.
def expect_close(received, expected, **kwargs):
    return received


def expect_gradients(*args, **kwargs):
    return None
"""


def test_a_weakened_suite_falls_below_the_goal_and_its_survivors_are_shown(tmp_path: Path) -> None:
    """A copy of the project whose TV-loss suite no longer compares with the reference: validate says so (exit 1)."""
    root = tmp_path / "copy"
    for folder in ("autograder", "reference", "student_template"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "case_salt"))
    suite = root / "autograder" / "problems" / "tv_loss.py"
    suite.write_text(suite.read_text() + WEAKENED)
    completed = run_validate(root, "--problems", "tv_loss", "--sample", "6", "--jobs", "2", "--json", str(tmp_path / "v.json"))
    assert completed.returncode == 1, completed.stdout + completed.stderr[-3000:]
    problem = json.loads((tmp_path / "v.json").read_text())["problems"]["tv_loss"]
    assert problem["survived"] >= 1 and problem["kill_rate"] < validate.GOAL, problem
    assert "below the goal" in completed.stdout
    survivor = problem["survivors"][0]
    assert survivor["diff"].startswith("--- reference/style_modules/tv_loss.py") and survivor["after"] in completed.stdout


def test_marked_equivalents_need_a_reason(tmp_path: Path) -> None:
    marks = tmp_path / "marks.yaml"
    marks.write_text("- key: abc123\n  reason: x * 2 is x + x\n")
    assert validate.marked_equivalent(marks) == {"abc123": "x * 2 is x + x"}
    marks.write_text("- key: abc123\n")
    with pytest.raises(ValueError, match="reason"):
        validate.marked_equivalent(marks)
    assert isinstance(validate.marked_equivalent(), dict), "the checked-in file reads"


def test_probe_logs_compare_every_value_within_the_tolerance(tmp_path: Path) -> None:
    import numpy as np
    import torch

    from autograder import probe

    first = [(f"f[{i}]", a) for i, a in enumerate(probe._arrays([torch.ones(2, 3), 4, "text", {"k": (1.5, None)}]))]
    path = tmp_path / "log.npz"
    probe._entries[:] = first
    try:
        probe.write(path)
    finally:
        probe._entries.clear()
    read = probe.read(path)
    assert probe.same(first, read) and len(read) == 6
    nudged = [(name, a + 1e-13 if a.dtype.kind == "f" else a) for name, a in read]
    moved = [(name, a + 1e-9 if a.dtype.kind == "f" else a) for name, a in read]
    assert probe.same(read, nudged) and not probe.same(read, moved), "within 1e-12, not beyond"
    assert not probe.same(read, read[:-1]) and not probe.same(read, [*read[:-1], ("f[5]", np.array("other"))])


def test_every_marked_equivalent_is_a_mutant_of_its_problem_with_a_reason() -> None:
    """A mark whose mutant is no longer made (the reference changed) is stale: it must be looked at again."""
    import yaml

    entries = yaml.safe_load(validate.EQUIVALENT_FILE.read_text())
    assert entries, "the checked-in marks"
    for entry in entries:
        made = {m.key: m for m in mutation.mutants_of(entry["problem"])}
        assert entry["key"] in made, entry
        mutant = made[entry["key"]]
        assert (mutant.where, mutant.before.strip(), mutant.after.strip()) == (entry["where"], entry["before"], entry["after"])
        assert len(entry["reason"]) > 40
