"""Prometheus metrics, registered in the default registry.

Truss's server exposes the default registry at ``/metrics``, so these appear
there with no extra endpoint.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SESSIONS_OPEN = Gauge("whisper_stream_sessions_open", "WebSocket sessions currently open")
SESSIONS_TOTAL = Counter(
    "whisper_stream_sessions",
    "Sessions accepted, refused, evicted before their config, or ended for a newcomer (reclaimed)",
    ["outcome"],
)
SLOT_WAIT_SECONDS = Histogram(
    "whisper_stream_slot_wait_seconds",
    "From a session's config to its slot (a full replica: a silent session ended for it)",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.25, 2.5, 5.0),
)
AUDIO_RECEIVED_SECONDS = Counter("whisper_stream_audio_received_seconds", "Seconds of audio received")
AUDIO_DECODED_SECONDS = Counter("whisper_stream_audio_decoded_seconds", "Seconds of audio sent to Whisper", ["kind"])
DECODE_SECONDS = Histogram(
    "whisper_stream_decode_seconds",
    "Time one Whisper decode took",
    ["kind"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0),
)
DECODE_BATCH_SIZE = Histogram(
    "whisper_stream_decode_batch_size", "Requests decoded together in one batch", buckets=(1, 2, 4, 8, 16, 32)
)
FINAL_LATENCY_SECONDS = Histogram(
    "whisper_stream_final_latency_seconds",
    "From the end of an utterance's audio arriving to its final being sent",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
TRANSCRIPTS_SENT = Counter("whisper_stream_transcripts_sent", "Transcription messages sent", ["kind"])
FINALS_WITHOUT_CONTEXT = Counter(
    "whisper_stream_finals_without_context",
    "Finals decoded alone, without the audio and words before them, because the finals before them were not"
    " sent yet when their utterance ended (the decoder was behind)",
)
PARTIALS_SKIPPED = Counter("whisper_stream_partials_skipped", "Partials skipped because the engine was busy")
ERRORS = Counter("whisper_stream_errors", "Sessions closed with an error", ["code"])
LOOP_LAG_SECONDS = Histogram(
    "whisper_stream_event_loop_lag_seconds",
    "How much later than asked the event loop woke a sleeping task",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0),
)
VAD_BATCH_SIZE = Histogram(
    "whisper_stream_vad_batch_size",
    "Frames (of as many streams) scored in one silero call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
