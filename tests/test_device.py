"""Tests for whisper_stream.inference.device: CUDA checks that fail load() fast, with the fix in the message."""

from __future__ import annotations

import ctranslate2
import pytest

from whisper_stream.inference import device
from whisper_stream.inference.device import DeviceUnavailableError, RuntimeInfo, check_cuda, runtime_info


def test_runtime_info_reports_ctranslate2() -> None:
    info = runtime_info()
    assert info.ctranslate2_version == ctranslate2.__version__ == "4.8.5"
    assert info.cuda_device_count == ctranslate2.get_cuda_device_count()


def test_no_cuda_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError, match="finds no CUDA device.*WHISPER_DEVICE=cpu"):
        check_cuda(RuntimeInfo("4.8.5", 0))


def test_missing_cublas_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = []

    def cdll(name: str) -> None:
        loaded.append(name)
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(device.ctypes, "CDLL", cdll)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nowhere")
    with pytest.raises(DeviceUnavailableError, match=r"libcublas\.so\.12.*cannot open.*'/nowhere'"):
        check_cuda(RuntimeInfo("4.8.5", 1))
    assert loaded == ["libcublas.so.12"]


def test_gpu_with_cublas_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device.ctypes, "CDLL", lambda name: object())
    check_cuda(RuntimeInfo("4.8.5", 1))
