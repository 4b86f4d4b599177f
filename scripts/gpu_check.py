#!/usr/bin/env python
"""The GPU check: production settings on CUDA, cuBLAS, real speech through the real server, capacity.

Run on a machine with an NVIDIA GPU (``make gpu-check``). It stops at the first
step that fails:

1. ``nvidia-smi`` names the GPU and driver;
2. ctranslate2 sees a CUDA device and ``libcublas.so.12`` loads (the file it
   loaded is printed);
3. the production weights: ``WHISPER_MODEL`` if it is a model directory, else
   config.yaml's ``model_cache`` entry (repo and pinned revision) is downloaded;
4. ``factory.build_engine`` with config.yaml's ``model_metadata`` (device cuda,
   beam 5, 2 decode workers, batch 8): the load, the float16 warm-up decode and
   the ready line, exactly as ``load()`` does it; then a batch's encoder rows,
   copied through the host, against the items encoded alone (what a final's
   rest is decoded from);
5. ``bench/run.py --systems ours``: real speech streamed in real time through
   ``scripts/serve_local.py`` (truss's own server) with those settings, then the
   capacity sweep; it prints the table and the concurrency target, capped here
   at ``MAX_SESSIONS``;
6. ``bench/finals_wer.py`` on this model and GPU: finals' WER alone and in context
   (config.yaml's ``final_context_s``, every form) at beams 1 and 5, against
   offline at the same beam: the figures that choose production's context form
   and final beam (config.yaml's comment says how).

    python scripts/gpu_check.py [--sweep 1,8,16,32,64] [--quick] [--data-dir DIR]

``--quick`` runs 30 s streams and a 1,8,16 sweep (about 5 minutes with the model
cached), and step 6 on the bench stream only. Real speech comes from the
repository's data/speech (``--data-dir`` to change).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def check_gpu() -> None:
    step("1. GPU and driver (nvidia-smi)")
    try:
        query = "--query-gpu=name,memory.total,driver_version"
        subprocess.run(["nvidia-smi", query, "--format=csv"], check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"gpu_check: nvidia-smi failed ({error}): no NVIDIA GPU or driver here") from None


def check_cublas() -> None:
    from whisper_stream.inference.device import CUBLAS_LIBRARY, check_cuda, runtime_info

    step("2. ctranslate2 sees the GPU; cuBLAS 12 loads")
    info = runtime_info()
    check_cuda(info)
    ctypes.CDLL(CUBLAS_LIBRARY)
    maps = Path("/proc/self/maps").read_text()
    loaded = sorted({line.split()[-1] for line in maps.splitlines() if "libcublas" in line})
    print(f"ctranslate2 {info.ctranslate2_version}, {info.cuda_device_count} CUDA device(s); loaded {loaded}")


def production_model(config: dict) -> str:
    step("3. production weights")
    given = os.environ.get("WHISPER_MODEL", "")
    if given and Path(given).is_dir():
        print(f"WHISPER_MODEL={given}")
        return given
    from huggingface_hub import snapshot_download

    (entry,) = config["model_cache"]
    path = snapshot_download(entry["repo_id"], revision=entry["revision"], allow_patterns=entry["allow_patterns"])
    print(f"{entry['repo_id']}@{entry['revision']} -> {path}")
    return path


def production_metadata(config: dict, model_dir: str) -> dict[str, str]:
    """config.yaml's model_metadata as settings names, with the weights at ``model_dir``."""
    return {k.upper(): str(v) for k, v in dict(config["model_metadata"], whisper_model=model_dir).items()}


def load_like_production(production: dict[str, str]) -> None:
    from whisper_stream.server.factory import build_engine
    from whisper_stream.server.settings import Settings

    step("4. load() with config.yaml's model_metadata on CUDA (load, warm-up, ready line; a batch's encoder rows)")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    engine = build_engine(Settings.from_env(environ={}, metadata=production))
    try:
        print(encoder_rows_check(engine.transcriber), flush=True)
    finally:
        engine.stop()


