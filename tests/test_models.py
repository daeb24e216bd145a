"""The models both sides build: torchvision's SqueezeNet 1.1 layout, and weights that depend on the seed alone."""

from __future__ import annotations

import torch

from autograder.worker.models import Fire, build_model

# torchvision.models.squeezenet1_1().state_dict(): the Fire modules sit at these indices of `features`.
FIRE_INDICES = (3, 4, 6, 7, 9, 10, 11, 12)


def test_squeezenet_has_torchvisions_state_dict_keys_and_shapes() -> None:
    state = build_model("squeezenet1_1", 0).state_dict()
    expected = {"features.0.weight", "features.0.bias", "classifier.1.weight", "classifier.1.bias"}
    for index in FIRE_INDICES:
        for part in ("squeeze", "expand1x1", "expand3x3"):
            expected |= {f"features.{index}.{part}.weight", f"features.{index}.{part}.bias"}
    assert set(state) == expected
    assert tuple(state["features.0.weight"].shape) == (64, 3, 3, 3)
    assert tuple(state["features.12.expand3x3.weight"].shape) == (256, 64, 3, 3)
    assert tuple(state["classifier.1.weight"].shape) == (1000, 512, 1, 1)
    model = build_model("squeezenet1_1", 0)
    assert isinstance(model.features[12], Fire)  # type: ignore[index]
    other = build_model("squeezenet1_1", 1)
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), state.values(), strict=True))


def test_weights_depend_on_the_seed_only_and_leave_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first, again, other = (build_model("tiny_cnn", seed, torch.float64) for seed in (5, 5, 6))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), other.parameters(), strict=True))
    assert all(p.dtype == torch.float64 and not p.requires_grad for p in first.parameters())
    assert all(p.requires_grad for p in build_model("squeezenet1_1", 0, frozen=False).parameters())
    assert not build_model("squeezenet1_1", 0).training
