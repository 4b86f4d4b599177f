"""What each decode of a session is told besides its audio: the language, and the prompt.

The prompt is the client's own ``prompt``; the history, the end of the previous
final (what was just said conditions how the next words are spelled), goes with
the language that final was in, so a decode in another language can drop it and
keep the client's prompt.
"""

from __future__ import annotations

from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.config import WhisperOptions
from whisper_stream.protocol.results import TranscriptionResult

PROMPT_HISTORY_CHARS = 200


def decode_options(
    whisper: WhisperOptions, previous_final: TranscriptionResult | None, *, condition_on_previous: bool = True
) -> DecodeOptions:
    carried = previous_final if condition_on_previous else None
    return DecodeOptions(
        language=None if whisper.audio_language == "auto" else whisper.audio_language,
        prompt=whisper.prompt.strip() or None,
        word_timestamps=whisper.show_word_timestamps,
        language_options=whisper.language_options,
        prompt_language=carried.language_code if carried is not None else None,
        history=(carried.text[-PROMPT_HISTORY_CHARS:].strip() or None) if carried is not None else None,
    )
