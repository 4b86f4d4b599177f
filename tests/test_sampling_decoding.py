"""Tests for whisper_stream.inference.sampling_decoding (a session's own search), the pure helpers and then the
real tiny.en model decoding with them: beam, n-best, token budget, prefix, the words-a-minute retry."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from tests.speech import SPEECH_DIR, load_16k, manifest, normalize
from tests.test_continuation import Words
from whisper_stream.inference.fallback import TEMPERATURES
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import TRANSLATE, DecodeOptions, Sampling
from whisper_stream.inference.sampling_decoding import (
    at_most,
    generate_kwargs,
    retry_too_few_words,
    start_with_client_prefixes,
    transcribe_kwargs,
    with_beam_results,
)
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

ENGLISH = DecodeOptions(language="en", prompt=None, word_timestamps=False)
SR = 16_000

# --- pure helpers -------------------------------------------------------------------------------------------------


def test_generate_kwargs_default_search_is_the_replicas_beam() -> None:
    assert generate_kwargs(Sampling(), beam_size=5, n_best=False) == {
        "length_penalty": 1.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "beam_size": 5,
        "num_hypotheses": 1,
    }


def test_generate_kwargs_clients_beam_penalties_and_n_best() -> None:
    kwargs = generate_kwargs(Sampling(3, 0.5, 1.2, 2), beam_size=1, n_best=True)
    assert kwargs == {
        "length_penalty": 0.5,
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 2,
        "beam_size": 3,
        "num_hypotheses": 3,
    }


def test_generate_kwargs_a_first_temperature_above_zero_samples() -> None:
    kwargs = generate_kwargs(Sampling(beam_size=4, temperatures=(0.3, 0.6)), beam_size=1, n_best=True)
    assert kwargs["beam_size"] == 1 and kwargs["sampling_topk"] == 0 and kwargs["sampling_temperature"] == 0.3
    assert "num_hypotheses" not in kwargs


def test_at_most() -> None:
    assert at_most([1, 2, 3], 2) == [1, 2]
    assert at_most([1, 2, 3], None) == [1, 2, 3]
    assert at_most(None, 2) is None


def result(text: str, duration_s: float = 1.0) -> TranscriptionResult:
    return TranscriptionResult(text, "en", 0.9, (Segment(text, 0.0, duration_s),))


def test_a_clients_prefix_goes_in_front_of_the_text_a_contexts_does_not() -> None:
    audio = np.zeros(SR, np.float32)
    items = [
        (audio, replace(ENGLISH, prefix="Dear John,")),
        (audio, replace(ENGLISH, prefix="said before", context_samples=100)),
        (audio, ENGLISH),
        (audio, replace(ENGLISH, prefix="Dear John,")),
    ]
    results: list[TranscriptionResult | None] = [result("how are you"), result("new words"), result("x"), None]
    start_with_client_prefixes(results, items)
    assert results[0] == TranscriptionResult(
        "Dear John, how are you", "en", 0.9, (Segment("Dear John, how are you", 0.0, 1.0),)
    )
    assert [r.text if r else None for r in results[1:]] == ["new words", "x", None]


def test_too_few_words_a_minute_is_decoded_again() -> None:
    audio = np.zeros(6 * SR, np.float32)  # 6 s: 10 words a minute is one word
    retrying = replace(ENGLISH, sampling=Sampling(retry_below_wpm=20.0))
    items = [(audio, retrying), (audio, retrying), (audio, ENGLISH), (audio, retrying)]
    results: list[TranscriptionResult | None] = [result("one"), result("one two three"), result("one"), result("")]
    retry_too_few_words(results, items)
    assert [r.text if r else None for r in results] == [None, "one two three", "one", ""]


class FakeTokenizer:
    def encode(self, text: str) -> SimpleNamespace:
        return SimpleNamespace(ids=list(range(len(text.split()))))


def test_transcribe_kwargs_of_the_fallback_path() -> None:
    model = SimpleNamespace(hf_tokenizer=FakeTokenizer(), max_length=448)
    plain = transcribe_kwargs(model, ENGLISH, beam_size=5, final=True)
    assert plain == {
        "task": "transcribe",
        "beam_size": 5,
        "temperature": TEMPERATURES,
        "length_penalty": 1.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "max_new_tokens": 448 - 4,  # no client budget: what fits after the start tokens
        "prefix": None,
    }
    assert transcribe_kwargs(model, ENGLISH, beam_size=5, final=False)["temperature"] == (0.0,)
    options = replace(
        ENGLISH,
        prompt="a b c",
        prefix="d e",
        sampling=Sampling(2, 0.5, 1.1, 3, (0.0, 0.5), 440, TRANSLATE),
    )
    kwargs = transcribe_kwargs(model, options, beam_size=5, final=True)
    assert kwargs["task"] == TRANSLATE and kwargs["beam_size"] == 2 and kwargs["temperature"] == (0.0, 0.5)
    assert kwargs["prefix"] == "d e"
    assert kwargs["max_new_tokens"] == 448 - 4 - (3 + 1) - (2 + 1)  # what the prompt and prefix leave
    with_context = replace(options, context_samples=10)
    assert transcribe_kwargs(model, with_context, beam_size=5, final=True)["prefix"] is None


# --- the real tiny.en model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_16k(SPEECH_DIR / "jfk.flac")


def test_a_clients_beam_and_its_n_best_texts(transcriber: FasterWhisperTranscriber, jfk: np.ndarray) -> None:
    options = replace(ENGLISH, sampling=Sampling(beam_size=3, beam_results=True))
    decoded = transcriber.transcribe(jfk, options, final=True)
    [segment] = decoded.segments
    assert segment.beam_results is not None and len(segment.beam_results) == 3
    assert segment.beam_results[0] == decoded.text
    assert segment.log_prob is not None and segment.log_prob < 0 and not segment.possible_hallucination
    assert "ask not" in normalize(decoded.text)


def test_max_new_tokens_bounds_the_text_and_batches_with_other_budgets(
    transcriber: FasterWhisperTranscriber, jfk: np.ndarray
) -> None:
    short = replace(ENGLISH, sampling=Sampling(max_new_tokens=4))
    cut = transcriber.transcribe(jfk, short, final=False)
    assert 1 <= len(cut.text.split()) <= 4, cut.text
    whole = transcriber.transcribe(jfk, ENGLISH, final=False)
    batch = transcriber.transcribe_batch([(jfk, short), (jfk, ENGLISH)], final=False)
    assert [r.text for r in batch] == [cut.text, whole.text]
    assert whole.text.startswith(cut.text.rstrip(",.")), (cut.text, whole.text)


def test_a_clients_prefix_starts_the_text(transcriber: FasterWhisperTranscriber, jfk: np.ndarray) -> None:
    prefixed = transcriber.transcribe(jfk, replace(ENGLISH, prefix="And so, my fellow Americans,"), final=True)
    assert prefixed.text.startswith("And so, my fellow Americans, ")
    assert "ask not what your country" in normalize(prefixed.text)
    assert normalize(prefixed.text).count("fellow americans") == 1, prefixed.text


def test_too_few_words_decodes_the_final_again(
    transcriber: FasterWhisperTranscriber, jfk: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    full = transcriber._fallback

    def counting(audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        calls.append(audio.size / SR)
        return full(audio, options, final=final)

    monkeypatch.setattr(transcriber, "_fallback", counting)
    transcriber.transcribe(jfk, replace(ENGLISH, sampling=Sampling(retry_below_wpm=60.0)), final=True)
    assert calls == []  # JFK speaks ~120 words a minute
    again = transcriber.transcribe(jfk, replace(ENGLISH, sampling=Sampling(retry_below_wpm=1000.0)), final=True)
    assert calls == [pytest.approx(jfk.size / SR)] and "ask not" in normalize(again.text)


def test_penalties_and_temperatures_decode(transcriber: FasterWhisperTranscriber) -> None:
    clip = manifest("librispeech_clean")[1]
    audio = load_16k(clip.path)
    sampling = Sampling(beam_size=2, length_penalty=0.8, repetition_penalty=1.05, no_repeat_ngram_size=3)
    decoded = transcriber.transcribe(audio, replace(ENGLISH, sampling=sampling), final=True)
    assert len(normalize(decoded.text).split()) >= 5
    sampled = transcriber.transcribe(audio, replace(ENGLISH, sampling=Sampling(temperatures=(0.5,))), final=False)
    assert sampled.text  # sampled, not searched: some text, not a given one


def test_the_n_best_of_a_final_in_context_read_as_its_text_and_a_continued_final_keeps_its_text_only() -> None:
    tokenizer = Words()
    start = tokenizer.timestamp_begin + 250  # the utterance starts 5 s into the window
    options = DecodeOptions(
        "en",
        None,
        False,
        context_samples=5 * SAMPLE_RATE_HZ,
        prefix="my fellow Americans",
        sampling=Sampling(beam_results=True),
    )
    best, other = tokenizer.encode("Americans ask not what"), tokenizer.encode("ask what")
    output = SimpleNamespace(sequences_ids=[[start, *best], [start, *other]])
    result = TranscriptionResult("Ask not what", "en", 0.9, (Segment("Ask not what", 0.0, 3.0, None),))
    kept = with_beam_results(result, tokenizer, output, [start], options, tokens=best, prompted=True)
    assert kept.segments[0].beam_results == ("Ask not what", "Ask what")  # edited as the final's text was
    whole = best + tokenizer.encode("your country can do")  # the rest decoded in a second call
    continued = with_beam_results(result, tokenizer, output, [start], options, tokens=whole, prompted=True)
    assert continued.segments[0].beam_results == ("Ask not what",)
