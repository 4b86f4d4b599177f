"""What one benchmark run measures: the rows of its table, and the speech they are fed.

A row is one system at one beam (and, for ours, one endpoint silence); each
row gets its own server, warmed up, then fed the one-stream run. Every system
runs at every beam of ``--beams``, so the table compares like with like; ours
also runs at the extra endpoints of ``--ours-endpoints-ms`` (whisper_streaming's
VAC ends an utterance after 0.5 s of silence, ours after 0.3 s by default).
The concurrency sweep runs on one row per system: the one at ``--sweep-beam``
with the default endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.audio import DEFAULT_SETS

# The speech sets of data/speech a run streams, by --set.
SETS: dict[str, tuple[str, ...]] = {
    # a mix of read, noisy, short and spontaneous speech (bench/README.md, "The audio")
    "bench": DEFAULT_SETS,
    # LibriSpeech test-other (100 utterances, 767 s): harder, closer to real microphones
    "test-other": ("librispeech_test_other",),
}
# The one-stream run's length by set when --duration-s is not given; None: every clip once.
DEFAULT_DURATION_S: dict[str, float | None] = {"bench": 180.0, "test-other": None}


@dataclass(frozen=True)
class Row:
    system: str  # ours, whisperlive, whisper_streaming
    beam_size: int  # of finals
    min_silence_ms: int | None = None  # ours: VAD silence that ends an utterance; None for the peers
    sweep: bool = False  # this row's server also runs the concurrency sweep

    @property
    def key(self) -> str:
        key = f"{self.system}/beam{self.beam_size}"
        return key if self.min_silence_ms is None else f"{key}/{self.min_silence_ms}ms"


def rows(
    systems: list[str],
    beams: list[int],
    *,
    min_silence_ms: int,
    extra_endpoints_ms: list[int],
    sweep_beam: int | None,
) -> list[Row]:
    """Every system at every beam (grouped by beam), ours also at each extra endpoint."""
    out = []
    for beam in beams:
        for system in systems:
            sweep = beam == sweep_beam
            if system != "ours":
                out.append(Row(system, beam, None, sweep))
                continue
            out.append(Row(system, beam, min_silence_ms, sweep))
            out += [Row(system, beam, ms, False) for ms in extra_endpoints_ms if ms != min_silence_ms]
    return out


def parse_ints(text: str) -> list[int]:
    """``"5,1"`` -> ``[5, 1]``, order kept, duplicates dropped; ``"none"`` or ``""`` -> ``[]``."""
    out: list[int] = []
    if text.strip().lower() == "none":
        return out
    for item in text.split(","):
        if item.strip() and int(item) not in out:
            out.append(int(item))
    return out
