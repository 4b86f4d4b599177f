"""Baseten's newer fields through the real local server (truss's own), the real tiny.en model, real speech.

Each test streams a short clip with some of the fields set and checks what they do: the search
(``whisper_sampling_params``, clamped), n-best texts, pipeline latency and timing info, a prefix, a token
budget, the words-a-minute retry, no VAD with a finalize and the end-of-audio flush, hallucinated partials.
Every message received validates against the model of Baseten's result types (tests/baseten_types.py).
Translation and per-utterance language detection need a multilingual model: test_multilingual_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import numpy as np
import pytest

from tests import baseten_types as baseten
from tests.local_server import LocalServer
from tests.speech import SPEECH_DIR, load_16k, manifest, normalize, wer
from tests.stream_client import StreamResult, send_raw, stream, to_pcm16

pytestmark = pytest.mark.slow

SR = 16_000
JFK_REFERENCE = (
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
MAX_WER = 0.25  # tiny.en on the CPU, as the third-party client tests allow on JFK


def jfk() -> np.ndarray:
    return load_16k(SPEECH_DIR / "jfk.flac")


def run(url: str, audio: np.ndarray, config: dict[str, Any], **kwargs: Any) -> StreamResult:
    result = asyncio.run(stream(url, audio, config=config, **kwargs))
    assert result.close_code == 1000, (result.close_code, result.of_type("error"))
    for message in result.of_type("transcription"):
        baseten.StreamingWhisperResult.model_validate(message)
    return result


def partial_decodes(server: LocalServer) -> float:
    """How many partials the server has decoded so far (its /metrics), whether it sent them or not."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "whisper_stream_decode_seconds_count" and sample.labels.get("kind") == "partial"
    )


# First in this module, False first: partials share one replica-wide budget of decoder time, which long finals
# (the retry's below, this test's other case) leave spent for a while (partial_budget.py).
@pytest.mark.parametrize("skip", [False, None])
def test_partials_that_look_hallucinated_are_not_sent_unless_asked(server: LocalServer, skip: bool | None) -> None:
    """A repetition penalty under 1 makes tiny.en loop ("He hoped He hoped ..."): the guard calls that a
    hallucination, every time (measured on these clips at 0.3-8 s). Without VAD the utterance stays open for
    the whole stream, so a partial's result, however slow, still finds it open.

    The stream ends once it has shown what it is for, at most after its 15.8 s as before: asked for them, three
    partials received; by default, three partials decoded (the server's /metrics; one session has one partial
    in flight, so the first two results had reached the session before the third was asked) and none sent.
    """
    streaming: dict[str, Any] = {"partial_transcript_interval_s": 0.3}
    if skip is not None:
        streaming["skip_partial_if_hallucination"] = skip
    sampling = {"repetition_penalty": 0.2, "max_new_tokens": 16, "sampling_temperatures": [0.0]}  # short: quick
    config = {
        "whisper_params": {"whisper_sampling_params": sampling, "enable_vad": False},
        "streaming_params": streaming,
    }
    audio = np.concatenate([load_16k(u.path) for u in manifest("librispeech_clean")[:2]])  # 15.8 s
    decoded_before, checked_at_s = partial_decodes(server), [0.0]

    def shown(result: StreamResult) -> bool:
        if skip is not None:
            return len(result.partials) >= 3
        if result.audio_sent_s - checked_at_s[0] < 0.25:  # /metrics once per 0.25 s of audio, not every frame
            return False
        checked_at_s[0] = result.audio_sent_s
        return partial_decodes(server) - decoded_before >= 3

    result = run(server.ws_url, audio, config, speed=1.2, until=shown)
    if skip is None:  # Baseten's default: not sent
        assert partial_decodes(server) - decoded_before >= 1, "no partial decoded: the claim was not put to the test"
        assert result.partials == []
    else:
        assert result.partials and all(s["possible_hallucination"] for p in result.partials for s in p["segments"])


