"""The benchmark's scoring: the one normaliser, coverage judged on words, the rows, the idle gate.

Fast and model-free: streams and transcript events are built by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import metrics, plan, readme, report, targets
from bench.audio import Clip, Stream, Utterance
from bench.systems.base import Event, StreamRun
from bench.wer import align, corpus_wer, normalize, paired_difference_interval, wer

# ------------------------------------------------------------------ the normaliser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("Twenty one colourful balloons.", "21 colorful balloons"),  # numbers and spelling standardised
        ("Um, I think, uh, so.", "i think so"),  # fillers dropped
        ("He won't go.", "he will not go"),  # contractions expanded
        ("Mr. Smith [inaudible] left", "mister smith left"),  # bracketed annotations dropped
    ],
)
def test_normalize_is_whispers_english_normaliser(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_wer_ignores_what_the_normaliser_removes_and_counts_the_rest() -> None:
    assert wer("Mister Smith has twenty one dogs.", "mr smith has 21 dogs") == 0.0
    assert wer("the cat sat on the mat", "the cat sat on a mat") == pytest.approx(1 / 6, abs=1e-4)
    assert wer("hello there", "") == 1.0


def test_corpus_wer_sums_errors_over_pairs_and_skips_empty_references() -> None:
    out = corpus_wer(["a b c d", "", "e f"], ["a b c d", "anything", "e x"])
    assert out["wer"] == pytest.approx(1 / 6, abs=1e-4)
    assert (out["substitutions"], out["deletions"], out["insertions"], out["reference_words"]) == (1, 0, 0, 6)
    assert corpus_wer([""], ["words"]) == {"wer": None}


def test_align_tells_hits_from_substitutions_and_deletions() -> None:
    alignment = align("a b c d e", "a x d e")
    assert alignment.hit == (True, False, False, True, True)
    assert [m is None for m in alignment.matched_to].count(True) == 1  # one of b, c deleted


# ------------------------------------------------------------------ coverage, judged on words

REFS = ["the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore"]


def coverage(hypothesis: str) -> list[tuple[bool, bool]]:
    return [(c.missed, c.truncated) for c in metrics.word_coverage(REFS, hypothesis)]


def test_the_paired_interval_is_zero_for_the_same_errors_and_tight_for_a_steady_difference() -> None:
    words_n = [20] * 50
    assert paired_difference_interval([2] * 50, [2] * 50, words_n) == (0.0, 0.0)
    low, high = paired_difference_interval([3] * 25 + [2] * 25, [2] * 50, words_n)  # 0.5 more errors in 20 words
    assert 0.0 < low < 0.025 < high < 0.05


def test_one_utterance_s_difference_among_sixteen_is_not_told_from_chance() -> None:
    worse = [1] * 15 + [10]  # one long utterance decoded worse: +9 errors in 320 words, +2.8 points
    low, high = paired_difference_interval(worse, [1] * 16, [20] * 16)
    assert low <= 0.0 < 0.028 < high


def test_the_paired_interval_wants_the_same_utterances() -> None:
    with pytest.raises(ValueError, match="same, non-empty"):
        paired_difference_interval([1, 2], [1], [10, 10])
    with pytest.raises(ValueError, match="same, non-empty"):
        paired_difference_interval([], [], [])


def test_every_word_back_is_neither_missed_nor_truncated() -> None:
    assert coverage(" ".join(REFS)) == [(False, False), (False, False)]


def test_last_words_never_in_a_final_is_truncated() -> None:
    hypothesis = "the quick brown fox jumps over she sells sea shells by the sea shore"
    assert coverage(hypothesis) == [(False, True), (False, False)]


def test_last_words_lost_and_a_word_invented_at_the_boundary_is_still_truncated() -> None:
    # the aligner pairs "lazy" with the invented "um-hum"-like word: a substitution, then deletions
    hypothesis = "the quick brown fox jumps over banana she sells sea shells by the sea shore"
    assert coverage(hypothesis) == [(False, True), (False, False)]


def test_misheard_last_words_are_errors_not_truncation() -> None:
    hypothesis = "the quick brown fox jumps over the hazy log she sells sea shells by the sea shore"
    assert coverage(hypothesis) == [(False, False), (False, False)]


def test_an_utterance_with_no_word_back_is_missed() -> None:
    assert coverage(REFS[1]) == [(True, False), (False, False)]
    assert coverage("") == [(True, False), (True, False)]


def test_only_the_last_three_words_count_as_the_end() -> None:
    lost_fourth_from_end = "the quick brown fox jumps the lazy dog " + REFS[1]
    assert coverage(lost_fourth_from_end) == [(False, False), (False, False)]
    lost_last_only = "the quick brown fox jumps over the lazy " + REFS[1]
    assert coverage(lost_last_only) == [(False, False), (False, False)]  # "the lazy" came back


# ------------------------------------------------------------------ per-utterance scores


def stream_of(references: list[str], spans_s: list[tuple[float, float]]) -> Stream:
    utterances = tuple(
        Utterance(Clip("set", Path(f"clip{i}.flac"), ref, end - start + 1), start - 0.5, end + 0.5, start, end)
        for i, (ref, (start, end)) in enumerate(zip(references, spans_s, strict=True))
    )
    return Stream(np.zeros(16_000 * int(spans_s[-1][1] + 2), np.float32), utterances)


def test_a_final_spanning_the_utterance_without_its_last_words_is_truncated_not_on_time() -> None:
    """Our finals span the whole VAD utterance: the old span rule could never flag their lost endings."""
    stream = stream_of(REFS, [(1.0, 4.0), (6.0, 9.0)])
    run = StreamRun(
        [
            Event(2.0, "the quick", False, 1.0, 2.0),
            Event(4.5, "the quick brown fox jumps over", True, 1.0, 4.0),
            Event(9.6, REFS[1], True, 6.0, 9.0),
        ]
    )
    first, second = metrics.score_utterances(stream, run, speed=1.0)
    assert first.truncated and not first.missed and first.final_latency_s is None
    assert first.first_text_latency_s == pytest.approx(1.0)
    assert (first.words, first.hits) == (9, 6)
    assert first.aligned_text == "the quick brown fox jumps over"  # what came back, to read beside the reference
    assert not second.truncated and second.final_latency_s == pytest.approx(0.6)
    assert metrics.coverage_summary([first, second]) == {"utterances": 2, "missed": 0, "truncated": 1}
    summary = metrics.latency_summary([first.final_latency_s, second.final_latency_s])
    assert summary["no_final"] == 1 and summary["p95_s"] == "inf" and summary["p50_s"] == 0.6


def test_partials_are_counted_per_second_of_speech() -> None:
    stream = stream_of(REFS, [(1.0, 4.0), (6.0, 9.0)])  # 6 s of speech
    run = StreamRun([Event(t, "x", False, 1.0, 2.0) for t in (1.5, 2.0, 2.5)] + [Event(5.0, "x", True, 1.0, 4.0)])
    assert metrics.partials_per_speech_s(stream, run) == pytest.approx(0.5)


# ------------------------------------------------------------------ the rows of one run


def test_every_system_runs_at_every_beam_and_ours_also_at_the_extra_endpoint() -> None:
    rows = plan.rows(
        ["ours", "whisperlive", "whisper_streaming"], [5, 1], min_silence_ms=300, extra_endpoints_ms=[500], sweep_beam=1
    )
    assert [r.key for r in rows] == [
        "ours/beam5/300ms",
        "ours/beam5/500ms",
        "whisperlive/beam5",
        "whisper_streaming/beam5",
        "ours/beam1/300ms",
        "ours/beam1/500ms",
        "whisperlive/beam1",
        "whisper_streaming/beam1",
    ]
    assert [r.key for r in rows if r.sweep] == ["ours/beam1/300ms", "whisperlive/beam1", "whisper_streaming/beam1"]


def test_parse_ints_keeps_order_and_drops_repeats() -> None:
    assert plan.parse_ints("5, 1,5,") == [5, 1]
    assert plan.parse_ints("") == plan.parse_ints("none") == []


# ------------------------------------------------------------------ the docs/performance.md blocks and the idle gate


def results_of(other_load_cores: float) -> dict[str, Any]:
    step = {
        "streams": 1,
        "final_latency": metrics.latency_summary([0.5, None]),
        "first_text_latency": metrics.latency_summary([0.4, 0.3]),
        "coverage": {"utterances": 2, "missed": 0, "truncated": 1},
        "partials_per_speech_s": 1.25,
        "cpu_s_per_audio_s": 0.5,
        "peak_rss_mib": 300.0,
        "errors": [],
        "other_processes_cpu_cores": other_load_cores,
    }
    main = {**step, "wer": {"wer": 0.1}, "wer_vs_offline": {"wer": 0.05}}
    row = {
        "system": "ours",
        "label": "ours (whisper_stream), beam 1",
        "beam_size": 1,
        "endpoint_silence_s": 0.3,
        "status": "ok",
        "main": main,
        "sweep": [{**step, "holds": False}],
        "capacity": 0,
        "capacity_note": "",
    }
    meta = {
        "date": "2026-12-01 15:00:00 +0000",
        "command": "run.py --quick",
        "commit": "0123456789ab",
        "machine": "2 CPU cores (x86_64)",
        "cpu_model": "Some CPU",
        "model": {"name": "tiny.en", "compute_type": "int8", "device": "cpu", "cpu_threads": 2},
        "set": "bench",
        "sweep_beam": 1,
        "latency_budget_s": 1.5,
        "main_stream": {"duration_s": 30.0, "speech_s": 20.0, "utterances": 2},
    }
    results = {"meta": meta, "rows": {"ours/beam1/300ms": row}, "offline": {"1": {"wer": 0.08}}}
    meta["max_other_load_cores"] = report.busiest_other_load(results)
    return results


def test_table_shows_truncations_offline_at_the_same_beam_and_the_partial_rate() -> None:
    header, row = report.headline(results_of(0.0))
    assert header[7:12] == ["missed", "truncated", "WER", "offline WER", "Δ WER"]
    assert row[:3] == ["ours (whisper_stream)", "1", "0.30s"]
    assert row[7:12] == ["0/2", "1/2", "10.0%", "8.0%", "+2.0 pt"]
    assert "partials 1.25/s" in report.table(results_of(0.0))


def test_a_sweep_step_says_how_the_decoder_was_used() -> None:
    from bench import run, server_watch

    def scrape(final_n: int, final_s: float, partial_n: int, partial_s: float) -> server_watch.Samples:
        return server_watch.samples(
            f'whisper_stream_decode_seconds_count{{kind="final"}} {final_n}\n'
            f'whisper_stream_decode_seconds_sum{{kind="final"}} {final_s}\n'
            f'whisper_stream_decode_seconds_count{{kind="partial"}} {partial_n}\n'
            f'whisper_stream_decode_seconds_sum{{kind="partial"}} {partial_s}\n'
        )

    used = run._decoder_use(scrape(90, 50.0, 40, 12.5), scrape(10, 5.0, 8, 2.5))
    assert used == "final calls 80 in 45.0 s, partial calls 32 in 10.0 s"
    assert run._decoder_use(None, scrape(1, 1.0, 1, 1.0)) is None
    step = {"final_latency": {"p50_s": 1.0, "p95_s": 2.0, "no_final": 0}, "cpu_s_per_audio_s": 0.3, "decoder": used}
    assert report._step_text(step).endswith("decoder: final calls 80 in 45.0 s, partial calls 32 in 10.0 s")


def publish(results: dict[str, Any], tmp_path: Path) -> int:
    return readme.publish(results, tmp_path, readme_path=tmp_path / "R.md", max_other_load=0.2)


README = "# x\n\n## Performance\n\nintro\n\n<!-- bench:bench -->\nold figures\n<!-- /bench:bench -->\n\nafter\n"


def test_a_busy_run_writes_no_readme_section_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "R.md").write_text(README)
    (tmp_path / "performance.md").write_text("stale")
    assert publish(results_of(0.25), tmp_path) == 2
    assert (tmp_path / "R.md").read_text() == README
    assert not (tmp_path / "performance.md").exists()
    assert "NOT written" in capsys.readouterr().out


def test_an_idle_run_replaces_only_its_block_with_date_machine_and_commit(tmp_path: Path) -> None:
    (tmp_path / "R.md").write_text(README)
    assert publish(results_of(0.05), tmp_path) == 0
    text = (tmp_path / "R.md").read_text()
    assert "old figures" not in text and text.startswith("# x\n\n## Performance\n\nintro\n\n<!-- bench:bench -->\n")
    assert text.endswith("<!-- /bench:bench -->\n\nafter\n")
    for expected in ("2026-12-01 15:00:00", "`0123456789ab`", "2 CPU cores", "0.05 cores", "| 1 | 0.50 s |"):
        assert expected in text
    assert (tmp_path / "performance.md").read_text() == readme.section(results_of(0.05))


@pytest.mark.parametrize("set_name", sorted(plan.SETS))
def test_performance_md_has_one_block_for_each_speech_set(set_name: str) -> None:
    start, end = readme.markers(set_name)
    text = readme.PERFORMANCE_MD.read_text()
    assert text.count(start) == text.count(end) == 1 and text.index(start) < text.index(end)


def test_a_readme_without_the_block_is_refused_not_rewritten(tmp_path: Path) -> None:
    (tmp_path / "R.md").write_text("# x\n")
    with pytest.raises(SystemExit, match="bench:bench"):
        readme.update(tmp_path / "R.md", results_of(0.0))
    assert (tmp_path / "R.md").read_text() == "# x\n"


def test_targets_compare_streaming_with_offline_at_the_same_beam() -> None:
    checks = {t["name"]: t for t in targets.evaluate(results_of(0.0), 300, [1], 1.5)}
    wer_check = checks["streaming WER within 0.5 pt of offline at beam 1"]
    assert wer_check["met"] is False and "+2.0 pt" in wer_check["detail"]
    assert checks["final p95 ≤ min silence + 0.6 s (1 stream, beam 1)"]["met"] is False  # a truncation is inf
    assert "No Baseten concurrency target" in targets.concurrency_target(results_of(0.0), 1, 1.5)


def test_a_run_that_swept_one_stream_claims_no_capacity() -> None:
    """The test-other run streams once: 'held 1 of 1' is no verdict on 6 streams, nor a concurrency target."""
    results = results_of(0.0)
    row = next(r for r in results["rows"].values() if r.get("sweep"))
    row["capacity"] = 1
    checks = {t["name"]: t for t in targets.evaluate(results, 300, [1], 1.5)}
    assert checks["≥ 6 real-time streams with p95 final ≤ 1.5 s (beam 1)"]["met"] is None
    assert targets.concurrency_target(results, 1, 1.5) is None
    row["capacity"] = 4  # every step of 1..4 held: still no verdict on 6
    assert {t["name"]: t for t in targets.evaluate(results, 300, [1, 2, 4], 1.5)}[
        "≥ 6 real-time streams with p95 final ≤ 1.5 s (beam 1)"
    ]["met"] is None
    row["capacity"] = 2  # 4 streams failed: a miss
    assert {t["name"]: t for t in targets.evaluate(results, 300, [1, 2, 4, 6], 1.5)}[
        "≥ 6 real-time streams with p95 final ≤ 1.5 s (beam 1)"
    ]["met"] is False


def test_the_fields_latency_runs_from_silero_s_end_of_speech_to_the_first_final_covering_it() -> None:
    clip = Clip("set", Path("clip0.flac"), REFS[0], 5.0)
    stream = Stream(np.zeros(16_000 * 8, np.float32), (Utterance(clip, 0.5, 5.5, 1.0, 4.2, silero_end_s=4.0),))
    run = StreamRun(
        [
            Event(3.0, "the quick brown", True, 1.0, 2.5),  # an earlier piece: ends before the end of speech
            Event(4.3, "fox jumps over the lazy dog", True, 2.6, 4.1),  # the first to cover it
            Event(6.0, "fox jumps over the lazy dog again", True, 2.6, 4.1),
        ]
    )
    [score] = metrics.score_utterances(stream, run, speed=1.0)
    assert score.end_of_speech_final_s == pytest.approx(0.3)
    assert score.final_latency_s == pytest.approx(6.0 - 4.2)  # make bench's own: the last final, energy's end
    assert metrics.score_utterances(stream, StreamRun([run.events[0]]), speed=1.0)[0].end_of_speech_final_s is None


def test_each_finalize_is_timed_to_the_first_from_finalize_final_after_it() -> None:
    run = StreamRun(
        [
            Event(1.0, "an answer to nothing the client sent", True, from_finalize=True),
            Event(2.5, "the final the VAD sent", True),
            Event(2.6, "the answer", True, from_finalize=True),
            Event(5.4, "", True, from_finalize=True),  # nothing was open: an empty answer, at once
        ],
        finalizes_sent_s=[2.2, 5.3, 8.0],
    )
    assert metrics.finalize_latencies(run) == pytest.approx([0.4, 0.1, None])
