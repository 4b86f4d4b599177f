"""py-spy on a server while it streams: raw collapsed stacks, and a summary by where the time goes."""

from __future__ import annotations

import linecache
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# First match wins, checked against the whole stack (outermost frame first).
BUCKETS = (
    ("Whisper encoder (ctranslate2)", ("WhisperModel.encode", ".model.encode(", "WhisperWrapper::encode")),
    ("Whisper decoder (ctranslate2 generate)", (
        "generate_with_fallback", "WhisperModel.generate", "detect_language", ".model.generate(",
        "WhisperWrapper::generate",
    )),
    ("mel features (faster_whisper feature_extractor)", ("feature_extractor",)),
    ("silero VAD", ("whisper_stream/vad.py", "silero", "faster_whisper/vad.py", "silero_vad_iterator", "/vad.py")),
    ("audio decode/resample", ("whisper_stream/audio.py", "soxr", "librosa", "soundfile")),
    ("websocket / HTTP / socket I/O", ("websockets/", "uvicorn/", "h11/", "starlette/", "socket.py", "line_packet")),
    ("streaming policy (session, buffers, LocalAgreement)", ("whisper_stream/", "whisper_online", "backend/base.py")),
)  # fmt: skip
# Where the sources of the innermost Python frames are looked up: a frame blocked in a C call
# (CTranslate2's encode/generate) is named by its source line, e.g. "self._model.model.encode(...)".
SOURCE_ROOTS = (
    Path(__file__).resolve().parents[1] / "packages",
    Path(__file__).resolve().parent / ".cache" / "ours-build" / "fs" / "packages",
)
_FRAME_RE = re.compile(r"\(([^()]+\.py):(\d+)\)$")
# summarize(), on a profile start() records with --idle: a thread whose innermost function is one of these
# (or has "wait" in its name) is waiting, not working.
IDLE_LEAVES = (
    "select", "_worker", "get", "get_next_frame", "sleep", "join", "acquire", "accept", "recv", "recv_into", "poll",
    "serve_forever", "read", "readinto", "readline",
)  # fmt: skip

IDLE_FRAMES = (
    "select (selectors.py",  # the event loop waiting for sockets
    "_worker (concurrent/futures/thread.py",  # a pool thread waiting for work
    "wait (threading.py",  # a decode worker waiting for a request
    "SimulatedTranscriber.transcribe_batch",  # the simulated GPU: a sleep
)
"""Innermost frames of threads that wait, in a profile recorded without ``--idle`` (``bench/capacity.py``)."""


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def start(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes] | None:
    binary = py_spy()
    if binary is None:
        return None
    cmd = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(duration_s) + 1),
        "--rate",
        "50",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        "--threads",
        # every thread on every tick, waiting or not: summarize() tells waits from work by the innermost frame
        "--idle",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out.with_suffix(".log").open("wb"))


def stacks(raw: Path) -> Iterator[tuple[str, int]]:
    """py-spy's ``raw`` (collapsed) output: each stack (frames joined by ``;``, outermost first) and its samples."""
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            yield stack, int(count_text)


def summarize(raw: Path) -> dict[str, Any]:
    """Share of the server's busy thread-samples per bucket, each thread's busy share, the busiest functions."""
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    thread_busy: Counter[str] = Counter()
    thread_all: Counter[str] = Counter()
    busy = idle = 0
    for stack, count in stacks(raw):
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread (") else "?"
        thread_all[thread] += count
        function = frames[-1].split(" (")[0].rsplit(".", 1)[-1]
        if function in IDLE_LEAVES or "wait" in function:
            idle += count
            continue
        busy += count
        thread_busy[thread] += count
        where = stack + " " + _source_line(frames[-1])
        buckets[next((name for name, keys in BUCKETS if any(k in where for k in keys)), "other")] += count
        leaves[frames[-1]] += count
    return {
        "samples": busy,
        "idle_samples": idle,
        "file": str(raw),
        "buckets": [(name, round(100 * n / busy, 1)) for name, n in buckets.most_common()] if busy else [],
        "threads_busy": [
            (name, round(100 * n / thread_all[name], 1)) for name, n in thread_busy.most_common() if n > 0.01 * busy
        ],
        "top_self": [(frame, round(100 * n / busy, 1)) for frame, n in leaves.most_common(12)] if busy else [],
    }


def top_self_time(raw: Path, count: int = 12) -> list[str]:
    """The functions with the most busy samples on top of the stack, as ``"12.3% frame"`` lines.

    Threads waiting (``IDLE_FRAMES``) are left out: the shares are of the time some thread was running Python
    or native code.
    """
    own: Counter[str] = Counter()
    for stack, samples in stacks(raw):
        frame = stack.split(";")[-1]
        if not any(idle in frame for idle in IDLE_FRAMES):
            own[frame] += samples
    total = sum(own.values())
    return [f"{100 * n / total:5.1f}% {frame}" for frame, n in own.most_common(count)] if total else []


def _source_line(frame: str) -> str:
    match = _FRAME_RE.search(frame)
    if not match:
        return ""
    for root in SOURCE_ROOTS:
        path = root / match.group(1)
        if path.is_file():
            return linecache.getline(str(path), int(match.group(2))).strip()
    return ""
