"""What speaker labels cost a final: the embedding's CPU, and how much later the final is for it.

The finals are those the real session cuts from ``bench/diarization.py``'s multi-speaker streams (real silero
VAD). Each is decoded by the real engine with the bundled tiny.en on the CPU, one at a time, twice: with the
speaker model running beside the decode, as the server runs it (``SpeakerEmbeddings``, one thread), and
without, in pairs (a shared machine's load drifts alike for both). Reported per final:

- the embedding's own wall time and its CPU time (the pool thread's ``thread_time``), per final and per
  second of speech;
- the added latency: how long the results waited for their embedding once the decode was done (what
  ``DIARIZATION_MAX_WAIT_MS`` bounds; 0 when the embedding finished first);
- the decode's time with and without the embedding running beside it (the two share the cores);
- the process's CPU time per final with and without (all threads), the difference being what diarization
  costs a CPU replica.

Run: ``.venv/bin/python bench/diarization_cost.py`` (``--streams 8``, ``--cpu-threads 2``, ``--model DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.diarization import _FinalsCapture, build_stream, load_clips
from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.speaker_embedding import SpeakerEmbedder, load_speaker_embedder
from whisper_stream.inference.engine import Engine, EngineOptions
from whisper_stream.inference.model_source import resolve_model_source
from whisper_stream.inference.requests import TranscriptionRequest
from whisper_stream.inference.speaker_embeddings import Embedding, SpeakerEmbeddings
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions
from whisper_stream.protocol.config import config_from_dict
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ


class _TimedEmbedder:
    """The embedder, with each call's CPU time (the calling thread's) kept."""

    def __init__(self, embedder: SpeakerEmbedder) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension
        self.cpu_s: list[float] = []

    def embed(self, samples: np.ndarray) -> np.ndarray:
        started = time.thread_time()
        vector = self.embedder.embed(samples)
        self.cpu_s.append(time.thread_time() - started)
        return vector


class _TimedSpeakers(SpeakerEmbeddings):
    """``attach`` timed: how long the decoded results waited for their embeddings."""

    waits_s: list[float]

    def attach(
        self, results: Sequence[TranscriptionResult], pending: Sequence[Future[Embedding] | None]
    ) -> list[TranscriptionResult]:
        started = time.perf_counter()
        attached = super().attach(results, pending)
        self.waits_s.append(time.perf_counter() - started)
        return attached


def final_requests(streams: int, seed: int) -> list[TranscriptionRequest]:
    """The finals (utterance audio only) the real session cuts from the seeded multi-speaker streams."""
    clips, rng = load_clips(), np.random.default_rng(seed)
    config = config_from_dict({"whisper_params": {"enable_diarization": True}})
    capture, requests = _FinalsCapture(SileroVadModel()), []
    for _ in range(streams):
        capture.final_requests.clear()
        capture.replay(build_stream(clips, rng).audio, config)
        requests += [r for _, r in sorted(capture.final_requests.items())]
    return requests


Run = tuple[list[TranscriptionResult], float]


def run(engines: Sequence[Engine], requests: list[TranscriptionRequest]) -> list[Run]:
    """Each request decoded alone by each engine in turn (paired: a shared machine's load drifts alike for
    both); each engine's results and the process CPU seconds its decodes took."""
    out: list[Run] = [([], 0.0) for _ in engines]
    for request in requests:
        for i, engine in enumerate(engines):
            started = time.process_time()
            future = engine.submit(request)
            assert future is not None
            result = future.result()
            out[i] = (out[i][0] + [result], out[i][1] + time.process_time() - started)
    return out


def _ms(values: Sequence[float]) -> str:
    array = np.asarray(values) * 1e3
    return f"p50 {np.percentile(array, 50):.0f}, p95 {np.percentile(array, 95):.0f}, max {array.max():.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--cpu-threads", type=int, default=2, help="Whisper's threads (the server: cores, at most 8)")
    parser.add_argument("--model", default="bundled", help="DIARIZATION_MODEL: bundled, or a WeSpeaker directory")
    args = parser.parse_args()

    requests = final_requests(args.streams, args.seed)
    speech_s = sum(r.audio.size for r in requests) / SAMPLE_RATE_HZ
    transcriber = FasterWhisperTranscriber(
        resolve_model_source(""), TranscriberOptions(device="cpu", cpu_threads=args.cpu_threads, final_beam_size=1)
    )
    embedder = _TimedEmbedder(load_speaker_embedder(args.model))
    speakers = _TimedSpeakers(embedder, threshold=0.55, max_speakers=8, threads=1, max_wait_s=3600.0)
    speakers.waits_s = []
    with_engine = Engine(transcriber, SileroVadModel().new_scorer, EngineOptions(), speakers=speakers)
    without_engine = Engine(transcriber, SileroVadModel().new_scorer, EngineOptions())
    with_engine.start()
    without_engine.start()
    try:
        run([with_engine, without_engine], requests[:3])  # warm-up, not counted
        embedder.cpu_s.clear()
        speakers.waits_s.clear()
        (labelled, with_cpu_s), (without, without_cpu_s) = run([with_engine, without_engine], requests)
    finally:
        with_engine.stop()
        without_engine.stop()
    load = os.getloadavg()
    embed_s = [r.times.speaker_embedding_s or 0.0 for r in labelled]
    print(
        f"model {args.model}; {len(requests)} finals, {speech_s:.0f} s of speech, from {args.streams} streams; "
        f"tiny.en int8 on {args.cpu_threads} CPU thread(s), embedding on 1; {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} (this machine is shared: times are pessimistic)"
    )
    print(f"embedding wall per final: {_ms(embed_s)}; {1e3 * sum(embed_s) / speech_s:.0f} ms per s of speech")
    print(
        f"embedding CPU per final: {_ms(embedder.cpu_s)}; {1e3 * sum(embedder.cpu_s) / speech_s:.0f} ms of one "
        "core per s of speech"
    )
    print(f"added latency (waiting for the embedding after the decode): {_ms(speakers.waits_s)}")
    print(f"decode with the embedding beside it: {_ms([r.times.decode_s or 0.0 for r in labelled])}")
    print(f"decode alone:                        {_ms([r.times.decode_s or 0.0 for r in without])}")
    print(
        f"process CPU per final: {1e3 * with_cpu_s / len(requests):.0f} ms with speaker labels, "
        f"{1e3 * without_cpu_s / len(requests):.0f} ms without ({100 * (with_cpu_s / without_cpu_s - 1):+.0f} %)"
    )


if __name__ == "__main__":
    main()
