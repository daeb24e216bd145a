"""Autograder for CS4803/7643 Problem Set 3 ("Uses of Gradients With Respect to Input").

``python -m autograder grade SUBMISSION --results PATH`` grades a submission
and writes Gradescope's ``results.json``. This package must stay light to
import: the worker processes import ``autograder.worker`` through it.
"""
