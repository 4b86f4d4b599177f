"""Some items of a batch's encoder output, without running the encoder again.

A decode that must go on for only some items of a batch (``continuation``: the rest of a final whose decoder
stopped at a segment it opened) needs those items' encoder output. Encoding them again costs each item a 30 s
window through the encoder, the dearest part of a final on a GPU (large-v3: ~0.08 s an item on an L4, by
the simulated accelerator's estimate, against ~0.01 s a decoder step). CTranslate2's ``StorageView`` cannot be
sliced, so the rows are picked on the host: on the CPU the output is read in place (its array interface); on a
GPU it is copied to the host (for large-v3 in float16, 3.8 MB an item over PCIe: milliseconds). The rows stay
on the host, in the encoder's data type: ``generate`` moves what it is given to its model's device, as it
does faster-whisper's features (``WhisperReplica::maybe_encode`` in CTranslate2's ``src/models/whisper.cc``),
on the device index the model runs on, and takes it as encoded by its shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def encoder_rows(encoder_output: Any, indexes: Sequence[int]) -> Any:
    """A ``StorageView`` of the items at ``indexes`` of ``encoder_output`` (batch first): the whole output when
    ``indexes`` are all its items in order, else a copy of those rows on the host; None where its data type has
    no numpy equivalent (bfloat16): the caller then encodes those items again."""
    import ctranslate2

    if list(indexes) == list(range(encoder_output.shape[0])):
        return encoder_output
    if encoder_output.dtype == ctranslate2.DataType.bfloat16:  # no array interface for it
        return None
    host = encoder_output if encoder_output.device == "cpu" else encoder_output.to_device(ctranslate2.Device.cpu)
    rows = np.array(np.asarray(host)[list(indexes)], order="C")
    return ctranslate2.StorageView.from_array(rows)  # keeps ``rows`` alive
