"""The rest of a prompted final decoded where the decoder stopped at a segment it opened (no model: a
word-per-token tokenizer and a scripted ``generate``)."""

from __future__ import annotations

import numpy as np

from tests.test_context_decoding import WordTokenizer
from whisper_stream.inference.context_decoding import ContextForm, DecoderPrompt, decoder_prompt
from whisper_stream.inference.continuation import (
    MAX_CONTINUATIONS,
    MIN_REMAINING_S,
    continuation_prompt,
    continued,
    opened_segment_index,
)
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.samples import SAMPLE_RATE_HZ


class Words(WordTokenizer):
    def decode(self, tokens: list[int]) -> str:
        names = {token: word for word, token in self.ids.items()}
        return " ".join(names[token] for token in tokens if token in names)


def ts(tokenizer: Words, seconds: float) -> int:
    return tokenizer.timestamp_begin + round(seconds / 0.02)


class Script:
    """``generate`` answering each call's items, in order, from ``answers`` (a list per call)."""

    def __init__(self, *answers: list[list[int]]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[int], list[DecoderPrompt]]] = []

    def __call__(self, indexes: list[int], prompts: list[DecoderPrompt]) -> list[list[int]]:
        self.calls.append((indexes, prompts))
        return self.answers.pop(0)


def item(seconds: float, context_s: float = 5.0, prefix: str = "it was late") -> tuple[np.ndarray, DecodeOptions]:
    options = DecodeOptions("en", None, False, context_samples=round(context_s * SAMPLE_RATE_HZ), prefix=prefix)
    return np.zeros(round(seconds * SAMPLE_RATE_HZ), dtype=np.float32), options


def test_an_opened_segment_is_text_then_two_timestamps_at_the_end() -> None:
    tokenizer = Words()
    start, text = ts(tokenizer, 5.0), tokenizer.encode("the medical man has")
    assert (
        opened_segment_index([start, *text, ts(tokenizer, 9.0), ts(tokenizer, 9.0)], tokenizer.timestamp_begin) == 450
    )
    assert opened_segment_index([start, *text, ts(tokenizer, 9.0)], tokenizer.timestamp_begin) is None  # closed
    assert opened_segment_index([start, *text], tokenizer.timestamp_begin) is None  # the text ran to the end
    assert opened_segment_index([start, ts(tokenizer, 9.0)], tokenizer.timestamp_begin) is None  # no text
    assert opened_segment_index([start, ts(tokenizer, 6.0), ts(tokenizer, 9.0)], tokenizer.timestamp_begin) is None


def test_the_continuation_prompts_the_words_so_far_and_forces_the_opened_segment_s_time() -> None:
    tokenizer = Words()
    audio, options = item(12.0)
    first = decoder_prompt(None, tokenizer, options, ContextForm.PROMPTED)
    so_far = tokenizer.encode("the medical man has")
    prompt = continuation_prompt(tokenizer, options, first, so_far, 450)
    assert prompt.forced == [ts(tokenizer, 9.0)]
    assert prompt.max_initial_timestamp_index == 450
    assert prompt.tokens == [
        tokenizer.sot_prev,
        *tokenizer.encode("it was late"),
        *so_far,
        *tokenizer.sot_sequence,
        ts(tokenizer, 9.0),
    ]
    assert prompt.context_words == first.context_words  # the alignment still starts at the context's words


def test_a_final_stopped_at_an_opened_segment_gets_the_rest_of_its_utterance() -> None:
    tokenizer = Words()
    items = [item(12.0), item(12.0)]
    prompts = [decoder_prompt(None, tokenizer, options, ContextForm.PROMPTED) for _, options in items]
    [start] = prompts[0].forced  # the decoder's output starts with what it was forced to
    stopped = [start, *tokenizer.encode("the medical man has"), ts(tokenizer, 9.0), ts(tokenizer, 9.0)]
    whole = [start, *tokenizer.encode("so it ended"), ts(tokenizer, 11.0)]
    generate = Script([[ts(tokenizer, 9.0), *tokenizer.encode("two duties to perform"), ts(tokenizer, 11.5)]])
    texts = continued(generate, tokenizer, items, prompts, [stopped, whole])
    assert [tokenizer.decode(text or []) for text in texts] == [
        "the medical man has two duties to perform",
        "so it ended",
    ]
    [(indexes, [prompt])] = generate.calls
    assert indexes == [0]  # only the stopped one is decoded again
    assert prompt.forced == [ts(tokenizer, 9.0)]


