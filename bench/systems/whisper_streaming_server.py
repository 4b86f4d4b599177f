"""Runs inside bench/.venvs/whisper_streaming: ufal whisper_streaming's own whisper_online_server.py.

Three patches, none touching its streaming policy:
- ``FasterWhisperASR.load_model`` hard-codes ``device="cuda", compute_type="float16"``
  (its CPU line is commented out): the model is loaded with the benchmark's
  device, compute type and thread count instead.
- ``--vac`` loads silero through ``torch.hub`` (a download from GitHub at run
  time): the same silero model comes from the silero-vad package instead.
Every other argument goes to the server unchanged.
"""

import argparse
import runpy
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--cpu-threads", type=int, default=0)
    parser.add_argument("--beam-size", type=int, default=5)
    args, server_argv = parser.parse_known_args()
    sys.path.insert(0, str(args.src))

    import silero_vad
    import torch

    torch.hub.load = lambda *a, **k: (silero_vad.load_silero_vad(onnx=False), None)

    import whisper_online
    from faster_whisper import WhisperModel

    class Model(WhisperModel):
        def transcribe(self, *a, **k):
            if not getattr(self, "_told", False):
                self._told = True  # once, in the server log: the proof that the row's beam is used
                print(f"bench: transcribe() beam_size {k.get('beam_size')} -> {args.beam_size}", flush=True)
            k["beam_size"] = args.beam_size
            return super().transcribe(*a, **k)

    def load_model(self, modelsize=None, cache_dir=None, model_dir=None):
        return Model(
            model_dir or modelsize,
            device=args.device,
            compute_type=args.compute_type,
            cpu_threads=args.cpu_threads,
            download_root=cache_dir,
        )

    whisper_online.FasterWhisperASR.load_model = load_model
    server = args.src / "whisper_online_server.py"
    sys.argv = [str(server), *server_argv]
    runpy.run_path(str(server), run_name="__main__")


if __name__ == "__main__":
    main()
