"""Command line: arguments to frozen options (``client.run_options``), then ``client.app.run``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from client.app import run
from client.endpoint import API_KEY_ENV, auth_headers, baseten_url, check_ws_url, is_baseten_url
from client.errors import StreamError
from client.mic import list_devices, parse_device
from client.options import ENCODINGS, SessionConfig, StreamerOptions
from client.run_options import CliOptions, OutputOptions, SourceOptions

EPILOG = f"""\
target: --model-id builds wss://model-ID.api.baseten.co/environments/production/websocket
  (or .../environments/NAME/... with --environment, .../deployment/DEP/... with
  --deployment) and sends "Authorization: Api-Key ${API_KEY_ENV}". --url connects to
  any ws:// or wss:// URL; the key is sent there only for wss:// hosts under baseten.co.

source: the default microphone unless --file is given. Files are read with soundfile
  (wav, flac) or PyAV (mp3, m4a, ogg, video...), downmixed to mono, resampled to
  --sample-rate and sent in --encoding frames of --frame-samples samples, paced in
  real time unless --speed or --fast.

output: on a terminal the current partial is one line rewritten in place and each
  final is printed on its own line. When stdout is not a terminal only finals are
  printed, one a line; --show-partials adds "[partial] text" lines. --timestamps
  prefixes finals with [start → end]. --jsonl writes every server message as it
  arrives; --srt and --txt write the finals at the end. Warnings and errors go to
  stderr.

stopping: at the end of the file, or on Ctrl-C, the client sends
  {{"terminate_session": true}} and waits for the last finals and the server's close,
  as long as messages keep coming (--finish-timeout-s without one ends the wait).
  A second Ctrl-C, or SIGTERM, quits at once. --txt and --srt are written in every
  case, with the finals received so far.

exit codes: 0 done (also after a Ctrl-C that let the last finals arrive), 2 usage,
  3 key rejected (HTTP 401/403), 4 no such model or wrong path (HTTP 404, or 403 from
  a non-Baseten server), 5 cannot connect, 6 the server closed with an error,
  7 finish timeout, 8 audio source error, 130 quit by a second Ctrl-C, 143 SIGTERM.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, not after the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m client",
        description="Stream the microphone or an audio file to the streaming Whisper server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_argument_group("target")
    target.add_argument("--url", metavar="URL", help="WebSocket URL, e.g. ws://127.0.0.1:8080/v1/websocket")
    target.add_argument("--model-id", metavar="ID", help="Baseten model id")
    target.add_argument("--environment", metavar="NAME", help="Baseten environment (default: production)")
    target.add_argument("--deployment", metavar="ID", help="Baseten deployment id instead of an environment")

    source = parser.add_argument_group("audio source")
    source.add_argument("--file", type=Path, metavar="PATH", help="audio file to stream instead of the microphone")
    source.add_argument("--device", metavar="DEV", help="microphone: index or part of its name")
    source.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    source.add_argument("--speed", type=_positive_float, metavar="N", help="file pacing, N x real time (default 1)")
    source.add_argument("--fast", action="store_true", help="send the file as fast as possible")
    source.add_argument("--frame-samples", type=_positive_int, default=512, metavar="N", help="samples per frame (512)")

    session = parser.add_argument_group("session config")
    session.add_argument("--language", metavar="CODE", help='language code, or "auto" to detect it')
    session.add_argument("--vad-threshold", type=float, metavar="P", help="speech probability threshold, 0-1")
    session.add_argument("--min-silence-ms", type=int, metavar="MS", help="silence that ends an utterance")
    session.add_argument("--speech-pad-ms", type=int, metavar="MS", help="padding around detected speech")
    session.add_argument("--no-partials", action="store_true", help="ask for finals only")
    session.add_argument("--partial-interval-s", type=float, metavar="S", help="most frequent partial updates")
    session.add_argument("--max-utterance-s", type=float, metavar="S", help="force a final after this long")
    session.add_argument("--prompt", metavar="TEXT", help="initial prompt for Whisper")
    session.add_argument("--word-timestamps", action="store_true", help="ask for word timestamps")
    session.add_argument("--encoding", choices=ENCODINGS, default="pcm_s16le", help="wire encoding")
    session.add_argument("--sample-rate", type=int, default=16_000, metavar="HZ", help="wire sample rate, Hz (16000)")
    session.add_argument("--vad-events", action="store_true", help="ask for and show speech start/end")
    session.add_argument(
        "--turn-events",
        action="store_true",
        help="ask for and show eager end-of-turn texts (a pause's likely final) and turn resumptions",
    )
    session.add_argument("--prefix", metavar="TEXT", help="text the first final continues (its first words)")
    session.add_argument("--translate", action="store_true", help="English text whatever the language spoken")
    session.add_argument("--diarize", action="store_true", help="ask for speaker labels: finals show S0:, S1:, ...")
    session.add_argument("--max-speakers", type=_positive_int, metavar="N", help="with --diarize: at most N speakers")
    session.add_argument(
        "--no-vad", action="store_true", help="no VAD on the server: a final every --max-utterance-s and at the end"
    )

    decoding = parser.add_argument_group("decoding (whisper_sampling_params; the server's own when not given)")
    decoding.add_argument(
        "--beam-width", type=_positive_int, metavar="N", help="beam of finals (clamped to the server's maximum)"
    )
    decoding.add_argument(
        "--temperatures", type=_temperatures, metavar="T,T", help="tried in turn on doubtful finals, e.g. 0,0.4,0.8"
    )
    decoding.add_argument("--length-penalty", type=float, metavar="X", help="beam search length penalty")
    decoding.add_argument("--repetition-penalty", type=float, metavar="X", help="above 1 penalises repeats")
    decoding.add_argument("--no-repeat-ngram-size", type=int, metavar="N", help="no n-gram of this size twice")
    decoding.add_argument("--max-new-tokens", type=_positive_int, metavar="N", help="at most N tokens a decode")

    output = parser.add_argument_group("output")
    output.add_argument("--timestamps", action="store_true", help="prefix finals with [start → end]")
    output.add_argument("--show-partials", action="store_true", help="print partials when not on a terminal")
    output.add_argument("--jsonl", type=Path, metavar="PATH", help="write every server message to this file")
    output.add_argument("--srt", type=Path, metavar="PATH", help="write the finals as subtitles at the end")
    output.add_argument("--txt", type=Path, metavar="PATH", help="write the finals as text at the end")

    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--finish-timeout-s",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="after the audio ends, give up when the server sends nothing for this long (30)",
    )
    behaviour.add_argument(
        "--connect-timeout-s", type=_positive_float, default=10.0, metavar="S", help="handshake timeout (10)"
    )
    behaviour.add_argument(
        "--reconnect",
        type=int,
        default=0,
        metavar="N",
        help="microphone: reconnect up to N times after transient failures",
    )
    behaviour.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    return parser


