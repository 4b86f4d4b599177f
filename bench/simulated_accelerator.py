"""A simulated accelerator: a ``Transcriber`` that sleeps as long as a GPU would decode.

It takes the same requests as ``FasterWhisperTranscriber`` (single or batched)
and, instead of running Whisper, sleeps (``time.sleep`` releases the GIL and
burns no CPU) for the time a cost model gives for that batch, then returns text
sized like real output. With it, the CPU side of a replica (sockets, audio
decode, VAD, session policy, scheduling, JSON) can be measured on a machine
without a GPU: ``WHISPER_TRANSCRIBER=bench/simulated_accelerator.py:from_settings`` with
``WHISPER_MODEL=simulated:large-v3:L4`` (``whisper_stream.server.factory`` loads it).

The cost model (seconds for one ``generate`` call over a batch of ``b`` items)::

    fixed_s + b * encoder_s + max(step, prompt_tokens * prompt_token_s) + (tokens + 1) * step
    step = step_s + b * beams * step_item_s

as CTranslate2 runs ``generate`` (``src/models/whisper.cc``): everything before the last start-of-transcript
token (the ``<|startofprev|>`` prompt and the start-of-transcript sequence but its last token) goes through
the decoder in one pass (``forward_prompt``), which costs a step at these batch sizes or, for long prompts
of many items, the compute of its ``prompt_tokens`` (all items together); then the decoding loop runs one
step per token from the last start-of-transcript token on: the forced tokens after it (a final in context's
prefix in the forced form, passed to the search as prefix ids, which ``src/decoding.cc`` forces step by
step; the start timestamp in the prompted form) and the generated ones, end of text included (and in the
prompted form, which decodes with timestamps, the segment's end timestamp). ``tokens`` is
the longest item's count (the batch decodes until its last item ends). The encoder always sees a 30 s
window (faster-whisper pads to it), so its cost does not depend on the audio's length; ``beams`` is the beam
size (finals 5, partials 1). Parameters and where they come from:

- large-v3-turbo on H100: fitted so that a batch of four 30 s windows of ~100
  tokens takes 0.20 s, as InferenceBench measured ("Whisper v3-Turbo on H100:
  597x Realtime", inferencebench.io, 120 s of audio in 0.201 s on one H100 SXM).
- large-v3 on H100: the same encoder; a decoder step 3.2x slower, so that the
  whole decode is ~2.7x slower than turbo, the ratio faster-whisper's own
  benchmark gives for 13 min of audio on one GPU (large-v3 fp16 beam 5 52.0 s,
  large-v3-turbo 19.2 s: SYSTRAN/faster-whisper issue #1030).
- L4: no published per-batch measurement was found. The encoder is scaled by
  the dense FP16 tensor throughput ratio of the spec sheets (H100 SXM 989
  TFLOPS / L4 121 TFLOPS = 8.2x) and a decoder step, which at these batch sizes
  is bound by kernel launches and weight reads, by 2.5x (memory bandwidth is
  3.35 TB/s vs 300 GB/s, but launch overhead does not scale). These are
  estimates, not measurements: fit them on a GPU when one is lent.
- ``prompt_token_s``: the decoder's ~1.5 GFLOP per prompt token (large-v3: 32 layers of self-attention, the
  cross-attention's query and output and the feed-forward, 735 M weights; large-v3-turbo's 4 layers, an
  eighth) at half the dense FP16 peak of the spec sheet (H100 SXM 989 TFLOPS, L4 121 TFLOPS). An estimate.

Text: the number of words is the audio's duration times the speaking rate of
the repository's speech references (``words_per_second``), drawn in order from their
transcripts, so JSON sizes and prompts are realistic; ~1.3 tokens per English
word (Whisper's BPE).
"""

from __future__ import annotations

import csv
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prometheus_client import Histogram

from whisper_stream.inference.context_decoding import PROMPT_BUDGET_TOKENS, TAIL_FORCED_TOKENS, ContextForm
from whisper_stream.inference.requests import DecodeOptions
from whisper_stream.protocol.results import Segment, TranscriptionResult
from whisper_stream.server.settings import Settings

PREFIX = "simulated:"
TOKENS_PER_WORD = 1.3
_START_TOKENS = 1
"""The last start-of-transcript token (the task, or ``<|notimestamps|>``): the decoding loop's first step;
those before it are in the prefill pass."""
CONTINUED_SHARE = 10 / 215
"""Of the prompted form's finals in context, the share whose decoder stops at a segment it opened and decodes
the rest in a second call (multilingual base model, beam 5, test-other, 15 s: ``inference/continuation.py``).
That call is one item's: its prefill pass, the start token and the forced timestamp, without an encoder pass (the
transcriber takes the item's rows of the batch's encoder output: ``inference/encoder_output.py``; their copy
through the host, under 3 ms for a batch of 8 of large-v3's at 12 GB/s, is not charged); the rest's tokens are
those the first call did not generate."""
PROMPTED_END_TIMESTAMPS = 1
"""Timestamp tokens a prompted final in context generates besides its text (its segment's end; ``<|t|><|t|>``
between segments): one step each, which a final alone (``<|notimestamps|>``) does not take. Counted on real
decodes (bench/finals_wer.py's replays, 2026-12-04): the multilingual base model 1.10 a final at beam 1 and
1.08 at beam 5 (test-other and bench streams, 255 and 260 decodes); tiny.en 0.20 and 0.14."""
_FALLBACK_WORDS_PER_S = 2.6
_FALLBACK_WORDS = ("the", "streaming", "words", "come", "back", "fast", "and", "right")

