"""Tests for whisper_stream.server.factory: load() is ready when it returns, or fails fast."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import ctranslate2
import numpy as np
import pytest

from tests.fakes import EchoTranscriber
from whisper_stream.audio.speaker_embedding import ModelNotFoundError
from whisper_stream.audio.vad import FRAME_SAMPLES
from whisper_stream.inference.device import DeviceUnavailableError
from whisper_stream.inference.model_source import bundled_tiny_en_path
from whisper_stream.server import factory
from whisper_stream.server.settings import Settings


class RecordingVadModel:
    def __init__(self) -> None:
        self.frames: list[int] = []

    def new_scorer(self) -> RecordingVadModel:
        return self

    def score(self, frame: np.ndarray) -> float:
        self.frames.append(frame.size)
        return 0.0


def test_warm_up_runs_one_vad_frame_and_one_final_decode() -> None:
    transcriber, vad_model = EchoTranscriber(), RecordingVadModel()
    assert factory.warm_up(transcriber, vad_model) >= 0.0  # type: ignore[arg-type]
    assert vad_model.frames == [FRAME_SAMPLES]
    assert transcriber.calls == [(16_000, True)]


@pytest.mark.skipif(ctranslate2.get_cuda_device_count() > 0, reason="this machine has a GPU")
def test_cuda_without_a_gpu_fails_load_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        factory.build_engine(Settings(device="cuda"))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("warm_up", [True, False])
def test_ready_line_names_model_device_and_runtime(warm_up: bool, caplog: pytest.LogCaptureFixture) -> None:
    calls = []
    real_warm_up = factory.warm_up

    def counting_warm_up(*args: object) -> float:
        calls.append(args)
        return real_warm_up(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.INFO, logger="whisper_stream.server.factory"):
        patch.setattr(factory, "warm_up", counting_warm_up)
        engine = factory.build_engine(Settings(device="cpu", warm_up=warm_up))
    engine.stop()
    ready = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ready:")]
    assert len(ready) == 1
    line = ready[0]
    assert f"model {bundled_tiny_en_path()}, revision -, device cpu, compute type int8" in line
    assert f"ctranslate2 {ctranslate2.__version__}, {ctranslate2.get_cuda_device_count()} CUDA device(s)" in line
    assert len(calls) == (1 if warm_up else 0)
    assert ("warm-up off" in line) is not warm_up


_PLUGIN = """
from tests.fakes import EchoTranscriber


def build(settings):
    transcriber = EchoTranscriber()
    transcriber.built_for = settings.whisper_model
    return transcriber
"""


def test_a_transcriber_hook_given_as_a_file_builds_the_engine_from_settings(tmp_path) -> None:
    plugin = tmp_path / "my_transcriber.py"
    plugin.write_text(_PLUGIN)
    engine = factory.build_engine(Settings(whisper_model="anything", transcriber=f"{plugin}:build"))
    try:
        assert engine.transcriber.built_for == "anything"  # type: ignore[attr-defined]
        assert engine.options.max_batch_size == 1  # not a GPU: sized as a CPU replica
    finally:
        engine.stop()


def test_the_simulated_accelerator_loads_by_file_path_and_again_when_load_is_retried() -> None:
    # make bench-capacity's hook: a file that defines dataclasses and a metric (it failed to load by path, so
    # truss retried load(), which then failed on the metric registered twice)
    simulator = Path(__file__).resolve().parents[1] / "bench" / "simulated_accelerator.py"
    settings = Settings(whisper_model="simulated:large-v3-turbo:H100", transcriber=f"{simulator}:from_settings")
    first = factory.load_custom_transcriber(settings)
    again = factory.load_custom_transcriber(settings)
    assert first.name == again.name == "simulated:large-v3-turbo:H100"  # type: ignore[attr-defined]
    assert type(first) is type(again)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "must be <module or file.py>:<function>"),
        ("/nowhere/x.py:build", "no Python file"),
        ("tests.fakes:no_such_function", "has no function 'no_such_function'"),
    ],
)
def test_a_wrong_transcriber_hook_fails_load_naming_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory.build_engine(Settings(transcriber=spec))


def test_a_speaker_model_is_loaded_when_diarization_model_names_one(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(
        transcriber="tests.test_factory:_echo",
        diarization_model="bundled",
        diarization_threshold=0.6,
        diarization_max_speakers=3,
        diarization_max_wait_ms=250,
    )
    with caplog.at_level(logging.INFO, logger="whisper_stream.server.factory"):
        engine = factory.build_engine(settings)
    try:
        speakers = engine.speakers
        assert speakers is not None and speakers.embedder.dimension == 256
        assert (speakers.threshold, speakers.max_speakers, speakers.max_wait_s, speakers.threads) == (0.6, 3, 0.25, 1)
    finally:
        engine.stop()
    assert any(r.getMessage().startswith("speaker model bundled (DVectorEmbedder), 256-d") for r in caplog.records)
    without = factory.build_engine(Settings(transcriber="tests.test_factory:_echo"))
    assert without.speakers is None
    without.stop()


def test_a_missing_speaker_model_fails_load_naming_it(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match=f"DIARIZATION_MODEL='{tmp_path}': no voxceleb_resnet34_LM.onnx"):
        factory.build_engine(Settings(transcriber="tests.test_factory:_echo", diarization_model=str(tmp_path)))


def _echo(settings: Settings) -> EchoTranscriber:
    return EchoTranscriber()
