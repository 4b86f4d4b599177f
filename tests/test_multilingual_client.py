"""The CLI client's outputs with non-Latin scripts: live line, SRT, TXT and JSONL keep Chinese and Japanese intact."""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

from client.display import CLEAR_LINE, Display
from client.messages import parse_final
from client.writers import JsonlWriter, srt_text, txt_text, write_srt, write_txt

CHINESE = "甚至出现交易几乎停滞的情况"
JAPANESE = "客観的実在の判断的知識が成立するのである。"


def final_message(text: str, start_s: float, end_s: float, num: int, language: str) -> dict:
    return {
        "type": "transcription",
        "is_final": True,
        "transcript": text,
        "transcription_num": num,
        "language_code": language,
        "segments": [{"text": text, "start_time": start_s, "end_time": end_s}],
    }


MESSAGES = [
    final_message(CHINESE, 0.5, 4.2, 0, "zh"),
    final_message(JAPANESE, 5.0, 10.25, 1, "ja"),
    final_message("Uma raposa velha não consegue aprender nenhum ofício.", 11.0, 15.0, 2, "pt"),
]


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide and fullwidth characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_srt_and_txt_keep_chinese_and_japanese(tmp_path: Path) -> None:
    finals = [parse_final(m) for m in MESSAGES]
    assert [f.language_code for f in finals] == ["zh", "ja", "pt"]
    srt, txt = tmp_path / "out.srt", tmp_path / "out.txt"
    write_srt(srt, finals)
    write_txt(txt, finals)
    assert srt.read_bytes().decode("utf-8") == srt_text(finals)
    assert srt_text(finals).split("\n\n")[:2] == [
        f"1\n00:00:00,500 --> 00:00:04,200\n{CHINESE}",
        f"2\n00:00:05,000 --> 00:00:10,250\n{JAPANESE}",
    ]
    expected_txt = f"{CHINESE}\n{JAPANESE}\n{MESSAGES[2]['transcript']}\n"
    assert txt.read_text(encoding="utf-8") == txt_text(finals) == expected_txt


def test_jsonl_keeps_the_characters_readable(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(path)
    writer.write(MESSAGES[0])
    writer.close()
    line = path.read_text(encoding="utf-8")
    assert CHINESE in line and json.loads(line)["transcript"] == CHINESE


def test_finals_show_in_full_on_a_terminal_and_a_pipe() -> None:
    for tty in (True, False):
        out = io.StringIO()
        display = Display(out, tty=tty, timestamps=True, columns=lambda: 20)
        display.handle(MESSAGES[1], parse_final(MESSAGES[1]))
        assert out.getvalue().endswith(f"[00:05.00 → 00:10.25] {JAPANESE}\n")  # finals are not cut


def test_live_line_shows_a_short_chinese_partial_whole() -> None:
    out = io.StringIO()
    Display(out, tty=True, columns=lambda: 80).partial(CHINESE)
    assert out.getvalue() == CLEAR_LINE + CHINESE


def test_live_line_fits_a_long_japanese_partial_in_the_terminal_width() -> None:
    out = io.StringIO()
    Display(out, tty=True, columns=lambda: 21).partial(JAPANESE)  # 21 characters, 41 columns
    shown = out.getvalue().removeprefix(CLEAR_LINE)
    assert display_width(shown) <= 20  # columns - 1: a wrapped line could not be rewritten
    assert JAPANESE.endswith(shown.removeprefix("…"))  # the end of the line, the newest words
