"""Parsing a session config the way the server does (the JSON text of its first message), for the config tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from whisper_stream.protocol.config import SessionConfig, parse_session_config
from whisper_stream.protocol.errors import ConfigError


def parse(document: Any) -> SessionConfig:
    return parse_session_config(json.dumps(document))


def config_error(document: Any) -> ConfigError:
    """The error ``document`` is refused with (the test fails if it is accepted)."""
    with pytest.raises(ConfigError) as info:
        parse(document)
    return info.value
