"""FinalContext: which sent finals give the next final its context, and what the buffer must keep."""

from __future__ import annotations

from whisper_stream.core.final_context import FinalContext
from whisper_stream.inference.requests import DecodeOptions

SR = 16_000
OPTIONS = DecodeOptions(language="en", prompt="previous words", word_timestamps=False)


def s(seconds: float) -> int:
    return int(seconds * SR)


def test_no_final_sent_no_context() -> None:
    assert FinalContext().apply(OPTIONS, s(1), s(3), 0) == OPTIONS


def test_the_sent_finals_within_context_s_are_the_prefix() -> None:
    context = FinalContext("Glossary: Kubernetes", context_s=10)
    context.sent(s(0), s(4), "The first one.")
    context.sent(s(5), s(9), "The second one.")
    context.sent(s(10), s(14), "The third one.")
    options = context.apply(OPTIONS, s(15), s(18), 0)
    # 15 - 10 = 5: the second and third finals, and the audio from the second's start
    assert options.prefix == "The second one. The third one."
    assert options.context_samples == s(15) - s(5)
    # the prompt is the client's; the history what was said before the context, never the prefix again
    assert (options.prompt, options.history) == ("Glossary: Kubernetes", "The first one.")
    assert (options.language, options.word_timestamps) == (OPTIONS.language, OPTIONS.word_timestamps)


def test_context_and_utterance_fit_the_window() -> None:
    context = FinalContext(context_s=10)
    context.sent(s(0), s(4), "Early.")
    context.sent(s(6), s(9), "Late.")
    options = context.apply(OPTIONS, s(10), s(34), 0)  # a 24 s utterance: room for 5 s before it
    assert (options.prefix, options.context_samples) == ("Late.", s(4))
    assert context.apply(OPTIONS, s(10), s(40), 0) == OPTIONS  # 30 s: no room at all


def test_audio_no_longer_held_gives_no_context() -> None:
    context = FinalContext(context_s=10)
    context.sent(s(0), s(4), "Gone.")
    assert context.apply(OPTIONS, s(5), s(7), held_from=s(1)) == OPTIONS


def test_a_final_without_words_breaks_the_context() -> None:
    context = FinalContext(context_s=10)
    context.sent(s(0), s(4), "Words.")
    context.sent(s(5), s(6), "")  # noise the VAD took for speech
    options = context.apply(OPTIONS, s(7), s(9), 0)
    assert options.prefix is None and options.context_samples == 0
    assert options.prompt == OPTIONS.prompt


def test_no_context_when_a_final_overlaps_the_utterance() -> None:
    context = FinalContext(context_s=10)
    context.sent(s(0), s(4), "Overlap.")
    assert context.apply(OPTIONS, s(3), s(6), 0) == OPTIONS


def test_context_off() -> None:
    context = FinalContext(context_s=0)
    context.sent(s(0), s(4), "Words.")
    assert context.apply(OPTIONS, s(5), s(7), 0) == OPTIONS
    assert context.drop_stale_context(s(5)) == s(5)


def test_drop_stale_context_holds_the_context_audio_and_forgets_older_finals() -> None:
    context = FinalContext(context_s=10)
    context.sent(s(0), s(4), "Old.")
    context.sent(s(6), s(9), "Recent.")
    assert context.drop_stale_context(s(9.5)) == s(0)
    assert context.drop_stale_context(s(12)) == s(6)  # "Old." starts more than 10 s before: forgotten
    assert context.drop_stale_context(s(30)) == s(30)
    options = context.apply(OPTIONS, s(31), s(33), 0)
    assert options.prefix is None and options.prompt == "previous words"


def test_without_condition_on_previous_the_prompt_is_the_clients_only() -> None:
    context = FinalContext("", condition_on_previous=False, context_s=5)
    context.sent(s(0), s(4), "Old.")
    context.sent(s(6), s(9), "Recent.")
    options = context.apply(DecodeOptions("en", None, False), s(10), s(12), 0)
    assert (options.prefix, options.prompt, options.history) == ("Recent.", None, None)
