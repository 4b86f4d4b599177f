"""The sample rate the whole library works at once audio is decoded: 16 kHz mono float32, what Whisper and
silero take. Positions are counted in samples at this rate and turned into seconds only in messages."""

from __future__ import annotations

SAMPLE_RATE_HZ = 16_000
