"""Finals in context and word timestamps, with the real tiny.en on real speech.

The boundary property: cut a clip at any pause, give the words the model heard before the cut as the
context's words, and the decode in context must give the words after it: none repeated, none dropped. In the
forced form (the words forced as the decoder's prefix) greedy decoding makes this exact: given its own first
words, the decoder continues as it would have. In the prompted form (the words as the prompt, the decode
starting at the cut's timestamp) the decoder hears the words after the cut afresh, and may hear some of them
differently: it must start with the word after the cut.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.audio import build_stream, load_clips
from bench.finals_wer import per_utterance, replay
from scripts.assemble_multilingual_model import assemble
from tests.speech import SPEECH_DIR, load_16k, normalize
from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.inference.context_decoding import ContextForm, continues
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions
from whisper_stream.protocol.results import TranscriptionResult, Word

SR = 16_000
CLIPS = (
    "jfk.flac",
    "librispeech_test_other/1688-142285-0000.flac",
    "librispeech_test_other/1688-142285-0001.flac",
)
PAUSE_S = 0.15
"""A run of quiet 10 ms frames at least this long between words is a pause: a cut point."""


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(""), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def whole_clips(transcriber: FasterWhisperTranscriber) -> dict[str, TranscriptionResult]:
    """Each clip decoded whole, with its words' times: no context, so the same for either context form.

    Filled by the first test that asks for a clip (with beam 1, the module's transcriber options).
    """
    return {}


def words_of(result: TranscriptionResult) -> list[Word]:
    return [w for s in result.segments for w in (s.words or ())]


def text_before(text: str, words: list[Word]) -> str:
    """The start of ``text`` that holds ``words`` (aligned words are the text without its spaces)."""
    remaining = sum(len(w.word) for w in words)
    for index, char in enumerate(text):
        if remaining == 0:
            return text[:index].strip()
        remaining -= char != " "
    return text


def pause_cuts(audio: np.ndarray) -> list[int]:
    """The middle of every pause inside the speech: quiet frames 12 dB over the noise floor at most."""
    frame = SR // 100
    frames = audio[: audio.size // frame * frame].reshape(-1, frame).astype(np.float64)
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = level_db > max(float(np.percentile(level_db, 10)) + 12.0, float(level_db.max()) - 40.0)
    first, last = np.flatnonzero(loud)[[0, -1]]
    cuts, run_start = [], None
    for index in range(first, last + 1):
        if not loud[index] and run_start is None:
            run_start = index
        elif loud[index] and run_start is not None:
            if (index - run_start) / 100 >= PAUSE_S:
                cuts.append((run_start + index) // 2 * frame)
            run_start = None
    return cuts


@pytest.mark.parametrize("form", list(ContextForm))
@pytest.mark.parametrize("clip", CLIPS)
def test_decoding_in_context_continues_where_the_words_before_end(
    transcriber: FasterWhisperTranscriber, whole_clips: dict[str, TranscriptionResult], clip: str, form: ContextForm
) -> None:
    transcriber.options = TranscriberOptions(device="cpu", final_beam_size=1, context_form=form)
    audio = load_16k(SPEECH_DIR / clip)
    if clip not in whole_clips:
        whole_clips[clip] = transcriber.transcribe(audio, DecodeOptions("en", None, True), final=True)
    full = whole_clips[clip]
    words = words_of(full)
    assert "".join(w.word for w in words) == full.text.replace(" ", "")
    # the words before a pause: those the alignment starts before it (DTW stretches words over pauses)
    cuts = [(sum(w.start_s < cut / SR for w in words), cut) for cut in pause_cuts(audio)]
    cuts = [(count, cut) for count, cut in cuts if 0 < count < len(words)]
    assert cuts, f"{clip}: no pause"
    items = [
        (audio, DecodeOptions("en", None, True, context_samples=cut, prefix=text_before(full.text, words[:count])))
        for count, cut in cuts
    ]
    for (count, cut), result in zip(cuts, transcriber.transcribe_batch(items, final=True), strict=True):
        prefix = text_before(full.text, words[:count])
        if form is ContextForm.FORCED:
            assert normalize(f"{prefix} {result.text}") == normalize(full.text), f"cut after {prefix!r}"
        else:  # no word doubled or dropped at the cut: it starts with the word after it
            after = normalize(full.text).split()[len(normalize(prefix).split()) :]
            assert normalize(result.text).split()[:1] == after[:1], f"cut after {prefix!r}"
            if form is ContextForm.PROMPTED:  # and it runs to the clip's end: after "There's iron they say in
                # all our blood." it ended "…too much of steel": the decoder stopped at a segment it had opened
                # before the last words "and on" (continuation.py). One word short at most ("and on" as "anon").
                # Not the tail form: greedy, it too ends there, untimestamped (docs/performance.md)
                assert len(normalize(result.text).split()) >= len(after) - 1, f"cut after {prefix!r}: {result.text!r}"
        # times count from the end of the context: the utterance is what follows the cut
        tail_s = (audio.size - cut) / SR
        assert result.segments[0].start_s == 0.0 and result.segments[-1].end_s == pytest.approx(tail_s)
        new_words = words_of(result)
        assert "".join(w.word for w in new_words) == result.text.replace(" ", "")
        assert all(0.0 <= w.start_s <= w.end_s <= tail_s for w in new_words)
        assert [w.start_s for w in new_words] == sorted(w.start_s for w in new_words)
        if form is ContextForm.FORCED:  # the same words keep their place in the audio (within alignment jitter)
            for new, old in zip(new_words, words[count:], strict=True):
                assert abs(new.start_s + cut / SR - old.start_s) < 0.3, (new, old)
    transcriber.options = TranscriberOptions(device="cpu", final_beam_size=1)


@pytest.fixture(scope="module")
def base() -> FasterWhisperTranscriber:
    """The multilingual test model (Whisper base), its tokenizer repaired at load as the server's is."""
    return FasterWhisperTranscriber(resolve_model_source(str(assemble())), TranscriberOptions(device="cpu"))


@pytest.mark.parametrize("form", list(ContextForm))
@pytest.mark.parametrize("model", ["tiny.en", "base"])
def test_a_final_in_context_reads_as_its_own_sentence_on_real_speech(
    request: pytest.FixtureRequest, transcriber: FasterWhisperTranscriber, model: str, form: ContextForm
) -> None:
    """After the final "And so my fellow Americans" (no full stop), `make demo MODEL=multilingual` sent the
    next as ", ask not.": the decoder went on with the sentence before. A final starts as it would alone."""
    audio = load_16k(SPEECH_DIR / "jfk.flac")
    cut = pause_cuts(audio)[0]  # the pause after "Americans" (2.7 s)
    decoder = transcriber if model == "tiny.en" else request.getfixturevalue("base")
    decoder.options = TranscriberOptions(device="cpu", final_beam_size=1, context_form=form)
    try:
        options = DecodeOptions("en", None, False, context_samples=cut, prefix="And so my fellow Americans")
        text = decoder.transcribe(audio, options, final=True).text
    finally:
        decoder.options = TranscriberOptions(device="cpu", final_beam_size=1)
    assert text[:1].isalpha() and text[:1].isupper(), text
    assert normalize(text).split()[:2] == ["ask", "not"], text


def test_word_timestamps_never_change_the_words(transcriber: FasterWhisperTranscriber) -> None:
    clips = [load_16k(SPEECH_DIR / clip) for clip in CLIPS]
    for beam in (1, 5):
        transcriber.options = TranscriberOptions(device="cpu", final_beam_size=beam)
        plain = transcriber.transcribe_batch([(a, DecodeOptions("en", None, False)) for a in clips], final=True)
        timed = transcriber.transcribe_batch([(a, DecodeOptions("en", None, True)) for a in clips], final=True)
        for audio, without, with_words in zip(clips, plain, timed, strict=True):
            assert with_words.text == without.text
            assert all(s.words is None for s in without.segments)
            words = words_of(with_words)
            assert "".join(w.word for w in words) == with_words.text.replace(" ", "")
            assert all(0.0 <= w.start_s <= w.end_s <= audio.size / SR for w in words)
            assert [w.start_s for w in words] == sorted(w.start_s for w in words)
    transcriber.options = TranscriberOptions(device="cpu", final_beam_size=1)


def test_a_decode_that_does_not_continue_falls_back_to_the_utterance_alone(
    transcriber: FasterWhisperTranscriber,
) -> None:
    audio = load_16k(SPEECH_DIR / "jfk.flac")
    cut = int(4.3 * SR)
    # a prefix of words nobody said: the decoder cannot continue it sensibly past the context's silence
    silence = np.zeros(3 * SR, np.float32)
    padded = np.concatenate([silence, audio[cut:]])
    bogus = DecodeOptions("en", None, False, context_samples=silence.size, prefix="ask not what your country")
    # alone, the context's words stay in the prompt (as history): a final decoded alone keeps what was said
    alone = transcriber.transcribe(audio[cut:], DecodeOptions("en", None, False, history=bogus.prefix), final=True)
    result = transcriber.transcribe(padded, bogus, final=True)
    assert continues(bogus.prefix or "", result.text) or result.text == alone.text


def test_continues() -> None:
    assert continues("And so, my fellow Americans,", "ask not what your country can do")
    assert not continues("And so, my fellow Americans,", "")
    assert not continues("And so, my fellow Americans,", "my fellow Americans, ask not")
    assert not continues("Then I said stop it.", "said stop it. And then")
    assert continues("Stop.", "Stop, stop!")  # one word said again can be speech
    # the decoder ended the prefix's sentence and stopped: 7 s of speech lost (seen on the real server)
    assert not continues("Has got a little too much of steel. And on", ".", 7.0)
    assert not continues("And so", "yes", 7.0)
    assert continues("And so", "Anon.", 1.5)


def test_the_fallback_decode_aligns_its_words_too(transcriber: FasterWhisperTranscriber) -> None:
    """A doubtful final is decoded again by faster-whisper's own ``transcribe``: its words are aligned after."""
    audio = load_16k(SPEECH_DIR / "jfk.flac")
    plain = transcriber._fallback(audio, DecodeOptions("en", None, False), final=True)
    timed = transcriber._fallback(audio, DecodeOptions("en", None, True), final=True)
    assert timed.text == plain.text and timed.segments
    for segment in timed.segments:
        assert "".join(w.word for w in segment.words or ()) == segment.text.replace(" ", "")
    words = words_of(timed)
    assert [w.start_s for w in words] == sorted(w.start_s for w in words)
    assert all(0.0 <= w.start_s <= w.end_s <= audio.size / SR for w in words)


def test_a_fallback_that_copies_the_words_already_said_is_decoded_again_without_them(
    transcriber: FasterWhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen on test-other at a 170 ms endpoint: a doubtful final went to the temperature fallback, which
    # answered with a whole earlier final from its prompt. The fallback is faked here to copy its prompt.
    import whisper_stream.inference.transcriber as module

    prompts: list[str | None] = []

    def copying(model: object, audio: np.ndarray, *, prompt: str | None, **_: object) -> TranscriptionResult:
        prompts.append(prompt)
        text = prompt or "ask not what your country can do for you"
        return TranscriptionResult(text, "en", 0.5, ())

    monkeypatch.setattr(module, "transcribe_with_fallback", copying)
    said = "The gut and the gullet being cut across between these ligatures, the stomach may be removed."
    options = DecodeOptions("en", "Ligatures.", False, history=said)
    result = transcriber._fallback(np.zeros(SR, np.float32), options, final=True)
    assert prompts == [f"Ligatures. {said}", "Ligatures."]  # the client's prompt is kept
    assert result.text == "Ligatures."


@pytest.mark.parametrize(("model", "context_s"), [("tiny.en", 29.0), ("base", 15.0)])
def test_a_final_in_context_hears_its_first_word_s_onset(
    request: pytest.FixtureRequest, transcriber: FasterWhisperTranscriber, model: str, context_s: float
) -> None:
    """silero starts an utterance at its first frame scored as speech, which can fall after a word's onset:
    decoding from there, the prompted form heard "The Zion they say" for "There's iron they say" (the bench
    stream, tiny.en over 29 s and base over 15 s at beam 1). It starts ``START_LEAD_S`` earlier. The bench
    stream's first two utterances, replayed through the real Session and silero, as bench/finals_wer.py does."""
    names = ("librispeech_clean/1089-134686-0000.flac", "librispeech_test_other/1688-142285-0000.flac")
    clips = sorted((c for c in load_clips() if c.name in names), key=lambda c: names.index(c.name))
    stream = build_stream(clips, 40.0, seed=0)
    assert [u.clip.name for u in stream.utterances] == list(names)
    decoder = transcriber if model == "tiny.en" else request.getfixturevalue("base")
    decoder.options = TranscriberOptions(device="cpu", final_beam_size=1, context_form=ContextForm.PROMPTED)
    try:
        finals = replay(
            stream,
            lambda asked: decoder.transcribe(asked.audio, asked.options, final=asked.kind.is_final),
            SileroVadModel(),
            context_s=context_s,
            word_timestamps=False,
        )
    finally:
        decoder.options = TranscriberOptions(device="cpu", final_beam_size=1)
    second = per_utterance(stream, finals)[1]
    start = normalize("There's iron they say").split()
    assert normalize(second).split()[: len(start)] == start, second
