"""Tests for whisper_stream.server.settings: replica settings from the environment and model_metadata."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, fields, replace
from typing import Any

import pytest

from whisper_stream.server.limits import Limits
from whisper_stream.server.settings import Settings


@dataclass(frozen=True)
class Variable:
    """One environment variable ``Settings.from_env`` reads, as its code reads it."""

    name: str
    field: str
    """Where it lands: a ``Settings`` field, or ``limits.<field>``."""
    reader: str
    """``get`` (text), ``number``, ``flag``, ``choice`` (one of ``allowed``) or ``words`` (a comma list)."""
    kind: type
    """What ``number`` parses it as (``int`` unless the call says ``float``)."""
    allowed: tuple[str, ...] = ()


def variables() -> dict[str, Variable]:
    """Every variable of ``from_env``, from its source: ``field=get("NAME")``, ``field=number("NAME", d, float)``..."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(Settings.from_env)))
    found: dict[str, Variable] = {}

    def visit(call: ast.Call, prefix: str) -> None:
        for keyword in call.keywords:
            value = keyword.value
            if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Name):
                continue
            if value.func.id == "Limits":
                visit(value, "limits.")
            elif value.func.id in ("get", "number", "flag", "choice", "words") and isinstance(
                value.args[0], ast.Constant
            ):
                name = value.args[0].value
                kind_node = value.args[2] if len(value.args) > 2 else None
                kind = float if isinstance(kind_node, ast.Name) and kind_node.id == "float" else int
                allowed = ast.literal_eval(kind_node) if value.func.id == "choice" and kind_node else ()
                found[name] = Variable(name, prefix + str(keyword.arg), value.func.id, kind, tuple(allowed))

    [settings_call] = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "cls"]
    visit(settings_call, "")
    return found


VARIABLES = variables()
INT_VARIABLES = tuple(v.name for v in VARIABLES.values() if v.reader == "number" and v.kind is int)
FLOAT_VARIABLES = tuple(v.name for v in VARIABLES.values() if v.reader == "number" and v.kind is float)


def field_of(settings: Settings, field: str) -> Any:
    owner, _, name = field.rpartition(".")
    return getattr(settings.limits if owner else settings, name)


def with_field(settings: Settings, field: str, value: Any) -> Settings:
    owner, _, name = field.rpartition(".")
    if owner:
        return replace(settings, limits=replace(settings.limits, **{name: value}))
    return replace(settings, **{name: value})


def other_value(variable: Variable, default: Any) -> tuple[str, Any]:
    """A valid setting of ``variable`` other than its default: what to set, what the field becomes."""
    if variable.reader == "flag":
        return ("0", False) if default else ("1", True)
    if variable.reader == "number":
        value = variable.kind(default) + 3 if variable.kind is int else (default / 2 if default else 2.5)
        return str(value), value
    if variable.reader == "words":
        return "a, b", ("a", "b")
    if variable.reader == "choice":
        other = next(value for value in variable.allowed if value != default)
        return other, other
    return "some-value", "some-value"


def test_the_variables_are_found_in_the_code() -> None:
    """The AST walk sees every kind of reader (else the tests below would silently check less)."""
    assert {v.reader for v in VARIABLES.values()} == {"get", "number", "flag", "choice", "words"}
    assert INT_VARIABLES and FLOAT_VARIABLES
    # every replica setting comes from a variable (the per-session limits only partly: see Limits)
    assert {v.field for v in VARIABLES.values() if "." not in v.field} == {f.name for f in fields(Settings)} - {
        "limits"
    }


def test_defaults_are_the_dataclasses_defaults() -> None:
    assert Settings.from_env({}, {}) == Settings()
    assert Settings().limits == Limits()


@pytest.mark.parametrize("variable", VARIABLES.values(), ids=lambda v: v.name)
def test_a_variable_set_to_its_default_changes_nothing(variable: Variable) -> None:
    """Each default is a value its own variable accepts and reads back the same (no unit or type mismatch)."""
    default = field_of(Settings(), variable.field)
    if isinstance(default, bool):
        raw = str(default).lower()
    elif isinstance(default, tuple):
        raw = ", ".join(default)
    else:
        raw = str(default)
    assert Settings.from_env({variable.name: raw}, {}) == Settings()


