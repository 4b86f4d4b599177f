"""Tests for whisper_stream.protocol.json_text: a client's JSON text, every failure a ``ClientError``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whisper_stream.protocol.errors import CloseCode, InvalidDataError, NotJsonError
from whisper_stream.protocol.json_text import MAX_DEPTH, MAX_NUMBER_DIGITS, load_json, utf8_length_over


def test_plain_json_parses() -> None:
    assert load_json('{"a": [1, 2.5, "x", null, true]}', "config") == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("text", ["{", "", "hello", '{"a": 1,}'])
def test_text_that_is_not_json(text: str) -> None:
    with pytest.raises(NotJsonError, match="config is not valid JSON: .* at position"):
        load_json(text, "config")


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_nesting_past_the_recursion_limit_is_invalid_data_not_recursion_error(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    text = opening * 5000 + ("1" if opening != "[" else "") + closing * 5000
    with pytest.raises(InvalidDataError, match=f"control message: nested deeper than {MAX_DEPTH} levels") as info:
        load_json(text, "control message")
    assert info.value.close_code == CloseCode.INVALID_DATA


def test_nesting_at_the_limit_is_taken_one_more_is_not() -> None:
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "config") is not None
    with pytest.raises(InvalidDataError, match="nested deeper"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "config")


def test_a_huge_integer_is_invalid_data_not_a_bare_value_error() -> None:
    """CPython raises a ValueError without msg/pos past 4300 digits; config.py read ``exc.msg``: 1011."""
    with pytest.raises(InvalidDataError, match=f"more than {MAX_NUMBER_DIGITS} digits"):
        load_json('{"threshold": ' + "9" * 5000 + "}", "config")
    assert load_json("-" + "9" * MAX_NUMBER_DIGITS, "config") == -int("9" * MAX_NUMBER_DIGITS)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"whisper_params": {"prompt": "\\ud800"}}', "whisper_params.prompt"),
        ('{"whisper_params": {"prompt": "ok \\udfff"}}', "whisper_params.prompt"),
        ('{"a": ["x", "\\ud83d"]}', "a[1]"),
        ('{"\\ud800": 1}', "\\ud800"),
        ('"\\ud800"', "config"),
    ],
)
def test_a_lone_surrogate_anywhere_is_invalid_data_naming_where(text: str, where: str) -> None:
    with pytest.raises(InvalidDataError, match="lone surrogate") as info:
        load_json(text, "config")
    assert str(info.value).startswith(where + ":")
    str(info.value).encode("utf-8")  # the message itself can be logged and sent


def test_a_surrogate_pair_is_one_character_and_fine() -> None:
    assert load_json('"\\ud83d\\ude00"', "config") == "\N{GRINNING FACE}"


def test_the_hook_sees_pairs_and_its_errors_pass_through() -> None:
    class Repeated(ValueError):
        pass

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) < len(pairs):
            raise Repeated
        return dict(pairs)

    with pytest.raises(Repeated):
        load_json('{"a": 1, "a": 2}', "config", object_pairs_hook=hook)


def test_utf8_length() -> None:
    assert not utf8_length_over("é" * 2, 4)
    assert utf8_length_over("é" * 3, 5)
    assert utf8_length_over("x" * 10_000_000, 16)  # decided without encoding
    assert not utf8_length_over("\ud800", 3)  # a lone surrogate counts, it does not raise


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_json_document_round_trips_or_is_invalid_data(value: Any) -> None:
    text = json.dumps(value)
    try:
        assert load_json(text, "config") == value
    except InvalidDataError as exc:
        assert "lone surrogate" in str(exc) or "nested deeper" in str(exc) or "digits" in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('[]{}":,0123456789.eE-+ tfnrulasx\\ud8'), max_size=200) | st.text())
def test_any_text_is_a_document_or_a_client_error(text: str) -> None:
    with contextlib.suppress(InvalidDataError):
        load_json(text, "control message")
