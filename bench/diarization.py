"""Who said it, measured: online speaker labels on multi-speaker streams built from the repository's speech.

Streams: turns of different LibriSpeech test-other speakers (``data/speech/librispeech_test_other``: 10
speakers, 10 clips each) laid end to end with pauses of 0.15-1.2 s (a little noise in them), some turns short
(0.6-1.5 s cut from a clip: "yes", "right, go on"), speakers coming back after others. Seeded: the same
streams every run (32 by default, ``--streams``).

Utterances are cut as the server cuts them: each stream is replayed through the real ``Session`` with the
real silero VAD (``bench/replay.py``'s loop), every decode answered at once by a stub (no Whisper: only
where finals fall matters here); each final's utterance audio (its context left out) is embedded once by
the speaker model, timed, and the threshold sweep reuses those embeddings.

Reported per threshold (the default is the one with the least mislabelled time plus relative error in the
speaker count): mislabelled speech time (the speech inside the session's utterances whose label is
wrong after the best one-to-one mapping of labels to true speakers, DER's confusion term; VAD misses and
false alarms are reported apart, they do not depend on the speaker model), speakers found against true, and
streams where the count is exact. Run: ``.venv/bin/python bench/diarization.py`` (about three minutes on
one core).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.replay import REPO, Replayer
from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.speaker_embedding import SpeakerEmbedder, load_speaker_embedder
from whisper_stream.core.speakers import DEFAULT_MIN_UPDATE_DURATION_S, DEFAULT_THRESHOLD, OnlineSpeakers
from whisper_stream.inference.requests import TranscriptionRequest
from whisper_stream.protocol.config import SessionConfig
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

SPEECH = REPO / "data/speech/librispeech_test_other"
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
MIN_UPDATE_S = (0.0, 0.5, 1.0, 1.5, 2.0)
NO_SPEAKER = -1


@dataclass
class Stream:
    audio: np.ndarray
    truth: np.ndarray
    """The true speaker (an index) of every sample; ``NO_SPEAKER`` in the pauses laid between turns."""
    speakers: int
    turns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Utterance:
    start_sample: int
    end_sample: int
    embedding: np.ndarray
    embed_ms: float

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SAMPLE_RATE_HZ


def load_clips() -> dict[str, list[np.ndarray]]:
    clips: dict[str, list[np.ndarray]] = {}
    for path in sorted(SPEECH.glob("*.flac")):
        samples, rate = soundfile.read(path, dtype="float32")
        assert rate == SAMPLE_RATE_HZ, path
        clips.setdefault(path.name.split("-")[0], []).append(samples)
    return clips


def build_stream(clips: dict[str, list[np.ndarray]], rng: np.random.Generator) -> Stream:
    """2-5 speakers, 8-14 turns: each speaker introduced, then random turns never repeating the last speaker."""
    names = list(rng.choice(sorted(clips), size=int(rng.integers(2, 6)), replace=False))
    order = names + [None] * int(rng.integers(8 - len(names), 15 - len(names)))
    pieces: list[np.ndarray] = []
    truth: list[np.ndarray] = []
    turns: list[str] = []
    previous = None
    unused = {n: list(rng.permutation(len(clips[n]))) for n in names}
    for slot in order:
        name = slot or str(rng.choice([n for n in names if n != previous]))
        previous = name
        if not unused[name]:
            unused[name] = list(rng.permutation(len(clips[name])))
        clip = clips[name][unused[name].pop()]
        short = slot is None and rng.random() < 0.25
        if short:  # a short turn: 0.6-1.5 s from inside the clip
            length = int(rng.uniform(0.6, 1.5) * SAMPLE_RATE_HZ)
            start = int(rng.integers(SAMPLE_RATE_HZ // 2, max(SAMPLE_RATE_HZ, clip.size - length)))
            clip = clip[start : start + length]
        pause = (rng.standard_normal(int(rng.uniform(0.15, 1.2) * SAMPLE_RATE_HZ)) * 3e-4).astype(np.float32)
        pieces += [pause, clip]
        truth += [np.full(pause.size, NO_SPEAKER), np.full(clip.size, names.index(name))]
        turns.append(f"{name}{'(short)' if short else ''}")
    tail = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
    return Stream(
        np.concatenate(pieces + [tail]), np.concatenate(truth + [np.full(tail.size, NO_SPEAKER)]), len(names), turns
    )


class _StubTranscriber:
    """Every decode says one word: the session's finals fall where the VAD cuts, whatever Whisper would say."""

    def transcribe(self, audio: np.ndarray, options: Any, *, final: bool) -> TranscriptionResult:
        duration_s = options.utterance_s(audio)
        return TranscriptionResult("x", "en", 1.0, (Segment("x", 0.0, duration_s),))


