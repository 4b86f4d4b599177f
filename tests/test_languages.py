"""Tests for whisper_stream.protocol.languages: BCP-47 tags and Whisper codes to Whisper codes."""

from __future__ import annotations

import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES

from whisper_stream.protocol.languages import WHISPER_LANGUAGES, whisper_language


def test_the_table_is_faster_whispers() -> None:
    assert frozenset(_LANGUAGE_CODES) == WHISPER_LANGUAGES
    assert {"en", "pt", "zh", "haw", "yue", "jw"} <= WHISPER_LANGUAGES


@pytest.mark.parametrize("code", sorted(_LANGUAGE_CODES))
def test_every_whisper_code_is_itself(code: str) -> None:
    assert whisper_language(code) == code
    assert whisper_language(code.upper()) == code


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-US", "en"),
        ("en_us", "en"),
        ("EN-GB", "en"),
        ("pt-BR", "pt"),
        ("pt_BR", "pt"),
        ("zh-Hant", "zh"),
        ("zh-Hant-TW", "zh"),
        ("zh-Hans-CN", "zh"),
        ("es-419", "es"),
        ("sr-Latn-RS", "sr"),
        ("yue-HK", "yue"),
        ("haw-US", "haw"),
        ("de-CH-1996", "de"),
    ],
)
def test_bcp47_tag_reduced_to_primary_language(tag: str, code: str) -> None:
    assert whisper_language(tag) == code


@pytest.mark.parametrize(
    ("tag", "code"), [("jv", "jw"), ("jv-ID", "jw"), ("nb-NO", "no"), ("fil-PH", "tl"), ("iw", "he"), ("in", "id")]
)
def test_iso_spellings_whisper_writes_differently(tag: str, code: str) -> None:
    assert whisper_language(tag) == code


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "e",
        "english",
        "auto",
        "xx",
        "zz-ZZ",
        "eng",
        "en-",
        "-en",
        "en--US",
        "en US",
        " en",
        "en\n",
        "en-abcdefghi",
        "12",
    ],
)
def test_not_a_whisper_language(tag: str) -> None:
    assert whisper_language(tag) is None
