"""``python -m autograder``: the command line (see :mod:`autograder.cli`)."""

import os
import sys

from autograder.cli import main

code = main()
# Everything is written and flushed by now: skip the interpreter's teardown,
# which takes about a second once torch is loaded.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
