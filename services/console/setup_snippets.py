"""The ready-to-paste setup the console shows once with a new API key; no IO.

`snippets(base_url, secret, models)` gives, in a fixed order, one `Snippet`
per client the key can drive: Claude Code, Codex CLI, Gemini CLI, the OpenAI,
Anthropic and Google Gen AI Python SDKs, and curl. Each is a few `Block`s
(a shell block, a config file, a Python program) whose text is pasted as it
stands. Rules this module keeps:

- Every value (the gateway's URL, the secret, a model name) is written in the
  quoting of the text it sits in: `shlex.quote` in shell, a TOML basic string
  in TOML, JSON in JSON, a double-quoted Python literal in Python. A quote, a
  backslash, `$`, a newline or a control character in any of them can never
  end a string early or run a command.
- Each client gets a model of its own wire family (`openai`, `anthropic`,
  `gemini`: the gateway's `Family` values): an OpenAI client reaches only
  OpenAI-kind channels. A client with no such model the key may use is left
  out. Embedding models are never offered to a chat client.
- What each tool reads is what its current documentation names:
  Claude Code: `ANTHROPIC_BASE_URL` (it appends `/v1/messages`),
  `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`), `ANTHROPIC_MODEL`
  and the `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU}_MODEL` aliases (haiku is its
  background model).
  Codex CLI: a `[model_providers.<id>]` table in `~/.codex/config.toml` with
  `base_url` ending in `/v1` (it appends `/responses`), `env_key` naming the
  variable holding the key, `wire_api = "responses"` (the only value current
  Codex accepts), selected by `model_provider`, with `model`.
  Gemini CLI: `GOOGLE_GEMINI_BASE_URL` (the bare origin; it adds
  `/v1beta/models/...`), `GEMINI_API_KEY`, `GEMINI_MODEL`, and
  `security.auth.selectedType = "gemini-api-key"` in `~/.gemini/settings.json`
  (without it the CLI stops with "Invalid auth method selected").
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

OPENAI = "openai"
ANTHROPIC = "anthropic"
GEMINI = "gemini"
KEY_VARIABLE = "TOLLGATE_API_KEY"  # what Codex's env_key names
PROVIDER_ID = "tollgate"  # the Codex model provider's id
PROMPT = "Say hi"


@dataclass(frozen=True)
class Block:
    label: str  # "Shell", "~/.codex/config.toml", "~/.gemini/settings.json", "Python"
    language: str  # "shell", "toml", "json", "python"
    text: str


@dataclass(frozen=True)
class Snippet:
    id: str
    title: str
    blocks: tuple[Block, ...]


def snippets(base_url: str, secret: str, models: Sequence[tuple[str, str]]) -> list[Snippet]:
    """The setup of each client that has a model of its family among `models`.

    `models` are (model name, family) pairs the key may use, in the order to
    prefer them; `base_url` is the gateway's public origin (no `/v1`).
    """
    base = base_url.rstrip("/")
    chat = [(name, family) for name, family in models if "embed" not in name.lower()]
    by_family: dict[str, list[str]] = {}
    for name, family in chat:
        names = by_family.setdefault(family, [])
        if name not in names:
            names.append(name)
    openai = by_family.get(OPENAI, [])
    anthropic = by_family.get(ANTHROPIC, [])
    gemini = by_family.get(GEMINI, [])
    out: list[Snippet] = []
    if anthropic:
        out.append(_claude_code(base, secret, anthropic))
    if openai:
        out.append(_codex(base, secret, openai[0]))
    if gemini:
        out.append(_gemini_cli(base, secret, gemini[0]))
    if openai:
        out.append(_openai_python(base, secret, openai[0]))
    if anthropic:
        out.append(_anthropic_python(base, secret, _main_model(anthropic)))
    if gemini:
        out.append(_genai_python(base, secret, gemini[0]))
    if openai:
        out.append(_curl(base, secret, openai[0]))
    return out


def _main_model(names: list[str]) -> str:
    """The first model that is not a small one (haiku), else the first."""
    return next((n for n in names if "haiku" not in n.lower()), names[0])


def _small_model(names: list[str]) -> str:
    """The first haiku model, else the main one: Claude Code's background model."""
    return next((n for n in names if "haiku" in n.lower()), _main_model(names))


