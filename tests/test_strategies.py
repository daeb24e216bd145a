"""The graded suites' generated inputs: made again, the same, with any torch or numpy."""

from __future__ import annotations

import numpy as np
import torch

from autograder.strategies import seeded


def test_seeded_tensors_are_the_numbers_numpys_legacy_generator_keeps() -> None:
    """Drawn on 2026-12-01 with numpy 2.4.6; RandomState's numbers stay the same in every numpy release (NEP 19).

    The handout's check (issue 11) remakes a case's inputs where the student works, with other versions.
    """
    assert seeded((2, 3), torch.float64, 5, salt=1).tolist() == [
        [-0.48928741256665903, -0.7709517265863789, -0.16183160033892013],
        [0.0348193195087245, 1.2747793416301798, 0.5867560149333989],
    ]
    assert seeded((3,), torch.float64, 2**20, salt=107, scale=10.0).tolist() == [
        -0.9582399384608244,
        9.39659288593237,
        -1.8056237939093311,
    ]


def test_seeded_tensors_depend_on_the_seed_and_the_salt_and_take_the_dtype() -> None:
    first = seeded((4, 5), torch.float32, 3)
    assert first.dtype == torch.float32 and first.shape == (4, 5)
    assert torch.equal(first, seeded((4, 5), torch.float32, 3))
    assert not torch.equal(first, seeded((4, 5), torch.float32, 4))
    assert not torch.equal(first, seeded((4, 5), torch.float32, 3, salt=1))
    assert seeded((), torch.float64, 3).shape == ()
    assert np.isfinite(seeded((2, 0, 3), torch.float64, 1).numpy()).all()
