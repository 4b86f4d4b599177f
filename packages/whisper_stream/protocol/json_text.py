"""A client's JSON text, parsed so that every way it can be wrong is a ``ClientError``.

``json.loads`` alone lets three kinds of client text through as something other than a
``ValueError`` with a position, which the config and the control messages would not catch:

- nesting deeper than the interpreter's recursion limit (``[[[[…`` fits in a 4 KiB control
  message) raises ``RecursionError``;
- an integer of more than 4300 digits raises a bare ``ValueError`` (CPython's
  ``int_max_str_digits``), without ``msg`` or ``pos``;
- a ``"\\ud800"`` escape decodes to a lone surrogate: a ``str`` that cannot be encoded as
  UTF-8, so the Whisper tokenizer raises ``TypeError`` on it at every decode (failing the
  batch it is in) and a log handler writing it fails too.

``load_json`` turns each into ``InvalidDataError`` (close 1007) naming the limit or the place,
and bounds nesting at ``MAX_DEPTH`` levels, far more than any message of the protocol has. Text
that is not JSON at all is ``NotJsonError``, so that a caller can say more about it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from whisper_stream.protocol.errors import InvalidDataError, NotJsonError

MAX_DEPTH = 32
"""Levels of nested arrays and objects a client message may have (the config has 3)."""
MAX_NUMBER_DIGITS = 100
"""Digits of an integer in a client message (a 64-bit integer has 20)."""


def utf8_length_over(text: str, limit_bytes: int) -> bool:
    """Whether ``text`` is longer than ``limit_bytes`` as UTF-8, without encoding a text that is obviously so."""
    if len(text) > limit_bytes:  # every character takes at least one byte
        return True
    return len(text.encode("utf-8", "surrogatepass")) > limit_bytes


def load_json(text: str, what: str, *, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """Parse ``text`` (``what`` names it in errors: "config"). Exceptions of ``object_pairs_hook`` pass through."""

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
            raise InvalidDataError(f"{what}: a number of more than {MAX_NUMBER_DIGITS} digits")
        return int(digits)

    try:
        document = json.loads(text, object_pairs_hook=object_pairs_hook, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise NotJsonError(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise InvalidDataError(f"{what}: nested deeper than {MAX_DEPTH} levels") from None
    _check_document(document, what)
    return document


def _check_document(document: Any, what: str) -> None:
    """Depth and text of every value and key, iteratively (a recursive walk could overflow the stack itself)."""
    pending: list[tuple[Any, str, int]] = [(document, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value, path or what)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise InvalidDataError(f"{what}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{path}.{_printable(key)}" if path else _printable(key))
                pending.append((item, f"{path}.{key}" if path else key, depth + 1))
        else:
            pending.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        surrogate = text[exc.start]
        raise InvalidDataError(
            f"{_printable(path)}: holds a lone surrogate ({ascii(surrogate)} at character {exc.start}), "
            "which is not Unicode text"
        ) from None


def _printable(text: str) -> str:
    """``text`` safe to log and to send: lone surrogates escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
