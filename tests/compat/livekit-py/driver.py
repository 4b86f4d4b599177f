"""Drive the unmodified livekit-plugins-baseten 1.8.9 streaming STT against a local server.

Runs in its own venv (.build/clients/livekit-py, see the Makefile), never in the project's .venv.

    python driver.py URL PCM_PATH --language en-US --tail "his matter" [--silence-max-s 20] [--end-input --wait-s 25]
        [--speed 2]

PCM_PATH is raw 16 kHz mono s16le, pushed as 10 ms ``livekit.rtc.AudioFrame``s (what a room track
yields) paced in real time, or ``--speed`` times faster (the plugin sends frames as they come, with no
clock of its own). Then, like an agent whose room audio goes on, silence is pushed until a
final containing ``--tail`` arrives (at most ``--silence-max-s``). With ``--end-input`` the driver
instead calls ``end_input()`` right after the speech and waits up to ``--wait-s`` for that final.
Either way it ends with ``aclose()``. One JSON object per line on stdout: ``{"event": "interim" |
"final" | "error" | "input_ended" | "done", "t_s": ...}`` (t_s counts from the first frame).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

import aiohttp
from livekit import rtc
from livekit.agents import stt as agents_stt
from livekit.plugins import baseten

SAMPLE_RATE_HZ = 16_000
FRAME_SAMPLES = 160  # 10 ms
FRAME_BYTES = FRAME_SAMPLES * 2
START = time.monotonic()


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t_s": round(time.monotonic() - START, 3), **fields}), flush=True)


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


async def push_paced(stream: agents_stt.SpeechStream, pcm: bytes, frames_sent: list[int], speed: float) -> None:
    for offset in range(0, len(pcm), FRAME_BYTES):
        chunk = pcm[offset : offset + FRAME_BYTES]
        stream.push_frame(rtc.AudioFrame(chunk, SAMPLE_RATE_HZ, 1, len(chunk) // 2))
        frames_sent[0] += 1
        due = START + frames_sent[0] * FRAME_SAMPLES / SAMPLE_RATE_HZ / speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def read_events(stream: agents_stt.SpeechStream, tail: str, tail_seen: asyncio.Event) -> None:
    async for event in stream:
        text = event.alternatives[0].text if event.alternatives else ""
        if event.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT:
            emit("final", text=text, language=str(event.alternatives[0].language))
            if tail in normalize(text):
                tail_seen.set()
        elif event.type == agents_stt.SpeechEventType.INTERIM_TRANSCRIPT:
            emit("interim", text=text)


async def main(args: argparse.Namespace) -> None:
    with open(args.pcm_path, "rb") as handle:
        pcm = handle.read()
    async with aiohttp.ClientSession() as http:
        stt = baseten.STT(api_key="local-test", model_endpoint=args.url, language=args.language, http_session=http)
        stt.on("error", lambda error: emit("error", message=str(error.error), recoverable=error.recoverable))
        stream = stt.stream()
        tail_seen = asyncio.Event()
        reader = asyncio.create_task(read_events(stream, normalize(args.tail), tail_seen))
        frames_sent = [0]
        await push_paced(stream, pcm, frames_sent, args.speed)
        if args.end_input:
            stream.end_input()
            emit("input_ended")
            wait_s = args.wait_s
        else:
            silence = bytes(FRAME_BYTES)
            deadline = time.monotonic() + args.silence_max_s
            while not tail_seen.is_set() and time.monotonic() < deadline:
                await push_paced(stream, silence, frames_sent, args.speed)
            emit("silence_ended")
            wait_s = 1.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tail_seen.wait(), timeout=wait_s)
        await stream.aclose()
        reader.cancel()
        emit("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("pcm_path")
    parser.add_argument("--language", default="en")
    parser.add_argument("--tail", required=True, help="words the last utterance's final contains")
    parser.add_argument("--silence-max-s", type=float, default=20.0)
    parser.add_argument("--end-input", action="store_true")
    parser.add_argument("--wait-s", type=float, default=25.0)
    parser.add_argument("--speed", type=float, default=1.0, help="times real time")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
