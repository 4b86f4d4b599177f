"""Options of a streaming session, validated once, and the config message they make."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class SessionConfig:
    """The protocol fields sent in the first message. ``None`` leaves the server default."""

    encoding: str = "pcm_s16le"
    sample_rate: int = 16_000
    enable_partial_transcripts: bool = True
    partial_transcript_interval_s: float | None = None
    final_transcript_max_duration_s: float | None = None
    vad_threshold: float | None = None
    min_silence_duration_ms: int | None = None
    speech_pad_ms: int | None = None
    audio_language: str | None = None
    prompt: str | None = None
    show_word_timestamps: bool = False
    send_vad_events: bool = False
    send_turn_events: bool = False
    """``eager_end_of_turn`` and ``turn_resumed`` messages (voice agents)."""
    prefix: str | None = None
    """Text the first final continues (``whisper_params.prefix``)."""
    translate: bool = False
    """English text whatever the language spoken (``output_language: "en"``, Whisper's translate task)."""
    enable_vad: bool = True
    """False: no VAD gating on the server; a final every ``final_transcript_max_duration_s`` and at the end."""
    beam_width: int | None = None
    temperatures: tuple[float, ...] | None = None
    length_penalty: float | None = None
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    max_new_tokens: int | None = None
    diarize: bool = False
    """Speaker labels on the finals (``whisper_params.enable_diarization``), where the server has a speaker model."""
    max_speakers: int | None = None
    """With ``diarize``: at most this many speakers (``streaming_diarization_config.max_speakers``)."""

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError("; ".join(problems))

    def to_message(self) -> dict[str, Any]:
        """The config JSON in Baseten's newer layout, with only the fields that are set."""
        vad = _present(
            threshold=self.vad_threshold,
            min_silence_duration_ms=self.min_silence_duration_ms,
            speech_pad_ms=self.speech_pad_ms,
        )
        streaming = {
            "encoding": self.encoding,
            "sample_rate": self.sample_rate,
            "enable_partial_transcripts": self.enable_partial_transcripts,
        } | _present(
            partial_transcript_interval_s=self.partial_transcript_interval_s,
            final_transcript_max_duration_s=self.final_transcript_max_duration_s,
        )
        whisper = _present(
            audio_language=self.audio_language,
            prompt=self.prompt,
            show_word_timestamps=self.show_word_timestamps or None,
            prefix=self.prefix,
            output_language="en" if self.translate else None,
            enable_vad=None if self.enable_vad else False,
            whisper_sampling_params=self._sampling() or None,
            enable_diarization=self.diarize or None,
        )
        message: dict[str, Any] = {}
        if vad:
            message["streaming_vad_config"] = vad
        message["streaming_params"] = streaming
        if whisper:
            message["whisper_params"] = whisper
        if self.send_vad_events:
            message["send_vad_events"] = True
        if self.send_turn_events:
            message["send_turn_events"] = True
        if self.max_speakers is not None:
            message["streaming_diarization_config"] = {"max_speakers": self.max_speakers}
        return message

    def _sampling(self) -> dict[str, Any]:
        """``whisper_params.whisper_sampling_params``, with only what was set."""
        return _present(
            beam_width=self.beam_width,
            sampling_temperatures=None if self.temperatures is None else list(self.temperatures),
            length_penalty=self.length_penalty,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            max_new_tokens=self.max_new_tokens,
        )


@dataclass(frozen=True)
class StreamerOptions:
    """Where to connect and how to run the session; see ``client.streamer.stream``."""

    url: str
    session: SessionConfig = field(default_factory=SessionConfig)
    headers: dict[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    finish_timeout_s: float = 30.0
    reconnect_attempts: int = 0
    reconnect_base_delay_s: float = 0.5
    reconnect_max_delay_s: float = 10.0
    max_message_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.finish_timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.reconnect_attempts < 0:
            raise ValueError("reconnect_attempts must be >= 0")


def _present(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _problems(config: SessionConfig) -> list[str]:
    problems = []
    if config.encoding not in ENCODINGS:
        problems.append(f"encoding must be one of {', '.join(ENCODINGS)}")
    if not MIN_SAMPLE_RATE <= config.sample_rate <= MAX_SAMPLE_RATE:
        problems.append(f"sample_rate must be {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if config.vad_threshold is not None and not 0.0 <= config.vad_threshold <= 1.0:
        problems.append("vad threshold must be between 0 and 1")
    for name in ("min_silence_duration_ms", "speech_pad_ms"):
        value = getattr(config, name)
        if value is not None and value < 0:
            problems.append(f"{name} must be >= 0")
    for name in ("partial_transcript_interval_s", "final_transcript_max_duration_s", "repetition_penalty"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            problems.append(f"{name} must be > 0")
    if config.max_speakers is not None and not (config.diarize and config.max_speakers >= 1):
        problems.append("max_speakers must be >= 1 and goes with diarize")
    for name in ("beam_width", "max_new_tokens"):
        value = getattr(config, name)
        if value is not None and value < 1:
            problems.append(f"{name} must be >= 1")
    for name in ("no_repeat_ngram_size", "length_penalty"):
        value = getattr(config, name)
        if value is not None and value < 0:
            problems.append(f"{name} must be >= 0")
    if config.temperatures is not None and not (
        config.temperatures and all(0.0 <= t <= 2.0 for t in config.temperatures)
    ):
        problems.append("temperatures must be one or more numbers between 0 and 2")
    return problems
