"""The documents against the code, so that they cannot drift apart.

What a document restates from the code is checked here: the close codes (``CloseCode`` and
the error codes of the exceptions that map to each), the settings read from the environment,
the per-session limits with their defaults, the links between the documents, the modules the
architecture names, the ``make`` targets the README names, the README's length, and the ``ready:``
line that deploy.md shows (the factory's format, ``EngineOptions``' fields).

Each check returns what is wrong (nothing: an empty list). The tests assert that the real
documents give nothing, and that each check finds a planted mistake, so none passes vacuously.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from whisper_stream.inference.engine import EngineOptions
from whisper_stream.protocol.errors import CloseCode, StreamingError
from whisper_stream.server import factory
from whisper_stream.server.limits import Limits
from whisper_stream.server.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
PROTOCOL = DOCS / "protocol.md"
DEPLOY = DOCS / "deploy.md"
ARCHITECTURE = DOCS / "architecture.md"
PACKAGE = REPO / "packages" / "whisper_stream"
MAX_README_LINES = 300
_UNITS = {None: 1, "s": 1, "min": 60, "h": 3600, "KiB": 1 << 10, "MiB": 1 << 20}
_QUANTITY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(MiB|KiB|min|h|s)?(?![\w])")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


# ------------------------------------------------------------------ Markdown


def _prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def section(text: str, title: str) -> str:
    """The lines under the heading ``title`` (any level), up to the next heading of its level or above."""
    lines = list(_prose_lines(text))
    for index, line in enumerate(lines):
        match = re.match(r"(#+) (.*)", line)
        if match and match[2].strip() == title:
            level = len(match[1])
            end = next((i for i in range(index + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
            return "\n".join(lines[index + 1 : end])
    return ""


def table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the first table whose first header cell is ``first_header``, as header → cell."""
    lines = list(_prose_lines(text))
    for index, line in enumerate(lines):
        cells = _cells(line)
        if cells and cells[0] == first_header and index + 1 < len(lines) and set(lines[index + 1]) <= set("|-: "):
            rows = []
            for row_line in lines[index + 2 :]:
                if not row_line.startswith("|"):
                    break
                rows.append(dict(zip(cells, _cells(row_line), strict=True)))
            return rows
    return []


def _cells(line: str) -> list[str]:
    if not line.startswith("|"):
        return []
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _missing_columns(rows: list[dict[str, str]], *columns: str) -> list[str]:
    return [column for column in columns if column not in rows[0]]


def _code_names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _quantity(cell: str) -> float | None:
    match = _QUANTITY.match(cell)
    return float(match[1]) * _UNITS[match[2]] if match else None


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of ``text``: lower case, punctuation dropped, spaces as hyphens."""
    seen: dict[str, int] = {}
    result = set()
    for line in _prose_lines(text):
        match = re.match(r"#+ (.*)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match[1].strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


# ------------------------------------------------------------------ the code's side


def close_codes_of_errors() -> dict[int, set[str]]:
    """Each close code the exceptions map to, with the error ``code``s sent before it."""
    by_close: dict[int, set[str]] = {int(code): set() for code in CloseCode}
    pending: list[type[StreamingError]] = [StreamingError]
    while pending:
        error = pending.pop()
        by_close[int(error.close_code)].add(error.code)
        pending.extend(error.__subclasses__())
    return by_close


def _from_env_tree() -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(Settings.from_env)))


def settings_read_from_env() -> set[str]:
    """Every environment variable ``Settings.from_env`` reads: the upper-case names it passes to get/number/flag."""
    return {
        node.value
        for node in ast.walk(_from_env_tree())
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_NAME.fullmatch(node.value)
    }


def limit_variables() -> dict[str, str]:
    """``Limits`` field → the environment variable ``from_env`` sets it from (``max_frame_bytes=number("…")``)."""
    mapping = {}
    for node in ast.walk(_from_env_tree()):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Limits":
            for keyword in node.keywords:
                value = keyword.value
                if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant):
                    mapping[str(keyword.arg)] = value.args[0].value
    return mapping


def ready_line_pattern() -> re.Pattern[str]:
    """The factory's ``ready: model …`` log format as a pattern, each ``%`` field matching any text."""
    tree = ast.parse(inspect.getsource(factory))
    [line] = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("ready: model ")
    ]
    parts = re.split(r"(%[.\d]*[sdf])", line)
    return re.compile("".join(".+?" if part.startswith("%") else re.escape(part) for part in parts))


# ------------------------------------------------------------------ the checks


