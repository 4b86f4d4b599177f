"""What a session has to say to its client, as wire messages, in order, with the counts ``session_end`` reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from whisper_stream.core.speaker_labels import SpeakerLabeller, speaker_labeller
from whisper_stream.core.speakers import SpeakerSettings
from whisper_stream.core.utterances import Utterance
from whisper_stream.protocol import messages
from whisper_stream.protocol.config import SessionConfig
from whisper_stream.protocol.messages import TranscriptFacts, TranscriptFormat
from whisper_stream.protocol.results import TranscriptionResult
from whisper_stream.samples import SAMPLE_RATE_HZ

__all__ = ["Outbox", "SpeakerSettings"]  # a session hands its outbox the server's speaker clustering defaults


class Outbox:
    def __init__(
        self,
        *,
        form: TranscriptFormat = TranscriptFormat(),
        vad_events: bool = False,
        turn_events: bool = False,
        speakers: SpeakerLabeller | None = None,
    ) -> None:
        self._form = form
        self._vad_events = vad_events
        self.turn_events = turn_events
        self._speakers = speakers
        self._messages: list[dict[str, Any]] = []
        self.finals_sent = 0
        self.partials_sent = 0
        self._final_latencies_s: list[float] = []
        self.finals_without_context = 0
        """Finals sent that were decoded alone because the finals before them were not sent yet (the session
        counts them; the server drains the count into its metrics)."""

    @classmethod
    def for_config(
        cls, config: SessionConfig, *, warnings: Sequence[str] = (), speakers: SpeakerSettings | None = None
    ) -> Outbox:
        """The outbox of a session with ``config``: transcripts carry what its client asked for, finals their
        speaker if it asked and the server has a speaker model (``speakers``: its clustering defaults; None:
        none, which a warning says). ``warnings`` (settings the session clamped) go first."""
        form = TranscriptFormat(
            word_timestamps=config.whisper.show_word_timestamps,
            beam_results=config.whisper.show_beam_results,
            pipeline_latency=config.streaming.include_pipeline_latency_metric,
            timing_info=config.include_timing_info,
        )
        labeller, unlabelled = speaker_labeller(config, speakers)
        outbox = cls(
            form=form, vad_events=config.send_vad_events, turn_events=config.send_turn_events, speakers=labeller
        )
        for text in [*warnings, *unlabelled]:
            outbox.warning(text)
        return outbox

    def transcription(
        self,
        result: TranscriptionResult,
        num: int,
        *,
        is_final: bool,
        latency_s: float | None = None,
        facts: TranscriptFacts | None = None,
    ) -> None:
        """A partial, or a final (``latency_s``: from the utterance's end until its final was ready), labelled
        with its speaker when the session asked for it."""
        message = messages.transcription_message(
            result, is_final=is_final, transcription_num=num, form=self._form, facts=facts
        )
        if is_final and self._speakers is not None:
            length_s = facts.audio_length_s if facts is not None else None
            samples = round((length_s or 0.0) * SAMPLE_RATE_HZ)
            message = self._speakers.label(message, result.speaker_embedding, utterance_samples=samples)
        self._messages.append(message)
        if is_final:
            self.finals_sent += 1
            if latency_s is not None:
                self._final_latencies_s.append(max(latency_s, 0.0))
        else:
            self.partials_sent += 1

    def vad_event(self, kind: str, sample: int) -> None:
        """``speech_started`` / ``speech_ended`` at ``sample``, when the client asked for VAD events."""
        if self._vad_events:
            self._messages.append(messages.vad_event_message(kind, sample / SAMPLE_RATE_HZ))

    def eager_end_of_turn(self, utterance: Utterance, result: TranscriptionResult, facts: TranscriptFacts) -> None:
        """The speculative final of the open ``utterance``'s pause came back: with turn events on, its text goes
        out as ``eager_end_of_turn`` (not noise's: a text that looks hallucinated is no turn to answer)."""
        if self.turn_events and result.text and not result.possible_hallucination:
            utterance.eager_text = result.text
            self._messages.append(
                messages.eager_end_of_turn_message(
                    result, transcription_num=utterance.num, form=self._form, facts=facts
                )
            )

    def turn_resumed(self, utterance: Utterance, sample: int) -> None:
        """Speech resumed at ``sample``: if an ``eager_end_of_turn`` went out for this pause, take it back."""
        if utterance.eager_text is not None:
            utterance.eager_text = None
            self._messages.append(
                messages.turn_resumed_message(transcription_num=utterance.num, time_s=sample / SAMPLE_RATE_HZ)
            )

    def warning(self, text: str) -> None:
        """Something the session does differently from what was asked (a setting clamped); the session goes on."""
        self._messages.append(messages.warning_message(text))

    def session_end(self, *, audio_duration_s: float, speech_duration_s: float) -> None:
        self._messages.append(
            messages.session_end_message(
                audio_duration_s=audio_duration_s,
                speech_duration_s=speech_duration_s,
                finals_sent=self.finals_sent,
                partials_sent=self.partials_sent,
            )
        )

    def take_finals_without_context(self) -> int:
        taken, self.finals_without_context = self.finals_without_context, 0
        return taken

    def take_final_latencies_s(self) -> list[float]:
        taken, self._final_latencies_s = self._final_latencies_s, []
        return taken

    def take(self) -> list[dict[str, Any]]:
        taken, self._messages = self._messages, []
        return taken