def test_the_clients_search_n_best_latency_and_timing(ws_url: str, server: LocalServer) -> None:
    config = {
        "whisper_params": {
            "audio_language": "en",
            "show_beam_results": True,
            "enable_diarization": True,
            "whisper_sampling_params": {
                "beam_width": 9,
                "length_penalty": 1.0,
                "repetition_penalty": 1.05,
                "no_repeat_ngram_size": 4,
                "sampling_temperatures": [0.0, 0.2],
                "max_new_tokens": 120,
            },
        },
        "streaming_params": {"include_pipeline_latency_metric": True},
        "include_timing_info": True,
        "stream_id": "e2e-sampling",
    }
    result = run(ws_url, jfk(), config, speed=4.0)
    warnings = [w["message"] for w in result.of_type("warning")]
    assert any("beam_width: 9 is over this server's maximum beam of 5; 5 is used" in w for w in warnings), warnings
    assert not any("enable_diarization" in w for w in warnings), warnings  # the test server has a speaker model
    assert all("speaker" in s for f in result.finals if f["transcript"] for s in f["segments"])  # labelled
    assert wer(JFK_REFERENCE, result.text) <= MAX_WER, result.text
    beams = [s["beam_results"] for f in result.finals for s in f["segments"]]
    assert beams and all(1 <= len(b) <= 5 for b in beams)
    assert any(len(b) == 5 for b in beams), beams  # a direct decode with the clamped beam of 5
    for final in result.finals:
        for segment in final["segments"]:
            assert segment["log_prob"] < 0 and segment["language_code"] == "en"
            if len(segment["beam_results"]) > 1:
                assert segment["beam_results"][0] == segment["text"]
    for received_s, message in result.messages:
        if message["type"] != "transcription":
            continue
        assert message["audio_length_sec"] > 0
        # from the server reading the frame to the message being sent: within what the client saw since it connected
        assert 0 <= message["pipeline_latency"] <= received_s + 0.05
        timing = message["timing_info"]
        assert timing["total_duration_s"] == pytest.approx(message["pipeline_latency"], abs=1e-3)
        assert timing["transcription_duration_s"] > 0 and timing["queue_wait_duration_s"] >= 0
    assert all(f["timing_info"]["chunking_duration_s"] is not None for f in result.finals)
    flushed = [f["is_end_of_audio_flush"] for f in result.finals]
    assert flushed.count(True) <= 1 and (True not in flushed or flushed[-1])
    assert "stream id e2e-sampling" in server.log_text()


def test_without_vad_a_finalize_ends_an_utterance_and_the_end_flushes_the_rest(ws_url: str) -> None:
    first, second = manifest("librispeech_clean")[1], manifest("librispeech_clean")[2]
    pause = np.zeros(int(1.5 * SR), np.float32)
    config = {
        "whisper_params": {"enable_vad": False},
        "streaming_params": {"enable_partial_transcripts": False},
    }
    one, two = to_pcm16(np.concatenate([load_16k(first.path), pause])), to_pcm16(load_16k(second.path))
    frames = [*(one[i : i + 4096] for i in range(0, len(one), 4096)), json.dumps({"type": "finalize"})]
    frames += [*(two[i : i + 4096] for i in range(0, len(two), 4096)), json.dumps({"terminate_session": True})]
    result = asyncio.run(send_raw(ws_url, json.dumps(config), *frames, timeout_s=120))
    assert result.close_code == 1000
    finals = result.finals  # the 1.5 s of silence split nothing: one final per finalize, one for the end
    assert [(f["from_finalize"], f["is_end_of_audio_flush"]) for f in finals] == [(True, False), (False, True)]
    assert finals[0]["audio_length_sec"] == pytest.approx(len(one) / 2 / SR, abs=0.05)  # silence included
    assert wer(first.reference, finals[0]["transcript"]) <= MAX_WER, finals[0]["transcript"]
    assert wer(second.reference, finals[1]["transcript"]) <= MAX_WER, finals[1]["transcript"]
    for message in result.of_type("transcription"):
        baseten.StreamingWhisperResult.model_validate(message)


