"""A replay of what the community pipecat ``BasetenSTTService`` puts on the wire, and how it reads replies.

pipecat-ai has no Baseten STT of its own; the community service (a ``WebsocketSTTService`` subclass,
tests/compat/README.md section 3) is not on a package index, so this reproduces its wire behaviour
instead of importing it:

- connect with ``websockets.asyncio.client.connect(url, additional_headers={"Authorization": "Api-Key ..."})``;
- send its ``DEFAULT_METADATA`` as the first text message (partials every 0.3 s, VAD 0.4 / 100 ms,
  ``audio_language: "auto"`` and a top-level ``"include_timing_info": true``; no encoding or rate:
  it relies on the s16le / 16 kHz defaults);
- ``run_stt`` gets pipecat's 20 ms input frames (640 bytes) in real time, buffers them and sends
  exactly 1024-byte chunks (512 samples); a remainder under 1024 bytes is never sent;
- a reply counts only with a non-empty ``segments`` list: text is the stripped segment texts joined
  by spaces, ``is_final`` defaults to false; anything else (``error``, ``warning``, VAD events,
  ``session_end``) is logged and ignored;
- a pipeline streams audio (silence included) until its ``EndFrame``; then the service cancels its
  receive task *first* and closes the socket (1000);
- any close by the server (1000 too) makes it reconnect; the replay reports it as ``server_closed``.

Run it alone (PCM: raw 16 kHz mono s16le)::

    .venv/bin/python -m tests.compat.pipecat_replay ws://127.0.0.1:8080/v1/websocket talk.pcm --tail "last words"

``replay()`` returns events like the LiveKit drivers print: ``{"event": "interim" | "final" |
"ignored" | "server_closed" | "input_ended", "t_s": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.speech import normalize

DEFAULT_METADATA: dict[str, Any] = {
    "whisper_params": {"audio_language": "auto"},
    "streaming_params": {
        "enable_partial_transcripts": True,
        "partial_transcript_interval_s": 0.3,
        "final_transcript_max_duration_s": 30,
    },
    "streaming_vad_config": {"threshold": 0.4, "speech_pad_ms": 30, "min_silence_duration_ms": 100},
    "include_timing_info": True,
}
PIPECAT_FRAME_BYTES = 640  # 20 ms at 16 kHz, s16le
CHUNK_BYTES = 1024  # the service re-chunks to 512 samples
SAMPLE_RATE_HZ = 16_000


async def replay(
    url: str, pcm: bytes, *, tail: str, silence_max_s: float = 20.0, speed: float = 1.0
) -> list[dict[str, Any]]:
    """Stream ``pcm`` then silence until a final containing ``tail`` arrives, then end as pipecat does.

    In real time, as pipecat's input frames come, or ``speed`` times faster (the service sends them as they come).
    """
    start = time.monotonic()
    events: list[dict[str, Any]] = []
    tail_seen = asyncio.Event()

    def note(event: str, **fields: Any) -> None:
        events.append({"event": event, "t_s": round(time.monotonic() - start, 3), **fields})

    async with connect(url, additional_headers={"Authorization": "Api-Key local-test"}) as websocket:
        await websocket.send(json.dumps(DEFAULT_METADATA))
        receiver = asyncio.create_task(_receive(websocket, note, tail, tail_seen))
        buffer = bytearray()
        frames = 0

        async def run_stt(frame: bytes) -> None:
            nonlocal frames
            buffer.extend(frame)
            while len(buffer) >= CHUNK_BYTES:
                await websocket.send(bytes(buffer[:CHUNK_BYTES]))
                del buffer[:CHUNK_BYTES]
            frames += 1
            due = start + frames * PIPECAT_FRAME_BYTES / 2 / SAMPLE_RATE_HZ / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))

        for offset in range(0, len(pcm), PIPECAT_FRAME_BYTES):
            await run_stt(pcm[offset : offset + PIPECAT_FRAME_BYTES])
        deadline = time.monotonic() + silence_max_s
        while not tail_seen.is_set() and time.monotonic() < deadline and not receiver.done():
            await run_stt(bytes(PIPECAT_FRAME_BYTES))
        note("input_ended")
        receiver.cancel()  # EndFrame: the receive task is cancelled before the socket is closed
        await asyncio.gather(receiver, return_exceptions=True)
    return events


async def _receive(websocket: Any, note: Any, tail: str, tail_seen: asyncio.Event) -> None:
    try:
        async for message in websocket:  # returns on a 1000/1001 close, raises on others
            data = json.loads(message)
            segments = data.get("segments", [])
            text = " ".join(segment.get("text", "").strip() for segment in segments).strip()
            if not segments or not text:
                note("ignored", message=data)
                continue
            is_final = data.get("is_final", False)
            note("final" if is_final else "interim", text=text)
            if is_final and tail in normalize(text):
                tail_seen.set()
    except ConnectionClosed as closed:
        note("server_closed", code=closed.rcvd.code if closed.rcvd else None)
        return
    note("server_closed", code=websocket.close_code)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url")
    parser.add_argument("pcm_path", help="raw 16 kHz mono s16le")
    parser.add_argument("--tail", required=True)
    args = parser.parse_args()
    with open(args.pcm_path, "rb") as handle:
        for event in asyncio.run(replay(args.url, handle.read(), tail=args.tail)):
            print(json.dumps(event))
