"""The CLI run (client.app) and the Baseten example reproduction, against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from client_fakes import (
    LiveSource,
    Recorded,
    error,
    fake_server,
    free_port,
    receive,
    receive_until_terminate,
    session_end,
    transcription,
    write_tone,
)
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from client import baseten_example
from client.app import run
from client.cli import build_parser, options_from_args


def cli_options(*argv: str):
    parser = build_parser()
    return options_from_args(parser.parse_args(list(argv)), parser, {})


async def two_finals(ws: ServerConnection, recorded: Recorded) -> None:
    async def on_frame(count: int) -> None:
        if count == 3:
            await ws.send(transcription(0, "hello", final=False))
            await ws.send(transcription(0, "Hello world.", final=True, start_s=0.0, end_s=0.4))

    await receive_until_terminate(ws, recorded, on_frame)
    await ws.send(transcription(1, "The end.", final=True, start_s=0.5, end_s=0.9))
    await ws.send(session_end(audio_s=1.0))
    await ws.close()


def test_file_run_prints_finals_and_writes_every_output(tmp_path: Path, capsys) -> None:
    write_tone(tmp_path / "tone.wav", 1.0)
    out = io.StringIO()

    async def main():
        async with fake_server(two_finals) as server:
            options = cli_options(
                "--url", server.url, "--file", str(tmp_path / "tone.wav"), "--fast", "--timestamps",
                "--jsonl", str(tmp_path / "m.jsonl"),
                "--srt", str(tmp_path / "t.srt"),
                "--txt", str(tmp_path / "t.txt"),
            )  # fmt: skip
            return await run(options, out=out)

    assert asyncio.run(main()) == 0
    assert out.getvalue() == "[00:00.00 → 00:00.40] Hello world.\n[00:00.50 → 00:00.90] The end.\n"
    assert capsys.readouterr().err == ""
    messages = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [m.get("type") for m in messages] == ["transcription"] * 3 + ["session_end"]
    assert (tmp_path / "t.txt").read_text() == "Hello world.\nThe end.\n"
    assert (tmp_path / "t.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:00,400\nHello world.\n")


def test_server_error_is_one_line_on_stderr_and_the_exit_code(tmp_path: Path, capsys) -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await ws.send(transcription(0, "Kept.", final=True))
        await ws.send(error("invalid_config", "streaming_params.sample_rate must be 8000-48000"))
        await ws.close(1008, "invalid_config")

    write_tone(tmp_path / "tone.wav", 1.0)
    out = io.StringIO()

    async def main():
        async with fake_server(behaviour) as server:
            options = cli_options(
                "--url", server.url, "--file", str(tmp_path / "tone.wav"), "--txt", str(tmp_path / "t.txt")
            )
            return await run(options, out=out)

    assert asyncio.run(main()) == 6
    err = capsys.readouterr().err
    assert err == (
        "error: the server closed the session with 1008 (policy violation: bad config or over a limit): "
        "invalid_config: streaming_params.sample_rate must be 8000-48000\n"
    )
    assert out.getvalue() == "Kept.\n"
    assert (tmp_path / "t.txt").read_text() == "Kept.\n"


def test_refused_connection_exit_code(tmp_path: Path, capsys) -> None:
    write_tone(tmp_path / "tone.wav", 0.1)
    url = f"ws://127.0.0.1:{free_port()}/v1/websocket"
    code = asyncio.run(run(cli_options("--url", url, "--file", str(tmp_path / "tone.wav")), out=io.StringIO()))
    assert code == 5
    assert capsys.readouterr().err == (
        f"error: cannot connect to {url}: connection refused "
        "(is the server running? `make serve` starts the local one)\n"
    )


@pytest.mark.skipif(
    sys.platform == "win32" or threading.current_thread() is not threading.main_thread(),
    reason="needs POSIX signals in the main thread",
)
def test_ctrl_c_finishes_the_session_cleanly(caplog) -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive_until_terminate(ws, recorded)
        await ws.send(transcription(0, "Stopped cleanly.", final=True))
        await ws.send(session_end())
        await ws.close()

    out = io.StringIO()

    async def main():
        async with fake_server(behaviour) as server:
            asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGINT)
            code = await run(cli_options("--url", server.url), out=out, source=LiveSource())
            return code, server.sessions

    code, [recorded] = asyncio.run(main())
    assert code == 0
    assert recorded.controls == [{"terminate_session": True}]
    assert out.getvalue() == "Stopped cleanly.\n"
    assert "stopping: waiting for the last transcripts" in caplog.text


async def final_then_silence(ws: ServerConnection, recorded: Recorded) -> None:
    """One final after the 3rd frame, then nothing: not even an answer to terminate_session."""

    async def on_frame(count: int) -> None:
        if count == 3:
            await ws.send(transcription(0, "Kept so far.", final=True, start_s=0.0, end_s=0.4))

    await receive_until_terminate(ws, recorded, on_frame)
    await ws.wait_closed()  # until the client hangs up


def run_with_signals(argv: tuple[str, ...], signals: list[signal.Signals]) -> tuple[int, str]:
    """Run the CLI against ``final_then_silence``; send ``signals`` to ourselves once the final is shown."""
    out = io.StringIO()

    async def main():
        async with fake_server(final_then_silence) as server:
            loop = asyncio.get_running_loop()

            async def send_signals() -> None:
                while "Kept so far." not in out.getvalue():
                    await asyncio.sleep(0.01)
                for number in signals:
                    os.kill(os.getpid(), number)
                    await asyncio.sleep(0.1)

            sender = loop.create_task(send_signals())
            try:
                return await asyncio.wait_for(
                    run(cli_options("--url", server.url, *argv), out=out, source=LiveSource()), 20
                )
            finally:
                sender.cancel()

    return asyncio.run(main()), out.getvalue()


@pytest.mark.skipif(
    sys.platform == "win32" or threading.current_thread() is not threading.main_thread(),
    reason="needs POSIX signals in the main thread",
)
def test_sigterm_quits_at_once_and_still_writes_the_transcripts(tmp_path: Path, capsys) -> None:
    txt, srt = tmp_path / "t.txt", tmp_path / "t.srt"
    code, shown = run_with_signals(("--txt", str(txt), "--srt", str(srt)), [signal.SIGTERM])
    assert code == 143
    assert shown == "Kept so far.\n"
    assert txt.read_text() == "Kept so far.\n"
    assert srt.read_text() == "1\n00:00:00,000 --> 00:00:00,400\nKept so far.\n"
    assert "SIGTERM: quit without waiting; 1 final(s) received" in capsys.readouterr().err


@pytest.mark.skipif(
    sys.platform == "win32" or threading.current_thread() is not threading.main_thread(),
    reason="needs POSIX signals in the main thread",
)
def test_a_second_ctrl_c_quits_at_once_and_still_writes_the_transcripts(tmp_path: Path, capsys) -> None:
    txt = tmp_path / "t.txt"
    code, _ = run_with_signals(("--txt", str(txt)), [signal.SIGINT, signal.SIGINT])
    assert code == 130
    assert txt.read_text() == "Kept so far.\n"
    assert "SIGINT: quit without waiting; 1 final(s) received" in capsys.readouterr().err


def test_baseten_example_reproduction_wire_behaviour(tmp_path: Path, capsys) -> None:
    async def baseten_like(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        while True:
            message = await receive(ws, recorded)
            if len(recorded.frames) == 2:  # Baseten's server sends no "type" field
                await ws.send(json.dumps({"is_final": False, "transcript": "hel"}))
                await ws.send(json.dumps({"is_final": True, "transcript": "hello"}))
            assert isinstance(message, bytes), "the example sends no control messages"

    t = np.arange(int(0.1 * 16_000)) / 16_000
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    import soundfile

    soundfile.write(str(tmp_path / "speech.wav"), audio, 16_000, subtype="FLOAT")

    async def main():
        async with fake_server(baseten_like) as server:
            await baseten_example.stream_file_audio(server.url, str(tmp_path / "speech.wav"), 0.05)
            return server.sessions

    [recorded] = asyncio.run(main())
    assert recorded.config == baseten_example.metadata
    assert recorded.config["vad_params"] == {"threshold": 0.5, "min_silence_duration_ms": 300, "speech_pad_ms": 30}
    assert all(len(frame) == 1024 for frame in recorded.frames[:-1])
    sent = np.frombuffer(b"".join(recorded.frames), dtype="<i2")
    assert len(sent) == len(audio) + int(0.05 * 16_000)
    assert np.array_equal(sent[: len(audio)], (audio * 32767).astype(np.int16))  # the example's conversion
    assert not sent[len(audio) :].any()
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == ["Connected to server", "Sent metadata to server"]
    assert "[partial] hel" in printed and "[final] hello" in printed


def test_baseten_example_quits_once_the_last_final_is_shown(tmp_path: Path, capsys) -> None:
    """--until-final: the silence stops once a final reaches the end of the file, as a user quits then."""
    file_s, tail_s = 2.048, 10.0
    file_frames = round(file_s * 16_000 / 512)

    async def final_after_the_file(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        with contextlib.suppress(ConnectionClosed):  # the example hangs up without a close frame
            await final_loop(ws, recorded)

    async def final_loop(ws: ServerConnection, recorded: Recorded) -> None:
        while True:
            await receive(ws, recorded)
            if len(recorded.frames) == file_frames + 3:  # an early final would not end the wait
                await ws.send(json.dumps({"is_final": True, "transcript": "early", "segments": [{"end_time": 0.5}]}))
            if len(recorded.frames) == file_frames + 6:
                await ws.send(json.dumps({"is_final": True, "transcript": "last", "segments": [{"end_time": 1.9}]}))

    write_tone(tmp_path / "speech.wav", file_s)

    async def main():
        async with fake_server(final_after_the_file) as server:
            await baseten_example.stream_file_audio(server.url, str(tmp_path / "speech.wav"), tail_s, until_final=True)
            return server.sessions

    [recorded] = asyncio.run(main())
    assert file_frames + 6 <= len(recorded.frames) <= file_frames + 12  # not the whole 10 s of silence
    assert "[final] last" in capsys.readouterr().out


def test_missing_microphone_support_fails_before_connecting(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    url = f"ws://127.0.0.1:{free_port()}/v1/websocket"
    assert asyncio.run(run(cli_options("--url", url), out=io.StringIO())) == 8
    assert capsys.readouterr().err.startswith("error: no microphone support")
