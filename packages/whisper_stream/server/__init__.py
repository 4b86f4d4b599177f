"""The async adapter: runs a ``Session`` over a WebSocket (``websocket``, ``first_message``, ``session_runner``,
``session_timers``, ``audio_frames``, ``socket_events``), with the replica around it: who gets a slot
(``admission``), settings read once (``settings``), the engine built from them (``factory``), the
per-session limits (``limits``) and the memory they bound (``memory_bound``, with the WebSocket layer under
us: ``ws_layer``), the local server's check of web origins (``origin``), graceful shutdown (``drain``), log
context (``logs``) and event-loop lag (``loop_lag``). The only layer that does I/O; knows nothing of Truss.
"""
