"""What a replica runs Whisper on: the CUDA checks before a GPU load, and the facts its ready line names.

ctranslate2 4.8.5 wheels load the CUDA libraries at run time (``dlopen``), so a
missing GPU or cuBLAS would otherwise surface only at the first decode, after
the replica said it was ready. ``check_cuda`` fails the load instead, at once
and with the fix in the message. cuDNN is not needed: the wheels are built
without it (their only CUDA libraries are libcublas.so.12, libcuda.so.1 and
libnccl.so.2, the last only for tensor parallelism).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

CUBLAS_LIBRARY = "libcublas.so.12"


class DeviceUnavailableError(RuntimeError):
    """The configured device can't run Whisper; raised by ``load()``, before the replica is ready."""


@dataclass(frozen=True)
class RuntimeInfo:
    ctranslate2_version: str
    cuda_device_count: int


def runtime_info() -> RuntimeInfo:
    import ctranslate2

    return RuntimeInfo(ctranslate2.__version__, ctranslate2.get_cuda_device_count())


def check_cuda(info: RuntimeInfo) -> None:
    """Raise ``DeviceUnavailableError`` unless a CUDA device and cuBLAS 12 are there."""
    if info.cuda_device_count == 0:
        raise DeviceUnavailableError(
            "WHISPER_DEVICE=cuda but ctranslate2 finds no CUDA device (no GPU on this instance, or the "
            "NVIDIA driver is not mounted); request a GPU (resources.accelerator) or set WHISPER_DEVICE=cpu"
        )
    try:
        ctypes.CDLL(CUBLAS_LIBRARY)
    except OSError as error:
        raise DeviceUnavailableError(
            f"WHISPER_DEVICE=cuda but {CUBLAS_LIBRARY} (cuBLAS 12, which ctranslate2 needs) can't be loaded: "
            f"{error}; LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH', '')!r}. The GPU base image has it in "
            "/usr/local/cuda/lib64."
        ) from None