def encoder_rows_check(transcriber: Any) -> str:
    """A final's rest is decoded from its rows of the batch's encoder output (``inference/encoder_output.py``,
    copied to the host on a GPU, which ``generate`` moves back to the model's device): they must be what
    encoding the items alone gives, and decode alike."""
    from faster_whisper.tokenizer import Tokenizer

    from tests.speech import load_16k, manifest
    from whisper_stream.inference.encoder_output import encoder_rows

    audios = [load_16k(u.path) for u in manifest("librispeech_clean")[:3]]
    rows = encoder_rows(transcriber._encode(audios, fit=False), [2, 0])
    if rows is None:
        return "encoder rows: this compute type's output has no host type; a rest encodes its item again"
    alone = transcriber._encode([audios[2], audios[0]], fit=False)
    on_host = [np.asarray(v.to_device(ctranslate2.Device.cpu)).astype(np.float32) for v in (rows, alone)]
    largest = float(np.abs(on_host[0] - on_host[1]).max())
    model = transcriber._model
    tokenizer = Tokenizer(model.hf_tokenizer, transcriber.is_multilingual, task="transcribe", language="en")
    start = [[*tokenizer.sot_sequence, tokenizer.no_timestamps]] * 2
    decoded = [[o.sequences_ids[0] for o in model.model.generate(v, start)] for v in (rows, alone)]
    if largest > 0.05 or decoded[0] != decoded[1]:
        raise SystemExit(f"encoder rows differ from the items encoded alone: largest difference {largest:g}")
    same = f"as the items encoded alone (largest difference {largest:g}), same tokens"
    return f"encoder rows of a {alone.device} batch: {same}"


def bench_command(production: dict[str, str], model_dir: str, args: argparse.Namespace) -> list[str]:
    """bench/run.py for ours alone, on CUDA, at the production beam, decode workers and batch size."""
    beam = production["WHISPER_BEAM_SIZE"]
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--systems", "ours", "--device", "cuda"]
    command += ["--model", model_dir, "--model-name", Path(model_dir).name, "--compute-type", "float16"]
    command += ["--beams", beam, "--sweep-beam", beam, "--ours-endpoints-ms", "none"]
    command += ["--out", str(REPO / "bench" / "results" / "gpu")]
    for name in ("DECODE_WORKERS", "MAX_BATCH_SIZE"):
        command += ["--ours-env", f"{name}={production[name]}"]
    if args.data_dir:
        command += ["--data-dir", str(args.data_dir)]
    if args.quick:
        command += ["--duration-s", "30", "--step-duration-s", "30", "--streams-sweep", "1,8,16"]
    else:
        command += ["--streams-sweep", args.sweep]
    return command


def run_bench(production: dict[str, str], model_dir: str, args: argparse.Namespace) -> None:
    step("5. real speech through the real server, then the capacity sweep (bench/run.py)")
    command = bench_command(production, model_dir, args)
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as bench:
        assert bench.stdout is not None
        for line in bench.stdout:  # shown as it runs, kept for the target
            print(line, end="", flush=True)
            lines.append(line)
    if bench.returncode != 0:
        raise SystemExit(f"gpu_check: bench/run.py exited {bench.returncode}")
    capacity, cap = target_from_output("".join(lines)), int(production["MAX_SESSIONS"])
    if capacity is None:
        raise SystemExit("gpu_check: the sweep gave no concurrency target (see the table above)")
    print(f"CONCURRENCY TARGET: {min(capacity, cap)} (capacity {capacity}, MAX_SESSIONS {cap})")


def finals_command(production: dict[str, str], model_dir: str, args: argparse.Namespace) -> list[str]:
    """bench/finals_wer.py on CUDA: alone, then production's context in every form, at beams 1 and 5."""
    command = [sys.executable, str(REPO / "bench" / "finals_wer.py"), "--model", model_dir]
    command += ["--device", "cuda", "--compute-type", "float16", "--beams", f"1,{production['WHISPER_BEAM_SIZE']}"]
    command += ["--context-s", f"0,{production['FINAL_CONTEXT_S']}", "--forms", "prompted,forced,tail"]
    return command + ["--sets", "bench" if args.quick else "test_other,bench"]


def run_finals(production: dict[str, str], model_dir: str, args: argparse.Namespace) -> None:
    step("6. finals alone and in context, every form, beams 1 and 5, against offline (bench/finals_wer.py)")
    finals = subprocess.run(finals_command(production, model_dir, args), check=False)
    if finals.returncode != 0:
        raise SystemExit(f"gpu_check: bench/finals_wer.py exited {finals.returncode}")


def target_from_output(output: str) -> int | None:
    """The capacity in bench's concurrency-target line (bench/targets.py), if it printed one."""
    match = re.search(r"concurrency target implied .*?: (\d+) open WebSocket sessions", output)
    return int(match[1]) if match else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="1,8,16,32,64", help="concurrent streams of the capacity sweep")
    parser.add_argument("--quick", action="store_true", help="30 s streams, sweep 1,8,16")
    parser.add_argument("--data-dir", type=Path, help="real speech (default: bench's, data/speech)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    check_gpu()
    check_cublas()
    model_dir = production_model(config)
    production = production_metadata(config, model_dir)
    load_like_production(production)
    run_bench(production, model_dir, args)
    run_finals(production, model_dir, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
