"""client.streamer against a scripted WebSocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from client_fakes import (
    TERMINATE,
    ListSource,
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

from client.errors import AuthError, ConnectError, FinishTimeoutError, NotFoundError, ServerClosedError
from client.options import SessionConfig, StreamerOptions
from client.sources import FileSource
from client.streamer import stream


def options_for(url: str, **overrides) -> StreamerOptions:
    return StreamerOptions(url=url, **overrides)


async def transcribe_behaviour(ws: ServerConnection, recorded: Recorded) -> None:
    """A partial after frame 5, a final after frame 10, the last final after terminate_session."""

    async def on_frame(count: int) -> None:
        if count == 5:
            await ws.send(transcription(0, "hello", final=False))
        if count == 10:
            await ws.send(transcription(0, "hello world", final=True, start_s=0.1, end_s=0.3))

    await receive_until_terminate(ws, recorded, on_frame)
    await ws.send(transcription(1, "the end", final=True, start_s=0.5, end_s=0.9))
    await ws.send(session_end(audio_s=1.0))
    await ws.close(1000)


def test_file_session_sends_config_frames_and_terminate(tmp_path: Path) -> None:
    write_tone(tmp_path / "tone.wav", 1.0)

    async def main():
        async with fake_server(transcribe_behaviour) as server:
            source = FileSource(tmp_path / "tone.wav", speed=None)
            result = await stream(options_for(server.url), source)
            return server.sessions, result

    sessions, result = asyncio.run(main())
    [recorded] = sessions
    assert recorded.config == {
        "streaming_params": {"encoding": "pcm_s16le", "sample_rate": 16000, "enable_partial_transcripts": True}
    }
    frames = recorded.frames
    assert all(len(frame) == 1024 for frame in frames[:-1])
    assert 0 < len(frames[-1]) <= 1024
    assert sum(len(frame) for frame in frames) == 16_000 * 2
    assert recorded.controls == [TERMINATE]
    assert recorded.messages[-1] == json.dumps(TERMINATE)
    assert [final.text for final in result.finals] == ["hello world", "the end"]
    assert [final.transcription_num for final in result.finals] == [0, 1]
    assert result.finals[0].start_s == pytest.approx(0.1)
    assert len(result.messages) == 4
    assert result.session_ends == [{"type": "session_end", "audio_s": 1.0}]
    assert result.audio_sent_s == pytest.approx(1.0)
    assert result.sessions == 1


def test_finals_are_collected_in_order_and_messages_reach_the_handler() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        async def on_frame(count: int) -> None:
            if count % 4 == 0:
                num = count // 4 - 1
                await ws.send(transcription(num, f"part {num}", final=False))
                await ws.send(transcription(num, f"final {num}", final=True))

        await receive_until_terminate(ws, recorded, on_frame)
        await ws.send(session_end())
        await ws.close()

    seen = []

    async def main():
        async with fake_server(behaviour) as server:
            source = ListSource([bytes(1024)] * 20)
            return await stream(options_for(server.url), source, on_message=lambda m, f: seen.append((m, f)))

    result = asyncio.run(main())
    assert [final.text for final in result.finals] == [f"final {n}" for n in range(5)]
    assert len(seen) == 11
    assert [f.text for _, f in seen if f is not None] == [f"final {n}" for n in range(5)]
    assert all(f is None for m, f in seen if not m.get("is_final"))


def test_session_config_and_headers_reach_the_server() -> None:
    session = SessionConfig(
        encoding="pcm_mulaw",
        sample_rate=8000,
        audio_language="auto",
        vad_threshold=0.6,
        send_vad_events=True,
    )

    async def main():
        async with fake_server(_finish_at_terminate) as server:
            options = options_for(server.url, session=session, headers={"Authorization": "Api-Key k123"})
            await stream(options, ListSource([bytes(512)] * 3))
            return server.sessions

    [recorded] = asyncio.run(main())
    assert recorded.config == session.to_message()
    assert recorded.headers["Authorization"] == "Api-Key k123"
    assert recorded.path == "/v1/websocket"
    assert [len(frame) for frame in recorded.frames] == [512] * 3


async def _finish_at_terminate(ws: ServerConnection, recorded: Recorded) -> None:
    await receive_until_terminate(ws, recorded)
    await ws.send(session_end())
    await ws.close()


@pytest.mark.parametrize(
    ("close_code", "meaning", "transient"),
    [
        (1003, "unsupported audio", False),
        (1007, "invalid data", False),
        (1008, "policy violation", False),
        (1009, "frame too big", False),
        (1011, "internal server error", True),
        (1013, "server full", True),
    ],
)
def test_error_close_codes_become_errors_with_the_server_message(close_code, meaning, transient) -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await receive(ws, recorded)
        await ws.send(transcription(0, "before the error", final=True))
        await ws.send(error("some_code", f"the reason for {close_code}"))
        await ws.close(close_code, "short reason")

    async def main():
        async with fake_server(behaviour) as server:
            await stream(options_for(server.url), LiveSource())

    with pytest.raises(ServerClosedError) as caught:
        asyncio.run(main())
    exc = caught.value
    assert exc.close_code == close_code
    assert exc.error_code == "some_code"
    assert exc.exit_code == 6
    assert exc.transient is transient
    text = str(exc)
    assert str(close_code) in text and meaning in text
    assert f"some_code: the reason for {close_code}" in text
    assert [final.text for final in exc.result.finals] == ["before the error"]


def test_close_reason_is_used_when_no_error_message_came() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await ws.close(1008, "sample_rate out of range")

    async def main():
        async with fake_server(behaviour) as server:
            await stream(options_for(server.url), LiveSource())

    with pytest.raises(ServerClosedError, match="1008 .*: sample_rate out of range"):
        asyncio.run(main())


def test_a_normal_close_before_the_end_of_the_audio_is_an_error() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await ws.close(1000)

    async def main():
        async with fake_server(behaviour) as server:
            await stream(options_for(server.url), LiveSource())

    with pytest.raises(ServerClosedError, match="1000 .*before the end of the audio"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("status", "error_type", "fragment"),
    [
        (401, AuthError, "HTTP 401"),
        (403, AuthError, "HTTP 403"),
        (404, NotFoundError, "HTTP 404"),
        (503, ConnectError, "HTTP 503"),
    ],
)
def test_handshake_rejections(status, error_type, fragment) -> None:
    async def main():
        async with fake_server(_finish_at_terminate, reject_status=status) as server:
            await stream(options_for(server.url), ListSource([]))

    with pytest.raises(error_type, match=fragment) as caught:
        asyncio.run(main())
    assert caught.value.transient is (status == 503)


def test_auth_error_says_whether_a_key_was_sent() -> None:
    async def main(headers):
        async with fake_server(_finish_at_terminate, reject_status=401) as server:
            await stream(options_for(server.url, headers=headers), ListSource([]))

    with pytest.raises(AuthError, match="no API key was sent: set BASETEN_API_KEY"):
        asyncio.run(main({}))
    with pytest.raises(AuthError, match="check BASETEN_API_KEY"):
        asyncio.run(main({"Authorization": "Api-Key wrong"}))


@pytest.mark.parametrize("path", ["/websocket", "/v1/websocket/", "/wrong"])
def test_a_wrong_path_on_a_local_server_is_named_as_such(path: str) -> None:
    """truss's server (Starlette) answers a handshake on an unknown path with 403; that is no key problem."""

    async def main():
        async with fake_server(_finish_at_terminate, reject_status=403) as server:
            url = server.url.replace("/v1/websocket", path)
            await stream(options_for(url, headers={"Authorization": "Api-Key k"}), ListSource([]))

    with pytest.raises(NotFoundError) as caught:
        asyncio.run(main())
    message = str(caught.value)
    assert f"no WebSocket endpoint at {path} (HTTP 403" in message
    assert "the path is probably wrong; the local server's is /v1/websocket, e.g. ws://127.0.0.1:" in message
    assert "authentication" not in message and "API" not in message
    assert caught.value.exit_code == 4


