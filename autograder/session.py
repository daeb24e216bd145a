"""One grading run's shared state: the submission tree, the fork server, the limits."""

from __future__ import annotations

from autograder import reference
from autograder.intake import Intake
from autograder.problems import Problem
from autograder.sandbox import CapturedOutput, ForkServer
from autograder.settings import Limits
from autograder.student import StudentCode

# The course's own modules a worker may be given (trusted, loaded before any
# student code): style transfer runs with the course's losses, and the style
# loss is graded with the course's Gram matrix, so each problem is graded
# apart from the others.
COURSE_MODULES = {
    "content_loss": "style_modules/content_loss.py",
    "style_loss": "style_modules/style_loss.py",
    "tv_loss": "style_modules/tv_loss.py",
}


class GradingSession:
    """Starts the fork server and hands each problem its :class:`StudentCode`."""

    def __init__(self, intake: Intake, limits: Limits) -> None:
        self.intake = intake
        self.limits = limits
        self.output = CapturedOutput(limits.output_bytes)
        self.server = ForkServer(course_modules={name: str(reference.source(path)) for name, path in COURSE_MODULES.items()})

    def student_code(self, problem: Problem) -> StudentCode:
        unusable = next((reason for path in problem.files if (reason := self.intake.problem_with(path))), None)
        return StudentCode(
            problem=problem.key,
            modules=problem.modules,
            course=problem.course,
            submission=self.intake.tree,
            unusable=unusable,
            server=self.server,
            limits=self.limits,
            output=self.output,
        )

    def close(self) -> None:
        self.server.close()
