"""The faster-whisper transcriber with the real bundled tiny.en model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scripts.assemble_multilingual_model import assemble
from tests.multilingual_speech import clips_under_test as multilingual_clips
from tests.multilingual_speech import error_rate
from tests.speech import load_16k, manifest, wer
from whisper_stream.inference.language_choice import SURE_LANGUAGE_PROBABILITY, choose_language, prompt_for
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

ENGLISH = DecodeOptions(language="en", prompt=None, word_timestamps=False)


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def clips() -> list[tuple[np.ndarray, str]]:
    return [(load_16k(u.path), u.reference) for u in manifest("librispeech_clean")[1:4]]


def test_bundled_model_is_tiny_en_int8_on_cpu(transcriber: FasterWhisperTranscriber) -> None:
    assert transcriber.device == "cpu" and transcriber.compute_type == "int8"
    assert not transcriber.is_multilingual and transcriber.supported_languages == {"en"}


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


def test_a_punctuation_loop_in_the_history_does_not_loop_the_next_decode(
    transcriber: FasterWhisperTranscriber, clips: list
) -> None:
    # Seen on the bench stream (prompted, 8 s of context): a final ended in 40 dots, and prompted with it every
    # later decode of the session answered with dots alone, so every later utterance was lost.
    audio, reference = clips[0]
    looped = replace(ENGLISH, history="That thereby beauty's rose might never die." + " ." * 40)
    for final in (True, False):
        text = transcriber.transcribe(audio, looped, final=final).text
        assert wer(reference, text) <= 0.2, text
        assert ". . ." not in text


# ---------------------------------------------------------------- languages (no model)


def probabilities(**by_code: float) -> list[tuple[str, float]]:
    return sorted(by_code.items(), key=lambda item: -item[1])


def test_choose_language_takes_the_likeliest_when_sure() -> None:
    assert choose_language(probabilities(de=0.9, en=0.05, fr=0.05), (), None) == ("de", True)


def test_choose_language_picks_among_the_allowed_renormalised() -> None:
    detected = probabilities(es=0.9, it=0.06, pt=0.03, fr=0.01)
    assert choose_language(detected, ("pt", "it"), None) == ("it", False)  # 0.06 of 0.09: a guess
    assert choose_language(detected, ("it", "fr"), None) == ("it", True)  # 0.06 of 0.07
    assert choose_language(detected, ("xx",), None) == ("es", True)  # none known: all languages


def test_choose_language_keeps_the_previous_language_when_unsure() -> None:
    unsure = probabilities(en=0.5, de=0.3, fr=0.2)
    assert choose_language(unsure, (), "de") == ("de", True)
    assert choose_language(unsure, (), None) == ("en", False)
    assert choose_language(unsure, ("en", "fr"), "de") == ("en", False)  # de is not allowed
    assert choose_language(probabilities(fr=0.95, de=0.05), (), "de") == ("fr", True)  # a sure switch


def test_prompt_is_dropped_only_across_languages() -> None:
    carried = DecodeOptions(None, None, False, prompt_language="de", history="Guten Tag.")
    assert prompt_for(carried, "de") == "Guten Tag."
    assert prompt_for(carried, "fr") is None
    # the client's own prompt (names, a glossary) stays whatever the language
    glossary = replace(carried, prompt="Zoë, Kubernetes.")
    assert prompt_for(glossary, "de") == "Zoë, Kubernetes. Guten Tag."
    assert prompt_for(glossary, "fr") == "Zoë, Kubernetes."
    assert prompt_for(DecodeOptions("fr", "Bonjour.", False), "fr") == "Bonjour."  # no previous final


# ---------------------------------------------------------------- the multilingual model (Whisper base)

AUTO = DecodeOptions(language=None, prompt=None, word_timestamps=False)


@pytest.fixture(scope="module")
def multilingual() -> FasterWhisperTranscriber:
    model_dir = assemble()
    return FasterWhisperTranscriber(resolve_model_source(str(model_dir)), TranscriberOptions(device="cpu"))


@pytest.fixture(scope="module")
def speech() -> dict[str, tuple[np.ndarray, str]]:
    return {c.language: (load_16k(c.path), c.reference) for c in multilingual_clips()}


@pytest.mark.slow
def test_base_detects_each_language_and_transcribes_it(multilingual: FasterWhisperTranscriber, speech: dict) -> None:
    assert multilingual.is_multilingual and {"de", "zh", "yue"} <= multilingual.supported_languages
    # Offline, final, beam 1 (scripts/eval_multilingual.py, 2026-12-01): de 0.143 WER, zh 0.077 CER.
    for language, bound in (("de", 0.25), ("zh", 0.15)):
        audio, reference = speech[language]
        result = multilingual.transcribe(audio, AUTO, final=True)
        assert result.language_code == language
        assert error_rate(language, reference, result.text) <= bound, result.text


@pytest.mark.slow
def test_language_options_restrict_detection(multilingual: FasterWhisperTranscriber, speech: dict) -> None:
    audio, _ = speech["es"]
    # A final: Spanish decoded as German or French is doubtful, so this also runs the fallback path.
    result = multilingual.transcribe(audio, replace(AUTO, language_options=("de", "fr")), final=True)
    assert result.language_code in ("de", "fr") and result.text, result
    only = multilingual.transcribe(audio, replace(AUTO, language_options=("ja",)), final=False)
    assert only.language_code == "ja" and only.text, only  # one language allowed: sure of it


@pytest.mark.slow
def test_a_batch_of_several_languages_decodes_each_in_its_own(
    multilingual: FasterWhisperTranscriber, speech: dict
) -> None:
    items = [(speech[language][0], AUTO) for language in ("fr", "pt", "fr")]
    batch = multilingual.transcribe_batch(items, final=False)
    assert [r.language_code for r in batch] == ["fr", "pt", "fr"]
    assert batch[0].text == batch[2].text == multilingual.transcribe(items[0][0], AUTO, final=False).text


@pytest.mark.slow
def test_a_prompt_in_another_language_is_not_carried(multilingual: FasterWhisperTranscriber, speech: dict) -> None:
    audio, _ = speech["pt"]
    german = "Der hinter diesem Portal liegende Raum wurde als Leichenhalle genutzt. " * 3
    carried = replace(AUTO, history=german, prompt_language="de")
    assert multilingual.transcribe(audio, carried, final=False) == multilingual.transcribe(audio, AUTO, final=False)
    fixed = DecodeOptions("pt", None, False, prompt_language="de", history=german)
    assert (
        multilingual.transcribe(audio, fixed, final=False).text
        == multilingual.transcribe(audio, DecodeOptions("pt", None, False), final=False).text
    )


@pytest.mark.slow
def test_a_partial_too_short_to_know_its_language_has_no_text(
    multilingual: FasterWhisperTranscriber, speech: dict
) -> None:
    start = speech["fr"][0][: 16_000 // 2]  # half a second: detection guesses
    [probabilities] = multilingual.detect_languages([start])
    assert probabilities[0][1] < SURE_LANGUAGE_PROBABILITY, probabilities[:3]
    assert multilingual.transcribe(start, AUTO, final=False).text == ""
    sticky = replace(AUTO, prompt_language="fr")  # the previous final was French: decode in French
    assert multilingual.transcribe(start, sticky, final=False).language_code == "fr"
    assert multilingual.transcribe(start, AUTO, final=True).language_code == probabilities[0][0]


@pytest.mark.slow
def test_english_only_model_decodes_english_whatever_is_asked(transcriber: FasterWhisperTranscriber) -> None:
    audio = load_16k(manifest("librispeech_clean")[1].path)
    result = transcriber.transcribe(audio, replace(AUTO, language_options=("de",), prompt_language="de"), final=True)
    assert result.language_code == "en" and result.text