def options_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser, environ: Mapping[str, str]
) -> CliOptions:
    """Check the combination of arguments (``parser.error`` on a bad one) and build the options."""
    url = _url(args, parser, environ)
    api_key = environ.get(API_KEY_ENV) or None
    send_key = args.model_id is not None or is_baseten_url(url)
    if args.file is None and (args.speed is not None or args.fast):
        parser.error("--speed and --fast pace a --file")
    if args.file is not None and args.device is not None:
        parser.error("--device selects a microphone; it cannot go with --file")
    if args.file is not None and args.reconnect:
        parser.error("--reconnect is for the microphone; a file restarts from the start instead")
    if args.speed is not None and args.fast:
        parser.error("give --speed or --fast, not both")
    if args.reconnect < 0:
        parser.error("--reconnect must be >= 0")
    if args.max_speakers is not None and not args.diarize:
        parser.error("--max-speakers goes with --diarize")
    for path in (args.jsonl, args.srt, args.txt):  # a transcript must not be lost at the end
        if path is not None and not path.parent.is_dir():
            parser.error(f"cannot write {path}: no folder {path.parent}")
    try:
        session = SessionConfig(
            encoding=args.encoding,
            sample_rate=args.sample_rate,
            enable_partial_transcripts=not args.no_partials,
            partial_transcript_interval_s=args.partial_interval_s,
            final_transcript_max_duration_s=args.max_utterance_s,
            vad_threshold=args.vad_threshold,
            min_silence_duration_ms=args.min_silence_ms,
            speech_pad_ms=args.speech_pad_ms,
            audio_language=args.language,
            prompt=args.prompt,
            show_word_timestamps=args.word_timestamps,
            send_vad_events=args.vad_events,
            send_turn_events=args.turn_events,
            prefix=args.prefix,
            translate=args.translate,
            enable_vad=not args.no_vad,
            beam_width=args.beam_width,
            temperatures=args.temperatures,
            length_penalty=args.length_penalty,
            repetition_penalty=args.repetition_penalty,
            no_repeat_ngram_size=args.no_repeat_ngram_size,
            max_new_tokens=args.max_new_tokens,
            diarize=args.diarize,
            max_speakers=args.max_speakers,
        )
    except ValueError as exc:
        parser.error(str(exc))
    streamer = StreamerOptions(
        url=url,
        session=session,
        headers=auth_headers(api_key) if send_key else {},
        connect_timeout_s=args.connect_timeout_s,
        finish_timeout_s=args.finish_timeout_s,
        reconnect_attempts=args.reconnect,
    )
    source = SourceOptions(
        file=args.file,
        device=parse_device(args.device),
        speed=None if args.fast else (args.speed or 1.0),
        frame_samples=args.frame_samples,
    )
    output = OutputOptions(
        timestamps=args.timestamps,
        show_partials=args.show_partials,
        show_vad_events=args.vad_events,
        show_turn_events=args.turn_events,
        jsonl=args.jsonl,
        srt=args.srt,
        txt=args.txt,
    )
    return CliOptions(streamer=streamer, source=source, output=output)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if args.list_devices:
        try:
            print(list_devices())
        except StreamError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        return 0
    options = options_from_args(args, parser, os.environ if environ is None else environ)
    try:
        return asyncio.run(run(options))
    except (KeyboardInterrupt, asyncio.CancelledError):  # a signal outside run()'s handlers
        return 130


def _url(args: argparse.Namespace, parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> str:
    if (args.url is None) == (args.model_id is None):
        parser.error("give --url or --model-id (one of them)")
    if args.url is not None:
        if args.environment or args.deployment:
            parser.error("--environment and --deployment go with --model-id")
        try:
            check_ws_url(args.url)
        except ValueError as exc:
            parser.error(str(exc))
        return args.url
    if not environ.get(API_KEY_ENV):
        parser.error(f"{API_KEY_ENV} is not set; --model-id needs a Baseten API key")
    try:
        return baseten_url(args.model_id, environment=args.environment, deployment=args.deployment)
    except ValueError as exc:
        parser.error(str(exc))


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas: {text}") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value
