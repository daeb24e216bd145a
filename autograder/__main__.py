"""``python -m autograder``: the command line (see :mod:`autograder.cli`), as the console script ``ps3-autograder`` runs it."""

from autograder.cli import run

run()
