"""Why beam 5 buys the prompted form less than the forced one: finals' WER at beams 1 and 5 with the decode's
timestamps on and off, and a way tried of keeping the prompted form's gain at beam 5 (a diagnostic; the
replay, scorer and cache are bench/finals_wer.py's). The way that kept it is the library's tail form
(``ContextForm.TAIL``: ``bench/finals_wer.py --forms tail``).

    .venv/bin/python bench/beam_gap.py --variant alone-timestamped --beams 1,5 [--sets bench] [--model DIR]

Variants (each wraps one function, the library's or faster-whisper's, for the replay only; the library is unchanged):

- ``alone-timestamped``: finals decoded alone (no context) as the prompted form decodes, timestamps on,
  the start-of-window timestamp forced: does beam search gain less over timestamped output whatever the form?
- ``prompted-one-timestamp``: the prompted form with every timestamp after the forced one suppressed (no
  segments inside the final).

Prints per set and beam: WER and substitutions / deletions / insertions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

import jiwer  # noqa: E402

from bench.finals_wer import Decoder, corpus_wer, per_utterance, replay, streams  # noqa: E402
from tests.speech import normalize  # noqa: E402
from whisper_stream.inference import context_decoding, transcriber  # noqa: E402
from whisper_stream.inference.context_decoding import ContextForm, DecoderPrompt  # noqa: E402


def alone_timestamped(original: Callable[..., DecoderPrompt]) -> Callable[..., DecoderPrompt]:
    def prompt(model: Any, tokenizer: Any, options: Any, form: ContextForm) -> DecoderPrompt:
        if options.context_samples or options.prefix:
            return original(model, tokenizer, options, form)
        previous = context_decoding.previous_tokens(tokenizer, options.prompt, options.history, [])
        forced = [tokenizer.timestamp_begin]
        tokens = context_decoding.with_previous(tokenizer, previous) + list(tokenizer.sot_sequence) + forced
        return DecoderPrompt(tokens, forced, [])

    return prompt


def one_timestamp(original: Callable[..., Any]) -> Callable[..., Any]:
    """``faster_whisper.transcribe.get_suppressed_tokens`` plus every timestamp token when the transcriber's
    direct decode asks (the forced one is a prefix, which CTranslate2 forces whatever the suppression);
    faster-whisper's own ``transcribe`` (the fallback) keeps its timestamps."""

    def suppressed(tokenizer: Any, tokens: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__") != transcriber.__name__:
            return original(tokenizer, tokens)
        last = tokenizer.timestamp_begin + context_decoding.LAST_TIMESTAMP_INDEX
        return [*original(tokenizer, tokens), *range(tokenizer.timestamp_begin, last + 1)]

    return suppressed


def run_variant(variant: str, context_s: float) -> tuple[ContextForm, float, str]:
    """Installs ``variant`` for this process; returns the form, context and cache tag it is replayed with."""
    original = context_decoding.decoder_prompt
    if variant == "alone-timestamped":
        transcriber.decoder_prompt = alone_timestamped(original)  # type: ignore[attr-defined]
        return ContextForm.PROMPTED, 0.0, "-alonets"
    if variant == "prompted-one-timestamp":
        import faster_whisper.transcribe

        faster_whisper.transcribe.get_suppressed_tokens = one_timestamp(  # type: ignore[assignment]
            faster_whisper.transcribe.get_suppressed_tokens
        )
        return ContextForm.PROMPTED, context_s, "-onets"
    raise SystemExit(f"unknown variant {variant!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", required=True, help="alone-timestamped or prompted-one-timestamp")
    parser.add_argument("--beams", default="1,5")
    parser.add_argument("--sets", default="test_other")
    parser.add_argument("--context-s", type=float, default=29.0, help="in context: tiny.en's best, 29 s")
    parser.add_argument("--model", default="", help="WHISPER_MODEL (a directory); default: the bundled tiny.en")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compute-type", default=None, help="default: int8 on the CPU, float16 on CUDA")
    args = parser.parse_args()
    from whisper_stream.audio.silero import SileroVadModel

    form, context_s, tag = run_variant(args.variant, args.context_s)
    vad, sets = SileroVadModel(), streams(args.sets.split(","))
    decode = Decoder(f"{tag}-{context_s:g}s", args.model, args.device, args.compute_type)  # keyed by beam inside
    decode.form(form)
    print("| set | variant | beam | WER | subs / dels / ins |\n|---|---|---|---|---|")
    for beam in (int(b) for b in args.beams.split(",")):
        decode.beam(beam)
        for name, stream in sets.items():
            references = [u.clip.reference for u in stream.utterances]
            texts = per_utterance(stream, replay(stream, decode, vad, context_s=context_s, word_timestamps=False))
            decode.save()
            counts = jiwer.process_words(normalize(" ".join(references)), normalize(" ".join(texts)))
            kinds = f"{counts.substitutions} / {counts.deletions} / {counts.insertions}"
            print(f"| {name} | {args.variant} | {beam} | {corpus_wer(references, texts):.2%} | {kinds} |", flush=True)


if __name__ == "__main__":
    main()