def test_refused_connection() -> None:
    url = f"ws://127.0.0.1:{free_port()}/v1/websocket"
    with pytest.raises(ConnectError, match="connection refused") as caught:
        asyncio.run(stream(options_for(url), ListSource([])))
    assert caught.value.exit_code == 5
    assert caught.value.transient


def test_no_answer_after_terminate_times_out() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive_until_terminate(ws, recorded)
        await ws.send(transcription(0, "last words", final=True))
        await ws.wait_closed()  # never answers: the client gives up and closes

    async def main():
        async with fake_server(behaviour) as server:
            await stream(options_for(server.url, finish_timeout_s=0.3), ListSource([bytes(1024)] * 2))

    with pytest.raises(FinishTimeoutError, match="0.3 s") as caught:
        asyncio.run(main())
    assert [final.text for final in caught.value.result.finals] == ["last words"]


def test_the_finish_wait_goes_on_while_finals_keep_coming() -> None:
    """A --fast file is transcribed after its end: each message restarts the finish timeout."""

    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive_until_terminate(ws, recorded)
        for num in range(6):  # 6 x 0.15 s = 0.9 s in all, three times the timeout
            await asyncio.sleep(0.15)
            await ws.send(transcription(num, f"final {num}", final=True))
        await ws.send(session_end())
        await ws.close()

    async def main():
        async with fake_server(behaviour) as server:
            return await stream(options_for(server.url, finish_timeout_s=0.3), ListSource([bytes(1024)] * 2))

    result = asyncio.run(main())
    assert [final.text for final in result.finals] == [f"final {num}" for num in range(6)]