DEVICE_SECONDS = Histogram(
    "whisper_stream_simulated_device_seconds",
    "Simulated accelerator time of one decode (only the simulated transcriber sets it)",
    ["kind"],
    buckets=(0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
)


@dataclass(frozen=True)
class CostModel:
    fixed_s: float
    encoder_s: float
    """Per item: one 30 s mel window through the encoder."""
    step_s: float
    """Per decoder step, whatever the batch."""
    step_item_s: float
    """Per decoder step and per hypothesis (item x beam)."""
    prompt_token_s: float = 0.0
    """Per token of the prefill pass (all items together), where its compute outweighs a step."""

    def seconds(
        self, batch_size: int, max_tokens: int, beams: int, *, prompt_tokens: int = 0, encode: bool = True
    ) -> float:
        """One ``generate`` call: ``max_tokens`` decoding steps (the end of text is one more) after the prefill pass
        of ``prompt_tokens``; ``encode``: with the encoder's pass (not when the call reuses an encoder output)."""
        step = self.step_s + batch_size * beams * self.step_item_s
        prefill = max(step, prompt_tokens * self.prompt_token_s)
        encoder = batch_size * self.encoder_s if encode else 0.0
        return self.fixed_s + encoder + prefill + (max_tokens + 1) * step


_H100_TURBO = CostModel(fixed_s=0.005, encoder_s=0.010, step_s=0.0015, step_item_s=0.00002, prompt_token_s=0.19e-6)
_H100_LARGE = CostModel(fixed_s=0.005, encoder_s=0.010, step_s=0.0048, step_item_s=0.00006, prompt_token_s=1.5e-6)
_L4_ENCODER_FACTOR = 8.2
_L4_STEP_FACTOR = 2.5


def _on_l4(model: CostModel) -> CostModel:
    return CostModel(
        fixed_s=model.fixed_s,
        encoder_s=model.encoder_s * _L4_ENCODER_FACTOR,
        step_s=model.step_s * _L4_STEP_FACTOR,
        step_item_s=model.step_item_s * _L4_STEP_FACTOR,
        prompt_token_s=model.prompt_token_s * _L4_ENCODER_FACTOR,  # compute-bound, as the encoder
    )


COST_MODELS: dict[tuple[str, str], CostModel] = {
    ("large-v3-turbo", "H100"): _H100_TURBO,
    ("large-v3", "H100"): _H100_LARGE,
    ("large-v3-turbo", "L4"): _on_l4(_H100_TURBO),
    ("large-v3", "L4"): _on_l4(_H100_LARGE),
}


def parse_spec(spec: str) -> tuple[str, str]:
    """``simulated:<model>:<gpu>`` -> (model, gpu); raises ValueError naming the choices."""
    parts = spec.removeprefix(PREFIX).split(":")
    if len(parts) != 2 or tuple(parts) not in COST_MODELS:
        choices = ", ".join(f"{PREFIX}{m}:{g}" for m, g in COST_MODELS)
        raise ValueError(f"unknown simulated accelerator {spec!r}; one of {choices}")
    return parts[0], parts[1]


@dataclass(frozen=True)
class SpeechText:
    words_per_second: float
    words: tuple[str, ...]


def load_speech_text(speech_dir: Path | None) -> SpeechText:
    """Speaking rate and words of the references under ``speech_dir/*/manifest.tsv`` (English sets)."""
    words: list[str] = []
    duration_s = 0.0
    for manifest in sorted(speech_dir.glob("*/manifest.tsv")) if speech_dir else []:
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row.get("language", "en") != "en" or "_concat." in row["filename"]:
                    continue
                words.extend(row["transcript"].lower().split())
                duration_s += float(row["duration_s"])
    if not words or duration_s <= 0:
        return SpeechText(_FALLBACK_WORDS_PER_S, _FALLBACK_WORDS)
    return SpeechText(len(words) / duration_s, tuple(words))


def from_settings(settings: Settings) -> SimulatedTranscriber:
    """The ``WHISPER_TRANSCRIBER`` hook: ``WHISPER_MODEL=simulated:<model>:<gpu>`` names what is simulated."""
    model, gpu = parse_spec(settings.whisper_model)
    return SimulatedTranscriber(
        model, gpu, final_beam_size=settings.beam_size or 5, context_form=ContextForm(settings.context_form)
    )


def default_speech_dir() -> Path | None:
    """The repository's ``data/speech``, when there is one (the Truss upload carries none)."""
    speech_dir = Path(__file__).resolve().parents[1] / "data" / "speech"
    return speech_dir if speech_dir.is_dir() else None


class SimulatedTranscriber:
    """Sleeps for the modelled device time of each call; thread-safe (one simulated device, calls serialised)."""

    is_multilingual = True
    device = "cuda"  # what it stands for: the engine sizes sessions and batches as on a GPU

    def __init__(
        self,
        model: str,
        gpu: str,
        *,
        speech: SpeechText | None = None,
        final_beam_size: int = 5,
        sleep: bool = True,
        context_form: ContextForm = ContextForm.FORCED,
    ) -> None:
        self.name = f"{PREFIX}{model}:{gpu}"
        self.cost = COST_MODELS[(model, gpu)]
        self.speech = speech or load_speech_text(default_speech_dir())
        self.final_beam_size = final_beam_size
        self.context_form = context_form
        self._sleep = sleep
        self._device = threading.Lock()  # one accelerator: concurrent workers queue for it, as on a GPU
        self._words: Iterator[str] = itertools.cycle(self.speech.words)
        self._words_lock = threading.Lock()
        self._continuations = 0.0  # CONTINUED_SHARE accrued, one second call charged per whole one

    def transcribe(self, audio: np.ndarray, options: DecodeOptions, *, final: bool) -> TranscriptionResult:
        return self.transcribe_batch([(audio, options)], final=final)[0]

    def transcribe_batch(
        self, items: Sequence[tuple[np.ndarray, DecodeOptions]], *, final: bool
    ) -> list[TranscriptionResult]:
        # a final in context generates only the utterance's words (the context's are the forced prefix)
        durations_s = [options.utterance_s(audio) for audio, options in items]
        texts = [self._text(duration_s) for duration_s in durations_s]
        seconds = self.device_seconds([options for _, options in items], texts, final=final)
        with self._device:
            if self._sleep:
                time.sleep(seconds)
        DEVICE_SECONDS.labels(kind="final" if final else "partial").observe(seconds)
        return [  # times count from the utterance's start, after any context (as the real transcriber's)
            TranscriptionResult(text, options.language or "en", 0.9, (Segment(text, 0.0, duration_s),))
            if text
            else TranscriptionResult.empty(options.language or "en")
            for text, duration_s, (_, options) in zip(texts, durations_s, items, strict=True)
        ]

    def device_seconds(self, options: Sequence[DecodeOptions], texts: Sequence[str], *, final: bool) -> float:
        """The modelled time of one batch that decodes ``texts``, each after what its options force.

        One prefill pass runs each item's previous text (the client's prompt, the history, and in the prompted
        and tail forms the context's words) with the start-of-transcript tokens (``src/models/whisper.cc``,
        ``forward_prompt``); then a step per token: the forced form forces the context's words one step each,
        the prompted form the start timestamp (and it generates ``PROMPTED_END_TIMESTAMPS``), the tail form the
        last ``TAIL_FORCED_TOKENS``. A prompted final in context is decoded again from where its decoder stopped
        at a segment it opened, ``CONTINUED_SHARE`` of the time."""
        words = [self.tokens(o.prefix or "", prompt=False) for o in options]
        if self.context_form is ContextForm.FORCED:
            forced, prompted = words, [0] * len(words)
        elif self.context_form is ContextForm.TAIL:
            forced = [min(count, TAIL_FORCED_TOKENS) for count in words]
            prompted = [count - extra for count, extra in zip(words, forced, strict=True)]
        else:
            forced = [1 + PROMPTED_END_TIMESTAMPS if o.prefix else 0 for o in options]
            prompted = words
        previous = [
            min(PROMPT_BUDGET_TOKENS, self.tokens(f"{o.prompt or ''} {o.history or ''}", prompt=False) + count)
            for o, count in zip(options, prompted, strict=True)
        ]
        steps = max(self.tokens(text) + extra for text, extra in zip(texts, forced, strict=True))
        beams = self.final_beam_size if final else 1
        seconds = self.cost.seconds(len(texts), steps, beams, prompt_tokens=sum(previous))
        if self.context_form is ContextForm.PROMPTED:
            with self._words_lock:
                self._continuations += CONTINUED_SHARE * sum(1 for o in options if o.prefix and o.context_samples)
                again = int(self._continuations)
                self._continuations -= again
            rest = self.cost.seconds(1, _START_TOKENS + 1, beams, prompt_tokens=max(previous), encode=False)
            seconds += again * rest
        return seconds

    @staticmethod
    def tokens(text: str, *, prompt: bool = True) -> int:
        """Decoding steps of ``text`` (with ``prompt``, after the last start-of-transcript token)."""
        return (_START_TOKENS if prompt else 0) + round(len(text.split()) * TOKENS_PER_WORD)

    def _text(self, duration_s: float) -> str:
        count = round(duration_s * self.speech.words_per_second)
        with self._words_lock:
            return " ".join(itertools.islice(self._words, count))
