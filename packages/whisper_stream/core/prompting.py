"""What each decode of a session is told besides its audio: the language, the prompt, the prefix and the search.

The prompt is the client's own ``prompt``; the history, the end of the previous
final (what was just said conditions how the next words are spelled), goes with
the language that final was in, so a decode in another language can drop it and
keep the client's prompt. The client's ``prefix`` is forced on the decodes of the
first final to come (the session says which). The search (``Sampling``) is
the client's ``whisper_sampling_params`` clamped to what the replica allows
(``SamplingLimits``), with the task (translate or transcribe) and what the client
wants back; partials keep the search greedy.
"""

from __future__ import annotations

from dataclasses import dataclass

from whisper_stream.inference.requests import TRANSCRIBE, TRANSLATE, DecodeOptions, Sampling
from whisper_stream.protocol.config import SessionConfig, WhisperOptions
from whisper_stream.protocol.results import TranscriptionResult

PROMPT_HISTORY_CHARS = 200
WHISPER_MAX_NEW_TOKENS = 444
"""Whisper's decoder holds 448 tokens, 4 of them the start, language, task and no-timestamps tokens (a prompt
or prefix leaves fewer; the transcriber keeps within what is left)."""


@dataclass(frozen=True)
class SamplingLimits:
    """What one session's decodes may cost, whatever the client asks (``Limits.max_beam_size`` sets the beam)."""

    max_beam_size: int = 5
    max_new_tokens: int = WHISPER_MAX_NEW_TOKENS
    max_temperatures: int = 6
    """Each temperature tried is one more decode of a doubtful final; Whisper's own list has 6."""


def decode_options(
    whisper: WhisperOptions,
    previous_final: TranscriptionResult | None,
    sampling: Sampling = Sampling(),
    condition_on_previous: bool = True,
    with_prefix: bool = False,
) -> DecodeOptions:
    """``previous_final``: the last final sent with words; ``with_prefix``: the decode is of the first final with
    words to come, which continues the client's ``prefix``."""
    carried = previous_final if condition_on_previous else None
    return DecodeOptions(
        language=None if whisper.audio_language == "auto" else whisper.audio_language,
        prompt=whisper.prompt.strip() or None,
        word_timestamps=whisper.show_word_timestamps,
        language_options=whisper.language_options,
        prompt_language=carried.language_code if carried is not None else None,
        history=(carried.text[-PROMPT_HISTORY_CHARS:].strip() or None) if carried is not None else None,
        prefix=(whisper.prefix.strip() or None) if with_prefix else None,
        sampling=sampling,
        speaker_embedding=whisper.diarization.requested,
    )


def sampling_for(config: SessionConfig, limits: SamplingLimits = SamplingLimits()) -> tuple[Sampling, list[str]]:
    """A final's search for this session, and a warning for each setting clamped to ``limits``."""
    whisper, given = config.whisper, config.whisper.sampling
    path = config.field_path("whisper.sampling")
    warnings = []

    def clamp(name: str, value: int, maximum: int, what: str) -> int:
        if value <= maximum:
            return value
        warnings.append(f"{path}.{name}: {value} is over {what} {maximum}; {maximum} is used")
        return maximum

    beam = given.beam_width
    if beam is not None:
        beam = clamp("beam_width", beam, limits.max_beam_size, "this server's maximum beam of")
    max_new_tokens = given.max_new_tokens
    if max_new_tokens is not None:
        max_new_tokens = clamp("max_new_tokens", max_new_tokens, limits.max_new_tokens, "what Whisper can generate,")
    temperatures = given.sampling_temperatures
    if temperatures is not None and len(temperatures) > limits.max_temperatures:
        warnings.append(
            f"{path}.sampling_temperatures: {len(temperatures)} temperatures, over this server's maximum of "
            f"{limits.max_temperatures}; the first {limits.max_temperatures} are used"
        )
        temperatures = temperatures[: limits.max_temperatures]
    sampling = Sampling(
        beam_size=beam,
        length_penalty=1.0 if given.length_penalty is None else given.length_penalty,
        repetition_penalty=1.0 if given.repetition_penalty is None else given.repetition_penalty,
        no_repeat_ngram_size=given.no_repeat_ngram_size or 0,
        temperatures=temperatures,
        max_new_tokens=max_new_tokens,
        task=TRANSLATE if whisper.translate else TRANSCRIBE,
        beam_results=whisper.show_beam_results,
        retry_below_wpm=float(whisper.missing_chunk_wpm_threshold) if whisper.use_missing_chunk_retry else None,
    )
    return sampling, warnings
