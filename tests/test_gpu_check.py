"""scripts/gpu_check.py: what it can be checked for without a GPU.

The run itself needs an NVIDIA GPU. Here: it stops at once without one, it asks
bench/run.py for exactly the production settings (and bench accepts the flags),
bench/finals_wer.py for the context choice on the production model, and it reads
the concurrency target in the words bench/targets.py prints.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import ctranslate2
import pytest
import yaml

from bench import finals_wer, targets
from bench import run as bench_run

REPO = Path(__file__).resolve().parents[1]


def _load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()


def _production() -> dict[str, str]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    return gpu_check.production_metadata(config, "/models/faster-whisper-large-v3")


def test_production_settings_come_from_config_yaml() -> None:
    production = _production()
    assert production["WHISPER_MODEL"] == "/models/faster-whisper-large-v3"
    assert production["WHISPER_DEVICE"] == "cuda"
    assert (production["WHISPER_BEAM_SIZE"], production["DECODE_WORKERS"], production["MAX_BATCH_SIZE"]) == (
        "5",
        "2",
        "8",
    )


@pytest.mark.parametrize("quick", [False, True])
def test_bench_accepts_the_command_at_the_production_settings(quick: bool) -> None:
    argv = ["--quick"] if quick else []
    command = gpu_check.bench_command(_production(), "/models/faster-whisper-large-v3", gpu_check.parse_args(argv))
    assert command[1].endswith("bench/run.py")
    args = bench_run.parse_args(command[2:])
    assert args.systems == "ours" and args.device == "cuda" and args.compute_type == "float16"
    assert args.model == "/models/faster-whisper-large-v3"
    assert args.sweep_beam == 5 and args.beam_sizes == [5]
    assert {"DECODE_WORKERS=2", "MAX_BATCH_SIZE=8"} <= set(args.ours_env)
    assert args.sweep == ([1, 8, 16] if quick else [1, 8, 16, 32, 64])


@pytest.mark.parametrize("quick", [False, True])
def test_finals_wer_accepts_the_command_for_the_context_choice(quick: bool) -> None:
    argv = ["--quick"] if quick else []
    command = gpu_check.finals_command(_production(), "/models/faster-whisper-large-v3", gpu_check.parse_args(argv))
    assert command[1].endswith("bench/finals_wer.py")
    args = finals_wer.parse_args(command[2:])
    assert (args.model, args.device, args.compute_type) == ("/models/faster-whisper-large-v3", "cuda", "float16")
    assert (args.beams, args.context_s, args.forms) == ("1,5", "0,15", "prompted,forced,tail")
    assert args.sets == ("bench" if quick else "test_other,bench")


def test_reads_the_target_that_bench_prints() -> None:
    results = {
        "rows": {"ours-b5": {"system": "ours", "sweep": [1, 8, 16], "capacity": 12}},
        "meta": {"model": {"name": "faster-whisper-large-v3", "compute_type": "float16", "device": "cuda"}},
    }
    line = targets.concurrency_target(results, 5, 1.5)
    assert gpu_check.target_from_output(f"table\n\n{line}\n") == 12
    assert gpu_check.target_from_output("No Baseten concurrency target from this run") is None


@pytest.mark.skipif(ctranslate2.get_cuda_device_count() > 0, reason="this machine has a GPU")
def test_without_a_gpu_it_stops_at_the_first_step() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "== 1. GPU and driver" in result.stdout
    assert "no NVIDIA GPU or driver here" in result.stderr


def test_the_encoder_rows_step_passes_on_the_cpu_with_tiny_en() -> None:
    from whisper_stream.inference.model_source import resolve_model_source
    from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

    transcriber = FasterWhisperTranscriber(resolve_model_source(None), TranscriberOptions(device="cpu"))
    checked = gpu_check.encoder_rows_check(transcriber)
    assert checked.startswith("encoder rows of a cpu batch: as the items encoded alone")
