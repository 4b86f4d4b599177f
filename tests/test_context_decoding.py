"""The pure helpers of a decode in context, with a word-per-token tokenizer (no model)."""

from __future__ import annotations

import dataclasses

import pytest

from whisper_stream.inference.context_decoding import (
    PROMPT_BUDGET_TOKENS,
    TAIL_FORCED_TOKENS,
    ContextForm,
    DecoderPrompt,
    as_own_sentence,
    decoder_prompt,
    max_length,
    max_new_tokens,
    new_tokens,
    own_sentence,
    previous_tokens,
    repeats_what_was_said,
    same_start_of_transcript,
    without_cut_off_marks,
    without_cut_word,
    without_repeated_start,
)
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Word
from whisper_stream.samples import SAMPLE_RATE_HZ


class WordTokenizer:
    """One token per word (ids from 1000 on), Whisper's special tokens from ``eot`` on, as in Whisper."""

    eot, sot_prev, sot, no_timestamps, timestamp_begin = 50000, 50001, 50002, 50003, 50100
    sot_sequence = (50002, 50004, 50005)

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return [self.ids.setdefault(word, 1000 + len(self.ids)) for word in text.split()] or [7]


def test_the_context_words_are_kept_whole_then_the_client_prompt_from_its_start_then_the_history_end() -> None:
    tokenizer = WordTokenizer()
    context = tokenizer.encode("c " * 100)
    prompt_words = " ".join(f"p{i}" for i in range(100))
    history_words = " ".join(f"h{i}" for i in range(100))
    previous = previous_tokens(tokenizer, prompt_words, history_words, context)
    assert len(previous) == PROMPT_BUDGET_TOKENS
    assert previous[-100:] == context
    assert previous[:100] == tokenizer.encode(prompt_words)  # the client's prompt whole, from its start
    assert previous[100:123] == tokenizer.encode(history_words)[-23:]  # the history's last words


def test_the_prompted_form_puts_the_words_in_the_prompt_and_forces_the_cut_s_timestamp() -> None:
    tokenizer = WordTokenizer()
    options = DecodeOptions("en", "Glossary", False, context_samples=3 * SAMPLE_RATE_HZ, prefix="so it was")
    prompt = decoder_prompt(None, tokenizer, options, ContextForm.PROMPTED)
    words = tokenizer.encode("so it was")
    assert prompt.forced == [tokenizer.timestamp_begin + 145]  # 2.90 s: START_LEAD_S before the cut at 3.00 s
    assert prompt.tokens == [tokenizer.sot_prev, *tokenizer.encode("Glossary"), *words, *tokenizer.sot_sequence, 50245]
    assert prompt.context_words == words and prompt.max_initial_timestamp_index == 145
    forced = decoder_prompt(None, tokenizer, options, ContextForm.FORCED)
    assert forced.forced == words and forced.tokens[-4:] == [tokenizer.no_timestamps, *words]
    alone = decoder_prompt(None, tokenizer, DecodeOptions("en", None, False), ContextForm.PROMPTED)
    assert alone.tokens == [*tokenizer.sot_sequence, tokenizer.no_timestamps] and alone.forced == []