def close_code_problems(text: str, document: str) -> list[str]:
    """The close-code table against ``CloseCode`` and the exceptions: every code, its name, its error codes."""
    rows = table(text, "close")
    if not rows:
        return [f"{document}: no table whose first column is 'close'"]
    if missing := _missing_columns(rows, "`CloseCode`", "error `code`"):
        return [f"{document}: the close-code table has no column {missing}"]
    problems = []
    documented: dict[int, dict[str, str]] = {}
    for row in rows:
        if not row["close"].isdigit():
            problems.append(f"{document}: close code {row['close']!r} is not a number")
            continue
        if int(row["close"]) in documented:
            problems.append(f"{document}: close code {row['close']} is listed twice")
        documented[int(row["close"])] = row
    expected_codes = close_codes_of_errors()
    for member in CloseCode:
        row = documented.get(int(member))
        if row is None:
            problems.append(f"{document}: close code {int(member)} ({member.name}) is missing")
            continue
        if _code_names(row["`CloseCode`"]) != {member.name}:
            problems.append(
                f"{document}: close {int(member)} is named {row['`CloseCode`']}, the code says {member.name}"
            )
        if _code_names(row["error `code`"]) != expected_codes[int(member)]:
            problems.append(
                f"{document}: close {int(member)} lists error codes {sorted(_code_names(row['error `code`']))}, "
                f"the exceptions map {sorted(expected_codes[int(member)])} to it"
            )
    for number in sorted(set(documented) - {int(member) for member in CloseCode}):
        problems.append(f"{document}: close code {number} is listed but CloseCode has no such member")
    return problems


def settings_problems(readme: str) -> list[str]:
    """The README's settings table against what ``Settings.from_env`` reads, and the limits' defaults."""
    rows = table(section(readme, "Settings and limits"), "variable")
    if not rows:
        return ["README: no settings table (first column 'variable') under 'Settings and limits'"]
    if missing := _missing_columns(rows, "default"):
        return [f"README: the settings table has no column {missing}"]
    documented = {name: row for row in rows for name in _code_names(row["variable"])}
    read = settings_read_from_env()
    problems = [
        f"README: {name} is read from the environment but not in the table" for name in sorted(read - set(documented))
    ]
    problems += [f"README: {name} is in the table but never read" for name in sorted(set(documented) - read)]
    defaults = Limits()
    for field, variable in limit_variables().items():
        if variable in documented:
            shown = _quantity(documented[variable]["default"])
            if shown != getattr(defaults, field):
                problems.append(
                    f"README: {variable} defaults to {getattr(defaults, field)!r}, the table says {shown!r}"
                )
    return problems


def limits_problems(readme: str) -> list[str]:
    """The README's limits table against ``Limits``: every field, its default, the variable that sets it."""
    rows = table(section(readme, "Settings and limits"), "limit")
    if not rows:
        return ["README: no limits table (first column 'limit') under 'Settings and limits'"]
    if missing := _missing_columns(rows, "default", "variable"):
        return [f"README: the limits table has no column {missing}"]
    documented = {name: row for row in rows for name in _code_names(row["limit"])}
    defaults = Limits()
    fields = {field.name for field in dataclasses.fields(Limits)}
    problems = [f"README: the limit {name} is missing" for name in sorted(fields - set(documented))]
    problems += [
        f"README: {name} is in the limits table but not in Limits" for name in sorted(set(documented) - fields)
    ]
    variables = limit_variables()
    for name in sorted(fields & set(documented)):
        row = documented[name]
        shown = _quantity(row["default"])
        if shown is None or abs(shown - getattr(defaults, name)) > 1e-9:
            problems.append(
                f"README: {name} defaults to {getattr(defaults, name)!r}, the table says {row['default']!r}"
            )
        expected = {variables[name]} if name in variables else set()
        if _code_names(row["variable"]) != expected:
            problems.append(
                f"README: {name} is set by {sorted(expected) or 'no variable'}, the table says {row['variable']!r}"
            )
    return problems


def link_problems(text: str, path: Path) -> list[str]:
    """Relative links in ``text`` (the file at ``path``) that point to no file, or to no heading in it."""
    problems = []
    for target in _LINK.findall("\n".join(_prose_lines(text))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: {target} points to no file")
            continue
        if anchor and linked.suffix == ".md":
            linked_text = text if linked == path else linked.read_text()
            if anchor not in anchors(linked_text):
                problems.append(f"{path.name}: {target} points to no heading of {linked.name}")
    return problems


def readme_links_every_doc_problems(readme: str) -> list[str]:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in _LINK.findall(readme)}
    return [
        f"README: docs/{doc.name} is not linked" for doc in sorted(DOCS.glob("*.md")) if doc.resolve() not in linked
    ]


