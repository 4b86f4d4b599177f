from __future__ import annotations

import time

import numpy as np
import pytest

from bench import simulated_accelerator as sim
from whisper_stream.inference.context_decoding import TAIL_FORCED_TOKENS, ContextForm
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.server.factory import build_engine
from whisper_stream.server.settings import Settings

OPTIONS = DecodeOptions(language="en", prompt=None, word_timestamps=False)


def audio_s(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16_000), dtype=np.float32)


def test_parse_spec_names_the_choices_when_wrong():
    assert sim.parse_spec("simulated:large-v3:L4") == ("large-v3", "L4")
    with pytest.raises(ValueError, match="simulated:large-v3-turbo:H100"):
        sim.parse_spec("simulated:large-v3:A100")


def test_cost_model_orders_models_gpus_and_batches():
    for model in ("large-v3", "large-v3-turbo"):
        l4, h100 = sim.COST_MODELS[(model, "L4")], sim.COST_MODELS[(model, "H100")]
        assert l4.seconds(1, 20, 5) > h100.seconds(1, 20, 5)
        # a batch of 8 costs more than one decode, and much less than 8 of them
        assert h100.seconds(1, 20, 5) < h100.seconds(8, 20, 5) < 4 * h100.seconds(1, 20, 5)
    turbo, large = sim.COST_MODELS[("large-v3-turbo", "H100")], sim.COST_MODELS[("large-v3", "H100")]
    # fitted: four 30 s windows of ~100 tokens, greedy, in ~0.2 s on H100 (turbo), ~2.7x that for large-v3
    assert turbo.seconds(4, 100, 1) == pytest.approx(0.20, rel=0.05)
    assert large.seconds(4, 100, 1) / turbo.seconds(4, 100, 1) == pytest.approx(2.7, rel=0.1)


def test_text_is_sized_by_the_references_speaking_rate():
    speech = sim.load_speech_text(sim.default_speech_dir())
    assert 1.5 < speech.words_per_second < 4.0  # read English speech
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", speech=speech, sleep=False)
    results = transcriber.transcribe_batch([(audio_s(10.0), OPTIONS), (audio_s(2.0), OPTIONS)], final=True)
    words = [len(r.text.split()) for r in results]
    assert words[0] == round(10.0 * speech.words_per_second)
    assert words[1] == round(2.0 * speech.words_per_second)
    assert results[0].segments[0].end_s == pytest.approx(10.0)
    assert transcriber.transcribe(audio_s(0.1), OPTIONS, final=False).text == ""


def test_a_final_in_context_is_sized_and_timed_on_its_utterance_alone():
    """As the real transcriber: the context's words are the forced prefix, times count from after it."""
    speech = sim.load_speech_text(sim.default_speech_dir())
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", speech=speech, sleep=False)
    in_context = DecodeOptions("en", None, False, context_samples=20 * 16_000, prefix="Words already sent.")
    [result] = transcriber.transcribe_batch([(audio_s(22.0), in_context)], final=True)
    assert len(result.text.split()) == round(2.0 * speech.words_per_second)
    assert result.segments[0].end_s == pytest.approx(2.0)


def test_a_forced_prefix_costs_a_decoder_step_per_token_as_in_ctranslate2():
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", sleep=False)
    text = "five words of new text"
    alone = transcriber.device_seconds([OPTIONS], [text], final=True)
    in_context = DecodeOptions("en", None, False, context_samples=16_000, prefix=" ".join(["sent"] * 20))
    with_prefix = transcriber.device_seconds([in_context], [text], final=True)
    steps = transcriber.tokens(text) + 26  # 20 words of prefix at 1.3 tokens each
    assert with_prefix == pytest.approx(transcriber.cost.seconds(1, steps, 5))
    assert with_prefix > 2 * alone


def test_a_prompted_context_costs_its_words_in_the_prefill_pass_a_forced_timestamp_and_its_end_timestamp():
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", sleep=False, context_form=ContextForm.PROMPTED)
    text = "five words of new text"
    in_context = DecodeOptions("en", None, False, context_samples=16_000, prefix=" ".join(["sent"] * 20))
    steps = transcriber.tokens(text) + 2  # the forced start timestamp, and the end timestamp it generates
    in_context_s = transcriber.device_seconds([in_context], [text], final=True)
    assert in_context_s == pytest.approx(transcriber.cost.seconds(1, steps, 5, prompt_tokens=26))
    one_step = transcriber.cost.step_s + 5 * transcriber.cost.step_item_s  # 26 prompt tokens fit a step's time
    assert in_context_s - transcriber.device_seconds([OPTIONS], [text], final=True) == pytest.approx(2 * one_step)


