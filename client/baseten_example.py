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
With ``--until-final`` it quits as soon as a final reaches the end of the file's
audio, as a user does who sees the last words appear and presses Ctrl-C; the
silence then lasts at most ``--tail-silence-s``. It sends no ``terminate_session``.
The file must be 16 kHz (mono, or its first channel is used), as a 16 kHz
microphone would be.

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
END_SLACK_S = 1.0  # a final ending this close to the end of the file's audio is the last one

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


def file_chunks(path: str, tail_silence_s: float) -> tuple[list[bytes], int]:
    """The frames of the file and then of the silence, and how many are the file's."""
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise SystemExit(f"{path}: {rate} Hz; the example streams {SAMPLE_RATE} Hz")
    indata = np.concatenate([audio[:, 0], np.zeros(int(tail_silence_s * SAMPLE_RATE), dtype=np.float32)])
    chunks = [
        (indata[start : start + CHUNK_SIZE] * 32767).astype(np.int16).tobytes()
        for start in range(0, len(indata), CHUNK_SIZE)
    ]
    return chunks, -(-len(audio) // CHUNK_SIZE)


def _final_end_s(message: dict) -> float:
    ends = [s.get("end_time") for s in message.get("segments") or [] if isinstance(s, dict)]
    return max((e for e in ends if isinstance(e, int | float)), default=0.0)


async def stream_file_audio(ws_url: str, path: str, tail_silence_s: float, *, until_final: bool = False) -> None:
    api_key = os.getenv("BASETEN_API_KEY")
    headers = {"Authorization": f"Api-Key {api_key}"} if api_key else {}
    chunks, file_chunk_count = file_chunks(path, tail_silence_s)
    file_end_s = file_chunk_count * CHUNK_DURATION
    last_final_seen = asyncio.Event()
    async with websockets.connect(ws_url, additional_headers=headers) as ws:
        print("Connected to server")
        await ws.send(json.dumps(metadata))
        print("Sent metadata to server")

        async def send_audio() -> None:
            for index, chunk in enumerate(chunks):  # paced like the microphone's 512-sample callbacks
                if index >= file_chunk_count and last_final_seen.is_set():
                    return  # the user saw the last words and quit
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
                        if until_final and _final_end_s(message) >= file_end_s - END_SLACK_S:
                            last_final_seen.set()
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
    parser.add_argument(
        "--until-final",
        action="store_true",
        help="stop the silence once a final reaches the end of the file (at most --tail-silence-s)",
    )
    args = parser.parse_args(argv)
    asyncio.run(stream_file_audio(args.url, args.file, args.tail_silence_s, until_final=args.until_final))


if __name__ == "__main__":
    main()
