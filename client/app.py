"""The CLI's run: source, display and writers around ``stream``, signals, exit code.

Signals: the first Ctrl-C (SIGINT) finishes the session the graceful way and the
run ends as it would at the end of the file (exit 0 when all went well). A
second Ctrl-C, or SIGTERM, quits at once: exit 130 or 143 (128 + the signal).
``--txt`` and ``--srt`` are written in every case, with the finals received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from client.audio_file import check_readable
from client.display import Display
from client.errors import StreamError
from client.messages import Final, StreamResult
from client.mic import MicSource, check_input
from client.run_options import CliOptions
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
        show_turn_events=options.output.show_turn_events,
    )
    stop = asyncio.Event()
    finals: list[Final] = []  # kept here too, so a cancelled run still writes them
    jsonl: JsonlWriter | None = None
    result = StreamResult()
    exit_code = 0
    with _clearing_partials(display), _handling_signals(stop) as quit_signal:
        try:
            source = source or make_source(options)
            jsonl = JsonlWriter(options.output.jsonl) if options.output.jsonl else None

            def on_message(message: dict[str, Any], final: Final | None) -> None:
                if final is not None:
                    finals.append(final)
                if jsonl is not None:
                    jsonl.write(message)
                display.handle(message, final)

            result = await stream(options.streamer, source, stop=stop, on_message=on_message)
        except StreamError as exc:
            display.close()
            print(f"error: {exc}", file=sys.stderr)
            result, exit_code = exc.result or StreamResult(), exc.exit_code
        except asyncio.CancelledError:
            if quit_signal.number is None:
                raise
            exit_code = 128 + quit_signal.number
            display.close()
            print(f"{quit_signal.name}: quit without waiting; {len(finals)} final(s) received", file=sys.stderr)
        finally:
            display.close()
            if jsonl is not None:
                jsonl.close()
            _write_outputs(options, finals)
    for summary in result.session_ends:
        logger.info("session end: %s", summary)
    return exit_code


def _write_outputs(options: CliOptions, finals: list[Final]) -> None:
    if options.output.srt is not None:
        write_srt(options.output.srt, finals)
    if options.output.txt is not None:
        write_txt(options.output.txt, finals)


@dataclass
class _QuitSignal:
    """The signal that cancelled the run, if one did."""

    number: int | None = None

    @property
    def name(self) -> str:
        return "" if self.number is None else signal.Signals(self.number).name


@contextlib.contextmanager
def _handling_signals(stop: asyncio.Event) -> Iterator[_QuitSignal]:
    """First Ctrl-C: finish the session cleanly. Second Ctrl-C, or SIGTERM: cancel the run."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    quit_signal = _QuitSignal()

    def quit_now(number: int) -> None:
        if quit_signal.number is None and task is not None:
            quit_signal.number = number
            task.cancel()

    def on_sigint() -> None:
        if stop.is_set():
            quit_now(signal.SIGINT)
            return
        stop.set()
        logger.warning("stopping: waiting for the last transcripts (Ctrl-C again to quit now)")

    handled = []
    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handled.append(signal.SIGINT)
        loop.add_signal_handler(signal.SIGTERM, quit_now, signal.SIGTERM)
        handled.append(signal.SIGTERM)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        pass
    try:
        yield quit_signal
    finally:
        for number in handled:
            loop.remove_signal_handler(number)


@contextlib.contextmanager
def _clearing_partials(display: Display) -> Iterator[None]:
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