def test_the_first_final_continues_the_clients_prefix(ws_url: str) -> None:
    config = {"whisper_params": {"prefix": "And so,"}, "streaming_params": {"enable_partial_transcripts": False}}
    result = run(ws_url, jfk(), config)
    assert result.finals[0]["transcript"].startswith("And so,"), result.finals[0]
    assert normalize(result.text).count("and so") == 1 and "fellow american" in normalize(result.text), result.text
    assert wer(JFK_REFERENCE, result.text) <= MAX_WER, result.text


def test_max_new_tokens_bounds_every_final(ws_url: str) -> None:
    config = {
        "whisper_params": {"whisper_sampling_params": {"max_new_tokens": 3}},
        "streaming_params": {"enable_partial_transcripts": False},
    }
    result = run(ws_url, jfk(), config)
    texts = [f["transcript"] for f in result.finals]
    assert any(texts) and all(len(text.split()) <= 3 for text in texts), texts


def test_too_few_words_a_minute_are_decoded_again(ws_url: str, server: LocalServer) -> None:
    config = {
        "whisper_params": {"use_missing_chunk_retry": True, "missing_chunk_wpm_threshold": 1000},
        "streaming_params": {"enable_partial_transcripts": False},
        "stream_id": "e2e-retry",
    }
    before = server.log_text().count("words a minute, under 1000")
    result = run(ws_url, jfk(), config)
    assert wer(JFK_REFERENCE, result.text) <= MAX_WER, result.text
    assert server.log_text().count("words a minute, under 1000") - before >= len(result.finals) >= 1


def test_turn_events_and_a_finalize_with_nothing_to_finalize_on_real_speech(ws_url: str) -> None:
    """A voice agent's turn: "And so my fellow Americans" in real time with turn events, a pause, then a
    finalize once every final is sent. min_silence 6 s: the early final of the pause (tiny.en: 0.3 s idle, 3-5 s
    seen here with the load average at 8) has that long to come back as an eager end of turn before the silence
    confirms it."""
    from websockets.asyncio.client import connect

    config = {
        "streaming_vad_config": {"min_silence_duration_ms": 6000},
        "streaming_params": {"enable_partial_transcripts": False},
        "send_turn_events": True,
    }
    pcm = to_pcm16(np.concatenate([jfk()[: int(2.3 * SR)], np.zeros(7 * SR, np.float32)]))

    async def session() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        async with connect(ws_url, max_size=None) as websocket:
            await websocket.send(json.dumps(config))

            async def send() -> None:
                start = asyncio.get_running_loop().time()
                for offset in range(0, len(pcm), 1024):
                    await websocket.send(pcm[offset : offset + 1024])
                    due = start + (offset + 1024) / 2 / SR
                    await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))

            sender = asyncio.create_task(send())
            async for raw in websocket:
                message = json.loads(raw)
                received.append(message)
                if message.get("type") == "transcription" and message["is_final"] and message["transcript"]:
                    await sender  # every word is sent and final: nothing is left to finalize
                    await websocket.send(json.dumps({"type": "finalize"}))
                elif message.get("from_finalize"):
                    await websocket.send(json.dumps({"terminate_session": True}))
        return received

    messages = asyncio.run(asyncio.wait_for(session(), timeout=120))
    kinds = [m["type"] for m in messages]
    assert kinds == ["eager_end_of_turn", "transcription", "transcription", "session_end"], kinds
    eager, spoken, answer = messages[:3]
    assert "fellow" in spoken["transcript"].lower(), spoken["transcript"]  # (tiny.en hears "And so am I ...")
    assert (eager["transcript"], spoken["differs_from_eager"]) == (spoken["transcript"], False)  # one decode
    assert (answer["transcript"], answer["from_finalize"]) == ("", True)  # answered, though nothing was left
    assert answer["transcription_num"] == spoken["transcription_num"] + 1
    for message in (spoken, answer):
        baseten.StreamingWhisperResult.model_validate(message)
