"""client.display and client.writers: terminal rendering into a StringIO, SRT/TXT/JSONL files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from client.display import CLEAR_LINE, Display, format_clock, format_final, speaker_text
from client.messages import Final, Segment, parse_final
from client.writers import JsonlWriter, srt_text, srt_timestamp, txt_text, write_srt, write_txt


def partial(text: str, num: int = 0) -> dict:
    return {"type": "transcription", "is_final": False, "transcript": text, "transcription_num": num}


def final_message(text: str, start_s: float, end_s: float, num: int = 0) -> dict:
    return {
        "type": "transcription",
        "is_final": True,
        "transcript": text,
        "transcription_num": num,
        "segments": [{"text": text, "start_time": start_s, "end_time": end_s}],
    }


def show(display: Display, message: dict) -> None:
    display.handle(message, parse_final(message) if message.get("is_final") else None)


def test_tty_rewrites_the_partial_and_keeps_finals() -> None:
    out = io.StringIO()
    display = Display(out, tty=True, columns=lambda: 80)
    show(display, partial("hello"))
    show(display, partial("hello wor"))
    show(display, final_message("Hello world.", 0.0, 1.2))
    show(display, partial("next"))
    display.close()
    assert out.getvalue() == (
        f"{CLEAR_LINE}hello{CLEAR_LINE}hello wor{CLEAR_LINE}Hello world.\n{CLEAR_LINE}next{CLEAR_LINE}"
    )


def test_tty_partial_keeps_the_end_of_a_long_line() -> None:
    out = io.StringIO()
    Display(out, tty=True, columns=lambda: 21).partial("one two three four five six")
    assert out.getvalue() == CLEAR_LINE + "…three four five six"
    assert len("…three four five six") == 20  # columns - 1: a wrapped line could not be rewritten


def test_pipe_prints_finals_only_by_default() -> None:
    out = io.StringIO()
    display = Display(out, tty=False)
    for message in (partial("hel"), final_message("Hello.", 0.0, 0.5), partial("x"), final_message("Bye.", 1.0, 1.5)):
        show(display, message)
    display.close()
    assert out.getvalue() == "Hello.\nBye.\n"


def test_pipe_with_show_partials_and_timestamps() -> None:
    out = io.StringIO()
    display = Display(out, tty=False, show_partials=True, timestamps=True)
    show(display, partial("hel"))
    show(display, final_message("Hello.", 1.5, 62.25))
    assert out.getvalue() == "[partial] hel\n[00:01.50 → 01:02.25] Hello.\n"


def test_empty_final_clears_the_partial_and_prints_nothing() -> None:
    out = io.StringIO()
    display = Display(out, tty=True, columns=lambda: 80)
    show(display, partial("uh"))
    show(display, final_message("", 0.0, 0.1))
    assert out.getvalue() == f"{CLEAR_LINE}uh{CLEAR_LINE}"


def test_vad_events_only_when_asked() -> None:
    event = {"type": "speech_started", "time_s": 3.25}
    quiet, loud = io.StringIO(), io.StringIO()
    show(Display(quiet, tty=False), event)
    show(Display(loud, tty=False, show_vad_events=True), event)
    assert quiet.getvalue() == ""
    assert loud.getvalue() == "[speech started 00:03.25]\n"


def test_turn_events_only_when_asked_and_never_taken_for_a_final() -> None:
    eager = {"type": "eager_end_of_turn", "transcription_num": 2, "transcript": " Book a table. ", "segments": []}
    resumed = {"type": "turn_resumed", "transcription_num": 2, "time_s": 4.5}
    quiet, loud = io.StringIO(), io.StringIO()
    for message in (eager, resumed):
        show(Display(quiet, tty=False), message)
        show(Display(loud, tty=False, show_turn_events=True), message)
    assert quiet.getvalue() == ""
    assert loud.getvalue() == "[eager end of turn] Book a table.\n[turn resumed 00:04.50]\n"


def test_clock_format() -> None:
    assert format_clock(0) == "00:00.00"
    assert format_clock(59.999) == "01:00.00"
    assert format_clock(3725.5) == "1:02:05.50"


def test_final_without_segments_has_no_timestamps() -> None:
    final = parse_final({"is_final": True, "transcript": " hi "})
    assert final.text == "hi" and final.start_s is None
    assert format_final(final, timestamps=True) == "hi"


def test_parse_final_offsets_times_and_skips_broken_segments() -> None:
    message = final_message("a b", 0.5, 1.0) | {"language_code": "de"}
    message["segments"].append({"text": "broken"})
    final = parse_final(message, offset_s=10.0, session_index=2)
    assert final.segments == (Segment("a b", 10.5, 11.0),)
    assert (final.language_code, final.session_index) == ("de", 2)


FINALS = [
    Final(0, "Hello there.", "en", (Segment("Hello there.", 0.0, 1.5),)),
    Final(1, "", "en", ()),
    Final(2, "Two parts. Of text.", "en", (Segment("Two parts.", 2.0, 3.25), Segment("Of text.", 3.25, 3661.001))),
]


def test_srt() -> None:
    assert srt_timestamp(3661.001) == "01:01:01,001"
    assert srt_text(FINALS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n"
        "\n2\n00:00:02,000 --> 00:00:03,250\nTwo parts.\n"
        "\n3\n00:00:03,250 --> 01:01:01,001\nOf text.\n"
    )


def test_srt_leaves_out_untimed_finals_with_a_warning(caplog) -> None:
    assert srt_text([Final(0, "no times", None, ())]) == ""
    assert "without segment times" in caplog.text


def test_txt_and_files(tmp_path: Path) -> None:
    assert txt_text(FINALS) == "Hello there.\nTwo parts. Of text.\n"
    write_txt(tmp_path / "out.txt", FINALS)
    write_srt(tmp_path / "out.srt", FINALS)
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == txt_text(FINALS)
    assert (tmp_path / "out.srt").read_text(encoding="utf-8") == srt_text(FINALS)


def test_jsonl_writes_each_message_as_it_comes(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    writer = JsonlWriter(path)
    writer.write(partial("héllo"))
    assert path.read_text(encoding="utf-8").count("\n") == 1  # flushed at once
    writer.write({"type": "session_end"})
    writer.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [partial("héllo"), {"type": "session_end"}]
    assert "héllo" in lines[0]


@pytest.mark.parametrize("tty", [True, False])
def test_close_without_a_partial_writes_nothing(tty: bool) -> None:
    out = io.StringIO()
    Display(out, tty=tty).close()
    assert out.getvalue() == ""


def labelled(text: str, start_s: float, end_s: float, speaker: str, num: int = 0) -> dict:
    message = final_message(text, start_s, end_s, num)
    message["segments"][0] |= {"speaker": speaker, "speaker_confidence": 0.9}
    return message


def test_speakers_show_on_the_final_lines_the_txt_and_the_srt_when_the_server_labels_them() -> None:
    finals = [parse_final(labelled("Hello.", 0.0, 1.0, "0")), parse_final(labelled("Hi.", 1.5, 2.0, "1", num=1))]
    finals.append(parse_final(final_message("Unlabelled.", 2.5, 3.0, num=2)))
    assert [f.speaker for f in finals] == ["0", "1", None]
    assert txt_text(finals) == "S0: Hello.\nS1: Hi.\nUnlabelled.\n"
    srt = srt_text(finals)
    assert "00:00:00,000 --> 00:00:01,000\nS0: Hello.\n" in srt and "\nS1: Hi.\n" in srt and "\nUnlabelled.\n" in srt
    assert format_final(finals[1], timestamps=True) == "[00:01.50 → 00:02.00] S1: Hi."
    out = io.StringIO()
    display = Display(out, tty=True, columns=lambda: 80)
    show(display, partial("hel"))
    show(display, labelled("Hello.", 0.0, 1.0, "0"))
    assert out.getvalue() == f"{CLEAR_LINE}hel{CLEAR_LINE}S0: Hello.\n"
    assert speaker_text("x", None) == "x"


def test_the_jsonl_keeps_the_speaker_fields_as_sent(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "out.jsonl")
    writer.write(labelled("Hello.", 0.0, 1.0, "0"))
    writer.close()
    [line] = (tmp_path / "out.jsonl").read_text().splitlines()
    assert json.loads(line)["segments"][0]["speaker"] == "0"