def test_the_prefill_pass_costs_a_step_or_for_long_prompts_of_many_items_their_compute():
    for model in sim.COST_MODELS.values():
        assert model.seconds(1, 20, 5, prompt_tokens=100) == pytest.approx(model.seconds(1, 20, 5))
        # a call that reuses an encoder output skips the encoder's pass
        assert model.seconds(1, 20, 5) - model.seconds(1, 20, 5, encode=False) == pytest.approx(model.encoder_s)
    # eight full prompts: on the L4, large-v3's prefill compute outweighs a step (an H100's does not)
    l4, h100 = sim.COST_MODELS[("large-v3", "L4")], sim.COST_MODELS[("large-v3", "H100")]
    assert l4.seconds(8, 20, 5) < l4.seconds(8, 20, 5, prompt_tokens=8 * 223) < l4.seconds(8, 22, 5)
    assert h100.seconds(8, 20, 5, prompt_tokens=8 * 223) == pytest.approx(h100.seconds(8, 20, 5))


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_share_of_prompted_finals_in_context_is_charged_a_second_call_for_the_rest(batch_size: int):
    """The rest is one item's call (prefill, start token, forced timestamp) without an encoder pass, even when its
    batch held other items: the transcriber takes the item's rows of the batch's encoder output."""
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", sleep=False, context_form=ContextForm.PROMPTED)
    text = "five words of new text"
    in_context = DecodeOptions("en", None, False, context_samples=16_000, prefix="sent")
    cost = transcriber.cost
    once = cost.seconds(batch_size, transcriber.tokens(text) + 2, 5, prompt_tokens=batch_size)
    batches = 1000 // batch_size
    total = sum(
        transcriber.device_seconds([in_context] * batch_size, [text] * batch_size, final=True) for _ in range(batches)
    )
    second_calls = (total - batches * once) / cost.seconds(1, 2, 5, prompt_tokens=1, encode=False)
    assert second_calls == pytest.approx(int(1000 * sim.CONTINUED_SHARE), abs=1)
    alone = sum(transcriber.device_seconds([OPTIONS], [text], final=True) for _ in range(10))
    assert alone == pytest.approx(10 * cost.seconds(1, transcriber.tokens(text), 5))


def test_a_tail_context_prompts_its_earlier_words_and_forces_its_last_tokens():
    transcriber = sim.SimulatedTranscriber("large-v3", "L4", sleep=False, context_form=ContextForm.TAIL)
    text = "five words of new text"
    long = DecodeOptions("en", None, False, context_samples=16_000, prefix=" ".join(["sent"] * 20))
    short = DecodeOptions("en", None, False, context_samples=16_000, prefix="sent sent")  # 3 tokens: all forced
    assert transcriber.device_seconds([long], [text], final=True) == pytest.approx(
        transcriber.cost.seconds(1, transcriber.tokens(text) + TAIL_FORCED_TOKENS, 5, prompt_tokens=26 - 8)
    )
    assert transcriber.device_seconds([short], [text], final=True) == pytest.approx(
        transcriber.cost.seconds(1, transcriber.tokens(text) + 3, 5)
    )


def test_it_sleeps_the_modelled_time_without_burning_cpu():
    transcriber = sim.SimulatedTranscriber("large-v3-turbo", "H100")
    items = [(audio_s(3.0), OPTIONS)] * 4
    texts = transcriber.transcribe_batch(items, final=True)
    expected_s = transcriber.cost.seconds(4, max(transcriber.tokens(r.text) for r in texts), 5)
    wall, cpu = time.perf_counter(), time.thread_time()
    transcriber.transcribe_batch(items, final=True)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert wall >= expected_s * 0.95
    assert cpu < 0.2 * wall


def test_the_server_builds_it_through_its_transcriber_hook():
    engine = build_engine(
        Settings(whisper_model="simulated:large-v3-turbo:H100", transcriber="bench.simulated_accelerator:from_settings")
    )
    try:
        assert isinstance(engine.transcriber, sim.SimulatedTranscriber)
        assert engine.options.max_batch_size == 8  # batched like a GPU replica
        assert engine.transcriber.is_multilingual
    finally:
        engine.stop()
