"""The async adapter: runs one ``Session`` over one WebSocket.

Works with any object shaped like Starlette's ``WebSocket`` (what Truss hands to
``Model.websocket``): ``receive()`` returning ASGI message dicts, ``send_text()``
and ``close()``. ``serve_session`` reads the config (``first_message``), admits the
session (``admission``) and maps every way it can end to a close code;
``session_runner`` runs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from whisper_stream import metrics
from whisper_stream.inference.engine import Engine
from whisper_stream.protocol import messages
from whisper_stream.protocol.errors import InternalError, ServerBusyError, ServerShutdownError, StreamingError
from whisper_stream.server.admission import Admission, admission_for
from whisper_stream.server.drain import Drain
from whisper_stream.server.first_message import check_model_supports, receive_config
from whisper_stream.server.limits import Limits
from whisper_stream.server.logs import SessionLog, bind_session_id
from whisper_stream.server.session_runner import SessionRunner
from whisper_stream.server.socket_events import Disconnected, WebSocketLike, close_within
from whisper_stream.server.ws_layer import MessageCap, session_message_cap_bytes

__all__ = ["WebSocketLike", "serve_session"]

logger = logging.getLogger(__name__)


async def serve_session(
    websocket: WebSocketLike,
    engine: Engine,
    *,
    limits: Limits = Limits(),
    session_id: str | None = None,
    drain: Drain | None = None,
    admission: Admission | None = None,
) -> None:
    """Run one session to its end. Never raises for anything the peer did, nor for our own bugs.

    The connection waits for its config holding no slot, then takes one (``admission``: the replica's, made
    at the engine's first session unless given).
    """
    session_id = session_id or uuid.uuid4().hex[:12]
    log = SessionLog(logger, session_id)
    admission = admission or admission_for(engine, limits)
    with bind_session_id(session_id):
        runner = SessionRunner(websocket, engine, limits, log, drain)
        try:
            if drain is not None and drain.draining:
                raise ServerShutdownError("the server is shutting down; reconnect")
            if not engine.running:
                raise ServerBusyError("the model is not loaded yet; retry later")
            cap = MessageCap.of(websocket)
            if cap is not None:  # one cap from now on: a lower one until the config would race its first frame
                cap.lower_to(session_message_cap_bytes(limits))
            evicted = asyncio.Event()
            with admission.config_wait(runner, evicted.set):
                config = await receive_config(websocket, limits, evicted)
            check_model_supports(config, engine.transcriber)
            # Read on while the slot is awaited: a client that leaves meanwhile (a reconnect storm) leaves the
            # queue of newcomers at once; what it sent, if it stays, is the session's first message.
            left = asyncio.Event()
            runner.next_message = asyncio.ensure_future(websocket.receive())
            runner.next_message.add_done_callback(lambda done: _set_if_disconnect(done, left))
            async with admission.slot(runner, left=left):
                metrics.SESSIONS_TOTAL.labels(outcome="accepted").inc()
                log.info("session opened (%d open)", engine.open_sessions)
                await runner.run(config)
        except Disconnected as exc:
            log.info("%s", exc.args[0] if exc.args else "client disconnected")
        except StreamingError as exc:
            await _fail(websocket, exc, log, limits)
        except Exception as exc:
            await _fail(websocket, InternalError("unexpected error"), log, limits, cause=exc)
        finally:  # only now, with the last message sent and the socket closed, is a draining session done
            if runner.next_message is not None:
                runner.next_message.cancel()
            if drain is not None:
                drain.unregister(runner)


def _set_if_disconnect(received: asyncio.Future[Any], left: asyncio.Event) -> None:
    """Done callback of the read started while the slot is awaited (what it got is the runner's to handle)."""
    gone = not received.cancelled() and received.exception() is None and received.result().get("type")
    if gone == "websocket.disconnect":
        left.set()


async def _fail(
    websocket: WebSocketLike,
    exc: StreamingError,
    log: logging.LoggerAdapter,
    limits: Limits,
    *,
    cause: BaseException | None = None,
) -> None:
    """Tell the peer what went wrong (never a traceback) and close with the code of ``exc``."""
    metrics.ERRORS.labels(code=exc.code).inc()
    if exc.code == "server_busy":
        metrics.SESSIONS_TOTAL.labels(outcome="refused").inc()
    if exc.public:
        log.info("closing with %d %s: %s", exc.close_code, exc.code, exc)
    else:  # our bug: the traceback goes to the log, and only there
        log.error("closing with %d %s: %s", exc.close_code, exc.code, exc, exc_info=cause or exc)
    timeout_s = min(limits.send_timeout_s, 5.0)
    try:
        await asyncio.wait_for(
            websocket.send_text(json.dumps(messages.error_message(exc.code, exc.public_message))), timeout=timeout_s
        )
    except Exception:  # the peer may be gone already, or not reading; nothing else to tell it
        log.debug("could not send the error message", exc_info=True)
    await close_within(websocket, int(exc.close_code), exc.code, timeout_s, log)
