"""Offline faster-whisper on each clip: what the same model gets with the whole file at once.

The accuracy baseline: streaming WER minus this WER is what streaming costs.
faster-whisper's own defaults (beam 5, temperature fallback, previous-text
conditioning, no VAD filter). Results are cached in bench/.cache/offline/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from bench.audio import Clip, load_16k
from bench.systems.base import CACHE_DIR, ModelSpec, digest, offline_whisper


class Offline:
    def __init__(self, model: ModelSpec, *, beam_size: int = 5, language: str = "en") -> None:
        self.model = model
        self.beam_size = beam_size
        self.language = language
        self._whisper: Any = None
        self.decode_s = 0.0
        self.audio_s = 0.0

    def describe(self) -> dict[str, Any]:
        return {"engine": "faster_whisper.WhisperModel.transcribe per clip", "beam_size": self.beam_size}

    def transcripts(self, clips: Iterable[Clip], log: Any = print) -> dict[str, str]:
        """Clip name -> transcript."""
        out: dict[str, str] = {}
        todo = []
        for clip in clips:
            if clip.name in out:
                continue
            cached = self._cache_path(clip)
            if cached.exists():
                out[clip.name] = json.loads(cached.read_text())["text"]
            else:
                todo.append(clip)
                out[clip.name] = ""
        if todo:
            log(f"[offline] transcribing {len(todo)} clips with faster-whisper (cached afterwards)")
        for clip in todo:
            out[clip.name] = self._transcribe(clip)
        return out

    def _cache_path(self, clip: Clip) -> Any:
        language = () if self.language == "en" else (self.language,)
        key = digest(self.model.path, self.model.device, self.model.compute_type, self.beam_size, clip.path, *language)
        return CACHE_DIR / "offline" / f"{key}.json"

    def _transcribe(self, clip: Clip) -> str:
        if self._whisper is None:
            self._whisper = offline_whisper(
                self.model.path,
                device=self.model.device,
                compute_type=self.model.compute_type,
                cpu_threads=self.model.cpu_threads,
            )
        audio = load_16k(clip.path)
        started = time.perf_counter()
        segments, _ = self._whisper.transcribe(audio, language=self.language, beam_size=self.beam_size)
        text = " ".join(s.text.strip() for s in segments)
        self.decode_s += time.perf_counter() - started
        self.audio_s += audio.size / 16_000
        path = self._cache_path(clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"clip": clip.name, "text": text}))
        return text
