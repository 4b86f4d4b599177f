"""Phone audio: streaming vs offline through a phone channel, beside the same speech wideband, in one run.

    .venv/bin/python bench/telephony.py                        # every set, tiny.en, beam 1: a few minutes
    .venv/bin/python bench/telephony.py --sets librispeech_test_other --no-band --json out.json

The speech of data/speech (``--sets``; default the English read and spontaneous sets, every clip once)
laid end to end with 1-2.5 s pauses of faint noise (bench/audio.py, seeded) is sent two ways:

- wideband: 16 kHz pcm_s16le, as a microphone client sends it;
- phone: through ``bench/phone_channel.py`` (16 kHz -> 8 kHz, the 300-3400 Hz telephone band unless
  ``--no-band``, G.711 mu-law), sent as pcm_mulaw at 8000 Hz in 20 ms frames and decoded by the server's
  own decoder (mu-law, streaming resampler to 16 kHz).

Each goes through the real ``Session`` with the real silero VAD and tiny.en, replayed on a simulated
clock (each decode answered as soon as it is asked, as when the decoder keeps up: bench/finals_wer.py),
so every figure is exact and does not depend on the machine's load. The phone stream runs twice: with the
VAD the server picks for an 8 kHz stream (silero at 8 kHz, ``whisper_stream.audio.silero.scoring_rate_hz``)
and with silero at 16 kHz on the resampled audio (what the server did before). Offline is faster-whisper's
``transcribe`` on each whole clip as the server hears it after the same channel, at the same beam.

Per row: finals (with text), clips cut (clips whose speech came back in more than one final), VAD
segments (the gate's speech segments), the VAD's frame probabilities over the clips' speech (mean, share
under the threshold) and outside it, streaming WER, offline WER through the same channel, and the
difference. WER: corpus-level, tests/speech.py's normaliser (as bench/finals_wer.py). Decodes are cached
in bench/.cache/ (bench/finals_wer.py's cache and bench/.cache/telephony/). ``--vad-only`` runs silero
alone (about a minute of CPU, no Whisper) on the stream after each step of the channel, at 16 and at 8 kHz: which step
makes silero at 16 kHz cut more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

from bench.audio import Stream, build_stream, load_clips  # noqa: E402
from bench.finals_wer import Decoder, corpus_wer, per_utterance  # noqa: E402
from bench.phone_channel import (  # noqa: E402
    PHONE_BAND_HZ,
    PHONE_ENCODING,
    PHONE_RATE_HZ,
    phone_channel,
    server_16k,
    server_frames_16k,
)
from bench.systems.base import offline_whisper  # noqa: E402
from client.encoding import encode_float  # noqa: E402
from whisper_stream.audio.decoding import AudioDecoder  # noqa: E402
from whisper_stream.audio.silero import SileroScorer, SileroVadModel, scoring_rate_hz  # noqa: E402
from whisper_stream.audio.vad import FRAME_SAMPLES, SpeechStart, VadGate  # noqa: E402
from whisper_stream.core.session import Session, SessionState  # noqa: E402
from whisper_stream.protocol.config import SessionConfig, config_from_dict  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

SETS = ("librispeech_clean", "librispeech_test_other", "misc_short", "longform")
CACHE_DIR = REPO / "bench" / ".cache" / "telephony"
WIDEBAND_FRAME_SAMPLES = 640  # 40 ms, as bench/run.py sends


@dataclass(frozen=True)
class Channel:
    """Audio as sent: the server's 16 kHz samples frame by frame, the encoding and rate declared."""

    name: str
    encoding: str
    sample_rate_hz: int
    frames_16k: list[np.ndarray]

    @property
    def audio_16k(self) -> np.ndarray:
        return np.concatenate(self.frames_16k)