@pytest.mark.parametrize("variable", VARIABLES.values(), ids=lambda v: v.name)
def test_each_variable_sets_its_own_field_and_no_other(variable: Variable) -> None:
    raw, value = other_value(variable, field_of(Settings(), variable.field))
    settings = Settings.from_env({variable.name: raw}, {})
    assert settings == with_field(Settings(), variable.field, value)
    assert type(field_of(settings, variable.field)) is type(value)
    # the same from model_metadata, under the lower-case name
    assert Settings.from_env({}, {variable.name.lower(): raw}) == settings


def test_none_metadata_is_empty() -> None:
    assert Settings.from_env({}, None) == Settings()


def test_every_variable_from_env() -> None:
    settings = Settings.from_env(
        {
            "WHISPER_MODEL": "large-v3",
            "WHISPER_REVISION": "abc123",
            "WHISPER_DEVICE": "cuda",
            "WHISPER_COMPUTE_TYPE": "int8_float16",
            "WHISPER_BEAM_SIZE": "3",
            "WHISPER_CPU_THREADS": "4",
            "DECODE_WORKERS": "2",
            "MAX_SESSIONS": "32",
            "MAX_FRAME_BYTES": "65536",
            "MAX_SESSION_S": "600.5",
            "IDLE_TIMEOUT_S": "15",
            "FINAL_CONTEXT_S": "0",
        }
    )
    assert settings == Settings(
        whisper_model="large-v3",
        whisper_revision="abc123",
        device="cuda",
        compute_type="int8_float16",
        beam_size=3,
        cpu_threads=4,
        decode_workers=2,
        max_sessions=32,
        limits=Limits(max_frame_bytes=65536, max_session_duration_s=600.5, idle_timeout_s=15.0, final_context_s=0.0),
    )
    assert type(settings.limits.idle_timeout_s) is float
    assert type(settings.max_sessions) is int


def test_limits_not_in_env_keep_their_defaults() -> None:
    limits = Settings.from_env({"IDLE_TIMEOUT_S": "5"}).limits
    defaults = Limits()
    assert limits.idle_timeout_s == 5.0
    assert limits.config_timeout_s == defaults.config_timeout_s
    assert limits.max_pending_audio_s == defaults.max_pending_audio_s
    assert limits.send_timeout_s == defaults.send_timeout_s
    assert limits.finish_timeout_s == defaults.finish_timeout_s


def test_metadata_with_lower_case_names() -> None:
    settings = Settings.from_env(
        {},
        {
            "whisper_model": "Systran/faster-whisper-large-v3",
            "whisper_revision": "edaa852",
            "max_sessions": 48,  # YAML gives numbers, not strings
            "idle_timeout_s": 30.5,
            "decode_workers": 2,
        },
    )
    assert settings.whisper_model == "Systran/faster-whisper-large-v3"
    assert settings.whisper_revision == "edaa852"
    assert settings.max_sessions == 48
    assert settings.limits.idle_timeout_s == 30.5
    assert settings.decode_workers == 2


def test_env_beats_metadata() -> None:
    settings = Settings.from_env(
        {"WHISPER_MODEL": "tiny.en", "MAX_SESSIONS": "4", "IDLE_TIMEOUT_S": "9"},
        {"whisper_model": "large-v3", "max_sessions": 64, "idle_timeout_s": 120, "whisper_device": "cuda"},
    )
    assert settings.whisper_model == "tiny.en"
    assert settings.max_sessions == 4
    assert settings.limits.idle_timeout_s == 9.0
    # What the environment does not set still comes from metadata.
    assert settings.device == "cuda"


def test_empty_env_value_falls_back_to_metadata() -> None:
    settings = Settings.from_env({"WHISPER_MODEL": "", "MAX_SESSIONS": ""}, {"whisper_model": "large-v3"})
    assert settings.whisper_model == "large-v3"
    assert settings.max_sessions == 0


def test_unrelated_metadata_ignored() -> None:
    settings = Settings.from_env({}, {"example_model_input": {"a": 1}, "avatar_url": "x"})
    assert settings == Settings()


def test_reads_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WHISPER_DEVICE", "cpu")
    monkeypatch.setenv("MAX_FRAME_BYTES", "1024")
    settings = Settings.from_env()
    assert settings.device == "cpu"
    assert settings.limits.max_frame_bytes == 1024


def test_explicit_environ_ignores_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISPER_DEVICE", "cuda")
    assert Settings.from_env({}).device == "auto"


