"""Benchmark audio: real speech clips laid end to end with natural pauses.

Each clip is one file of the repository's ``data/speech/<set>/`` with its reference
transcript. A ``Stream`` knows where each clip's speech starts and ends (found
by an energy detector on the clip, the same for every system), so latencies are
measured from the moment the last word was spoken, not from the end of the
file's trailing silence.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

from whisper_stream.audio.silero import SileroVadModel
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.samples import SAMPLE_RATE_HZ

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO / "data" / "speech"
# The sets, in the order they are interleaved. longform's *_concat files (in
# the original speech folder, not copied into data/speech) are left out: they
# are the librispeech_test_other utterances again.
DEFAULT_SETS = ("librispeech_clean", "librispeech_test_other", "misc_short", "longform")
# Long recordings join the rotation once every this many rounds, so that a
# few-minute stream still holds many utterances.
_SET_STRIDE = {"longform": 4}
_ENERGY_FRAME_S = 0.01


@dataclass(frozen=True)
class Clip:
    set_name: str
    path: Path
    reference: str
    duration_s: float

    @property
    def name(self) -> str:
        return f"{self.set_name}/{self.path.name}"


@dataclass(frozen=True)
class Utterance:
    """One clip placed in a stream; all times are seconds from the stream's first sample."""

    clip: Clip
    start_s: float
    end_s: float
    speech_start_s: float
    speech_end_s: float
    silero_end_s: float | None = None
    """Where silero (p >= 0.5, 32 ms frames) last hears speech in the clean clip: the field's end of speech
    (Artificial Analysis' AA-WER Streaming measures latency from it); None: not computed."""


@dataclass(frozen=True)
class Stream:
    audio: np.ndarray  # float32, 16 kHz mono
    utterances: tuple[Utterance, ...]

    @property
    def duration_s(self) -> float:
        return self.audio.size / SAMPLE_RATE_HZ

    @property
    def speech_s(self) -> float:
        return sum(u.speech_end_s - u.speech_start_s for u in self.utterances)


def load_clips(data_dir: Path = DEFAULT_DATA_DIR, sets: tuple[str, ...] = DEFAULT_SETS) -> list[Clip]:
    """Clips of ``sets``, interleaved round-robin (one of each set in turn, longform every 4th round)."""
    per_set: list[list[Clip]] = []
    for set_name in sets:
        manifest = data_dir / set_name / "manifest.tsv"
        if not manifest.is_file():
            raise SystemExit(f"bench: no {manifest}; pass --data-dir")
        with manifest.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        per_set.append(
            [
                Clip(set_name, data_dir / set_name / row["filename"], row["transcript"], float(row["duration_s"]))
                for row in rows
                if "_concat." not in row["filename"]
            ]
        )
    clips: list[Clip] = []
    taken = [0] * len(per_set)
    for round_ in range(max(len(s) * _SET_STRIDE.get(n, 1) for s, n in zip(per_set, sets, strict=True))):
        for index, (set_clips, set_name) in enumerate(zip(per_set, sets, strict=True)):
            stride = _SET_STRIDE.get(set_name, 1)
            if round_ % stride == stride - 1 and taken[index] < len(set_clips):
                clips.append(set_clips[taken[index]])
                taken[index] += 1
    return clips


@cache
def load_16k(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        mono = soxr.resample(mono, rate, SAMPLE_RATE_HZ)
    return np.ascontiguousarray(mono, dtype=np.float32)


@cache
def speech_bounds_s(path: Path) -> tuple[float, float]:
    """First and last moment of speech in a clip.

    Speech is a 10 ms frame 12 dB over the clip's noise floor (its 10th
    percentile frame) and within 40 dB of its loudest frame.
    """
    audio = load_16k(path)
    frame = int(_ENERGY_FRAME_S * SAMPLE_RATE_HZ)
    count = max(1, audio.size // frame)
    frames = audio[: count * frame].reshape(count, frame)
    level_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    threshold_db = max(float(np.percentile(level_db, 10)) + 12.0, float(level_db.max()) - 40.0)
    loud = np.flatnonzero(level_db > threshold_db)
    if loud.size == 0:
        return 0.0, audio.size / SAMPLE_RATE_HZ
    return loud[0] * _ENERGY_FRAME_S, min((loud[-1] + 1) * _ENERGY_FRAME_S, audio.size / SAMPLE_RATE_HZ)


def build_stream(
    clips: list[Clip],
    duration_s: float,
    *,
    rotate: int = 0,
    seed: int = 0,
    pause_s: tuple[float, float] = (1.0, 2.5),
    lead_s: float = 1.0,
    tail_s: float = 5.0,
) -> Stream:
    """Clips from ``clips[rotate:]`` (wrapping) until ``duration_s`` of stream is filled.

    A clip that would overrun is skipped for a later, shorter one; at least one
    clip is always taken. Pauses between clips are drawn from ``pause_s``
    (seeded), and filled with faint noise rather than digital zeros.
    """
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    order = clips[rotate % len(clips) :] + clips[: rotate % len(clips)]
    pieces: list[np.ndarray] = []
    utterances: list[Utterance] = []
    position = 0

    def pad(seconds: float) -> None:
        nonlocal position
        samples = int(seconds * SAMPLE_RATE_HZ)
        pieces.append((noise.standard_normal(samples) * 3e-4).astype(np.float32))
        position += samples

    pad(lead_s)
    budget = duration_s - lead_s - tail_s
    for clip in order:
        audio = load_16k(clip.path)
        clip_s = audio.size / SAMPLE_RATE_HZ
        if utterances and position / SAMPLE_RATE_HZ + clip_s > lead_s + budget:
            continue
        start_s = position / SAMPLE_RATE_HZ
        speech_start, speech_end = speech_bounds_s(clip.path)
        utterances.append(
            Utterance(
                clip,
                start_s,
                start_s + clip_s,
                start_s + speech_start,
                start_s + speech_end,
                start_s + silero_speech_end_s(clip.path),
            )
        )
        pieces.append(audio)
        position += audio.size
        if position / SAMPLE_RATE_HZ >= lead_s + budget:
            break
        pad(rng.uniform(*pause_s))
    pad(tail_s)
    return Stream(np.concatenate(pieces), tuple(utterances))


def reference_text(stream: Stream) -> str:
    return " ".join(u.clip.reference for u in stream.utterances)


SPEECH_PROBABILITY = 0.5
"""silero's own default threshold: a 32 ms frame at or above it is speech."""


@cache
def silero_speech_end_s(path: Path) -> float:
    """The end of the last 32 ms frame silero scores as speech (p >= 0.5) in the clean clip, in clip seconds."""
    scorer = vad_model().new_scorer()
    audio = load_16k(path)
    end_s = 0.0
    for offset in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        if scorer.score(audio[offset : offset + FRAME_SAMPLES]) >= SPEECH_PROBABILITY:
            end_s = (offset + FRAME_SAMPLES) / SAMPLE_RATE_HZ
    return end_s


@cache
def vad_model() -> SileroVadModel:
    return SileroVadModel()
