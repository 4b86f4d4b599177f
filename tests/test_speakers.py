"""Tests for whisper_stream.core.speakers: online speaker clustering on scripted embeddings, no model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisper_stream.core.speakers import DEFAULT_THRESHOLD, OnlineSpeakers

LONG_S = 3.0
SHORT_S = 0.4


def _voice(index: int, dimension: int = 16) -> np.ndarray:
    """Orthogonal unit vectors: different voices have cosine similarity 0."""
    vector = np.zeros(dimension)
    vector[index] = 1.0
    return vector


def _near(voice: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """``voice`` pulled towards ``other``: cosine to ``voice`` falls as ``weight`` grows."""
    mixed = (1.0 - weight) * voice + weight * other
    return mixed / np.linalg.norm(mixed)


def test_first_utterance_opens_speaker_zero_with_full_confidence() -> None:
    speakers = OnlineSpeakers()
    first = speakers.assign(_voice(0), duration_s=LONG_S)
    assert (first.speaker, first.new_speaker, first.confidence) == ("0", True, 1.0)
    assert speakers.speaker_count == 1


def test_labels_follow_the_order_speakers_are_first_heard_and_stay() -> None:
    speakers = OnlineSpeakers()
    turns = [0, 1, 0, 2, 1, 2, 0]
    labels = [speakers.assign(_voice(v) * 3.0, duration_s=LONG_S).speaker for v in turns]  # any norm
    assert labels == ["0", "1", "0", "2", "1", "2", "0"]


def test_similar_enough_joins_below_the_threshold_opens() -> None:
    speakers = OnlineSpeakers(threshold=0.6)
    speakers.assign(_voice(0), duration_s=LONG_S)
    joined = speakers.assign(_near(_voice(0), _voice(1), 0.3), duration_s=LONG_S)  # cosine ~0.92
    assert (joined.speaker, joined.new_speaker) == ("0", False)
    assert joined.similarity == pytest.approx(0.919, abs=1e-3) and joined.confidence > 0.5
    opened = speakers.assign(_near(_voice(0), _voice(1), 0.8), duration_s=LONG_S)  # ~0.43 to the centroid
    assert (opened.speaker, opened.new_speaker) == ("1", True) and opened.confidence > 0.5


def test_centroid_moves_with_long_utterances_only() -> None:
    long_speakers = OnlineSpeakers(threshold=0.5)
    short_speakers = OnlineSpeakers(threshold=0.5)
    drifting = _near(_voice(0), _voice(1), 0.4)
    for speakers, duration_s in ((long_speakers, LONG_S), (short_speakers, SHORT_S)):
        speakers.assign(_voice(0), duration_s=LONG_S)
        for _ in range(5):
            speakers.assign(drifting, duration_s=duration_s)
    probe = _voice(1)
    # long utterances pulled the centroid towards voice 1; short ones left it on voice 0
    moved = long_speakers.assign(probe, duration_s=SHORT_S).similarity
    unmoved = short_speakers.assign(probe, duration_s=SHORT_S).similarity
    assert moved > 0.3 and unmoved == pytest.approx(0.0, abs=1e-9)


def test_a_short_utterance_never_opens_a_speaker_and_is_less_sure() -> None:
    speakers = OnlineSpeakers()
    speakers.assign(_voice(0), duration_s=LONG_S)
    short = speakers.assign(_voice(1), duration_s=SHORT_S)
    assert (short.speaker, short.new_speaker, speakers.speaker_count) == ("0", False, 1)
    assert short.confidence < 0.5
    assert speakers.assign(_voice(1), duration_s=LONG_S).speaker == "1"


def test_a_short_first_utterance_is_only_a_seed_replaced_by_the_first_long_one() -> None:
    speakers = OnlineSpeakers(threshold=0.5)
    seed = _near(_voice(0), _voice(1), 0.45)  # ~0.67 to voice 0
    assert speakers.assign(seed, duration_s=SHORT_S).speaker == "0"
    speakers.assign(_voice(0), duration_s=LONG_S)  # joins the seed and replaces it
    assert speakers.assign(_voice(0), duration_s=SHORT_S).similarity == pytest.approx(1.0)


def test_max_speakers_bound_forces_the_nearest_without_moving_it() -> None:
    speakers = OnlineSpeakers(max_speakers=2)
    speakers.assign(_voice(0), duration_s=LONG_S)
    speakers.assign(_voice(1), duration_s=LONG_S)
    third = _near(_voice(2), _voice(1), 0.3)
    forced = speakers.assign(third, duration_s=LONG_S)
    assert (forced.speaker, forced.new_speaker, speakers.speaker_count) == ("1", False, 2)
    assert forced.confidence < 0.5
    assert speakers.assign(_voice(1), duration_s=LONG_S).similarity == pytest.approx(1.0)  # not moved


def test_two_close_centroids_make_a_join_less_sure() -> None:
    speakers = OnlineSpeakers(threshold=0.3)
    speakers.assign(_voice(0), duration_s=LONG_S)
    speakers.assign(_voice(1), duration_s=LONG_S)
    clear = speakers.assign(_near(_voice(0), _voice(1), 0.1), duration_s=SHORT_S)
    between = speakers.assign(_near(_voice(0), _voice(1), 0.45), duration_s=SHORT_S)
    assert clear.speaker == between.speaker == "0"
    assert clear.confidence > between.confidence > 0.5


def test_bad_settings_and_embeddings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        OnlineSpeakers(threshold=1.0)
    with pytest.raises(ValueError, match="max_speakers"):
        OnlineSpeakers(max_speakers=0)
    with pytest.raises(ValueError, match="non-zero"):
        OnlineSpeakers().assign(np.zeros(4), duration_s=LONG_S)
    with pytest.raises(ValueError, match="finite"):
        OnlineSpeakers().assign(np.array([np.nan, 1.0]), duration_s=LONG_S)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.floats(0.0, 0.4), st.floats(0.1, 10.0)), min_size=1, max_size=30),
    st.integers(1, 4),
)
def test_labels_are_dense_bounded_and_confidences_in_range(
    script: list[tuple[int, float, float]], max_speakers: int
) -> None:
    speakers = OnlineSpeakers(threshold=DEFAULT_THRESHOLD, max_speakers=max_speakers)
    seen: list[str] = []
    for voice, noise, duration_s in script:
        assignment = speakers.assign(_near(_voice(voice), _voice(7), noise), duration_s=duration_s)
        assert 0.0 <= assignment.confidence <= 1.0
        if assignment.new_speaker:
            assert assignment.speaker == str(len(seen))
            seen.append(assignment.speaker)
        assert assignment.speaker in seen
    assert speakers.speaker_count == len(seen) <= max_speakers
