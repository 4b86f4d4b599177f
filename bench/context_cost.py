"""What decoding a final in context costs the CPU, final by final: the same utterance decoded alone and in
context, back to back, on tiny.en (the transcriber the server runs).

    .venv/bin/python bench/context_cost.py --reps 3 [--duration-s 0]

The stream is make bench's one-stream run (bench/audio.py, same seed, 180 s; ``--duration-s 0``: every
clip of the bench sets once). Each clip is one final; its context is the
clips before it that fit ``CONTEXT_S`` (whole clips and the pauses between them, as the session keeps
them), its prefix their text decoded alone (what would have been sent). Times are the median of
``--reps`` decodes; alone and in context alternate so that the machine's load falls on both alike.
Prints per final: context seconds, prefix tokens, decode seconds alone and in context; then totals.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from whisper_stream.core.final_context import CONTEXT_S  # noqa: E402
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
    args = parser.parse_args(argv)

    clips = load_clips()
    stream = build_stream(clips, args.duration_s or _whole_s(clips), seed=args.seed)
    transcriber = FasterWhisperTranscriber(
        resolve_model_source(""), TranscriberOptions(device="cpu", final_beam_size=args.beam)
    )
    tokenizer = transcriber._model.hf_tokenizer  # only to count the prefix's tokens
    timed(transcriber, stream.audio[: SAMPLE_RATE_HZ * 3], ALONE)  # warm-up
    sent: list[tuple[int, int, str]] = []  # start, end sample and text of each final, decoded alone
    print("final  context_s  prefix_tokens  alone_s  context_s_decode  ratio  same_text")
    totals = {"alone": 0.0, "context": 0.0, "speech": 0.0}
    for index, utterance in enumerate(stream.utterances):
        start, end = (int(t * SAMPLE_RATE_HZ) for t in (utterance.start_s, utterance.end_s))
        audio = stream.audio[start:end]
        chosen = [final for final in sent if final[0] >= start - CONTEXT_S * SAMPLE_RATE_HZ]
        context_from = chosen[0][0] if chosen else start
        prefix = " ".join(text for _, _, text in chosen)
        in_context = dataclasses.replace(ALONE, context_samples=start - context_from, prefix=prefix or None)
        times: dict[str, list[float]] = {"alone": [], "context": []}
        texts: dict[str, str] = {}
        for _ in range(args.reps):
            seconds, texts["alone"] = timed(transcriber, audio, ALONE)
            times["alone"].append(seconds)
            seconds, texts["context"] = timed(transcriber, stream.audio[context_from:end], in_context)
            times["context"].append(seconds)
        alone_s, context_s = (statistics.median(times[k]) for k in ("alone", "context"))
        tokens = len(tokenizer.encode(" " + prefix).ids) if prefix else 0
        print(
            f"{index:5d}  {(start - context_from) / SAMPLE_RATE_HZ:9.1f}  {tokens:13d}  {alone_s:7.3f}"
            f"  {context_s:16.3f}  {context_s / alone_s:5.2f}  {texts['alone'] == texts['context']}"
        )
        totals["alone"] += alone_s
        totals["context"] += context_s
        totals["speech"] += utterance.speech_end_s - utterance.speech_start_s
        sent.append((start, end, texts["alone"]))
    print(
        f"total: alone {totals['alone']:.2f} s, in context {totals['context']:.2f} s "
        f"(x{totals['context'] / totals['alone']:.2f}) for {totals['speech']:.0f} s of speech; "
        f"CPU-bound decode s per speech s: alone {totals['alone'] / totals['speech']:.3f}, "
        f"in context {totals['context'] / totals['speech']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
