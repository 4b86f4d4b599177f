"""The CLI's run: source, display and writers around ``stream``, Ctrl-C, exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any, TextIO

from client.audio_file import check_readable
from client.cli import CliOptions
from client.display import Display
from client.errors import StreamError
from client.messages import Final, StreamResult
from client.mic import MicSource, check_input
from client.sources import AudioSource, FileSource
from client.streamer import stream
from client.writers import JsonlWriter, write_srt, write_txt

logger = logging.getLogger(__name__)


def make_source(options: CliOptions) -> AudioSource:
    session = options.streamer.session
    if options.source.file is not None:
        check_readable(options.source.file)
        return FileSource(
            options.source.file,
            sample_rate=session.sample_rate,
            frame_samples=options.source.frame_samples,
            encoding=session.encoding,
            speed=options.source.speed,
        )
    check_input(device=options.source.device, sample_rate=session.sample_rate)
    return MicSource(
        sample_rate=session.sample_rate,
        frame_samples=options.source.frame_samples,
        encoding=session.encoding,
        device=options.source.device,
    )


async def run(options: CliOptions, *, out: TextIO | None = None, source: AudioSource | None = None) -> int:
    """Stream, show and write; returns the exit code. Errors are one line on stderr."""
    out = out or sys.stdout
    display = Display(
        out,
        tty=out.isatty(),
        show_partials=options.output.show_partials,
        timestamps=options.output.timestamps,
        show_vad_events=options.output.show_vad_events,
    )
    stop = asyncio.Event()
    jsonl: JsonlWriter | None = None
    exit_code = 0
    with _clearing_partials(display), _ctrl_c_stops(stop):
        try:
            source = source or make_source(options)
            jsonl = JsonlWriter(options.output.jsonl) if options.output.jsonl else None

            def on_message(message: dict[str, Any], final: Final | None) -> None:
                if jsonl is not None:
                    jsonl.write(message)
                display.handle(message, final)

            result = await stream(options.streamer, source, stop=stop, on_message=on_message)
        except StreamError as exc:
            display.close()
            print(f"error: {exc}", file=sys.stderr)
            result, exit_code = exc.result or StreamResult(), exc.exit_code
        finally:
            display.close()
            if jsonl is not None:
                jsonl.close()
    _write_outputs(options, result)
    for summary in result.session_ends:
        logger.info("session end: %s", summary)
    return exit_code


def _write_outputs(options: CliOptions, result: StreamResult) -> None:
    if options.output.srt is not None:
        write_srt(options.output.srt, result.finals)
    if options.output.txt is not None:
        write_txt(options.output.txt, result.finals)


@contextlib.contextmanager
def _ctrl_c_stops(stop: asyncio.Event):  # -> Iterator[None]
    """First Ctrl-C: finish the session cleanly. Second: cancel the run."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_sigint() -> None:
        if stop.is_set():
            if task is not None:
                task.cancel()
            return
        stop.set()
        logger.warning("stopping: waiting for the last transcripts (Ctrl-C again to quit now)")

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


@contextlib.contextmanager
def _clearing_partials(display: Display):  # -> Iterator[None]
    """Log lines erase the partial first, so a warning never lands in the middle of it."""

    class ClearFirst(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            display.close()
            return True

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    clear_first = ClearFirst()
    for handler in handlers:
        handler.addFilter(clear_first)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(clear_first)
