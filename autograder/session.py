"""One grading run's shared state: the submission tree, the fork server, the limits, the captured output."""

from __future__ import annotations

import time

from autograder.intake import Intake
from autograder.problems import Problem
from autograder.sandbox import CapturedOutput, WorkerHost
from autograder.settings import Limits
from autograder.student import StudentCode


class GradingSession:
    """Starts the fork server and hands each problem its :class:`StudentCode`."""

    def __init__(self, intake: Intake, limits: Limits, server: WorkerHost, device: str = "cpu", case_salt: str = "") -> None:
        self.intake = intake
        self.case_salt = case_salt
        """The course's secret that chooses the generated cases (``autograder.case_salt``); empty: the handout's."""
        self.device = device
        self.limits = limits
        self.output = CapturedOutput(limits.output_bytes)
        self.server = server
        self.deadline = time.monotonic() + float(limits.grading_seconds)

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
            device=self.device,
            deadline=self.deadline,
            notes=self.intake.notes,
        )
