"""Control messages in, JSON messages out (wire protocol v1, see docs/protocol.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from whisper_stream.protocol.errors import InvalidDataError, NotJsonError, ProtocolError
from whisper_stream.protocol.json_text import load_json, utf8_length_over
from whisper_stream.protocol.results import Segment, TranscriptionResult

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


@dataclass(frozen=True)
class TranscriptFormat:
    """What a session's transcription messages carry besides Baseten's always-sent fields (the client's choice)."""

    word_timestamps: bool = False
    beam_results: bool = False
    pipeline_latency: bool = False
    """``include_pipeline_latency_metric``."""
    timing_info: bool = False
    """``include_timing_info``."""


@dataclass(frozen=True)
class TranscriptFacts:
    """What the session knows of one transcript besides its decode."""

    audio_length_s: float | None = None
    """The utterance's audio this transcript covers (a partial: so far)."""
    latency_s: float | None = None
    """Pipeline latency: from when the server read the frame holding the transcript's last sample to when the
    transcript was ready to send, on the replica's event-loop clock."""
    endpointing_s: float | None = None
    """A final's wait for the VAD: from that frame's arrival to when the utterance was known to have ended."""
    from_finalize: bool = False
    """The final that answers a ``finalize`` (Deepgram's name for it)."""
    end_of_audio_flush: bool = False
    """A final of the audio still buffered at the end of stream (``terminate_session``, idle, shutdown, a limit)."""
    differs_from_eager: bool | None = None
    """With turn events: whether the final's text differs from the ``eager_end_of_turn`` sent for it (None:
    none was sent, or speech resumed after it)."""


def transcription_message(
    result: TranscriptionResult,
    *,
    is_final: bool,
    transcription_num: int,
    word_timestamps: bool = False,
    form: TranscriptFormat | None = None,
    facts: TranscriptFacts | None = None,
) -> dict[str, Any]:
    """A ``transcription`` message: Baseten's ``StreamingWhisperResult`` fields, plus ``type``, ``transcript``,
    ``confidence`` and, on finals, ``from_finalize`` (docs/protocol.md lists every field)."""
    form = form or TranscriptFormat(word_timestamps=word_timestamps)
    facts = facts or TranscriptFacts()
    message: dict[str, Any] = {
        "type": "transcription",
        "is_final": is_final,
        "transcript": result.text,
        "transcription_num": transcription_num,
        "language_code": result.language_code,
        **_optional("language_prob", result.language_probability, 4),
        "confidence": round(result.confidence, 4),
        "segments": [_segment(segment, result, form) for segment in result.segments],
        **_optional("audio_length_sec", facts.audio_length_s, 3),
    }
    if is_final:
        message["is_end_of_audio_flush"] = facts.end_of_audio_flush
        message["from_finalize"] = facts.from_finalize
        if facts.differs_from_eager is not None:
            message["differs_from_eager"] = facts.differs_from_eager
    if form.pipeline_latency:
        message["pipeline_latency"] = None if facts.latency_s is None else round(max(facts.latency_s, 0.0), 3)
    if form.timing_info:
        message["timing_info"] = _timing_info(result, facts)
    return message


def _segment(segment: Segment, result: TranscriptionResult, form: TranscriptFormat) -> dict[str, Any]:
    item: dict[str, Any] = {
        "text": segment.text,
        "start_time": round(segment.start_s, 3),
        "end_time": round(segment.end_s, 3),
        **_optional("log_prob", segment.log_prob, 4),
        "possible_hallucination": segment.possible_hallucination,
        "language_code": result.language_code,
        **_optional("language_prob", result.language_probability, 4),
    }
    if form.word_timestamps and segment.words is not None:
        item["word_timestamps"] = [
            {
                "word": w.word,
                "start_time": round(w.start_s, 3),
                "end_time": round(w.end_s, 3),
                "prob": round(w.probability, 4),
            }
            for w in segment.words
        ]
    if form.beam_results and segment.beam_results is not None:
        item["beam_results"] = list(segment.beam_results)
    return item


def _timing_info(result: TranscriptionResult, facts: TranscriptFacts) -> dict[str, float | None]:
    """Baseten's ``ASRTimingInfoDurations`` (seconds; null: a stage that did not run here), plus the queue."""
    times = result.times
    stages = {
        "read_audio_duration_s": None,
        "chunking_duration_s": facts.endpointing_s,
        "queue_wait_duration_s": times.queue_wait_s,
        "language_detection_duration_s": times.language_detection_s,
        "transcription_duration_s": times.decode_s,
        "diarization_duration_s": times.speaker_embedding_s,
        "speaker_assignment_duration_s": None,
        "total_duration_s": facts.latency_s,
    }
    return {name: None if value is None else round(max(value, 0.0), 4) for name, value in stages.items()}


def _optional(name: str, value: float | None, digits: int) -> dict[str, float]:
    return {} if value is None else {name: round(value, digits)}


def vad_event_message(kind: str, time_s: float) -> dict[str, Any]:
    return {"type": kind, "time_s": round(time_s, 3)}


def eager_end_of_turn_message(
    result: TranscriptionResult, *, transcription_num: int, form: TranscriptFormat, facts: TranscriptFacts
) -> dict[str, Any]:
    """The speaker paused: the utterance's text so far, decoded as its final would be (a partial's fields,
    ``type`` ``eager_end_of_turn``, no ``is_final``). Its final, or ``turn_resumed``, follows."""
    message = transcription_message(result, is_final=False, transcription_num=transcription_num, form=form, facts=facts)
    del message["is_final"]
    return {**message, "type": "eager_end_of_turn"}


def turn_resumed_message(*, transcription_num: int, time_s: float) -> dict[str, Any]:
    """Speech resumed after an ``eager_end_of_turn`` of utterance ``transcription_num``: drop what it started."""
    return {"type": "turn_resumed", "transcription_num": transcription_num, "time_s": round(time_s, 3)}


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
