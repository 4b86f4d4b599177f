"""client.cli, client.endpoint and client.options: URLs, headers, the config JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from client.cli import build_parser, main, options_from_args
from client.endpoint import auth_headers, baseten_url, is_baseten_url, is_loopback
from client.options import SessionConfig, StreamerOptions

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = {"BASETEN_API_KEY": "abc.123"}


def parse(*argv: str, environ: dict[str, str] | None = None):
    parser = build_parser()
    return options_from_args(parser.parse_args(list(argv)), parser, KEY_ENV if environ is None else environ)


def usage_error(capsys, *argv: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SystemExit) as caught:
        parse(*argv, environ=environ)
    assert caught.value.code == 2
    return capsys.readouterr().err


def test_baseten_urls() -> None:
    assert baseten_url("abcd1234") == "wss://model-abcd1234.api.baseten.co/environments/production/websocket"
    assert (
        baseten_url("abcd1234", environment="staging")
        == "wss://model-abcd1234.api.baseten.co/environments/staging/websocket"
    )
    assert (
        baseten_url("abcd1234", deployment="q1w2e3")
        == "wss://model-abcd1234.api.baseten.co/deployment/q1w2e3/websocket"
    )
    with pytest.raises(ValueError, match="not both"):
        baseten_url("abcd1234", environment="staging", deployment="q1w2e3")
    with pytest.raises(ValueError, match="model id"):
        baseten_url("abc/../x")


def test_key_goes_only_to_baseten_over_tls() -> None:
    assert auth_headers("k") == {"Authorization": "Api-Key k"}
    assert auth_headers(None) == {}
    assert is_baseten_url("wss://model-x.api.baseten.co/v1/websocket")
    assert not is_baseten_url("ws://model-x.api.baseten.co/v1/websocket")
    assert not is_baseten_url("wss://baseten.co.evil.example/ws")
    assert not is_baseten_url("ws://127.0.0.1:8080/v1/websocket")


def test_loopback_detection() -> None:
    assert is_loopback("ws://127.0.0.1:8080/x")
    assert is_loopback("ws://localhost:8080/x")
    assert is_loopback("ws://[::1]:8080/x")
    assert not is_loopback("wss://model-x.api.baseten.co/x")


def test_model_id_builds_the_url_and_the_header() -> None:
    options = parse("--model-id", "abcd1234")
    assert options.streamer.url == "wss://model-abcd1234.api.baseten.co/environments/production/websocket"
    assert options.streamer.headers == {"Authorization": "Api-Key abc.123"}
    assert parse("--model-id", "m1", "--deployment", "d2").streamer.url.endswith("/deployment/d2/websocket")
    assert parse("--model-id", "m1", "--environment", "dev").streamer.url.endswith("/environments/dev/websocket")


def test_model_id_needs_the_key(capsys) -> None:
    assert "BASETEN_API_KEY is not set" in usage_error(capsys, "--model-id", "m1", environ={})


def test_local_url_gets_no_key_but_a_baseten_url_does() -> None:
    local = parse("--url", "ws://127.0.0.1:8080/v1/websocket")
    assert local.streamer.url == "ws://127.0.0.1:8080/v1/websocket"
    assert local.streamer.headers == {}
    remote = parse("--url", "wss://model-m1.api.baseten.co/v1/websocket")
    assert remote.streamer.headers == {"Authorization": "Api-Key abc.123"}


def test_default_config_json_has_only_the_required_fields() -> None:
    options = parse("--url", "ws://127.0.0.1:1/ws")
    assert options.streamer.session.to_message() == {
        "streaming_params": {"encoding": "pcm_s16le", "sample_rate": 16000, "enable_partial_transcripts": True}
    }


def test_every_protocol_option_lands_in_the_config_json() -> None:
    options = parse(
        "--url", "ws://127.0.0.1:1/ws",
        "--language", "auto",
        "--vad-threshold", "0.4",
        "--min-silence-ms", "500",
        "--speech-pad-ms", "30",
        "--no-partials",
        "--partial-interval-s", "0.25",
        "--max-utterance-s", "12",
        "--prompt", "Baseten, Truss",
        "--word-timestamps",
        "--encoding", "pcm_alaw",
        "--sample-rate", "8000",
        "--vad-events",
    )  # fmt: skip
    assert options.streamer.session.to_message() == {
        "streaming_vad_config": {"threshold": 0.4, "min_silence_duration_ms": 500, "speech_pad_ms": 30},
        "streaming_params": {
            "encoding": "pcm_alaw",
            "sample_rate": 8000,
            "enable_partial_transcripts": False,
            "partial_transcript_interval_s": 0.25,
            "final_transcript_max_duration_s": 12.0,
        },
        "whisper_params": {"audio_language": "auto", "prompt": "Baseten, Truss", "show_word_timestamps": True},
        "send_vad_events": True,
    }
    assert options.output.show_vad_events


def test_decoding_prefix_translate_and_no_vad_land_in_the_config_json() -> None:
    options = parse(
        "--url", "ws://127.0.0.1:1/ws",
        "--prefix", "And so,",
        "--translate",
        "--no-vad",
        "--beam-width", "3",
        "--temperatures", "0,0.4",
        "--length-penalty", "0.8",
        "--repetition-penalty", "1.1",
        "--no-repeat-ngram-size", "3",
        "--max-new-tokens", "100",
    )  # fmt: skip
    assert options.streamer.session.to_message()["whisper_params"] == {
        "prefix": "And so,",
        "output_language": "en",
        "enable_vad": False,
        "whisper_sampling_params": {
            "beam_width": 3,
            "sampling_temperatures": [0.0, 0.4],
            "length_penalty": 0.8,
            "repetition_penalty": 1.1,
            "no_repeat_ngram_size": 3,
            "max_new_tokens": 100,
        },
    }
    assert parse("--url", "ws://127.0.0.1:1/ws", "--beam-width", "2").streamer.session.to_message()[
        "whisper_params"
    ] == {"whisper_sampling_params": {"beam_width": 2}}


def test_diarize_asks_for_speaker_labels_and_max_speakers_caps_them() -> None:
    message = parse("--url", "ws://127.0.0.1:1/ws", "--diarize", "--max-speakers", "3").streamer.session.to_message()
    assert message["whisper_params"] == {"enable_diarization": True}
    assert message["streaming_diarization_config"] == {"max_speakers": 3}
    plain = parse("--url", "ws://127.0.0.1:1/ws", "--diarize").streamer.session.to_message()
    assert plain["whisper_params"] == {"enable_diarization": True} and "streaming_diarization_config" not in plain
    with pytest.raises(ValueError, match="max_speakers must be >= 1 and goes with diarize"):
        SessionConfig(max_speakers=2)


def test_source_and_output_options(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    options = parse("--url", "ws://127.0.0.1:1/ws", "--file", str(audio), "--fast", "--srt", "o.srt", "--timestamps")
    assert options.source.file == audio
    assert options.source.speed is None
    assert options.output.srt == Path("o.srt") and options.output.timestamps
    assert parse("--url", "ws://127.0.0.1:1/ws", "--file", "a.mp3").source.speed == 1.0
    assert parse("--url", "ws://127.0.0.1:1/ws", "--file", "a.mp3", "--speed", "4").source.speed == 4.0
    mic = parse("--url", "ws://127.0.0.1:1/ws", "--device", "2", "--reconnect", "3")
    assert mic.source.file is None and mic.source.device == 2
    assert mic.streamer.reconnect_attempts == 3
    assert parse("--url", "ws://127.0.0.1:1/ws", "--device", "USB Mic").source.device == "USB Mic"
    timeouts = parse("--url", "ws://127.0.0.1:1/ws", "--finish-timeout-s", "5", "--connect-timeout-s", "2")
    assert (timeouts.streamer.finish_timeout_s, timeouts.streamer.connect_timeout_s) == (5.0, 2.0)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ((), "--url or --model-id"),
        (("--url", "ws://h/ws", "--model-id", "m"), "--url or --model-id"),
        (("--url", "http://h/ws"), "not a ws:// or wss:// URL"),
        (("--url", "ws://h/ws", "--deployment", "d"), "go with --model-id"),
        (("--url", "ws://h/ws", "--speed", "2"), "pace a --file"),
        (("--url", "ws://h/ws", "--file", "a.wav", "--speed", "2", "--fast"), "not both"),
        (("--url", "ws://h/ws", "--file", "a.wav", "--device", "1"), "--device"),
        (("--url", "ws://h/ws", "--file", "a.wav", "--reconnect", "2"), "--reconnect"),
        (("--url", "ws://h/ws", "--vad-threshold", "1.5"), "threshold"),
        (("--url", "ws://h/ws", "--sample-rate", "96000"), "sample_rate"),
        (("--url", "ws://h/ws", "--min-silence-ms", "-1"), "min_silence_duration_ms"),
        (("--url", "ws://h/ws", "--encoding", "opus"), "invalid choice"),
        (("--url", "ws://h/ws", "--speed", "0"), "must be > 0"),
        (("--url", "ws://h/ws", "--beam-width", "0"), "must be > 0"),
        (("--url", "ws://h/ws", "--temperatures", "0,x"), "numbers separated by commas"),
        (("--url", "ws://h/ws", "--temperatures", "0,3"), "temperatures"),
        (("--url", "ws://h/ws", "--repetition-penalty", "0"), "repetition_penalty"),
        (("--url", "ws://h/ws", "--no-repeat-ngram-size", "-2"), "no_repeat_ngram_size"),
        (("--url", "ws://h/ws", "--max-speakers", "2"), "--max-speakers goes with --diarize"),
        (("--url", "ws://h/ws", "--diarize", "--max-speakers", "0"), "must be > 0"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, argv, fragment) -> None:
    assert fragment in usage_error(capsys, *argv)


def test_output_folders_must_exist(tmp_path: Path, capsys) -> None:
    srt = tmp_path / "missing" / "out.srt"
    assert f"cannot write {srt}: no folder {srt.parent}" in usage_error(capsys, "--url", "ws://h/ws", "--srt", str(srt))


def test_options_validate_themselves() -> None:
    with pytest.raises(ValueError, match="encoding"):
        SessionConfig(encoding="opus")
    with pytest.raises(ValueError, match="partial_transcript_interval_s"):
        SessionConfig(partial_transcript_interval_s=0)
    with pytest.raises(ValueError, match="reconnect"):
        StreamerOptions(url="ws://h/", reconnect_attempts=-1)


def test_list_devices_without_portaudio_is_a_clean_error(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as without the package
    assert main(["--list-devices"]) == 8
    assert capsys.readouterr().err.startswith("error: no microphone support")


def test_missing_file_is_a_clean_error(tmp_path: Path, capsys) -> None:
    code = main(["--url", "ws://127.0.0.1:9/ws", "--file", str(tmp_path / "nope.wav")], environ={})
    assert code == 8
    assert capsys.readouterr().err.strip() == f"error: no such audio file: {tmp_path / 'nope.wav'}"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: Path("/dev/null"), "/dev/null is not a regular file (a device or a pipe)"),
        (lambda tmp: tmp, "is a folder; --file takes an audio file"),
        (lambda tmp: _write(tmp / "notes.txt", "just text\n"), "notes.txt: not an audio file we can decode (wav"),
        (lambda tmp: _write(tmp / "fake.wav", "not a wav\n"), "fake.wav: not an audio file we can decode (wav"),
        (lambda tmp: _write(tmp / "empty.flac", ""), "empty.flac is empty"),
    ],
)
def test_unusable_files_say_what_is_wrong(tmp_path: Path, capsys, make, expected: str) -> None:
    code = main(["--url", "ws://127.0.0.1:9/ws", "--file", str(make(tmp_path))], environ={})
    assert code == 8
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and expected in line, line
    assert "no such" not in line and "Errno" not in line


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_usage_errors_are_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "client", "--url", "http://h/ws"], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr == "error: not a ws:// or wss:// URL: http://h/ws (see python -m client --help)\n"


def test_module_entry_point_without_the_packages_is_a_one_line_hint() -> None:
    # -S: no site-packages, as with a system Python that lacks the project's packages
    done = subprocess.run(
        [sys.executable, "-S", "-m", "client", "--help"], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert "lacks the package" in line and "make setup" in line and ".venv/bin/python -m client" in line


def test_module_entry_point_prints_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "client", "--help"], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert "--model-id" in done.stdout and "exit codes" in done.stdout


def test_the_cli_asks_for_turn_events_with_turn_events() -> None:
    options = parse("--url", "ws://127.0.0.1:1/ws", "--turn-events")
    assert options.streamer.session.to_message()["send_turn_events"] is True and options.output.show_turn_events
    assert "send_turn_events" not in parse("--url", "ws://127.0.0.1:1/ws").streamer.session.to_message()
