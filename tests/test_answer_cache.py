"""The grader's cache of the reference's answers (known_answers.AnswerCache): same answers, computed once."""

from __future__ import annotations

import torch

from autograder.known_answers import AnswerCache, digest


def test_an_answer_is_computed_once_and_given_as_a_copy() -> None:
    cache, calls = AnswerCache(1 << 20), []

    def run() -> tuple[torch.Tensor, float]:
        calls.append(1)
        return torch.ones(3), 2.0

    first = cache.answer("f", ((torch.zeros(2),), {}), run)
    first[0].add_(5)  # a caller that changes its answer changes no one else's
    second = cache.answer("f", ((torch.zeros(2),), {}), run)
    assert len(calls) == 1 and torch.equal(second[0], torch.ones(3)) and second[1] == 2.0
    cache.answer("f", ((torch.ones(2),), {}), run)
    cache.answer("g", ((torch.zeros(2),), {}), run)
    assert len(calls) == 3, "other arguments, or another function, are other questions"


def test_the_cache_keeps_at_most_its_limit_dropping_the_least_recently_used() -> None:
    cache = AnswerCache(3 * 4 * 10)  # three answers of ten float32 values
    for key in range(4):
        cache.answer("f", ((key,), {}), lambda: torch.zeros(10))
    assert cache.bytes <= cache.limit and len(cache.entries) == 3
    assert ("f", digest(((0,), {}))) not in cache.entries, "the first answer, least recently used, went first"
    assert ("f", digest(((3,), {}))) in cache.entries


def test_what_cannot_be_kept_is_computed_every_time() -> None:
    cache, calls = AnswerCache(1 << 20), []

    def graph() -> torch.Tensor:
        calls.append(1)
        return torch.ones(2, requires_grad=True) * 2

    cache.answer("f", ((object(),), {}), lambda: calls.append(1))  # an argument with no digest
    cache.answer("g", ((), {}), graph)
    cache.answer("g", ((), {}), graph)
    assert len(calls) == 3