def wideband(stream: Stream) -> Channel:
    data, decoder = encode_float(stream.audio, "pcm_s16le"), AudioDecoder("pcm_s16le", SAMPLE_RATE_HZ)
    step = WIDEBAND_FRAME_SAMPLES * 2
    frames = [decoder.decode(data[offset : offset + step]) for offset in range(0, len(data), step)]
    return Channel("wideband", "pcm_s16le", SAMPLE_RATE_HZ, frames)


def phone(stream: Stream, band_hz: tuple[float, float] | None) -> Channel:
    frames = server_frames_16k(phone_channel(stream.audio, band_hz=band_hz))
    return Channel("phone", PHONE_ENCODING, PHONE_RATE_HZ, frames)


class RecordingScorer:
    """A scorer that keeps every probability it gives."""

    def __init__(self, scorer: SileroScorer) -> None:
        self.scorer = scorer
        self.probabilities: list[float] = []

    def score(self, frame: np.ndarray) -> float:
        probability = self.scorer.score(frame)
        self.probabilities.append(probability)
        return probability


@dataclass(frozen=True)
class Row:
    channel: str
    vad_rate_hz: int
    finals: int
    clips_cut: int
    vad_segments: int
    speech_probability_mean: float
    speech_frames_under_threshold: float
    pause_frames_over_threshold: float
    streaming_wer: float
    offline_wer: float


def session_config(channel: Channel) -> SessionConfig:
    return config_from_dict(
        {
            "streaming_whisper_params": {
                "encoding": channel.encoding,
                "sample_rate": channel.sample_rate_hz,
                "audio_language": "en",
                "enable_partial_transcripts": False,
            }
        }
    )


def replay(channel: Channel, scorer: RecordingScorer, decode: Decoder, *, context_s: float) -> list[dict[str, Any]]:
    """The final messages for ``channel`` through a real Session (decodes answered at once)."""
    session = Session(session_config(channel), scorer, early_finals=False, context_s=context_s)
    sent: list[dict[str, Any]] = []
    received = 0

    def answer(now_s: float) -> None:
        while requests := session.requests_to_run():
            for request in requests:
                session.receive_result(request.request_id, decode(request), now_s=now_s)
        sent.extend(m for m in session.messages_to_send() if m.get("type") == "transcription" and m["is_final"])

    for frame in channel.frames_16k:
        received += frame.size
        session.receive_audio(frame, received / SAMPLE_RATE_HZ)
        answer(received / SAMPLE_RATE_HZ)
    session.end_of_stream(received / SAMPLE_RATE_HZ)
    answer(received / SAMPLE_RATE_HZ)
    assert session.state is SessionState.CLOSED
    return [m for m in sent if m["transcript"]]


def clips_cut(stream: Stream, finals: list[dict[str, Any]]) -> int:
    """Clips whose speech came back in more than one final (by where each final's middle falls)."""
    per_clip = [0] * len(stream.utterances)
    for message in finals:
        segments = message["segments"]
        middle_s = (segments[0]["start_time"] + segments[-1]["end_time"]) / 2
        index = max(i for i, u in enumerate(stream.utterances) if u.start_s <= middle_s or i == 0)
        per_clip[index] += 1
    return sum(count > 1 for count in per_clip)


def vad_figures(stream: Stream, probabilities: list[float], config: SessionConfig) -> dict[str, Any]:
    """Segments the gate makes of ``probabilities``; their distribution inside and outside the clips' speech."""
    vad = config.vad
    gate = VadGate(
        threshold=vad.threshold, min_silence_duration_ms=vad.min_silence_duration_ms, speech_pad_ms=vad.speech_pad_ms
    )
    events = [gate.update(p, (i + 1) * FRAME_SAMPLES) for i, p in enumerate(probabilities)]
    p = np.array(probabilities)
    middle_s = (np.arange(p.size) + 0.5) * FRAME_SAMPLES / SAMPLE_RATE_HZ
    speech = np.zeros(p.size, dtype=bool)
    for u in stream.utterances:
        speech |= (middle_s >= u.speech_start_s) & (middle_s < u.speech_end_s)
    return {
        "vad_segments": sum(isinstance(e, SpeechStart) for e in events),
        "speech_probability_mean": float(p[speech].mean()),
        "speech_frames_under_threshold": float(np.mean(p[speech] < vad.threshold)),
        "pause_frames_over_threshold": float(np.mean(p[~speech] >= vad.threshold)),
    }