def readme_length_problems(readme: str) -> list[str]:
    count = len(readme.splitlines())
    return [f"README: {count} lines, over {MAX_README_LINES}"] if count > MAX_README_LINES else []


def readme_make_target_problems(readme: str, makefile: str) -> list[str]:
    """Every `make X` the README names is a target of the Makefile; the README starts with demo and test."""
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    problems = [
        f"README: make {name} is no Makefile target"
        for name in sorted(set(re.findall(r"\bmake ([a-z][\w-]*)", readme)) - targets)
    ]
    first_block = re.search(r"```\w*\n(.*?)```", readme, re.DOTALL)
    commands = [line.split("#")[0].split() for line in first_block[1].splitlines()] if first_block else []
    if [words[:2] for words in commands if words] != [["make", "demo"], ["make", "test"]]:
        problems.append("README: does not start with the two commands, make demo and make test")
    return problems


def architecture_problems(text: str) -> list[str]:
    """Every module of the package (and its sub-packages) is named in docs/architecture.md."""
    code = _code_names("\n".join(_prose_lines(text)))
    named = {name for cell in code for name in re.findall(r"\w+\.py", cell)}
    return [
        f"docs/architecture.md: {module.relative_to(PACKAGE)} is not described"
        for module in sorted(PACKAGE.rglob("*.py"))
        if module.name not in named
    ]


def ready_line_problems(text: str) -> list[str]:
    """The ``ready:`` line shown is one the factory can log, and its ``EngineOptions`` has the dataclass's fields."""
    lines = [line for line in text.splitlines() if line.startswith("ready: model ")]
    if not lines:
        return ["no ready: line"]
    pattern, fields = ready_line_pattern(), [field.name for field in dataclasses.fields(EngineOptions)]
    problems = [f"not the factory's format: {line}" for line in lines if not pattern.fullmatch(line)]
    for line in lines:
        for arguments in re.findall(r"EngineOptions\(([^)]*)\)", line):
            shown = [argument.split("=")[0].strip() for argument in arguments.split(",")]
            if shown != fields:
                problems.append(f"EngineOptions shows {shown}, has {fields}")
    return problems


# ------------------------------------------------------------------ the documents as they are


def test_the_close_codes_of_protocol_md_are_closecode_and_the_exceptions() -> None:
    assert close_code_problems(PROTOCOL.read_text(), "docs/protocol.md") == []


def test_the_close_codes_of_the_readme_are_closecode_and_the_exceptions() -> None:
    assert close_code_problems(README.read_text(), "README") == []


def test_the_readme_settings_are_what_settings_reads_from_the_environment() -> None:
    assert settings_read_from_env() >= {"WHISPER_MODEL", "MAX_SESSIONS", "IDLE_TIMEOUT_S"}  # the parse finds them
    assert settings_problems(README.read_text()) == []


def test_the_readme_limits_are_limits_with_their_defaults() -> None:
    assert limit_variables()["idle_timeout_s"] == "IDLE_TIMEOUT_S"  # the parse finds the mapping
    assert limits_problems(README.read_text()) == []


