"""A file-driven reproduction of the wire behaviour of Baseten's published example client.

Baseten's "Whisper Streaming Large v3" example streams the laptop microphone; this
does the same on the wire from a file, so the server can be checked against that
client unmodified (see client/README.md for the example itself):

1. connect with ``Authorization: Api-Key $BASETEN_API_KEY`` (``additional_headers``);
2. send the metadata JSON below, in the example's ``vad_params`` /
   ``streaming_whisper_params`` form;
3. send 512-sample pcm_s16le binary frames, made as the example makes them from
   float32 capture: ``(x * 32767).astype(np.int16)``, one every 32 ms;
4. print each message as ``[partial] ...`` or ``[final] ...`` from ``is_final`` and
   ``transcript``.

The example never ends a session: it streams until Ctrl-C. After the file this
sends ``--tail-silence-s`` of silent frames (a quiet microphone, so the server's
VAD closes the last utterance), then closes the socket, as quitting the example does.
It sends no ``terminate_session``. The file must be 16 kHz (mono, or its first
channel is used), as a 16 kHz microphone would be.

    python -m client.baseten_example ws://127.0.0.1:8080/v1/websocket speech.wav
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import numpy as np
import soundfile
import websockets

SAMPLE_RATE = 16000
CHUNK_SIZE = 512
CHUNK_DURATION = CHUNK_SIZE / SAMPLE_RATE

metadata = {
    "vad_params": {
        "threshold": 0.5,
        "min_silence_duration_ms": 300,
        "speech_pad_ms": 30,
    },
    "streaming_whisper_params": {
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
        "enable_partial_transcripts": True,
        "audio_language": "en",
    },
}


def file_chunks(path: str, tail_silence_s: float) -> list[bytes]:
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise SystemExit(f"{path}: {rate} Hz; the example streams {SAMPLE_RATE} Hz")
    indata = np.concatenate([audio[:, 0], np.zeros(int(tail_silence_s * SAMPLE_RATE), dtype=np.float32)])
    return [
        (indata[start : start + CHUNK_SIZE] * 32767).astype(np.int16).tobytes()
        for start in range(0, len(indata), CHUNK_SIZE)
    ]


async def stream_file_audio(ws_url: str, path: str, tail_silence_s: float) -> None:
    api_key = os.getenv("BASETEN_API_KEY")
    headers = {"Authorization": f"Api-Key {api_key}"} if api_key else {}
    chunks = file_chunks(path, tail_silence_s)
    async with websockets.connect(ws_url, additional_headers=headers) as ws:
        print("Connected to server")
        await ws.send(json.dumps(metadata))
        print("Sent metadata to server")

        async def send_audio() -> None:
            for chunk in chunks:  # paced like the microphone's 512-sample callbacks
                await ws.send(chunk)
                await asyncio.sleep(CHUNK_DURATION)

        async def receive_server_messages() -> None:
            while True:
                try:
                    response = await ws.recv()
                except websockets.ConnectionClosed:
                    return
                try:
                    message = json.loads(response)
                    is_final = message.get("is_final")
                    transcript = message.get("transcript")
                    if not is_final:
                        print(f"[partial] {transcript}")
                    else:
                        print(f"[final] {transcript}")
                except Exception as e:
                    print(f"Non-JSON message or parse error: {e}")

        receiver = asyncio.create_task(receive_server_messages())
        try:
            await send_audio()
        except websockets.ConnectionClosed as exc:  # the example would die here with a traceback
            print(f"Connection closed by the server: {exc}")
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
    print("Closed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="ws:// or wss:// URL of the server")
    parser.add_argument("file", help="16 kHz audio file (wav, flac)")
    parser.add_argument("--tail-silence-s", type=float, default=3.0, help="silence sent after the file (3)")
    args = parser.parse_args(argv)
    asyncio.run(stream_file_audio(args.url, args.file, args.tail_silence_s))


if __name__ == "__main__":
    main()