def _exports(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in pairs]


def _toml_string(value: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped."""
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _py(value: str) -> str:
    """A double-quoted Python string literal: quote, backslash and every character
    that is not printable escaped (as `repr` escapes them)."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif not char.isprintable():
            out.append(repr(char)[1:-1])
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _claude_code(base: str, secret: str, names: list[str]) -> Snippet:
    main, small = _main_model(names), _small_model(names)
    shell = _exports(
        [
            ("ANTHROPIC_BASE_URL", base),
            ("ANTHROPIC_AUTH_TOKEN", secret),
            ("ANTHROPIC_MODEL", main),
            ("ANTHROPIC_DEFAULT_OPUS_MODEL", main),
            ("ANTHROPIC_DEFAULT_SONNET_MODEL", main),
            ("ANTHROPIC_DEFAULT_HAIKU_MODEL", small),
        ]
    )
    shell.append("claude")
    return Snippet("claude-code", "Claude Code", (Block("Shell", "shell", "\n".join(shell)),))


def _codex(base: str, secret: str, model: str) -> Snippet:
    config = "\n".join(
        [
            f"model = {_toml_string(model)}",
            f"model_provider = {_toml_string(PROVIDER_ID)}",
            "",
            f"[model_providers.{PROVIDER_ID}]",
            'name = "Tollgate"',
            f"base_url = {_toml_string(base + '/v1')}",
            f"env_key = {_toml_string(KEY_VARIABLE)}",
            'wire_api = "responses"',
        ]
    )
    shell = [*_exports([(KEY_VARIABLE, secret)]), "codex"]
    return Snippet(
        "codex",
        "Codex CLI",
        (
            Block("~/.codex/config.toml", "toml", config),
            Block("Shell", "shell", "\n".join(shell)),
        ),
    )


def _gemini_cli(base: str, secret: str, model: str) -> Snippet:
    settings = json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}, indent=2)
    shell = _exports(
        [
            ("GOOGLE_GEMINI_BASE_URL", base),
            ("GEMINI_API_KEY", secret),
            ("GEMINI_MODEL", model),
        ]
    )
    shell.append("gemini")
    return Snippet(
        "gemini-cli",
        "Gemini CLI",
        (
            Block("~/.gemini/settings.json", "json", settings),
            Block("Shell", "shell", "\n".join(shell)),
        ),
    )


def _openai_python(base: str, secret: str, model: str) -> Snippet:
    code = f"""from openai import OpenAI

client = OpenAI(
    base_url={_py(base + "/v1")},
    api_key={_py(secret)},
)
response = client.chat.completions.create(
    model={_py(model)},
    messages=[{{"role": "user", "content": {_py(PROMPT)}}}],
)
print(response.choices[0].message.content)
"""
    return Snippet("openai-python", "OpenAI Python SDK", (Block("Python", "python", code),))


def _anthropic_python(base: str, secret: str, model: str) -> Snippet:
    code = f"""import anthropic

client = anthropic.Anthropic(
    base_url={_py(base)},
    api_key={_py(secret)},
)
message = client.messages.create(
    model={_py(model)},
    max_tokens=1024,
    messages=[{{"role": "user", "content": {_py(PROMPT)}}}],
)
print(message.content[0].text)
"""
    return Snippet("anthropic-python", "Anthropic Python SDK", (Block("Python", "python", code),))


def _genai_python(base: str, secret: str, model: str) -> Snippet:
    code = f"""from google import genai
from google.genai import types

client = genai.Client(
    api_key={_py(secret)},
    http_options=types.HttpOptions(base_url={_py(base)}),
)
response = client.models.generate_content(
    model={_py(model)},
    contents={_py(PROMPT)},
)
print(response.text)
"""
    return Snippet(
        "google-genai-python", "Google Gen AI Python SDK", (Block("Python", "python", code),)
    )


def _curl(base: str, secret: str, model: str) -> Snippet:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    lines = [
        f"curl -s {shlex.quote(base + '/v1/chat/completions')} \\",
        f"  -H {shlex.quote('authorization: Bearer ' + secret)} \\",
        "  -H 'content-type: application/json' \\",
        f"  -d {shlex.quote(body)}",
    ]
    return Snippet("curl", "curl", (Block("Shell", "shell", "\n".join(lines)),))
