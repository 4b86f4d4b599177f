"""What decoding a final in context costs the CPU, final by final: the same utterance decoded alone and in
context in each form (forced prefix, prompted), back to back, on tiny.en or ``--model``.

    .venv/bin/python bench/context_cost.py --reps 3 [--duration-s 0] [--model DIR]

The stream is make bench's one-stream run (bench/audio.py, same seed, 180 s; ``--duration-s 0``: every
clip of the bench sets once). Each clip is one final; its context is the clips before it that fit
``--context-s`` (default ``CONTEXT_S``; whole clips and the pauses between them, as the session keeps
them, and no more than fits a window of ``WINDOW_S`` with the utterance: the session's ``FinalContext``
chooses), its prefix their text decoded alone (what would have been sent). Times are the median of
``--reps`` decodes; alone and in context alternate so that the machine's load falls on both alike.
Prints per final: context seconds, prefix tokens, decode seconds alone and in each form; then totals.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

import numpy as np  # noqa: E402

from bench import plan  # noqa: E402
from bench.audio import SAMPLE_RATE_HZ, build_stream, load_clips  # noqa: E402
from bench.run import _whole_s  # noqa: E402
from whisper_stream.core.final_context import CONTEXT_S, FinalContext  # noqa: E402
from whisper_stream.inference.context_decoding import ContextForm  # noqa: E402
from whisper_stream.inference.model_source import resolve_model_source  # noqa: E402
from whisper_stream.inference.requests import DecodeOptions  # noqa: E402
from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions  # noqa: E402

ALONE = DecodeOptions(language="en", prompt=None, word_timestamps=False)


def timed(transcriber: FasterWhisperTranscriber, audio: np.ndarray, options: DecodeOptions) -> tuple[float, str]:
    started = time.perf_counter()
    result = transcriber.transcribe(audio, options, final=True)
    return time.perf_counter() - started, result.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="decodes of each final each way (median)")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration-s", type=float, default=plan.DEFAULT_DURATION_S["bench"])
    parser.add_argument("--model", default="", help="a model directory; default: the bundled tiny.en")
    parser.add_argument("--context-s", type=float, default=CONTEXT_S, help=f"a final's context, at most {CONTEXT_S:g}")
    args = parser.parse_args(argv)
    context_s = min(args.context_s, CONTEXT_S)

    clips = load_clips()
    stream = build_stream(clips, args.duration_s or _whole_s(clips), seed=args.seed)
    transcribers = {
        form: FasterWhisperTranscriber(
            resolve_model_source(args.model),
            TranscriberOptions(device="cpu", final_beam_size=args.beam, context_form=form),
        )
        for form in ContextForm
    }
    alone_with = transcribers[ContextForm.FORCED]
    tokenizer = alone_with._model.hf_tokenizer  # only to count the prefix's tokens
    for transcriber in transcribers.values():
        timed(transcriber, stream.audio[: SAMPLE_RATE_HZ * 3], ALONE)  # warm-up
    context = FinalContext(condition_on_previous=False, context_s=context_s)  # the session's choice of context
    ways = ["alone", *(form.value for form in ContextForm)]
    print("final  context_s  prefix_tokens  " + "  ".join(f"{way}_s" for way in ways))
    totals = dict.fromkeys([*ways, "speech"], 0.0)
    for index, utterance in enumerate(stream.utterances):
        start, end = (int(t * SAMPLE_RATE_HZ) for t in (utterance.start_s, utterance.end_s))
        audio = stream.audio[start:end]
        in_context = context.apply(ALONE, start, end, held_from=0)  # the window fits the encoder's 30 s
        context_from, prefix = start - in_context.context_samples, in_context.prefix or ""
        times: dict[str, list[float]] = {way: [] for way in ways}
        alone_text = ""
        for _ in range(args.reps):  # the ways alternate so that the machine's load falls on all alike
            seconds, alone_text = timed(alone_with, audio, ALONE)
            times["alone"].append(seconds)
            for form, transcriber in transcribers.items():
                seconds, _ = timed(transcriber, stream.audio[context_from:end], in_context)
                times[form.value].append(seconds)
        medians = {way: statistics.median(times[way]) for way in ways}
        tokens = len(tokenizer.encode(" " + prefix).ids) if prefix else 0
        shown = "  ".join(f"{medians[way]:8.3f}" for way in ways)
        print(f"{index:5d}  {(start - context_from) / SAMPLE_RATE_HZ:9.1f}  {tokens:13d}  {shown}", flush=True)
        for way in ways:
            totals[way] += medians[way]
        totals["speech"] += utterance.speech_end_s - utterance.speech_start_s
        context.sent(start, end, alone_text)
    alone = totals["alone"]
    print(
        f"total for {totals['speech']:.0f} s of speech ({args.model or 'tiny.en'}, beam {args.beam},"
        f" context {context_s:g} s): "
        + ", ".join(f"{way} {totals[way]:.2f} s (x{totals[way] / alone:.2f})" for way in ways)
        + "; decode s per speech s: "
        + ", ".join(f"{way} {totals[way] / totals['speech']:.3f}" for way in ways)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