def test_no_continuation_when_the_opened_segment_is_at_the_audio_s_end() -> None:
    tokenizer = Words()
    items = [item(12.0)]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    at = 12.0 - MIN_REMAINING_S + 0.1
    stopped = [*prompts[0].forced, *tokenizer.encode("all of it"), ts(tokenizer, at), ts(tokenizer, at)]
    generate = Script()
    assert [tokenizer.decode(t or []) for t in continued(generate, tokenizer, items, prompts, [stopped])] == [
        "all of it"
    ]
    assert generate.calls == []


def test_a_rest_that_copies_the_words_already_said_is_dropped() -> None:
    tokenizer = Words()
    items = [item(12.0, prefix="the stories regarding joseph were told at length by all of them")]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    stopped = [*prompts[0].forced, *tokenizer.encode("and then"), ts(tokenizer, 8.0), ts(tokenizer, 8.0)]
    copy = tokenizer.encode("the stories regarding joseph were told at length by all of them")
    generate = Script([[ts(tokenizer, 8.0), *copy]])
    assert [tokenizer.decode(t or []) for t in continued(generate, tokenizer, items, prompts, [stopped])] == [
        "and then"
    ]


def test_the_rest_is_decoded_at_most_max_continuations_times() -> None:
    tokenizer = Words()
    items = [item(20.0)]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    answers = []
    for n in range(MAX_CONTINUATIONS + 1):  # each one stops at an opened segment again
        at = 6.0 + n
        answers.append([[ts(tokenizer, at), *tokenizer.encode(f"w{n}"), ts(tokenizer, at + 1), ts(tokenizer, at + 1)]])
    first = [*prompts[0].forced, *tokenizer.encode("start"), ts(tokenizer, 6.0), ts(tokenizer, 6.0)]
    generate = Script(*answers)
    [text] = continued(generate, tokenizer, items, prompts, [first])
    assert len(generate.calls) == MAX_CONTINUATIONS
    assert tokenizer.decode(text or []) == " ".join(["start", *(f"w{n}" for n in range(MAX_CONTINUATIONS))])


def test_a_decode_that_lost_its_forced_start_is_not_continued() -> None:
    tokenizer = Words()
    items = [item(12.0)]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    other = [ts(tokenizer, 1.0), *tokenizer.encode("elsewhere"), ts(tokenizer, 3.0), ts(tokenizer, 3.0)]
    generate = Script()
    assert continued(generate, tokenizer, items, prompts, [other]) == [None]
    assert generate.calls == []


def test_the_words_heard_again_at_the_seam_are_dropped_once() -> None:
    tokenizer = Words()
    items = [item(12.0)]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    stopped = [*prompts[0].forced, *tokenizer.encode("given in cases of"), ts(tokenizer, 9.0), ts(tokenizer, 9.0)]
    generate = Script([[ts(tokenizer, 9.0), *tokenizer.encode("of narcotic poisoning")]])
    [text] = continued(generate, tokenizer, items, prompts, [stopped])
    assert tokenizer.decode(text or []) == "given in cases of narcotic poisoning"


def test_a_word_the_decoder_cut_and_heard_whole_in_the_rest_is_kept_once_whole() -> None:
    tokenizer = Words()
    items = [item(12.0)]
    prompts = [decoder_prompt(None, tokenizer, items[0][1], ContextForm.PROMPTED)]
    said = tokenizer.encode("the Californian will astrayal")  # test-other, base, beam 5, prompted
    stopped = [*prompts[0].forced, *said, ts(tokenizer, 9.0), ts(tokenizer, 9.0)]
    generate = Script([[ts(tokenizer, 9.0), *tokenizer.encode("will astrayalously insist")]])
    [text] = continued(generate, tokenizer, items, prompts, [stopped])
    assert tokenizer.decode(text or []) == "the Californian will astrayalously insist"
