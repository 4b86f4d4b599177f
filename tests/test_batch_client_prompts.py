"""What a client's prompt can do to a decode, through the real tiny.en transcriber: every awkward prompt the
config accepts decodes (a prompt of "\\ud800" failed every decode and every batch it was in: it is refused at
config time now, tests/test_client_input_properties.py). A batch of members with prompts of different
lengths still fails as a whole (marked, for inference/transcriber.py); the engine's one-by-one retry after a
failed batch, which keeps the other members' results, is tested in tests/test_server_faults.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.speech import load_16k, manifest, wer
from whisper_stream.core.prompting import decode_options
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions
from whisper_stream.protocol.config import parse_session_config

AWKWARD_PROMPTS = [
    "<|endoftext|>",
    "<|startoftranscript|><|en|><|transcribe|>",
    "<|0.00|> <|30.00|>",
    "<|nospeech|><|notimestamps|>",
    "\x00\x01\x02 control \x7f",
    "\u202eright to left\u202c",
    "\N{GRINNING FACE}" * 200,
    "a" * 1000,
    " " * 1000,
    "\ufeff\ufffe\uffff",
    "名前: 田中, Müller, Ñandú",
    '"\\"},{',
]


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, str]:
    utterance = manifest("librispeech_clean")[1]
    return load_16k(utterance.path).astype(np.float32), utterance.reference


def _items(audio: np.ndarray, prompts: list[str]) -> list[tuple[np.ndarray, DecodeOptions]]:
    items = []
    for prompt in prompts:
        config = parse_session_config(json.dumps({"whisper_params": {"prompt": prompt}}))  # accepted
        items.append((audio, decode_options(config.whisper, None, condition_on_previous=True)))
    return items


@pytest.mark.slow
@pytest.mark.parametrize("prompt", AWKWARD_PROMPTS)
def test_every_awkward_prompt_the_config_accepts_decodes(transcriber, speech, prompt: str) -> None:  # type: ignore[no-untyped-def]
    audio, _ = speech
    [(item_audio, options)] = _items(audio, [prompt])
    transcriber.transcribe(item_audio, options, final=True)
    transcriber.transcribe(item_audio, options, final=False)


@pytest.mark.slow
def test_members_with_prompts_of_different_lengths_share_a_batch(transcriber, speech) -> None:  # type: ignore[no-untyped-def]
    audio, reference = speech
    items = _items(audio, ["short", "a much longer prompt with names: Müller, Ñandú, 田中", ""])
    # CTranslate2 wants <|startoftranscript|> at one position in a batch: the prompts are padded to one length
    results = transcriber.transcribe_batch(items, final=True)  # raises if any member fails the batch
    assert len(results) == len(items)
    assert wer(reference, results[-1].text) <= 0.2  # the ordinary member, unharmed
