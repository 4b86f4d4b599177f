"""What each decode of a session is told besides its audio: the language, and the prompt.

The prompt is the client's own ``prompt`` followed by the end of the previous
final (what was just said conditions how the next words are spelled), with the
language that final was in, so a decode in another language can drop it.
"""

from __future__ import annotations

from whisper_stream.config import WhisperOptions
from whisper_stream.decode_requests import DecodeOptions
from whisper_stream.results import TranscriptionResult

PROMPT_HISTORY_CHARS = 200


def decode_options(
    whisper: WhisperOptions, previous_final: TranscriptionResult | None, *, condition_on_previous: bool = True
) -> DecodeOptions:
    parts = [whisper.prompt.strip()]
    carried = condition_on_previous and previous_final is not None
    if carried:
        parts.append(previous_final.text[-PROMPT_HISTORY_CHARS:].strip())
    prompt = " ".join(p for p in parts if p)
    return DecodeOptions(
        language=None if whisper.audio_language == "auto" else whisper.audio_language,
        prompt=prompt or None,
        word_timestamps=whisper.show_word_timestamps,
        language_options=whisper.language_options,
        prompt_language=previous_final.language_code if carried and previous_final is not None else None,
    )
