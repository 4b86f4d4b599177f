"""Voice-agent latency, measured as the field measures it, beside WER, per endpoint silence: the trade-off curve.

    .venv/bin/python bench/voice_agent.py --sets bench,test_other --min-silence-ms 100,150,200,300 --device h100

Each stream is replayed through the real Session, with the real silero VAD and real tiny.en decodes (beam 1,
the local run's finals in context, in the form ``--form`` names: prompted, the default, or forced), on a
simulated clock: audio arrives in real time in 32 ms frames and one decoder serves the session's requests in
the order asked (a withdrawn request not yet started is skipped; partials off: only finals and the
speculative finals of pauses). Each decode takes what ``--device`` takes:

- ``h100``: large-v3-turbo on one H100, batch of one, beam 5 finals, context in the same form, as
  bench/simulated_accelerator.py's cost model gives it for the words tiny.en decoded;
- ``cpu``: the wall time tiny.en took for that decode here (measured once, cached with its result; on a loaded
  machine longer than on an idle one).

Per endpoint silence (``min_silence_duration_ms``, sent by the client) it prints, on each set:

- WER of the finals (tests/speech.py's normaliser, corpus-level) and the number of finals;
- **end of speech -> first final**: the end of speech is silero's on the clean clip (the end of its last 32 ms
  frame at p >= 0.5), as Artificial Analysis' AA-WER Streaming measures it; the first final (in time) whose
  span reaches within 0.3 s of it covers it; p50/p95/max;
- **finalize -> its final**, in a second pass where the client sends ``finalize`` 200 ms after each end of
  speech (as pipecat does at its own VAD stop): from the finalize to the final marked ``from_finalize``;
- **eager end of turn** (``send_turn_events``): how often a final's ``eager_end_of_turn`` text equals it, how
  much earlier the eager text came (p50), and how many ``turn_resumed`` took one back.

Decodes are cached in bench/.cache/voice_agent (keyed by the audio, options and the transcriber's source).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import heapq
import os
import pickle
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

import numpy as np  # noqa: E402

from bench.audio import Stream, vad_model  # noqa: E402
from bench.finals_wer import corpus_wer, offline_texts, per_utterance, streams  # noqa: E402
from bench.metrics import covers_end  # noqa: E402
from bench.simulated_accelerator import SimulatedTranscriber  # noqa: E402
from whisper_stream.audio.vad import FRAME_SAMPLES  # noqa: E402
from whisper_stream.core.session import Session, SessionState  # noqa: E402
from whisper_stream.inference.context_decoding import ContextForm  # noqa: E402
from whisper_stream.inference.requests import TranscriptionRequest  # noqa: E402
from whisper_stream.protocol.config import config_from_dict  # noqa: E402
from whisper_stream.protocol.results import TranscriptionResult  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

CACHE_DIR = REPO / "bench" / ".cache" / "voice_agent"
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
CLIENT_VAD_STOP_S = 0.2
"""When a client's own VAD sends ``finalize``: this long after the end of speech (pipecat's default stop)."""


class Decoder:
    """tiny.en on the CPU: each decode's result and wall time, cached on disk."""

    def __init__(self, form: ContextForm = ContextForm.PROMPTED) -> None:
        from whisper_stream.inference.model_source import resolve_model_source
        from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

        options = TranscriberOptions(device="cpu", context_form=form)
        self.transcriber = FasterWhisperTranscriber(resolve_model_source(""), options)
        self.form = form
        inference = REPO / "packages" / "whisper_stream" / "inference"
        source = b"".join(p.read_bytes() for p in sorted(inference.glob("*.py")))
        self._path = CACHE_DIR / f"{hashlib.sha1(source).hexdigest()[:12]}.pickle"
        self._cache: dict[tuple[Any, ...], tuple[TranscriptionResult, float]] = {}
        if self._path.exists():
            self._cache = pickle.loads(self._path.read_bytes())

    def __call__(self, request: TranscriptionRequest) -> tuple[TranscriptionResult, float]:
        final = request.kind.is_final
        key = (hashlib.sha1(request.audio.tobytes()).hexdigest(), request.options, final, self.form)
        if key not in self._cache:
            started = time.perf_counter()
            result = self.transcriber.transcribe(request.audio, request.options, final=final)
            self._cache[key] = (result, time.perf_counter() - started)
        return self._cache[key]

    def save(self) -> None:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        self._path.write_bytes(pickle.dumps(self._cache))


