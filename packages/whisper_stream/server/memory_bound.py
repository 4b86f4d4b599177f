"""How much memory a session can hold, computed from the limits: every place audio (or a message) sits.

Per session, at most (16 kHz float32 is 64,000 bytes a second):

- ``websocket_layer``: what the layer under our code holds for the connection (``ws_layer``): a message
  being assembled and its unmasked copy, and what one read completed besides (2 messages + 256 KiB);
- ``read_ahead``: messages read but not handled, ``max_read_ahead_bytes`` plus the one that crossed it;
- ``frame``: the frame being taken and one 16 KiB piece of it decoded (``audio_frames``);
- ``sample_buffer``: the session's ``SampleBuffer``, which keeps the open utterance
  (``final_transcript_max_duration_s``, at most 30 s) and the context of the next final
  (``final_context_s``), plus a piece; its storage doubles as it grows and never shrinks;
- ``requests``: the audio copied into each decode request: a partial (an utterance), a speculative final
  (an utterance with its context, at most 30 s together), and the finals waiting (``max_pending_audio_s``,
  passed by at most one utterance ended at once and a piece) with the context of the first.

A replica adds, per connection still waiting for its config (at most ``max_awaiting_config``), what the
layer holds for it. Not counted: the model and its decodes (per worker, not per session), the VAD's
state (a few KiB a stream), transcripts waiting to be sent (text).
"""

from __future__ import annotations

from dataclasses import dataclass

from whisper_stream.samples import SAMPLE_RATE_HZ
from whisper_stream.server.audio_frames import PIECE_BYTES
from whisper_stream.server.limits import Limits
from whisper_stream.server.ws_layer import READ_BYTES

BYTES_PER_SECOND = SAMPLE_RATE_HZ * 4  # float32
MAX_UTTERANCE_S = 30.0
"""``final_transcript_max_duration_s`` at most (the config's range)."""
WINDOW_S = 30.0
"""A final's context and utterance together fit Whisper's 30 s window (``final_context.WINDOW_S``, 29 s)."""
PIECE_S = PIECE_BYTES / 8_000
"""The most audio one piece of a frame holds: 16 KiB of 8 kHz mu-law (1 byte a sample) is 2.05 s."""
_INITIAL_BUFFER_SAMPLES = SAMPLE_RATE_HZ  # SampleBuffer's initial capacity


@dataclass(frozen=True)
class MemoryBound:
    """Bytes each place can hold, per session and per connection waiting for its config."""

    per_session: dict[str, int]

    @property
    def session_bytes(self) -> int:
        return sum(self.per_session.values())

    @property
    def per_config_wait(self) -> int:
        """What the layer holds for a connection waiting for its config: as for a session, under the same cap."""
        return self.per_session["websocket_layer"]

    def replica_bytes(self, max_sessions: int, max_awaiting_config: int) -> int:
        return max_sessions * self.session_bytes + max_awaiting_config * self.per_config_wait


def websocket_layer_bytes(max_message_bytes: int) -> int:
    """What the layer holds for one connection whose messages are capped at ``max_message_bytes``."""
    return 2 * max_message_bytes + READ_BYTES


def buffer_storage_samples(held_samples: int) -> int:
    """The largest storage ``SampleBuffer`` grows to while it never holds more than ``held_samples``: it
    doubles when the samples held with a new piece pass half of it (the old storage is freed after the copy)."""
    capacity = _INITIAL_BUFFER_SAMPLES
    while capacity // 2 < held_samples:
        capacity *= 2
    return capacity


def memory_bound(limits: Limits, *, message_bytes: int) -> MemoryBound:
    """The bound for ``limits``, with the layer's cap on a connection's messages (its config's as well)."""
    utterance_s = MAX_UTTERANCE_S
    context_s = min(limits.final_context_s, WINDOW_S)
    held_s = utterance_s + context_s + PIECE_S
    storage_samples = buffer_storage_samples(int(held_s * SAMPLE_RATE_HZ))
    finals_s = limits.max_pending_audio_s + utterance_s + PIECE_S
    requests_s = utterance_s + WINDOW_S + finals_s + context_s
    piece_samples = int(PIECE_S * SAMPLE_RATE_HZ)
    per_session = {
        "websocket_layer": websocket_layer_bytes(message_bytes),
        "read_ahead": limits.max_read_ahead_bytes + message_bytes,
        "frame": limits.max_frame_bytes + PIECE_BYTES + piece_samples * 4,
        "sample_buffer": (storage_samples + storage_samples // 2) * 4,  # and the half-size one it was copied from
        "requests": int(requests_s * BYTES_PER_SECOND),
    }
    return MemoryBound(per_session)
