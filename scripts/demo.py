#!/usr/bin/env python
"""`make demo`: the local server (truss's own, bundled tiny.en on the CPU) and the
client streaming a real speech sample in real time, with the live transcript on screen."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from client.cli import main as client_main  # noqa: E402
from scripts.serve_local import start_server  # noqa: E402

SAMPLE = REPO / "samples" / "demo.flac"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--file", type=Path, default=SAMPLE, help="audio file to stream (default: samples/demo.flac)")
    args, client_args = parser.parse_known_args()
    env = {"WHISPER_MODEL": os.environ.get("WHISPER_MODEL", "bundled"), "WHISPER_DEVICE": "cpu"}
    print(f"starting the local server on 127.0.0.1:{args.port} (truss's own server, tiny.en on the CPU)…", flush=True)
    with start_server(REPO, port=args.port, env=env) as server:
        print(f"server ready at {server.ws_url}; streaming {args.file.name} in real time\n", flush=True)
        return client_main(["--url", server.ws_url, "--file", str(args.file), "--timestamps", *client_args])


if __name__ == "__main__":
    sys.exit(main())