@pytest.mark.parametrize("path", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_links_resolve(path: Path) -> None:
    assert link_problems(path.read_text(), path) == []


def test_the_readme_links_every_document_in_docs() -> None:
    assert sorted(DOCS.glob("*.md")), "docs/ holds no documents"
    assert readme_links_every_doc_problems(README.read_text()) == []


def test_the_readme_is_a_front_door() -> None:
    readme = README.read_text()
    assert readme_length_problems(readme) == []
    assert readme_make_target_problems(readme, (REPO / "Makefile").read_text()) == []


def test_the_architecture_describes_every_module() -> None:
    assert architecture_problems(ARCHITECTURE.read_text()) == []


def test_the_ready_line_of_deploy_md_is_the_factory_s() -> None:
    assert ready_line_problems(DEPLOY.read_text()) == []


# ------------------------------------------------------------------ each check finds a planted mistake


def _readme() -> str:
    return README.read_text()


def _protocol() -> str:
    return PROTOCOL.read_text()


def _makefile() -> str:
    return (REPO / "Makefile").read_text()


Check = Callable[[str], list[str]]
MISTAKES: list[tuple[str, Callable[[], str], Check, str, str]] = [
    # (what, document, check, text in the document, planted instead)
    (
        "a close code left out",
        _protocol,
        lambda t: close_code_problems(t, "p"),
        "| 1009 | `MESSAGE_TOO_BIG`",
        "| x | y",
    ),
    (
        "a close code that does not exist",
        _protocol,
        lambda t: close_code_problems(t, "p"),
        "| 1000 | `NORMAL`",
        "| 1001 | `NORMAL`",
    ),
    ("a close code misnamed", _protocol, lambda t: close_code_problems(t, "p"), "`TRY_AGAIN_LATER`", "`BUSY`"),
    (
        "an error code at the wrong close",
        _protocol,
        lambda t: close_code_problems(t, "p"),
        "| `frame_too_large` |",
        "| `invalid_data` |",
    ),
    ("an error code left out", _readme, lambda t: close_code_problems(t, "r"), "`protocol_error`, ", ""),
    (
        "no close-code table",
        _readme,
        lambda t: close_code_problems(t, "r"),
        "| close | `CloseCode`",
        "| code | `CloseCode`",
    ),
    ("a setting left out", _readme, settings_problems, "| `IDLE_TIMEOUT_S` |", "| IDLE |"),
    (
        "a setting that is not read",
        _readme,
        settings_problems,
        "| `WHISPER_REVISION` |",
        "| `WHISPER_REVISION`, `WHISPER_FOO` |",
    ),
    (
        "a setting's wrong default",
        _readme,
        settings_problems,
        "| `MAX_FRAME_BYTES` | 1 MiB |",
        "| `MAX_FRAME_BYTES` | 2 MiB |",
    ),
    (
        "no settings table",
        _readme,
        settings_problems,
        "| variable | default | meaning |",
        "| setting | default | meaning |",
    ),
    ("a limit left out", _readme, limits_problems, "| `send_timeout_s` |", "| send |"),
    (
        "a limit that does not exist",
        _readme,
        limits_problems,
        "| `send_timeout_s` |",
        "| `send_timeout_s`, `recv_timeout_s` |",
    ),
    (
        "a limit's wrong default",
        _readme,
        limits_problems,
        "| `config_timeout_s` | 10 s |",
        "| `config_timeout_s` | 15 s |",
    ),
    (
        "a limit's wrong unit",
        _readme,
        limits_problems,
        "| `max_read_ahead_bytes` | 1 MiB |",
        "| `max_read_ahead_bytes` | 1 KiB |",
    ),
    (
        "a limit's wrong variable",
        _readme,
        limits_problems,
        "| `idle_timeout_s` | 60 s | `IDLE_TIMEOUT_S` |",
        "| `idle_timeout_s` | 60 s | – |",
    ),
    (
        "a fixed limit given a variable",
        _readme,
        limits_problems,
        "| `drain_timeout_s` | 20 s | – |",
        "| `drain_timeout_s` | 20 s | `DRAIN_S` |",
    ),
    ("a link to no file", _readme, lambda t: link_problems(t, README), "](docs/protocol.md)", "](docs/protocols.md)"),
    ("a link to no heading", _readme, lambda t: link_problems(t, README), "](#settings-and-limits)", "](#settings)"),
    (
        "a link to no heading of another file",
        _readme,
        lambda t: link_problems(t, README),
        "](docs/deploy.md#the-gpu-check)",
        "](docs/deploy.md#gpu)",
    ),
    ("a document not linked", _readme, readme_links_every_doc_problems, "](docs/clients.md)", "](docs/clients.txt)"),
    (
        "a README too long",
        _readme,
        readme_length_problems,
        "## Development",
        "\n" * MAX_README_LINES + "## Development",
    ),
    (
        "a make target that does not exist",
        _readme,
        lambda t: readme_make_target_problems(t, _makefile()),
        "`make lock`",
        "`make locks`",
    ),
    (
        "a README that does not start with the two commands",
        _readme,
        lambda t: readme_make_target_problems(t, _makefile()),
        "make demo   # sets",
        "make serve   # sets",
    ),
    (
        "a module left out",
        lambda: ARCHITECTURE.read_text(),
        architecture_problems,
        "`partial_budget.py`",
        "`budget.py`",
    ),
    ("a ready line missing a field", lambda: DEPLOY.read_text(), ready_line_problems, "tokenizer checked, ", ""),
    (
        "a ready line with an engine option that is gone",
        lambda: DEPLOY.read_text(),
        ready_line_problems,
        "partial_share=0.5)",
        "partial_share=0.5, context_max_load=0.4)",
    ),
    ("no ready line", lambda: DEPLOY.read_text(), ready_line_problems, "ready: model ", "ready model "),
]


@pytest.mark.parametrize(("what", "document", "check", "old", "new"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_check_finds_a_planted_mistake(
    what: str, document: Callable[[], str], check: Check, old: str, new: str
) -> None:
    text = document()
    assert old in text, f"the text to plant {what} in is gone: {old!r}"
    assert check(text) == [], "the real document is wrong already"
    assert check(text.replace(old, new)) != [], f"{what} went unnoticed"
