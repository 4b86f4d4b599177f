"""Control messages in, JSON messages out (wire protocol v1, see docs/protocol.md)."""

from __future__ import annotations

import enum
from typing import Any

from whisper_stream.protocol.errors import InvalidDataError, NotJsonError, ProtocolError
from whisper_stream.protocol.json_text import load_json, utf8_length_over
from whisper_stream.protocol.results import TranscriptionResult

MAX_CONTROL_BYTES = 4_096
_CONFIG_KEYS = frozenset(
    {"vad_params", "streaming_vad_config", "streaming_whisper_params", "streaming_params", "whisper_params"}
)


class Control(enum.Enum):
    """What a client's text message (after the config) asks for."""

    TERMINATE = "terminate"
    FINALIZE = "finalize"
    KEEPALIVE = "keepalive"


_BY_TYPE = {
    "end_of_stream": Control.TERMINATE,
    "terminate_session": Control.TERMINATE,
    "finalize": Control.FINALIZE,
    "keepalive": Control.KEEPALIVE,
    "ping": Control.KEEPALIVE,
}
# The older community pipecat BasetenSTTService sends the bare word, not JSON, when its own VAD hears the user stop.
_BARE_FINALIZE = "finalize"
_UNKNOWN_CONTROL = 'unknown control message; expected {"terminate_session": true} or a "type" of ' + ", ".join(
    sorted(_BY_TYPE)
)


def parse_control(message: str) -> Control:
    """Parse a text message received after the config."""
    if utf8_length_over(message, MAX_CONTROL_BYTES):
        raise ProtocolError(f"control message longer than {MAX_CONTROL_BYTES} bytes")
    if message.strip() == _BARE_FINALIZE:
        return Control.FINALIZE
    try:
        document = load_json(message, "control message")
    except NotJsonError:  # (nested too deep, a lone surrogate: InvalidDataError saying which)
        raise InvalidDataError("text message is not valid JSON; audio must be sent as binary frames") from None
    if not isinstance(document, dict):
        raise InvalidDataError("control message must be a JSON object")
    if "terminate_session" in document:
        other = set(document) - {"terminate_session", "type"}
        kind = document.get("type", "end_of_stream")
        if document["terminate_session"] is not True or other or not _is_type(kind, Control.TERMINATE):
            raise ProtocolError(_UNKNOWN_CONTROL)
        return Control.TERMINATE
    if _CONFIG_KEYS & set(document):
        raise ProtocolError("the session config was already received; it can only be sent once, first")
    kind = document.get("type")
    if isinstance(kind, str) and kind in _BY_TYPE:
        return _BY_TYPE[kind]
    raise ProtocolError(_UNKNOWN_CONTROL)


def _is_type(kind: object, control: Control) -> bool:
    """Whether a ``type`` value names ``control`` (any JSON value may come: a list is no key of a dict)."""
    return isinstance(kind, str) and _BY_TYPE.get(kind) is control


def transcription_message(
    result: TranscriptionResult, *, is_final: bool, transcription_num: int, word_timestamps: bool
) -> dict[str, Any]:
    segments = []
    for segment in result.segments:
        item: dict[str, Any] = {
            "text": segment.text,
            "start_time": round(segment.start_s, 3),
            "end_time": round(segment.end_s, 3),
        }
        if word_timestamps and segment.words is not None:
            item["word_timestamps"] = [
                {
                    "word": w.word,
                    "start_time": round(w.start_s, 3),
                    "end_time": round(w.end_s, 3),
                    "prob": round(w.probability, 4),
                }
                for w in segment.words
            ]
        segments.append(item)
    return {
        "type": "transcription",
        "is_final": is_final,
        "transcript": result.text,
        "transcription_num": transcription_num,
        "language_code": result.language_code,
        "confidence": round(result.confidence, 4),
        "segments": segments,
    }


def vad_event_message(kind: str, time_s: float) -> dict[str, Any]:
    return {"type": kind, "time_s": round(time_s, 3)}


def session_end_message(
    *, audio_duration_s: float, speech_duration_s: float, finals_sent: int, partials_sent: int
) -> dict[str, Any]:
    return {
        "type": "session_end",
        "audio_duration_s": round(audio_duration_s, 3),
        "speech_duration_s": round(speech_duration_s, 3),
        "finals_sent": finals_sent,
        "partials_sent": partials_sent,
    }


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def warning_message(message: str, code: str = "config_warning") -> dict[str, Any]:
    """Something was accepted but ignored or unusual; the session goes on (e.g. ``SessionConfig.warnings``)."""
    return {"type": "warning", "code": code, "message": message}
