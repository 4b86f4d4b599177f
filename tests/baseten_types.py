"""A model of Baseten's streaming Whisper types, for the schema conformance tests (tests/test_baseten_schema.py).

Where it came from: Baseten's runtime module ``whisper_utils/data_types.py`` as the search tool's code corpus
holds it, index file id **54872343150** (7,082 characters; the index does not give the repository name), read
on 2026-12-03 for issue 22. What is modelled here is its schema, rewritten as tables (field, type, default),
not its code: the inputs ``StreamingWhisperInput``, ``WhisperParams``, ``StreamingParams``,
``WhisperSamplingParams`` (all ``extra="forbid"`` there, as here) and the results ``StreamingWhisperResult``
(a ``WhisperResult``), ``Segment``, ``Word``, ``ASRTimingInfoDurations``. Baseten's result models allow extra
fields (pydantic's default); here they forbid them, with the fields this server adds named in ``OURS`` so that
the tests catch anything else we send. When Baseten's types change, change the tables and the date above.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model


class DiarizationGranularity(enum.StrEnum):
    WORD = "word"
    SEGMENT = "segment"
    SENTENCE = "sentence"
    SPLIT_SEGMENT = "split_segment"


_STRICT = ConfigDict(extra="forbid")


def _model(name: str, fields: dict[str, tuple[Any, Any]], **extra: tuple[Any, Any]) -> type[BaseModel]:
    return create_model(name, __config__=_STRICT, **fields, **extra)  # type: ignore[call-overload]


# --- inputs: what a client may send -------------------------------------------------------------------------------

WhisperSamplingParams = _model(
    "WhisperSamplingParams",
    {
        "beam_width": (int, 1),
        "length_penalty": (float, 2.0),
        "repetition_penalty": (float, 1.01),
        "beam_search_diversity_rate": (float | None, None),
        "no_repeat_ngram_size": (int | None, None),
        "sampling_temperatures": (list[float], [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        "max_new_tokens": (int, 400),
    },
)

WhisperParams = _model(
    "WhisperParams",
    {
        "prompt": (str | None, ""),
        "output_language": (str | None, "auto"),
        "audio_language": (str | None, "en"),
        "language_detection_only": (bool, False),
        "language_options": (list[str], []),
        "use_dynamic_preprocessing": (bool, False),
        "use_missing_chunk_retry": (bool, False),
        "missing_chunk_wpm_threshold": (int, 100),
        "show_word_timestamps": (bool, False),
        "enable_vad": (bool, True),
        "whisper_sampling_params": (WhisperSamplingParams, WhisperSamplingParams()),
        "enable_diarization": (bool | None, None),
        "diarization_granularity": (DiarizationGranularity, DiarizationGranularity.SENTENCE),
        "enable_word_level_diarization": (bool, False),
        "enable_sentence_level_diarization": (bool, False),
        "enable_final_diarization": (bool, False),
        "prefix": (str | None, ""),
        "show_beam_results": (bool, False),
        "enable_chunk_level_language_detection": (bool | None, False),
    },
)

StreamingParams = _model(
    "StreamingParams",
    {
        "encoding": (str, "pcm_s16le"),
        "sample_rate": (int, 16000),
        "enable_partial_transcripts": (bool, False),
        "partial_transcript_interval_s": (float, 0.5),
        "final_transcript_max_duration_s": (int, 30),
        "prioritize_latency": (bool, True),
        "skip_partial_if_hallucination": (bool, True),
        "include_pipeline_latency_metric": (bool, False),
    },
)

StreamingWhisperInput = _model(
    "StreamingWhisperInput",
    {
        "whisper_params": (WhisperParams, WhisperParams()),
        "streaming_params": (StreamingParams, StreamingParams()),
        "streaming_vad_config": (dict, {}),
        "streaming_diarization_config": (dict, {}),
        "diarization_config": (dict, {}),
        "stream_id": (str | None, None),
        "include_timing_info": (bool, False),
    },
)

# --- results: what the server sends -------------------------------------------------------------------------------

OURS = {
    "message": {
        "type": (str, ...),
        "transcript": (str, ...),
        "confidence": (float, ...),
        "from_finalize": (bool, False),
        "differs_from_eager": (bool | None, None),
    },
    "timing_info": {"queue_wait_duration_s": (float | None, None)},
}
"""Fields this server adds to Baseten's (docs/protocol.md says what each is)."""

Word = _model(
    "Word",
    {
        "start_time": (float, ...),
        "end_time": (float, ...),
        "word": (str, ...),
        "prob": (float, ...),
        "speaker": (str | None, None),
    },
)

Segment = _model(
    "Segment",
    {
        "start_time": (float, ...),
        "end_time": (float, ...),
        "text": (str, ...),
        "log_prob": (float | None, None),
        "word_timestamps": (list[Word], []),
        "speaker": (str | None, None),
        "speaker_confidence": (float | None, None),
        "possible_hallucination": (bool, False),
        "beam_results": (list[str] | None, None),
        "language_code": (str | None, None),
        "language_prob": (float | None, None),
    },
)

ASRTimingInfoDurations = _model(
    "ASRTimingInfoDurations",
    {
        name: (float | None, None)
        for name in (
            "read_audio_duration_s",
            "chunking_duration_s",
            "language_detection_duration_s",
            "transcription_duration_s",
            "diarization_duration_s",
            "speaker_assignment_duration_s",
            "total_duration_s",
        )
    },
    **OURS["timing_info"],
)

StreamingWhisperResult = _model(
    "StreamingWhisperResult",
    {
        # WhisperResult's
        "segments": (list[Segment], []),
        "language_code": (str | None, None),
        "language_prob": (float | None, None),
        "diarization": (list[dict], []),
        "timing_info": (ASRTimingInfoDurations | None, None),
        "enable_chunk_level_language_detection": (bool | None, False),
        "audio_length_sec": (float | None, None),
        # and the streaming ones
        "is_final": (bool, False),
        "transcription_num": (int, 0),
        "next_partial": (Segment | None, None),
        "pipeline_latency": (float | None, None),
        "is_end_of_audio_flush": (bool | None, None),
    },
    **OURS["message"],
)
