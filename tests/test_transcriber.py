"""The faster-whisper transcriber with the real bundled tiny.en model."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speech import load_16k, manifest, wer
from whisper_stream.decode_requests import DecodeOptions
from whisper_stream.model_source import resolve_model_source
from whisper_stream.transcriber import FasterWhisperTranscriber, TranscriberOptions

ENGLISH = DecodeOptions(language="en", prompt=None, word_timestamps=False)


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def clips() -> list[tuple[np.ndarray, str]]:
    return [(load_16k(u.path), u.reference) for u in manifest("librispeech_clean")[1:4]]


def test_bundled_model_is_tiny_en_int8_on_cpu(transcriber: FasterWhisperTranscriber) -> None:
    assert transcriber.device == "cpu" and transcriber.compute_type == "int8"
    assert not transcriber.is_multilingual


def test_final_transcribes_real_speech(transcriber: FasterWhisperTranscriber, clips: list) -> None:
    for audio, reference in clips:
        result = transcriber.transcribe(audio, ENGLISH, final=True)
        assert wer(reference, result.text) <= 0.2, result.text
        assert result.language_code == "en" and 0.3 < result.confidence <= 1.0
        assert result.segments and result.segments[-1].end_s <= audio.size / 16_000 + 1e-6


def test_word_timestamps_on_request(transcriber: FasterWhisperTranscriber, clips: list) -> None:
    audio, _ = clips[0]
    result = transcriber.transcribe(audio, DecodeOptions("en", None, True), final=True)
    words = [w for s in result.segments for w in (s.words or ())]
    assert len(words) >= 5
    assert all(0 <= w.start_s <= w.end_s <= audio.size / 16_000 + 0.5 for w in words)
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)


def test_batch_gives_the_same_text_as_one_by_one(transcriber: FasterWhisperTranscriber, clips: list) -> None:
    items = [(audio, ENGLISH) for audio, _ in clips]
    batch = transcriber.transcribe_batch(items, final=False)
    single = [transcriber.transcribe(audio, ENGLISH, final=False) for audio, _ in clips]
    assert [r.text for r in batch] == [r.text for r in single]


def test_silence_and_noise_give_no_words(transcriber: FasterWhisperTranscriber) -> None:
    noise = (0.003 * np.random.default_rng(1).standard_normal(3 * 16_000)).astype(np.float32)
    for audio in (np.zeros(2 * 16_000, np.float32), noise):
        assert transcriber.transcribe(audio, ENGLISH, final=True).text == ""