def test_stop_sends_terminate_and_waits_for_the_last_final() -> None:
    stop_after_frames = 10

    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive_until_terminate(ws, recorded)
        await asyncio.sleep(0.05)  # the last decode takes a while
        await ws.send(transcription(0, "said before ctrl-c", final=True))
        await ws.send(session_end())
        await ws.close()

    async def main():
        stop = asyncio.Event()
        source = LiveSource()

        async def watcher():  # Ctrl-C after a few frames
            while source.frames_read < stop_after_frames:
                await asyncio.sleep(0.001)
            stop.set()

        async with fake_server(behaviour) as server:
            watch = asyncio.create_task(watcher())
            result = await stream(options_for(server.url), source, stop=stop)
            await watch
            return server.sessions, result, source

    [recorded], result, source = asyncio.run(main())
    assert recorded.controls == [TERMINATE]
    assert len(recorded.frames) >= stop_after_frames
    assert [final.text for final in result.finals] == ["said before ctrl-c"]
    assert source.started == 1 and source.closed == 1


def test_reconnects_a_live_source_after_a_transient_close() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        for _ in range(5):
            await receive(ws, recorded)
        if recorded is server.sessions[0]:
            await ws.send(error("server_full", "try again later"))
            await ws.close(1013)
            return
        await ws.send(transcription(0, "after reconnect", final=True, start_s=0.0, end_s=0.1))
        await ws.close(1000)  # before any terminate_session: the error that ends the test

    async def main():
        nonlocal server
        async with fake_server(behaviour) as server:
            options = options_for(server.url, reconnect_attempts=2, reconnect_base_delay_s=0.01)
            source = LiveSource()
            with pytest.raises(ServerClosedError, match="before the end of the audio") as caught:
                await stream(options, source)
            return caught.value.result, source

    server = None
    result, source = asyncio.run(main())
    first, second = server.sessions
    assert second.config == first.config
    assert result.sessions == 2
    [final] = result.finals
    assert final.session_index == 1
    sent_in_first_s = len(first.frames) * 1024 / 2 / 16_000
    assert final.start_s == pytest.approx(sent_in_first_s, abs=0.1)
    assert final.start_s >= sent_in_first_s - 1e-9  # server times count from each session's start
    assert source.started == 1 and source.closed == 1


def test_reconnect_gives_up_after_n_attempts() -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await ws.close(1011)

    async def main():
        async with fake_server(behaviour) as server:
            options = options_for(server.url, reconnect_attempts=2, reconnect_base_delay_s=0.01)
            with pytest.raises(ServerClosedError, match="1011"):
                await stream(options, LiveSource())
            return len(server.sessions)

    assert asyncio.run(main()) == 3  # the first try and two retries


def test_files_are_not_reconnected(tmp_path: Path) -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive(ws, recorded)
        await ws.close(1013)

    async def main():
        async with fake_server(behaviour) as server:
            options = options_for(server.url, reconnect_attempts=3, reconnect_base_delay_s=0.01)
            with pytest.raises(ServerClosedError):
                await stream(options, ListSource([bytes(1024)] * 50))
            return len(server.sessions)

    assert asyncio.run(main()) == 1


def test_odd_messages_are_skipped_with_a_warning(caplog) -> None:
    async def behaviour(ws: ServerConnection, recorded: Recorded) -> None:
        await receive_until_terminate(ws, recorded)
        await ws.send("not json")
        await ws.send("[1, 2]")
        await ws.send(json.dumps({"is_final": True, "transcript": "no type field"}))
        await ws.send(json.dumps({"type": "speech_started", "time_s": 0.5}))
        await ws.send(session_end())
        await ws.close()

    async def main():
        async with fake_server(behaviour) as server:
            return await stream(options_for(server.url), ListSource([bytes(1024)]))

    with caplog.at_level(logging.WARNING):
        result = asyncio.run(main())
    assert [final.text for final in result.finals] == ["no type field"]
    assert len(result.messages) == 3
    assert "not JSON" in caplog.text and "not an object" in caplog.text
