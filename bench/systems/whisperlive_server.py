"""Runs inside bench/.venvs/whisperlive: WhisperLive's own TranscriptionServer, faster_whisper backend.

Three settings are made here that its CLI does not offer:
- ``cpu_threads``: its backend leaves faster-whisper's default (0, i.e. 4 on
  CTranslate2); every system in the benchmark gets the same thread count.
- ``--device``: WhisperLive asks torch whether CUDA is there (this venv's torch
  is the CPU build); the benchmark's device is answered instead, and
  WhisperLive then picks its own compute type (int8 on CPU, float16 on CUDA).
- ``--beam-size``: its backend calls ``transcribe()`` without a beam, so its
  transcriber's default (5) decodes everything; the benchmark's beam is passed
  instead, so that every system's finals decode at the same beam.
"""

import argparse
import logging

import whisper_live.backend.faster_whisper_backend as backend
from whisper_live.server import TranscriptionServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--max-clients", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--beam-size", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    backend.torch.cuda.is_available = lambda: args.device == "cuda"
    backend.torch.cuda.get_device_capability = lambda *a: (8, 0)
    their_model = backend.WhisperModel

    class Model(their_model):
        def __init__(self, *a, **k):
            if args.cpu_threads:
                k["cpu_threads"] = args.cpu_threads
            super().__init__(*a, **k)

        def transcribe(self, *a, **k):
            if not getattr(self, "_told", False):
                self._told = True  # once, in the server log: the proof that the row's beam is used
                print(f"bench: transcribe() beam_size {k.get('beam_size')} -> {args.beam_size}", flush=True)
            k["beam_size"] = args.beam_size
            return super().transcribe(*a, **k)

    backend.WhisperModel = Model
    TranscriptionServer().run(
        "127.0.0.1",
        port=args.port,
        backend="faster_whisper",
        faster_whisper_custom_model_path=args.model,
        single_model=True,
        max_clients=args.max_clients,
        max_connection_time=3600,
    )


if __name__ == "__main__":
    main()