class _FinalsCapture(Replayer):
    def __init__(self, vad_model: SileroVadModel) -> None:
        super().__init__(_StubTranscriber(), vad_model)
        self.final_requests: dict[int, TranscriptionRequest] = {}

    def decode(self, request: TranscriptionRequest) -> TranscriptionResult:
        if request.kind.is_final:  # a later final of the same utterance (speech resumed) replaces it
            self.final_requests[request.transcription_num] = request.without_context()
        return super().decode(request)


def utterances(stream: Stream, vad_model: SileroVadModel, embedder: SpeakerEmbedder) -> list[Utterance]:
    capture = _FinalsCapture(vad_model)
    capture.replay(stream.audio, SessionConfig())
    found = []
    for _, request in sorted(capture.final_requests.items()):
        started = time.perf_counter()
        embedding = embedder.embed(request.audio)
        found.append(
            Utterance(request.start_sample, request.end_sample, embedding, (time.perf_counter() - started) * 1e3)
        )
    return found


def best_mapping_overlap(overlap: np.ndarray) -> int:
    """The most samples a one-to-one mapping of hypothesis labels (rows) to true speakers (columns) agrees on."""
    rows, columns = overlap.shape
    if rows <= columns:
        return max(
            sum(int(overlap[r, c]) for r, c in enumerate(p)) for p in itertools.permutations(range(columns), rows)
        )
    return max(sum(int(overlap[r, c]) for c, r in enumerate(p)) for p in itertools.permutations(range(rows), columns))


@dataclass
class Score:
    labelled_samples: int = 0  # true speech inside utterances
    mislabelled_samples: int = 0
    missed_samples: int = 0  # true speech outside every utterance (includes the clips' own pauses)
    false_alarm_samples: int = 0  # utterance samples in the pauses laid between turns
    speakers_found: int = 0
    speakers_true: int = 0
    exact_count_streams: int = 0
    count_errors: int = 0  # sum over streams of |speakers found - true|
    streams: int = 0

    def cost(self) -> float:
        """What the default threshold is chosen by: mislabelled time, plus the speaker count's relative error
        per stream (a spurious speaker for one utterance costs little time but is plain to see)."""
        mislabelled = self.mislabelled_samples / self.labelled_samples
        return mislabelled + self.count_errors / self.speakers_true

    def row(self) -> str:
        speech = self.labelled_samples + self.missed_samples
        mislabelled = self.mislabelled_samples / self.labelled_samples
        return (
            f"{100 * mislabelled:12.1f}  {100 * self.missed_samples / speech:7.1f}  "
            f"{100 * self.false_alarm_samples / speech:12.1f}  {self.speakers_found:>10d}/{self.speakers_true:<8d}  "
            f"{self.exact_count_streams:>11d}/{self.streams}"
        )