@functools.cache
def _simulated_h100(form: ContextForm) -> SimulatedTranscriber:
    """large-v3-turbo on one H100's cost model (built once: it reads the speech manifests)."""
    return SimulatedTranscriber("large-v3-turbo", "H100", sleep=False, context_form=form)


@dataclasses.dataclass
class Replay:
    """One replay's messages, each with the simulated time it was sent."""

    sent: list[tuple[float, dict[str, Any]]]
    finalize_s: list[float]


def replay(
    stream: Stream,
    decode: Decoder,
    device: str,
    *,
    min_silence_ms: int,
    finalize_at_s: list[float] | None = None,
) -> Replay:
    vad = {"min_silence_duration_ms": min_silence_ms}
    config = config_from_dict(
        {
            "streaming_vad_config": vad,
            "streaming_whisper_params": {"audio_language": "en", "enable_partial_transcripts": False},
            "send_turn_events": True,
        }
    )
    session = Session(config, vad_model().new_scorer(), early_finals=True)
    gpu = _simulated_h100(decode.form)
    queue: deque[TranscriptionRequest] = deque()
    running: tuple[float, TranscriptionRequest, TranscriptionResult] | None = None
    sent: list[tuple[float, dict[str, Any]]] = []
    finalizes = list(finalize_at_s or [])
    heapq.heapify(finalizes)

    def collect(now_s: float) -> None:
        nonlocal running
        queue.extend(session.requests_to_run())
        cancelled = set(session.requests_to_cancel())
        for request in [r for r in queue if r.request_id in cancelled]:
            queue.remove(request)  # withdrawn before it started: the engine skips it
        session.requests_to_promote()
        sent.extend((now_s, m) for m in session.messages_to_send())
        if running is None and queue:
            request = queue.popleft()
            result, wall_s = decode(request)
            cost_s = wall_s if device == "cpu" else gpu.device_seconds([request.options], [result.text], final=True)
            running = (now_s + cost_s, request, result)

    def advance(until_s: float) -> None:
        nonlocal running
        while True:
            done_s = running[0] if running is not None else float("inf")
            next_finalize_s = finalizes[0] if finalizes else float("inf")
            if min(done_s, next_finalize_s) > until_s or (running is None and not finalizes):
                return
            if done_s <= next_finalize_s and running is not None:
                _, request, result = running
                running = None
                session.receive_result(request.request_id, result, done_s)
                collect(done_s)
            else:
                at_s = heapq.heappop(finalizes)
                session.finalize(at_s)
                collect(at_s)

    audio = stream.audio
    for offset in range(0, audio.size, FRAME_SAMPLES):
        frame = audio[offset : offset + FRAME_SAMPLES]
        now_s = (offset + frame.size) / SAMPLE_RATE_HZ
        advance(now_s)
        session.receive_audio(frame, now_s)
        collect(now_s)
    end_s = audio.size / SAMPLE_RATE_HZ
    finalizes.clear()
    session.end_of_stream(end_s)
    collect(end_s)
    advance(float("inf"))
    assert session.state is SessionState.CLOSED, "the replay left a request unanswered"
    decode.save()
    return Replay(sent, sorted(finalize_at_s or []))


def speech_ends_s(stream: Stream) -> list[float]:
    return [u.silero_end_s if u.silero_end_s is not None else u.speech_end_s for u in stream.utterances]


def finals(run: Replay) -> list[tuple[float, dict[str, Any]]]:
    return [(t, m) for t, m in run.sent if m.get("type") == "transcription" and m["is_final"]]


