"""bench/beam_gap.py's decode variants, with a word-per-token tokenizer (no model)."""

from __future__ import annotations

from bench import beam_gap
from tests.test_context_decoding import WordTokenizer
from whisper_stream.inference.context_decoding import ContextForm, decoder_prompt
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.samples import SAMPLE_RATE_HZ

IN_CONTEXT = DecodeOptions("en", None, False, context_samples=2 * SAMPLE_RATE_HZ, prefix="a b c d e f")
ALONE = DecodeOptions("en", None, False)


def test_alone_timestamped_forces_the_window_s_first_timestamp_and_leaves_context_decodes_alone() -> None:
    tokenizer = WordTokenizer()
    variant = beam_gap.alone_timestamped(decoder_prompt)
    alone = variant(None, tokenizer, ALONE, ContextForm.PROMPTED)
    assert alone.tokens == [*tokenizer.sot_sequence, tokenizer.timestamp_begin]
    assert alone.forced == [tokenizer.timestamp_begin] and tokenizer.no_timestamps not in alone.tokens
    in_context = variant(None, tokenizer, IN_CONTEXT, ContextForm.PROMPTED)
    assert in_context == decoder_prompt(None, tokenizer, IN_CONTEXT, ContextForm.PROMPTED)


def test_one_timestamp_suppresses_every_timestamp_only_for_the_transcriber_s_direct_decode() -> None:
    tokenizer = WordTokenizer()
    suppressed = beam_gap.one_timestamp(lambda _tokenizer, tokens: [*tokens])
    assert suppressed(tokenizer, [5]) == [5]  # called from here, as from faster-whisper's own transcribe
    # a caller whose module is the transcriber's (the wrapper tells callers apart by their module name)
    called_from_transcriber = eval(
        "suppressed(tokenizer, [5])",
        {"__name__": "whisper_stream.inference.transcriber", "suppressed": suppressed, "tokenizer": tokenizer},
    )
    assert called_from_transcriber[0] == 5 and len(called_from_transcriber) == 1 + 1501
    assert called_from_transcriber[1] == tokenizer.timestamp_begin