def test_the_prompted_form_starts_at_the_window_s_start_when_the_context_is_shorter_than_the_lead() -> None:
    tokenizer = WordTokenizer()
    options = DecodeOptions("en", None, False, context_samples=SAMPLE_RATE_HZ // 20, prefix="so")  # 0.05 s
    prompt = decoder_prompt(None, tokenizer, options, ContextForm.PROMPTED)
    assert prompt.forced == [tokenizer.timestamp_begin] and prompt.max_initial_timestamp_index == 0


def test_the_prompted_form_writes_cut_off_dashes_in_its_prompt_as_full_stops() -> None:
    """One final ending "What do the-" made most finals after it end in a dash: the prompt's style, copied."""
    tokenizer = WordTokenizer()
    options = DecodeOptions(
        "en", "A pre- and post-war glossary-", False, context_samples=SAMPLE_RATE_HZ, prefix="When- However- two-fold",
        history="What do the- He who recited.",
    )  # fmt: skip
    prompt = decoder_prompt(None, tokenizer, options, ContextForm.PROMPTED)
    previous = tokenizer.encode("A pre- and post-war glossary- What do the. He who recited. When. However. two-fold")
    assert prompt.tokens[: 1 + len(previous)] == [tokenizer.sot_prev, *previous]  # the client's prompt as it was
    assert without_cut_off_marks("heart-buy, in vain- Hold out-") == "heart-buy, in vain. Hold out."
    forced = decoder_prompt(None, tokenizer, options, ContextForm.FORCED)  # forced: the words as they were sent
    assert forced.forced == tokenizer.encode("When- However- two-fold")


def test_the_tail_form_prompts_the_earlier_words_and_forces_the_last_ones_untimestamped() -> None:
    tokenizer = WordTokenizer()
    said = " ".join(f"w{i}" for i in range(TAIL_FORCED_TOKENS + 5))
    options = DecodeOptions("en", "Glossary", False, context_samples=3 * SAMPLE_RATE_HZ, prefix=said)
    prompt = decoder_prompt(None, tokenizer, options, ContextForm.TAIL)
    words = tokenizer.encode(said)
    assert prompt.forced == words[-TAIL_FORCED_TOKENS:] and prompt.context_words == words
    glossary = tokenizer.encode("Glossary")
    earlier = [tokenizer.sot_prev, *glossary, *words[:5], *tokenizer.sot_sequence, tokenizer.no_timestamps]
    assert prompt.tokens == [*earlier, *words[-TAIL_FORCED_TOKENS:]]
    short = dataclasses.replace(options, prefix="so it was")  # fewer words than the tail: all forced
    assert decoder_prompt(None, tokenizer, short, ContextForm.TAIL) == decoder_prompt(
        None, tokenizer, short, ContextForm.FORCED
    )


def test_a_batch_s_previous_texts_are_padded_to_one_start_of_transcript() -> None:
    tokenizer = WordTokenizer()
    short = DecoderPrompt([*tokenizer.sot_sequence, 3], [], [])
    long = DecoderPrompt([tokenizer.sot_prev, 1000, 1001, *tokenizer.sot_sequence, 3], [], [])
    padded = same_start_of_transcript([short, long], tokenizer)
    assert [p.tokens.index(tokenizer.sot) for p in padded] == [3, 3]
    assert padded[1] == long and padded[0].tokens[:3] == [tokenizer.sot_prev, 7, 7]
    assert same_start_of_transcript([short], tokenizer) == [short]


@pytest.mark.parametrize(
    ("prompt_tokens", "forced", "utterance_s"),
    [(4, 0, 0.5), (4, 0, 5.0), (228, 0, 2.0), (228, 0, 30.0), (60, 0, 12.0), (104, 100, 3.0), (130, 1, 8.0)],
)
def test_max_length_caps_new_tokens_as_ctranslate2_counts_them(prompt_tokens: int, forced: int, utterance_s: float):
    length = max_length(prompt_tokens, forced, utterance_s)
    returned = min(length // 2, length - (prompt_tokens - forced) + 1)  # forced included; ctranslate2 4.8
    assert length <= 448
    assert returned - forced == min(max_new_tokens(utterance_s), 448 // 2 - forced, 448 - prompt_tokens + 1)


def test_a_clients_max_new_tokens_caps_the_decode_when_it_is_the_smaller() -> None:
    length = max_length(4, 0, 30.0, client_max_new_tokens=5)
    assert min(length // 2, length - 4 + 1) == 5
    assert max_length(4, 0, 1.0, client_max_new_tokens=400) == max_length(4, 0, 1.0)


def test_new_tokens_are_the_text_after_what_was_forced() -> None:
    assert new_tokens([50251, 1000, 50260, 1001, 50000], [50251], eot=50000) == [1000, 1001]
    assert new_tokens([50252, 1000], [50251], eot=50000) is None


def test_a_final_in_context_reads_as_its_own_sentence() -> None:
    assert as_own_sentence(", ask not.") == "Ask not."
    assert as_own_sentence("iPhone sales") == "iPhone sales"
    assert as_own_sentence("NASA said") == "NASA said"
    assert as_own_sentence("。今日は") == "今日は"


def test_a_word_cut_at_the_end_and_heard_whole_after_is_dropped_with_the_words_heard_again() -> None:
    said = "the Californian will astrayal"  # test-other, base, beam 5: the rest began "will astrayalously insist"
    assert without_cut_word(said, "will astrayalously insist that") == "the Californian"
    assert without_cut_word("cousin, the Californian", "Californians insist") == "cousin, the"
    assert without_cut_word("the Californian will", "will insist") == "the Californian will"  # whole: not cut
    assert without_cut_word("he said a", "about that") == "he said a"  # too short to be a cut word
    assert without_cut_word("the Californian will astrayal", "insist that") == said  # no overlap
    assert without_cut_word("the Californian shall astrayal", "will astrayalously") == "the Californian shall astrayal"
    assert without_cut_word("so — astray", "astrayalously insist") == "so —"  # a lone dash is not a word


def test_the_words_said_again_at_the_start_are_dropped_with_their_aligned_words() -> None:
    assert without_repeated_start("my fellow Americans, ask", "ask not what") == "not what"
    assert without_repeated_start("my fellow Americans", "Americans ask") == "ask"
    assert without_repeated_start("my fellow", "not this") == "not this"
    # the last phrase whole, heard again (test-other, beam 5, prompted)
    said = "Imply that these. The stories regarding Joseph."
    assert without_repeated_start(said, "The stories regarding Joseph. They traditional") == "They traditional"
    words = tuple(Word(w, float(i), i + 0.5, 0.9) for i, w in enumerate(["ask", "not", "what"]))
    text, own = own_sentence("ask not what", words, "fellow Americans, ask", drop_repeated=True)
    assert text == "Not what" and own is not None and [w.word for w in own] == ["Not", "what"]
    assert own[0].start_s == 1.0
    text, own = own_sentence("ask not what", words, "fellow Americans, ask", drop_repeated=False)
    assert text == "Ask not what" and own is not None and len(own) == 3


def test_a_decode_in_context_that_copies_what_was_said_is_a_copy_not_speech() -> None:
    """The multilingual test model, a short noisy tail of the Chinese stream decoded in context (bench/finals_wer.py
    --sets zh): the first final came back word for word; alone, the tail decodes to nothing."""
    said = "廣州市 佛地產 中間協會分析 甚至出現交易幾乎停滯的情況 悄悄垂直進空15米 該項目於2021年8月完工"
    assert repeats_what_was_said(said, "廣州市 佛地產 中間協會分析 廣州市")
    assert repeats_what_was_said(said, "在廣州市 佛地產 廣州市 佛地產 廣")
    assert not repeats_what_was_said(said, "但直到2017年3月才開始通車")
    jfk = "And so my fellow Americans, ask not what your country can do for you,"
    assert repeats_what_was_said(jfk, "And so, my fellow Americans, ask not.")
    assert not repeats_what_was_said(jfk, "ask what you can do for your country.")  # a few words said again: speech
    assert not repeats_what_was_said(jfk, "Stop.")
    # the finals before it copied inside a final's own words (test-other, 170 ms endpoint)
    said = "The gut and the gallage being cut across between these ligatures. The stomach may be removed entire."
    own = "If the medical practitioner is endowed on any point."
    assert repeats_what_was_said(said, f"{own} {said} {own}")
    assert not repeats_what_was_said(said, f"{own} The stomach may be removed. {own}")