class Offline:
    """faster-whisper's ``transcribe`` on a whole clip, English, at one beam; cached by audio."""

    def __init__(self, model_path: str, beam_size: int) -> None:
        self.model_path, self.beam_size = model_path, beam_size
        self._whisper: Any = None

    def __call__(self, audio: np.ndarray) -> str:
        key = hashlib.sha1(audio.tobytes() + f"{self.model_path}|{self.beam_size}".encode()).hexdigest()
        path = CACHE_DIR / f"offline-{key}.json"
        if path.exists():
            return str(json.loads(path.read_text())["text"])
        if self._whisper is None:
            self._whisper = offline_whisper(self.model_path)
        segments, _ = self._whisper.transcribe(audio, language="en", beam_size=self.beam_size)
        text = " ".join(s.text.strip() for s in segments)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"text": text}))
        return text


def offline_wer(stream: Stream, channel: Channel, offline: Callable[[np.ndarray], str]) -> float:
    audio = channel.audio_16k
    texts = [offline(audio[int(u.start_s * SAMPLE_RATE_HZ) : int(u.end_s * SAMPLE_RATE_HZ)]) for u in stream.utterances]
    return corpus_wer([u.clip.reference for u in stream.utterances], texts)


def measure(
    stream: Stream,
    channel: Channel,
    vad_rate_hz: int,
    vad: SileroVadModel,
    decode: Decoder,
    offline_wer_: float,
    *,
    context_s: float,
) -> Row:
    scorer = RecordingScorer(SileroScorer(vad.at_rate(vad_rate_hz)))
    finals = replay(channel, scorer, decode, context_s=context_s)
    references = [u.clip.reference for u in stream.utterances]
    return Row(
        channel=channel.name,
        vad_rate_hz=vad_rate_hz,
        finals=len(finals),
        clips_cut=clips_cut(stream, finals),
        **vad_figures(stream, scorer.probabilities, session_config(channel)),
        streaming_wer=corpus_wer(references, per_utterance(stream, finals)),
        offline_wer=offline_wer_,
    )