@pytest.mark.parametrize("name", INT_VARIABLES + FLOAT_VARIABLES)
@pytest.mark.parametrize("raw", ["lots", "1e", "ten", "1,000"])
def test_bad_number_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings.from_env({name: raw})
    assert str(info.value) == f"{name} must be a number, got {raw!r}"


@pytest.mark.parametrize("name", INT_VARIABLES)
@pytest.mark.parametrize("raw", ["1.5", "2.0", "1e3"])
def test_non_integer_rejected_for_int_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: raw})


def test_bad_number_from_metadata_names_the_variable() -> None:
    with pytest.raises(ValueError, match="^MAX_SESSIONS must be a number, got 'many'$"):
        Settings.from_env({}, {"max_sessions": "many"})


@pytest.mark.parametrize("name", FLOAT_VARIABLES)
def test_float_variables_accept_fractions(name: str) -> None:
    fraction = 0.25 if name == "DIARIZATION_THRESHOLD" else 2.5  # a cosine similarity is at most 0.99 here
    assert field_of(Settings.from_env({name: str(fraction)}), VARIABLES[name].field) == fraction


def test_diarization_settings_are_range_checked() -> None:
    settings = Settings.from_env(
        {"DIARIZATION_MODEL": "bundled", "DIARIZATION_THRESHOLD": "0.6", "DIARIZATION_MAX_SPEAKERS": "4"}
    )
    assert (settings.diarization_model, settings.diarization_threshold, settings.diarization_max_speakers) == (
        "bundled",
        0.6,
        4,
    )
    for name, raw in (
        ("DIARIZATION_THRESHOLD", "1"),
        ("DIARIZATION_MAX_SPEAKERS", "0"),
        ("DIARIZATION_MAX_SPEAKERS", "33"),
    ):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: raw})


def test_whitespace_around_numbers_accepted() -> None:
    assert Settings.from_env({"MAX_SESSIONS": " 12 "}).max_sessions == 12


@pytest.mark.parametrize(
    ("name", "raw"),
    [("DECODE_WORKERS", "0"), ("DECODE_WORKERS", "-1"), ("MAX_SESSIONS", "-5"), ("IDLE_TIMEOUT_S", "nan")],
)
def test_impossible_values_rejected(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", False), ("false", False), ("Off", False), ("no", False), ("1", True), ("TRUE", True), (" on ", True)],
)
def test_warm_up_flag(raw: str, expected: bool) -> None:
    assert Settings.from_env({"WHISPER_WARM_UP": raw}, {}).warm_up is expected


def test_warm_up_on_by_default_and_from_metadata() -> None:
    assert Settings.from_env({}, {}).warm_up is True
    assert Settings.from_env({}, {"whisper_warm_up": False}).warm_up is False


def test_bad_warm_up_flag_names_the_variable() -> None:
    with pytest.raises(ValueError, match="WHISPER_WARM_UP must be one of"):
        Settings.from_env({"WHISPER_WARM_UP": "sometimes"}, {})


def test_the_context_form_is_forced_prompted_or_tail() -> None:
    assert Settings.from_env(environ={}).context_form == "prompted"
    assert Settings.from_env(environ={"FINAL_CONTEXT_FORM": "Forced"}).context_form == "forced"
    assert Settings.from_env(environ={"FINAL_CONTEXT_FORM": "tail"}).context_form == "tail"
    with pytest.raises(ValueError, match="FINAL_CONTEXT_FORM must be one of forced, prompted, tail"):
        Settings.from_env(environ={"FINAL_CONTEXT_FORM": "both"})


@pytest.mark.parametrize(
    ("name", "raw", "limit"),
    [
        ("FINAL_CONTEXT_S", "29.5", "29"),
        ("FINAL_CONTEXT_S", "600", "29"),
        ("MAX_FRAME_BYTES", "104857601", "104857600"),
    ],
)
def test_values_over_their_maximum_rejected(name: str, raw: str, limit: str) -> None:
    """Context beyond Whisper's window could never be decoded; a frame over truss's 100 MiB never arrives."""
    with pytest.raises(ValueError, match=f"^{name} must be at most {limit}, got '{raw}'$"):
        Settings.from_env({name: raw})


def test_final_context_s_up_to_the_window_accepted() -> None:
    assert Settings.from_env({"FINAL_CONTEXT_S": "29"}).limits.final_context_s == 29.0
    assert Settings.from_env({}, {"final_context_s": 0}).limits.final_context_s == 0.0