def end_of_speech_latencies_s(run: Replay, ends_s: list[float]) -> list[float]:
    """Per end of speech: the first final covering it minus it (inf: none does)."""
    spans = [
        (t, m["segments"][0]["start_time"], m["segments"][-1]["end_time"]) for t, m in finals(run) if m["segments"]
    ]
    out = []
    for end_s in ends_s:
        times = [t for t, start_s, stop_s in spans if covers_end(start_s, stop_s, end_s)]
        out.append(min(times) - end_s if times else float("inf"))
    return out


def finalize_latencies_s(run: Replay) -> tuple[list[float], int]:
    """Per finalize: the time to the next final marked ``from_finalize`` sent at or after it; and how many of
    those answers carry words (the others are empty: the VAD had ended the utterance and sent its final)."""
    answers = sorted((t, bool(m["transcript"])) for t, m in finals(run) if m["from_finalize"])
    out, with_words = [], 0
    for at_s in run.finalize_s:
        later = [(t, words) for t, words in answers if t >= at_s]
        out.append(later[0][0] - at_s if later else float("inf"))
        with_words += bool(later) and later[0][1]
    return out, with_words


def eager_summary(run: Replay) -> tuple[int, int, float, int]:
    """(finals with an eager text, of them equal to it, p50 of how much earlier the eager came, turn_resumed)."""
    last_eager_s: dict[int, float] = {}
    leads, with_eager, equal = [], 0, 0
    for t, message in run.sent:
        if message["type"] == "eager_end_of_turn":
            last_eager_s[message["transcription_num"]] = t
        elif message["type"] == "transcription" and message["is_final"] and "differs_from_eager" in message:
            with_eager += 1
            equal += not message["differs_from_eager"]
            leads.append(t - last_eager_s[message["transcription_num"]])
    resumed = sum(m["type"] == "turn_resumed" for _, m in run.sent)
    return with_eager, equal, float(np.median(leads)) if leads else float("nan"), resumed


def pct(values: list[float], q: float) -> str:
    value = float(np.percentile(values, q)) if values else float("nan")
    return "never" if value == float("inf") else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="bench,test_other")
    parser.add_argument("--min-silence-ms", default="100,150,200,300", help="endpoints, comma-separated")
    parser.add_argument("--device", choices=("h100", "cpu"), default="h100")
    parser.add_argument("--form", choices=[f.value for f in ContextForm], default=ContextForm.PROMPTED.value)
    args = parser.parse_args()
    decode = Decoder(ContextForm(args.form))
    print(f"load average before: {os.getloadavg()[0]:.2f}; device: {args.device}; finals in context: {args.form}")
    for name, stream in streams(args.sets.split(",")).items():
        references = [u.clip.reference for u in stream.utterances]
        offline = corpus_wer(references, offline_texts(stream, 1))
        ends_s = speech_ends_s(stream)
        print(f"\n## {name}: {len(references)} clips, {stream.duration_s:.0f} s; offline WER (beam 1) {offline:.2%}")
        print(
            "| min silence ms | WER | finals | end of speech -> first final p50 / p95 / max s"
            " | finalize at +0.2 s -> its final p50 / p95 / max s | eager = final | eager earlier p50 s"
            " | turn_resumed |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for min_silence_ms in [int(m) for m in args.min_silence_ms.split(",")]:
            run = replay(stream, decode, args.device, min_silence_ms=min_silence_ms)
            texts = per_utterance(stream, [m for _, m in finals(run) if m["transcript"]])
            eos = end_of_speech_latencies_s(run, ends_s)
            finalize_at_s = [e + CLIENT_VAD_STOP_S for e in ends_s]
            answered = replay(stream, decode, args.device, min_silence_ms=min_silence_ms, finalize_at_s=finalize_at_s)
            fin, fin_words = finalize_latencies_s(answered)
            with_eager, equal, lead_s, resumed = eager_summary(run)
            print(
                f"| {min_silence_ms} | {corpus_wer(references, texts):.2%} | {len(finals(run))}"
                f" | {pct(eos, 50)} / {pct(eos, 95)} / {pct(eos, 100)}"
                f" | {pct(fin, 50)} / {pct(fin, 95)} / {pct(fin, 100)} ({fin_words}/{len(fin)} with words)"
                f" | {equal}/{with_eager} | {lead_s:.3f} | {resumed} |",
                flush=True,
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
