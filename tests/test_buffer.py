"""Tests for whisper_stream.core.buffer.SampleBuffer: absolute indexing through growth, trimming and compaction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from whisper_stream.core.buffer import SampleBuffer


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose value is their absolute index, so any misplacement shows."""
    return np.arange(start, start + n, dtype=np.float32)


def test_empty_buffer() -> None:
    buffer = SampleBuffer()
    assert len(buffer) == 0
    assert buffer.start == 0
    assert buffer.end == 0
    assert buffer.view(0, 0).size == 0


def test_append_and_view() -> None:
    buffer = SampleBuffer(initial_capacity=8)
    buffer.append(ramp(0, 5))
    buffer.append(ramp(5, 3))
    assert len(buffer) == 8
    assert buffer.end == 8
    np.testing.assert_array_equal(buffer.view(0, 8), ramp(0, 8))
    np.testing.assert_array_equal(buffer.view(2, 6), ramp(2, 4))
    assert buffer.view(3, 3).size == 0


def test_view_dtype_is_float32_even_for_float64_input() -> None:
    buffer = SampleBuffer(initial_capacity=4)
    buffer.append(np.array([0.5, -0.25], dtype=np.float64))
    out = buffer.view(0, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.5, -0.25])


def test_view_shares_memory_copy_does_not() -> None:
    buffer = SampleBuffer(initial_capacity=8)
    buffer.append(ramp(0, 4))
    view = buffer.view(0, 4)
    copy = buffer.copy(0, 4)
    assert not np.shares_memory(view, copy)
    copy[0] = 99.0
    assert buffer.view(0, 1)[0] == 0.0
    np.testing.assert_array_equal(view, ramp(0, 4))


def test_copy_survives_later_appends() -> None:
    buffer = SampleBuffer(initial_capacity=4)
    buffer.append(ramp(0, 4))
    copy = buffer.copy(1, 3)
    buffer.append(ramp(4, 100))  # forces a reallocation
    np.testing.assert_array_equal(copy, [1.0, 2.0])
    np.testing.assert_array_equal(buffer.view(0, 104), ramp(0, 104))


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (0, 6), (3, 2), (5, 6), (6, 6)])
def test_view_out_of_range(start: int, end: int) -> None:
    buffer = SampleBuffer(initial_capacity=8)
    buffer.append(ramp(0, 5))
    with pytest.raises(IndexError, match=r"outside the buffer \[0, 5\)"):
        buffer.view(start, end)
    with pytest.raises(IndexError):
        buffer.copy(start, end)


def test_drop_before_keeps_absolute_indexes() -> None:
    buffer = SampleBuffer(initial_capacity=16)
    buffer.append(ramp(0, 10))
    buffer.drop_before(4)
    assert buffer.start == 4
    assert buffer.end == 10
    assert len(buffer) == 6
    np.testing.assert_array_equal(buffer.view(4, 10), ramp(4, 6))
    with pytest.raises(IndexError):
        buffer.view(3, 5)
    buffer.append(ramp(10, 3))
    np.testing.assert_array_equal(buffer.view(4, 13), ramp(4, 9))


def test_drop_before_earlier_position_is_noop() -> None:
    buffer = SampleBuffer(initial_capacity=16)
    buffer.append(ramp(0, 10))
    buffer.drop_before(6)
    buffer.drop_before(2)
    buffer.drop_before(-5)
    assert (buffer.start, buffer.end) == (6, 10)


def test_drop_before_past_end_empties_and_keeps_counting() -> None:
    buffer = SampleBuffer(initial_capacity=16)
    buffer.append(ramp(0, 10))
    buffer.drop_before(25)
    assert len(buffer) == 0
    # Absolute indexes count samples appended, so the next one is number 10.
    assert (buffer.start, buffer.end) == (10, 10)
    buffer.append(ramp(10, 2))
    np.testing.assert_array_equal(buffer.view(10, 12), [10.0, 11.0])


