"""The graded problems: their keys, points, and the student files each one uses.

Each problem's graded tests live in the module of the same name beside this
file (its strategies, properties and points). A problem's points are the sum
of its tests' weights; ``tests/test_problem_suites.py`` checks that they add
up to the ``points`` given here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROBLEMS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Problem:
    """One graded problem: a key of API.md, its points, and what it needs.

    ``files`` are the student files it uses (a missing or broken one costs
    this problem), ``modules`` what its worker imports, ``course`` the parts of
    the course's own code its worker is given (see :data:`COURSE_PARTS`).
    """

    key: str
    title: str
    points: float
    files: tuple[str, ...]
    modules: tuple[str, ...]
    course: tuple[str, ...] = ()

    @property
    def suite(self) -> Path:
        """The module of graded tests for this problem."""
        return PROBLEMS_DIR / f"{self.key}.py"

    @property
    def number(self) -> int:
        """The first part of its tests' numbers: its place in the contract's list of problems."""
        return ALL_PROBLEM_KEYS.index(self.key) + 1


PROBLEMS: tuple[Problem, ...] = (
    Problem("content_loss", "Content loss", 2.0, ("style_modules/content_loss.py",), ("style_modules.content_loss",)),
    Problem("gram_matrix", "Gram matrix", 2.5, ("style_modules/style_loss.py",), ("style_modules.style_loss",)),
    Problem(
        "style_loss",
        "Style loss",
        2.5,
        ("style_modules/style_loss.py",),
        ("style_modules.style_loss",),
        ("StyleLoss.gram_matrix",),
    ),
    Problem("tv_loss", "Total variation loss", 2.0, ("style_modules/tv_loss.py",), ("style_modules.tv_loss",)),
    Problem(
        "style_transfer",
        "Style transfer",
        3.0,
        ("style_utils.py",),
        ("style_utils",),
        ("ContentLoss", "StyleLoss", "TotalVariationLoss"),
    ),
    Problem("saliency", "Saliency maps", 2.0, ("visualizers/saliency_map.py",), ("visualizers.saliency_map",)),
    Problem("guided_backprop", "Guided backprop", 2.0, ("visualizers/gradcam.py",), ("visualizers.gradcam",)),
    Problem("gradcam", "Grad-CAM", 3.0, ("visualizers/gradcam.py",), ("visualizers.gradcam",)),
    Problem("fooling_image", "Fooling images", 2.0, ("visualizers/fooling_image.py",), ("visualizers.fooling_image",)),
    Problem(
        "class_visualization",
        "Class visualization",
        3.0,
        ("visualizers/class_visualization.py",),
        ("visualizers.class_visualization",),
    ),
    Problem("conv_matrices", "Convolutions as matrices", 3.0, ("conv_matrices.py",), ("conv_matrices",)),
    Problem("answers", "Written answers", 6.0, ("answers.py",), ("answers",)),
)
BY_KEY = {problem.key: problem for problem in PROBLEMS}

# The parts of the course's own code (from reference/) a problem's worker may be
# given, by name: the file each is cut from. Style transfer runs with the
# course's losses, and the style loss is graded with the course's Gram matrix,
# so that each problem is graded apart from the others. A worker gets only the
# parts it needs, compiled alone (autograder.worker.course): the style loss's
# worker holds the Gram matrix and nothing of StyleLoss.forward, which it grades.
COURSE_PARTS = {
    "ContentLoss": "style_modules/content_loss.py",
    "StyleLoss": "style_modules/style_loss.py",
    "StyleLoss.gram_matrix": "style_modules/style_loss.py",
    "TotalVariationLoss": "style_modules/tv_loss.py",
}

# Every problem key of API.md, graded here or not yet.
ALL_PROBLEM_KEYS = (
    "content_loss",
    "gram_matrix",
    "style_loss",
    "tv_loss",
    "style_transfer",
    "saliency",
    "guided_backprop",
    "gradcam",
    "fooling_image",
    "class_visualization",
    "conv_matrices",
    "answers",
)


def select(keys: str | None) -> tuple[Problem, ...]:
    """The problems named in a comma-separated list (all of them for ``None``), in grading order."""
    if keys is None or not keys.strip():
        return PROBLEMS
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in BY_KEY]
    if unknown:
        raise ValueError(f"unknown problem {', '.join(unknown)}; the problems are: {', '.join(BY_KEY)}")
    return tuple(p for p in PROBLEMS if p.key in wanted)
