"""The bounded temperature fallback, with a scripted model (no Whisper): the first pass the guards accept,
else the most confident text, and no new pass once the budget is spent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.fakes import ManualClock
from whisper_stream.inference.fallback import TEMPERATURES, budget_s, transcribe_with_fallback
from whisper_stream.inference.hallucination import HallucinationGuard
from whisper_stream.samples import SAMPLE_RATE_HZ


@dataclass
class FakeSegment:
    text: str
    avg_logprob: float
    compression_ratio: float = 1.5
    no_speech_prob: float = 0.1
    start: float = 0.0
    end: float = 1.0


@dataclass
class FakeInfo:
    language: str = "en"


class ScriptedModel:
    """Answers each pass with the next scripted segment, advancing a clock by ``pass_s``."""

    def __init__(self, segments: list[FakeSegment], clock: ManualClock, pass_s: float) -> None:
        self.segments, self.clock, self.pass_s = segments, clock, pass_s
        self.temperatures: list[float] = []

    def transcribe(self, audio: np.ndarray, **options: object) -> tuple[list[FakeSegment], FakeInfo]:
        self.temperatures.append(float(options["temperature"]))  # type: ignore[arg-type]
        self.clock.now_s += self.pass_s
        return [self.segments[len(self.temperatures) - 1]], FakeInfo()


AUDIO = np.zeros(4 * SAMPLE_RATE_HZ, np.float32)


def run(segments: list[FakeSegment], pass_s: float = 0.1) -> tuple[str, list[float]]:
    clock = ManualClock()
    model = ScriptedModel(segments, clock, pass_s)
    result = transcribe_with_fallback(
        model, AUDIO, language="en", prompt=None, beam_size=5, guard=HallucinationGuard(), clock=clock
    )
    return result.text, model.temperatures


def test_the_first_pass_the_guards_accept_is_the_result() -> None:
    text, temperatures = run([FakeSegment("loop loop", -2.0, compression_ratio=3.0), FakeSegment("Hello.", -0.3)] * 3)
    assert (text, temperatures) == ("Hello.", [0.0, 0.2])


def test_with_no_pass_accepted_the_most_confident_text_seen_is_kept() -> None:
    segments = [FakeSegment("a", -1.5), FakeSegment("b", -1.2), FakeSegment("c", -2.5)] * 2
    text, temperatures = run(segments)
    assert text == "b" and temperatures == list(TEMPERATURES)


def test_no_new_pass_starts_once_the_budget_is_spent() -> None:
    assert budget_s(4.0) == 2.0 and budget_s(20.0) == 5.0
    loops = [FakeSegment("loop", -3.0, compression_ratio=3.0)] * 6
    text, temperatures = run(loops, pass_s=0.9)  # 3 passes reach the 2 s budget of 4 s of audio
    assert text == "" and temperatures == [0.0, 0.2, 0.4]