def table(rows: list[Row], stream: Stream, served_rate_hz: int) -> str:
    lines = [
        f"{len(stream.utterances)} clips, {stream.speech_s:.0f} s of speech in a {stream.duration_s:.0f} s stream",
        "",
        "| audio | VAD at | finals | clips cut | VAD segments | p(speech) in speech | speech frames < thr"
        " | pause frames >= thr | streaming WER | offline WER | delta pt |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        audio = "wideband 16 kHz pcm_s16le" if r.channel == "wideband" else "phone 8 kHz pcm_mulaw"
        mark = " (server)" if r.channel == "wideband" or r.vad_rate_hz == served_rate_hz else " (before)"
        lines.append(
            f"| {audio} | {r.vad_rate_hz // 1000} kHz{mark} | {r.finals} | {r.clips_cut} | {r.vad_segments}"
            f" | {r.speech_probability_mean:.3f} | {r.speech_frames_under_threshold:.1%}"
            f" | {r.pause_frames_over_threshold:.1%} | {r.streaming_wer:.2%} | {r.offline_wer:.2%}"
            f" | {100 * (r.streaming_wer - r.offline_wer):+.2f} |"
        )
    return "\n".join(lines)


def vad_steps(stream: Stream, vad: SileroVadModel) -> str:
    """Silero alone (no Whisper) on the stream after each step of the phone channel, at each of its rates."""
    lowpassed = soxr.resample(soxr.resample(stream.audio, SAMPLE_RATE_HZ, PHONE_RATE_HZ), PHONE_RATE_HZ, SAMPLE_RATE_HZ)
    steps = {
        "wideband": stream.audio,
        "low-passed under 4 kHz (16 -> 8 -> 16 kHz, no mu-law)": lowpassed.astype(np.float32),
        "8 kHz mu-law": server_16k(phone_channel(stream.audio, band_hz=None)),
        "8 kHz mu-law, 300-3400 Hz": server_16k(phone_channel(stream.audio)),
    }
    config = session_config(wideband(stream))
    lines = [
        "| audio | silero at | VAD segments | p(speech) in speech | speech frames < thr | pause frames >= thr |",
        "|---|---|---|---|---|---|",
    ]
    for name, audio in steps.items():
        frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
        for rate_hz in (SAMPLE_RATE_HZ, PHONE_RATE_HZ) if name != "wideband" else (SAMPLE_RATE_HZ,):
            scorer = SileroScorer(vad.at_rate(rate_hz))  # at 8 kHz: every other sample, exact once band-limited
            f = vad_figures(stream, [scorer.score(frame) for frame in frames], config)
            lines.append(
                f"| {name} | {rate_hz // 1000} kHz | {f['vad_segments']} | {f['speech_probability_mean']:.3f}"
                f" | {f['speech_frames_under_threshold']:.1%} | {f['pause_frames_over_threshold']:.1%} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma list of data/speech sets")
    parser.add_argument("--max-clips", type=int, default=0, help="at most this many clips (0: all)")
    parser.add_argument("--beam", type=int, default=1, help="beam of finals and of offline (default 1, the CPU's)")
    parser.add_argument("--no-band", action="store_true", help="phone channel without the 300-3400 Hz band limit")
    parser.add_argument("--context-s", type=float, default=None, help="finals' context (default: the server's)")
    parser.add_argument("--model", default="", help="WHISPER_MODEL (a directory); default: the bundled tiny.en")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--vad-only", action="store_true", help="silero alone after each step of the channel")
    args = parser.parse_args(argv)
    from whisper_stream.inference.model_source import resolve_model_source
    from whisper_stream.server.limits import Limits

    clips = load_clips(sets=tuple(args.sets.split(",")))
    stream = build_stream(clips[: args.max_clips or None], 1e6, seed=0)
    if args.vad_only:
        print(
            f"{len(stream.utterances)} clips, {stream.speech_s:.0f} s of speech in a {stream.duration_s:.0f} s stream"
        )
        print(vad_steps(stream, SileroVadModel()))
        return 0
    context_s = Limits().final_context_s if args.context_s is None else args.context_s
    decode, vad = Decoder("-telephony", args.model), SileroVadModel()
    decode.beam(args.beam)
    offline = Offline(str(resolve_model_source(args.model).name_or_path), args.beam)
    band_hz = None if args.no_band else PHONE_BAND_HZ
    served_rate_hz = scoring_rate_hz(PHONE_RATE_HZ)
    runs = ((wideband(stream), (SAMPLE_RATE_HZ,)), (phone(stream, band_hz), (PHONE_RATE_HZ, SAMPLE_RATE_HZ)))
    rows = []
    for channel, rates in runs:
        channel_offline_wer = offline_wer(stream, channel, offline)
        for vad_rate_hz in rates:
            rows.append(measure(stream, channel, vad_rate_hz, vad, decode, channel_offline_wer, context_s=context_s))
            decode.save()
            print(f"[telephony] {rows[-1]}", file=sys.stderr, flush=True)
    band = "no band limit" if band_hz is None else f"{band_hz[0]:.0f}-{band_hz[1]:.0f} Hz"
    print(f"phone channel: 8 kHz G.711 mu-law, {band}; beam {args.beam}; finals' context {context_s:g} s")
    print(table(rows, stream, served_rate_hz))
    if args.json:
        run = {"args": vars(args) | {"json": str(args.json)}, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(run, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
