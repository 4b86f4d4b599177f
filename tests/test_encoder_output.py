"""Some items of a batch's encoder output, taken without encoding them again (the real tiny.en, real speech)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.speech import load_16k, manifest
from whisper_stream.inference import transcriber as transcriber_module
from whisper_stream.inference.encoder_output import encoder_rows
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

ENGLISH = DecodeOptions(language="en", prompt=None, word_timestamps=False)


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu", final_beam_size=1))


@pytest.fixture(scope="module")
def audios() -> list[np.ndarray]:
    return [load_16k(u.path) for u in manifest("librispeech_clean")[1:4]]


def test_the_rows_of_a_batch_are_its_items_encoded_alone(transcriber: FasterWhisperTranscriber, audios: list) -> None:
    batch = transcriber._encode(audios, fit=False)
    rows = encoder_rows(batch, [2, 0])
    alone = transcriber._encode([audios[2], audios[0]], fit=False)
    assert rows.shape == alone.shape == [2, *batch.shape[1:]]
    np.testing.assert_allclose(np.asarray(rows), np.asarray(alone), atol=1e-4)
    assert encoder_rows(batch, [0, 1, 2]) is batch


def test_the_decoder_reads_the_rows_as_it_reads_a_new_encoding(
    transcriber: FasterWhisperTranscriber, audios: list
) -> None:
    from faster_whisper.tokenizer import Tokenizer

    model = transcriber._model
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    start = [[*tokenizer.sot_sequence, tokenizer.no_timestamps]]
    rows = encoder_rows(transcriber._encode(audios, fit=False), [1])
    alone = transcriber._encode([audios[1]], fit=False)
    from_rows, from_alone = (model.model.generate(view, start)[0].sequences_ids[0] for view in (rows, alone))
    assert from_rows == from_alone and len(from_rows) > 5


def test_the_rest_of_one_item_of_a_batch_is_decoded_without_encoding_it_again(
    transcriber: FasterWhisperTranscriber, audios: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[int] = []
    encode = transcriber._encode

    def counting_encode(batch: Sequence[np.ndarray], *, fit: bool) -> Any:
        encoded.append(len(batch))
        return encode(batch, fit=fit)

    calls: list[tuple[list[int], list[int]]] = []

    def continued(generate: Any, tokenizer: Any, items: Any, prompts: Any, sequences: Any) -> list[list[int]]:
        [rest] = generate([1], [prompts[1]])  # as continuation.continued asks for one item's rest
        calls.append((rest, list(sequences[1])))
        return [list(s) for s in sequences]

    monkeypatch.setattr(transcriber, "_encode", counting_encode)
    monkeypatch.setattr(transcriber_module, "continued", continued)
    transcriber.decode([(audio, ENGLISH) for audio in audios])
    assert encoded == [3]  # the batch's one encoder pass
    [(rest, first)] = calls
    assert rest == first and len(rest) > 5  # the same item, prompt and greedy decoder: the same tokens
