"""Replica settings, read once from the environment (and Truss ``model_metadata``).

| variable              | default                         | meaning                                   |
|-----------------------|---------------------------------|-------------------------------------------|
| WHISPER_MODEL         | bundled tiny.en                 | directory, size name or hub repo id       |
| WHISPER_REVISION      | -                               | hub revision to pin (names only)          |
| WHISPER_DEVICE        | auto                            | cpu, cuda or auto                         |
| WHISPER_COMPUTE_TYPE  | int8 on cpu, float16 on cuda    | CTranslate2 compute type                  |
| WHISPER_BEAM_SIZE     | 5 on cuda, 1 on cpu             | beam size of finals (partials are greedy) |
| WHISPER_CPU_THREADS   | cores, at most 8                | threads per decode on CPU                 |
| WHISPER_TRANSCRIBER   | -                               | <module or file.py>:<function> builder of |
|                       |                                 | another transcriber (bench's simulator)   |
| WHISPER_WARM_UP       | 1                               | 0: skip the warm-up decode in load()      |
| DECODE_WORKERS        | 1                               | decodes run at once                       |
| MAX_BATCH_SIZE        | 1 on cpu, 8 on cuda             | requests of many sessions in one decode   |
| MAX_SESSIONS          | 8 on cpu, 32 on cuda            | concurrent sessions; more get 1013        |
| MAX_FRAME_BYTES       | 1048576                         | largest binary frame; larger gets 1009    |
| MAX_SESSION_S         | 14400                           | audio seconds per session                 |
| IDLE_TIMEOUT_S        | 60                              | no message for this long: finals, 1000    |
| FINAL_CONTEXT_S       | 29 (at most 29)                 | context of a final; 0: finals alone       |
| FINAL_CONTEXT_FORM    | prompted                        | prompted: the context's words as the      |
|                       |                                 | prompt; forced: as the decoder prefix;    |
|                       |                                 | tail: prompted, the last 8 tokens forced  |
| MAX_BEAM_SIZE         | 5                               | largest beam a client may ask for         |
| ALLOWED_ORIGINS       | -                               | local server: web origins whose pages may |
|                       |                                 | connect (comma-separated; * for any)      |
| DIARIZATION_MODEL     | - (no speaker labels)           | speaker model: bundled (the test model),  |
|                       |                                 | a WeSpeaker directory or an .onnx file    |
| DIARIZATION_THRESHOLD | 0.55                            | cosine similarity to join a known speaker |
| DIARIZATION_MAX_SPEAKERS | 8                            | speakers a session finds at most          |
| DIARIZATION_MAX_WAIT_MS | 500                           | a final waits this long at most after its |
|                       |                                 | decode for its speaker, else unlabelled   |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from whisper_stream.core.final_context import CONTEXT_S
from whisper_stream.core.speakers import DEFAULT_MAX_SPEAKERS, DEFAULT_THRESHOLD
from whisper_stream.protocol.diarization_config import MAX_SPEAKERS
from whisper_stream.server.limits import Limits

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    whisper_model: str = ""
    whisper_revision: str = ""
    device: str = "auto"
    compute_type: str = ""
    beam_size: int = 0
    cpu_threads: int = 0
    decode_workers: int = 1
    max_batch_size: int = 0
    max_sessions: int = 0
    warm_up: bool = True
    transcriber: str = ""
    context_form: str = "prompted"
    allowed_origins: tuple[str, ...] = ()
    """Local server only: web origins whose pages may connect (``origin.OriginCheck``); ``*`` for any."""
    diarization_model: str = ""
    """``bundled``, a WeSpeaker directory or an ``.onnx`` file: sessions may ask for speaker labels. Empty: none."""
    diarization_threshold: float = DEFAULT_THRESHOLD
    diarization_max_speakers: int = DEFAULT_MAX_SPEAKERS
    diarization_max_wait_ms: int = 500
    """How long a final's result waits after its decode for its speaker embedding; later, it goes unlabelled."""
    limits: Limits = Limits()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, metadata: Mapping[str, Any] | None = None) -> Settings:
        """Environment variables win over ``model_metadata`` entries of the same (lower-case) name."""
        env = dict(os.environ if environ is None else environ)
        meta = {k.upper(): str(v) for k, v in (metadata or {}).items()}

        def get(name: str, default: str = "") -> str:
            return env.get(name) or meta.get(name) or default

        def number(name: str, default: float, kind: type = int, minimum: float = 0, maximum: float = math.inf) -> Any:
            raw = get(name)
            try:
                value = kind(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or value < minimum:
                raise ValueError(f"{name} must be a finite number of at least {minimum:g}, got {raw!r}")
            if value > maximum:
                shown = int(maximum) if float(maximum).is_integer() else maximum
                raise ValueError(f"{name} must be at most {shown}, got {raw!r}")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = get(name).strip().lower()
            if not raw:
                return default
            if raw in _TRUE or raw in _FALSE:
                return raw in _TRUE
            raise ValueError(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {raw!r}")

        def words(name: str) -> tuple[str, ...]:
            """A comma-separated list."""
            return tuple(word.strip() for word in get(name).split(",") if word.strip())

        def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
            raw = get(name, default).strip().lower()
            if raw not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
            return raw

        defaults = Limits()
        return cls(
            whisper_model=get("WHISPER_MODEL"),
            whisper_revision=get("WHISPER_REVISION"),
            device=get("WHISPER_DEVICE", "auto"),
            compute_type=get("WHISPER_COMPUTE_TYPE"),
            beam_size=number("WHISPER_BEAM_SIZE", 0),
            cpu_threads=number("WHISPER_CPU_THREADS", 0),
            decode_workers=number("DECODE_WORKERS", 1, minimum=1),
            max_batch_size=number("MAX_BATCH_SIZE", 0),
            max_sessions=number("MAX_SESSIONS", 0),
            warm_up=flag("WHISPER_WARM_UP", True),
            transcriber=get("WHISPER_TRANSCRIBER"),
            context_form=choice("FINAL_CONTEXT_FORM", "prompted", ("forced", "prompted", "tail")),
            allowed_origins=words("ALLOWED_ORIGINS"),
            diarization_model=get("DIARIZATION_MODEL"),
            diarization_threshold=number("DIARIZATION_THRESHOLD", DEFAULT_THRESHOLD, float, maximum=0.99),
            diarization_max_speakers=number(
                "DIARIZATION_MAX_SPEAKERS", DEFAULT_MAX_SPEAKERS, minimum=1, maximum=MAX_SPEAKERS
            ),
            diarization_max_wait_ms=number("DIARIZATION_MAX_WAIT_MS", 500, maximum=3_600_000),
            limits=Limits(
                # truss's WebSocket layer refuses messages over 100 MiB before ours could take them (ws_layer)
                max_frame_bytes=number("MAX_FRAME_BYTES", defaults.max_frame_bytes, minimum=1, maximum=100 << 20),
                max_session_duration_s=number("MAX_SESSION_S", defaults.max_session_duration_s, float, minimum=1),
                idle_timeout_s=number("IDLE_TIMEOUT_S", defaults.idle_timeout_s, float, minimum=1),
                # context and utterance share Whisper's 30 s window: more context could never be decoded
                final_context_s=number("FINAL_CONTEXT_S", defaults.final_context_s, float, maximum=CONTEXT_S),
                max_beam_size=number("MAX_BEAM_SIZE", defaults.max_beam_size, minimum=1),
            ),
        )
