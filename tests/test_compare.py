"""The comparisons and the messages they write (autograder/compare.py), one helper at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.compare import (
    as_scalar,
    as_tensor,
    expect,
    expect_close,
    expect_gradients,
    expect_matrix,
    format_values,
    kind_of,
    precision_note,
    proportional_factor,
    tolerance,
)
from autograder.failures import PropertyFailed, WrongResultType
from autograder.student import Reply
from autograder.worker.wire import Opaque


def failure(function: object, *args: object, **kwargs: object) -> str:
    """The message of the PropertyFailed that ``function(*args, **kwargs)`` raises."""
    with pytest.raises(PropertyFailed) as raised:
        function(*args, **kwargs)  # type: ignore[operator]
    return str(raised.value)


def test_as_tensor_accepts_tensors_and_numbers_where_scalar_and_names_everything_else() -> None:
    tensor = torch.ones(2)
    assert as_tensor(tensor, "f") is tensor
    assert as_tensor(3, "f", scalar=True).dtype == torch.float64
    with pytest.raises(WrongResultType, match=r"returned None\. Did you forget a return statement"):
        as_tensor(None, "f")
    with pytest.raises(WrongResultType, match="returned a list; expected a tensor or a numpy array"):
        as_tensor([1.0], "f")
    with pytest.raises(WrongResultType, match=r"returned a bool; expected a tensor \(a 0-d tensor, or a number\)"):
        as_tensor(True, "f", scalar=True)


def test_as_scalar_takes_one_number_and_refuses_several() -> None:
    assert as_scalar(torch.tensor([[2.5]], dtype=torch.float32), "f").shape == ()
    assert as_scalar(3, "f").dtype == torch.float64
    assert "expected a single number (a 0-d tensor), received shape (3,)" in failure(as_scalar, torch.ones(3), "f")
    assert "expected a real floating-point value, received dtype torch.bool" in failure(as_scalar, torch.tensor(True), "f")


def test_kind_of_says_what_a_value_is() -> None:
    assert kind_of([]) == "a list"
    assert kind_of(1) == "an int"
    assert kind_of(None) == "None"
    assert kind_of(Opaque("fractions.Fraction")) == "an object of type fractions.Fraction"


def test_tolerance_follows_the_expected_dtype_never_tighter_than_float32() -> None:
    assert tolerance(torch.float32) == (2e-4, 2e-5)
    assert tolerance(torch.float64) == tolerance(torch.float32)
    assert tolerance(torch.bfloat16) == (4e-2, 4e-3)
    assert tolerance(torch.int64) == tolerance(torch.float32)


def test_a_result_in_bfloat16_is_held_to_the_inputs_precision_and_told_it_lost_precision() -> None:
    expected = torch.tensor(1.0)
    received = torch.tensor(1.03, dtype=torch.bfloat16)
    message = failure(expect_close, received, expected, what="the loss", scalar=True)
    assert "rtol=0.0002" in message
    assert "Your result is bfloat16, less precise than the float32" in message
    # The same relative error in float32 fails too, without the note.
    assert "less precise" not in failure(expect_close, torch.tensor(1.03), expected, what="the loss", scalar=True)
    # Close enough in bfloat16 is accepted as it is.
    expect_close(torch.tensor(1.0, dtype=torch.bfloat16), expected, what="the loss", scalar=True)


def test_precision_note_only_for_dtypes_coarser_than_the_comparison() -> None:
    assert precision_note(torch.float16, torch.float32) is not None
    assert precision_note(torch.float32, torch.float64) is None  # float32 is always accepted
    assert precision_note(torch.float64, torch.float32) is None
    assert precision_note(torch.int64, torch.float32) is None


def test_a_generated_mismatch_shows_expected_and_received() -> None:
    message = failure(
        expect_close, torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 2.0, 3.0]), what="f(x)", inputs={"x": torch.ones(2)}
    )
    assert message.startswith("f(x): 1 of 3 values differ from the expected ones.")
    assert "Largest absolute difference: 1 at index (2,) (expected 3, received 4)" in message
    assert "Largest relative difference: 0.333 (allowed: rtol=0.0002" in message
    assert "Expected:\n[1. 2. 3.]\nReceived:\n[1. 2. 4.]" in message
    assert "The inputs were:\nx =\n[1. 1.]" in message


def test_a_scalar_mismatch_says_both_values() -> None:
    message = failure(expect_close, 2.0, torch.tensor(1.5, dtype=torch.float64), what="loss", scalar=True)
    assert message.startswith("loss: expected 1.5, received 2.")


def test_a_fixed_input_mismatch_says_how_far_off_and_never_the_expected_value() -> None:
    expected = torch.tensor(24041.287)
    message = failure(
        expect_close, torch.tensor(0.0), expected, what="the course's loss", scalar=True, fixed=True, hint="Check it."
    )
    assert message == "the course's loss: your value is 0 (the expected value is not) (allowed: rtol=0.0002).\nCheck it."
    too_large = failure(expect_close, expected * 1.03, expected, what="loss", scalar=True, fixed=True)
    assert "about 3% too large" in too_large and "24041" not in too_large
    assert "about 4 times too small" in failure(expect_close, expected / 4, expected, what="loss", scalar=True, fixed=True)
    # One digit only: the received value divided by the ratio must not give the expected value back.
    assert "about 0.2% too small" in failure(expect_close, expected * 0.99833, expected, what="loss", scalar=True, fixed=True)
    assert "of the wrong sign" in failure(expect_close, -expected, expected, what="loss", scalar=True, fixed=True)
    assert "not 0 (the expected value is 0)" in failure(
        expect_close, torch.tensor(1.0), torch.tensor(0.0), what="loss", scalar=True, fixed=True
    )


def test_a_fixed_input_mismatch_of_a_tensor_names_where_and_the_norm_ratio() -> None:
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    received = expected.clone()
    received[1, 0] = 6.0
    message = failure(expect_close, received, expected, what="maps", fixed=True)
    assert message.splitlines() == [
        "maps: 1 of 4 values differ from the expected ones.",
        "The largest relative difference is at index (1, 0), where your value is about 2 times too large (allowed: rtol=0.0002).",
        "In norm, your result is about 1 times the expected one.",
    ]
    nonfinite = received.clone()
    nonfinite[0, 0] = float("nan")
    message = failure(expect_close, nonfinite, expected, what="maps", fixed=True)
    assert "where a finite value was expected" in message and "1.0" not in message.split("where")[1]


def test_shape_type_and_finiteness_are_checked_before_values() -> None:
    assert "expected shape (2,), received shape (3,)" in failure(expect_close, torch.ones(3), torch.ones(2), what="f")
    assert "expected a single number (a 0-d tensor), received shape (2,)" in failure(
        expect_close, torch.ones(2), torch.tensor(1.0), what="f", scalar=True
    )
    assert "expected real floating-point values, received dtype torch.bool" in failure(
        expect_close, torch.ones(2, dtype=torch.bool), torch.ones(2), what="f"
    )
    assert "received inf at index (1,), where 2 was expected (1 of 2 values are NaN or infinite)" in failure(
        expect_close, torch.tensor([1.0, float("inf")]), torch.tensor([1.0, 2.0]), what="f"
    )


def test_all_zero_expectations_say_so() -> None:
    assert "The expected values are all 0, and so must yours be." in failure(
        expect_close, torch.tensor([0.0, 1e-3]), torch.zeros(2), what="f"
    )


def test_expect_matrix_names_the_first_differing_row_and_entry() -> None:
    expected = torch.eye(3)
    received = expected.clone()
    received[1, 2] = 5.0
    message = failure(
        expect_matrix,
        received,
        expected,
        what="A",
        row_label=lambda row: f" (output {row})",
        column_label=lambda column: f" (input {column})",
    )
    assert message.startswith(
        "A: 1 of 9 entries differ. The first is in row 1 (output 1), column 2 (input 2): expected 0, received 5."
    )
    assert "Expected row 1:\n[0. 1. 0.]\nReceived row 1:\n[0. 1. 5.]" in message


def test_proportional_factor_finds_one_positive_factor_or_none() -> None:
    expected = torch.tensor([[1.0, 2.0], [0.0, 4.0]], dtype=torch.float64)
    assert proportional_factor(expected / 3, expected) == pytest.approx(1 / 3)
    assert proportional_factor(expected, expected) == pytest.approx(1.0)
    assert proportional_factor(-expected, expected) is None
    assert proportional_factor(torch.ones(2, 2), expected) is None
    assert proportional_factor(torch.zeros(2, 2), expected) is None
    assert proportional_factor(expected, torch.zeros(2, 2)) is None
    assert proportional_factor(expected[0], expected) is None


def test_format_values_shows_all_values_up_to_the_limit_and_the_ends_beyond() -> None:
    assert format_values(torch.tensor([1.0, 2.5])) == "[1.  2.5]"
    assert "..." in format_values(torch.arange(100.0))


def test_expect_gradients_accepts_an_unconnected_result_only_when_every_gradient_is_zero() -> None:
    unconnected = Reply(value=torch.tensor(0.0), not_differentiable="it was detached")
    expect_gradients(unconnected, [torch.zeros(3)], what="loss", names=["x"])
    assert "loss is not differentiable: it was detached" in failure(
        expect_gradients, unconnected, [torch.ones(3)], what="loss", names=["x"]
    )
    reply = Reply(value=torch.tensor(1.0), grads=[torch.tensor([1.0, 2.0])])
    assert "The gradient of loss with respect to x" in failure(
        expect_gradients, reply, [torch.tensor([1.0, 3.0])], what="loss", names=["x"]
    )


def test_expect_fails_with_the_message_given() -> None:
    expect(True, "never shown")
    assert failure(expect, False, "the maps are negative") == "the maps are negative"


def test_numpy_results_are_compared_like_tensors() -> None:
    expect_close(torch.from_numpy(np.array([1.0, 2.0])), torch.tensor([1.0, 2.0]), what="f")