def score(stream: Stream, found: list[Utterance], labels: list[int], into: Score) -> None:
    hypothesis = np.full(stream.audio.size, NO_SPEAKER)
    for utterance, label in zip(found, labels, strict=True):
        hypothesis[utterance.start_sample : utterance.end_sample] = label
    speech = stream.truth != NO_SPEAKER
    covered = speech & (hypothesis != NO_SPEAKER)
    n_hyp = max(labels, default=-1) + 1
    overlap = np.zeros((max(n_hyp, 1), stream.speakers), dtype=np.int64)
    np.add.at(overlap, (hypothesis[covered], stream.truth[covered]), 1)
    into.labelled_samples += int(covered.sum())
    into.mislabelled_samples += int(covered.sum()) - best_mapping_overlap(overlap)
    into.missed_samples += int((speech & (hypothesis == NO_SPEAKER)).sum())
    into.false_alarm_samples += int((~speech & (hypothesis != NO_SPEAKER)).sum())
    into.speakers_found += n_hyp
    into.speakers_true += stream.speakers
    into.exact_count_streams += int(n_hyp == stream.speakers)
    into.count_errors += abs(n_hyp - stream.speakers)
    into.streams += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--model", default="bundled", help="DIARIZATION_MODEL: bundled, or a WeSpeaker directory")
    parser.add_argument("--min-update-s", type=float, default=DEFAULT_MIN_UPDATE_DURATION_S)
    parser.add_argument("--max-speakers", type=int, default=8)
    args = parser.parse_args()

    clips = load_clips()
    rng = np.random.default_rng(args.seed)
    streams = [build_stream(clips, rng) for _ in range(args.streams)]
    vad_model, embedder = SileroVadModel(), load_speaker_embedder(args.model)
    embedder.embed(clips[sorted(clips)[0]][0])  # warm-up, not timed
    per_stream = [utterances(s, vad_model, embedder) for s in streams]

    audio_s = sum(s.audio.size for s in streams) / SAMPLE_RATE_HZ
    all_utterances = [u for found in per_stream for u in found]
    durations = np.array([u.duration_s for u in all_utterances])
    times = np.array([u.embed_ms for u in all_utterances])
    print(f"model: {args.model}; {len(streams)} streams, {audio_s:.0f} s of audio, seed {args.seed}")
    for i, s in enumerate(streams):
        print(f"  stream {i}: {s.speakers} speakers, {len(per_stream[i])} utterances, turns {' '.join(s.turns)}")
    print(
        f"utterances: {durations.size}, {durations.sum():.0f} s; duration s p10/p50/p90 "
        f"{np.percentile(durations, 10):.1f}/{np.percentile(durations, 50):.1f}/{np.percentile(durations, 90):.1f}; "
        f"under {args.min_update_s:g} s: {int((durations < args.min_update_s).sum())}"
    )
    print(
        f"embedding time per utterance (CPU, 1 thread, this machine shared and loaded): mean {times.mean():.0f} ms, "
        f"p50 {np.percentile(times, 50):.0f} ms, p95 {np.percentile(times, 95):.0f} ms, max {times.max():.0f} ms; "
        f"{times.sum() / durations.sum():.0f} ms per second of speech"
    )
    print("threshold  mislabelled%  missed%  false-alarm%  speakers found/true  exact-count streams")
    cost = {}
    for threshold in THRESHOLDS:
        total = sweep(streams, per_stream, threshold, args.min_update_s, args.max_speakers)
        cost[threshold] = total.cost()
        print(f"{threshold:9.2f}  {total.row()}")
    chosen = min(cost, key=lambda t: (round(cost[t], 3), abs(t - DEFAULT_THRESHOLD)))
    print(
        f"chosen: {chosen:.2f}, the least mislabelled time plus error in the speaker count "
        f"(per stream |found - true|, over true): {100 * cost[chosen]:.1f} %"
    )
    print(f"at {chosen:.2f}, utterances shorter than min_update_s label but move no centroid:")
    print("min_update_s  mislabelled%  missed%  false-alarm%  speakers found/true  exact-count streams")
    for min_update_s in MIN_UPDATE_S:
        print(f"{min_update_s:12.1f}  {sweep(streams, per_stream, chosen, min_update_s, args.max_speakers).row()}")


def sweep(
    streams: list[Stream], per_stream: list[list[Utterance]], threshold: float, min_update_s: float, max_speakers: int
) -> Score:
    total = Score()
    for stream, found in zip(streams, per_stream, strict=True):
        clustering = OnlineSpeakers(threshold=threshold, max_speakers=max_speakers, min_update_duration_s=min_update_s)
        labels = [int(clustering.assign(u.embedding, duration_s=u.duration_s).speaker) for u in found]
        score(stream, found, labels, total)
    return total


if __name__ == "__main__":
    main()