def test_growth_preserves_contents() -> None:
    buffer = SampleBuffer(initial_capacity=4)
    total = 0
    for n in (3, 1, 7, 20, 1, 100, 0, 5):
        buffer.append(ramp(total, n))
        total += n
        np.testing.assert_array_equal(buffer.view(0, total), ramp(0, total))
    assert len(buffer) == total == buffer.end


def test_single_append_larger_than_double_capacity() -> None:
    buffer = SampleBuffer(initial_capacity=2)
    buffer.append(ramp(0, 1000))
    np.testing.assert_array_equal(buffer.view(0, 1000), ramp(0, 1000))


def test_zero_initial_capacity() -> None:
    buffer = SampleBuffer(initial_capacity=0)
    buffer.append(ramp(0, 0))
    buffer.append(ramp(0, 3))
    np.testing.assert_array_equal(buffer.view(0, 3), ramp(0, 3))


def test_compaction_reuses_storage_and_keeps_indexes() -> None:
    buffer = SampleBuffer(initial_capacity=16)
    buffer.append(ramp(0, 14))
    buffer.drop_before(12)  # 2 samples left, head near the end of storage
    storage = buffer._data
    buffer.append(ramp(14, 4))  # does not fit after head; fits after compaction
    assert buffer._data is storage, "expected compaction in place, not growth"
    np.testing.assert_array_equal(buffer.view(12, 18), ramp(12, 6))


def test_sliding_window_stays_bounded() -> None:
    """A streaming pattern: append frames, keep the last second; storage must not grow without bound."""
    buffer = SampleBuffer(initial_capacity=1600)
    frame = 512
    for i in range(2000):
        buffer.append(ramp(i * frame, frame))
        buffer.drop_before(buffer.end - 16000)
    assert buffer.end == 2000 * frame
    np.testing.assert_array_equal(buffer.view(buffer.start, buffer.end), ramp(buffer.start, 16000))
    assert buffer._data.size <= 4 * 16000


class SampleBufferMachine(RuleBasedStateMachine):
    """Random appends, drops and reads checked against a plain list of (index, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = SampleBuffer(initial_capacity=4)
        self.model: list[float] = []  # every sample ever appended
        self.start = 0
        self.views: list[tuple[int, np.ndarray]] = []

    @rule(n=st.integers(0, 40), seed=st.integers(0, 1000))
    def append(self, n: int, seed: int) -> None:
        samples = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
        self.buffer.append(samples)
        self.model.extend(samples.tolist())

    @rule(delta=st.integers(-10, 60))
    def drop_before(self, delta: int) -> None:
        position = self.start + delta
        self.buffer.drop_before(position)
        self.start = min(max(position, self.start), len(self.model))

    @precondition(lambda self: len(self.model) > self.start)
    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        a = data.draw(st.integers(self.start, len(self.model)))
        b = data.draw(st.integers(a, len(self.model)))
        np.testing.assert_array_equal(self.buffer.view(a, b), np.array(self.model[a:b], dtype=np.float32))
        np.testing.assert_array_equal(self.buffer.copy(a, b), np.array(self.model[a:b], dtype=np.float32))

    @rule(data=st.data())
    def read_out_of_range(self, data: st.DataObject) -> None:
        a = data.draw(st.integers(self.start - 5, self.start - 1))
        with pytest.raises(IndexError):
            self.buffer.view(a, len(self.model))
        with pytest.raises(IndexError):
            self.buffer.view(self.start, len(self.model) + 1)

    @invariant()
    def bounds_match(self) -> None:
        assert self.buffer.start == self.start
        assert self.buffer.end == len(self.model)
        assert len(self.buffer) == len(self.model) - self.start

    @invariant()
    def contents_match(self) -> None:
        held = self.buffer.view(self.buffer.start, self.buffer.end)
        np.testing.assert_array_equal(held, np.array(self.model[self.start :], dtype=np.float32))


SampleBufferMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, derandomize=True, database=None
)
TestSampleBufferMachine = SampleBufferMachine.TestCase
