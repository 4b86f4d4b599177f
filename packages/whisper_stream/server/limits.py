"""The per-session limits of the WebSocket server, and what happens at each one."""

from __future__ import annotations

from dataclasses import dataclass

from whisper_stream.core.final_context import CONTEXT_S
from whisper_stream.core.prompting import SamplingLimits


@dataclass(frozen=True)
class Limits:
    """Per-session limits. The replica-wide one is ``EngineOptions.max_sessions`` (over it: 1013 at once).

    ======================  =======  ===============  =====================================================
    limit                   default  env (settings)   when it is reached
    ======================  =======  ===============  =====================================================
    max_frame_bytes         1 MiB    MAX_FRAME_BYTES  ``frame_too_large``, close 1009
    max_session_duration_s  4 h      MAX_SESSION_S    of audio, or of wall-clock time since the config:
                                                      finals of all audio received are sent, then
                                                      ``limit_exceeded``, close 1008
    idle_timeout_s          60 s     IDLE_TIMEOUT_S   no audio, control or keepalive message: the finals
                                                      of the audio received, ``session_end``, close 1000.
                                                      Protocol-level pings never reach the app and do not
                                                      count
    no_audio_timeout_s      8 s                       the same, sooner, for a connection that sent nothing
                                                      after its config (a client that reconnects with no
                                                      audio: LiveKit's plugin does after ``end_input()``,
                                                      and gives up after 3 retries that each lived < 10 s)
    keepalive_only_timeout_s 300 s                    no audio for this long, however many keepalive or
                                                      control messages came: finals, ``session_end``,
                                                      close 1000 (keepalives hold a pause, not a slot)
    config_timeout_s        10 s                      no config message: ``limit_exceeded``, close 1008.
                                                      A connection holds no slot until its config came
    max_awaiting_config     32                        connections waiting for their config, replica-wide;
                                                      one more evicts the oldest: ``limit_exceeded``, 1008
    slot_reclaim_after_s    5 s                       the replica full and a config arriving: a session
                                                      that sent no audio for this long ends for the
                                                      newcomer (finals, ``session_end``, close 1000)
    slot_wait_s             2 s                       how long a newcomer at a full replica waits for a
                                                      slot, in order of arrival; else ``server_busy``, 1013
    max_pending_audio_s     60 s                      audio in finals waiting for Whisper: the finals of all
                                                      audio through the VAD are sent, then
                                                      ``limit_exceeded`` (it names the second after which
                                                      audio was not transcribed), close 1008
    max_read_ahead_bytes    1 MiB                     frames read but not yet through the VAD: the server
                                                      stops reading until the VAD catches up (TCP
                                                      backpressure slows the client); no error, no loss
    send_timeout_s          30 s                      one message not taken by the client in time (a client
                                                      that never reads): ``limit_exceeded``, close 1008
    finish_timeout_s        120 s                     finals after the end of stream not done in time
                                                      (an overloaded replica): ``server_busy``, close 1013
    drain_timeout_s         20 s                      on SIGTERM, open sessions finish (finals,
                                                      ``session_end``, close 1012) within this, then the
                                                      server stops (see ``drain``)
    final_context_s         29 s     FINAL_CONTEXT_S  audio before an utterance that its final is decoded
                                                      with, the words sent for it forced as the decoder's
                                                      prefix (``context``); 0: finals decoded alone
    max_beam_size           5        MAX_BEAM_SIZE    the largest ``whisper_sampling_params.beam_width`` a
                                                      client gets; more is clamped, with a warning
    ======================  =======  ===============  =====================================================

    Only the VAD, which runs at hundreds of times real time, ever holds reading up; waiting for Whisper
    never does. WebSocket keepalive pongs arrive behind the audio, so a server that stopped reading until
    Whisper caught up would, past the ping timeout (uvicorn: 20 s), have the connection closed under it
    with 1011 and every pending final lost. A client that sends faster than Whisper transcribes gets the
    ``max_pending_audio_s`` error instead, with its finals. What a session can hold in memory, with the
    WebSocket layer under it, is computed from these limits by ``memory_bound`` (about 30 MB with the
    defaults). Empty binary frames are accepted and ignored.
    """

    max_frame_bytes: int = 1 << 20
    max_session_duration_s: float = 4 * 3600.0
    idle_timeout_s: float = 60.0
    no_audio_timeout_s: float = 8.0
    keepalive_only_timeout_s: float = 300.0
    config_timeout_s: float = 10.0
    max_awaiting_config: int = 32
    slot_reclaim_after_s: float = 5.0
    slot_wait_s: float = 2.0
    max_pending_audio_s: float = 60.0
    max_read_ahead_bytes: int = 1 << 20
    send_timeout_s: float = 30.0
    finish_timeout_s: float = 120.0
    drain_timeout_s: float = 20.0
    final_context_s: float = CONTEXT_S
    max_beam_size: int = 5

    @property
    def sampling(self) -> SamplingLimits:
        """What a session's decodes may cost, whatever its client asks (``whisper_sampling_params``)."""
        return SamplingLimits(max_beam_size=self.max_beam_size)
