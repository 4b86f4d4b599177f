"""Tests for bench/diarization.py's scoring: the best label mapping and the mislabelled time."""

from __future__ import annotations

import numpy as np

from bench.diarization import NO_SPEAKER, Score, Stream, Utterance, best_mapping_overlap, score


def test_best_mapping_is_one_to_one_either_way_round() -> None:
    assert best_mapping_overlap(np.array([[5, 1], [4, 3]])) == 8  # not 5 + 4: one label per speaker
    assert best_mapping_overlap(np.array([[5, 4, 0]])) == 5
    assert best_mapping_overlap(np.array([[0, 3], [3, 0], [2, 2]])) == 6


def _utterance(start: int, end: int) -> Utterance:
    return Utterance(start, end, np.ones(2), 0.0)


def test_score_counts_mislabelled_missed_and_false_alarm_samples() -> None:
    truth = np.array([NO_SPEAKER] * 2 + [0] * 4 + [NO_SPEAKER] * 2 + [1] * 4 + [0] * 4)
    stream = Stream(np.zeros(truth.size, dtype=np.float32), truth, speakers=2)
    # utterance 1 covers one pause sample and speaker 0; utterance 2 misses one sample of speaker 1 and runs
    # on into speaker 0, labelled with utterance 1's label: those 4 samples are mislabelled
    found = [_utterance(1, 6), _utterance(9, 16)]
    total = Score()
    score(stream, found, [1, 0], total)
    assert (total.labelled_samples, total.mislabelled_samples) == (11, 4)
    assert (total.missed_samples, total.false_alarm_samples) == (1, 1)
    assert (total.speakers_found, total.speakers_true, total.exact_count_streams) == (2, 2, 1)
    assert total.count_errors == 0 and total.cost() == 4 / 11
    score(stream, found, [0, 1], total)  # the same stream again, labels swapped: two speakers still
    score(stream, found[:1], [0], total)  # and once with one speaker found of two
    assert (total.count_errors, total.exact_count_streams) == (1, 2)
