"""The setup snippets parse as what they claim and carry the key's values exactly,
whatever characters those values hold (quotes, `$`, backslashes, newlines)."""

from __future__ import annotations

import ast
import json
import shlex
import shutil
import subprocess
import tomllib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.console.setup_snippets import Block, Snippet, snippets

BASE = "http://localhost:8080"
SECRET = "tg-abc123DEF456"
MODELS = [
    ("text-embedding-3-small", "openai"),
    ("gpt-4o-mini", "openai"),
    ("gpt-4o", "openai"),
    ("claude-haiku-4-5", "anthropic"),
    ("claude-sonnet-4-5", "anthropic"),
    ("gemini-2.5-flash", "gemini"),
]
ODD = 'we\'ird "model" $(touch /tmp/pwned) `x` \\ ${HOME} ;&|<> \U0001f600 \u2028 end'
ODD_MULTILINE = "line one\nline'two\"\x01\x7f"
ALL_IDS = [
    "claude-code",
    "codex",
    "gemini-cli",
    "openai-python",
    "anthropic-python",
    "google-genai-python",
    "curl",
]


def by_id(items: list[Snippet]) -> dict[str, Snippet]:
    return {s.id: s for s in items}


def block(snippet: Snippet, language: str) -> Block:
    (found,) = [b for b in snippet.blocks if b.language == language]
    return found


def shell_words(text: str) -> list[str]:
    return shlex.split(text.replace("\\\n", ""))  # the shell drops backslash-newline


def strings_in(code: str) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def run_shell(text: str, stub: str, names: list[str]) -> list[str]:
    """Run a shell block with its tool stubbed; the named variables' values."""
    printer = " ".join(f'"${name}"' for name in names)
    script = f"{stub}() {{ :; }}\n{text}\nprintf '%s\\0' {printer}"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    return done.stdout.decode().split("\0")[:-1]


def test_every_client_in_order_with_all_families() -> None:
    items = snippets(BASE, SECRET, MODELS)
    assert [s.id for s in items] == ALL_IDS
    for snippet in items:
        assert snippet.title
        assert snippet.blocks
        text = "\n".join(b.text for b in snippet.blocks)
        assert SECRET in text
        assert BASE in text


def test_a_client_without_a_model_of_its_family_is_left_out() -> None:
    only_gemini = snippets(BASE, SECRET, [("gemini-2.5-pro", "gemini")])
    assert [s.id for s in only_gemini] == ["gemini-cli", "google-genai-python"]
    only_anthropic = snippets(BASE, SECRET, [("claude-sonnet-4-5", "anthropic")])
    assert [s.id for s in only_anthropic] == ["claude-code", "anthropic-python"]
    assert snippets(BASE, SECRET, []) == []
    # An embedding model is no chat model: no OpenAI client for it alone.
    assert snippets(BASE, SECRET, [("text-embedding-3-small", "openai")]) == []


def test_claude_code_exports_the_documented_variables() -> None:
    snippet = by_id(snippets(BASE + "/", SECRET, MODELS))["claude-code"]
    shell = block(snippet, "shell")
    assert shell.label == "Shell"
    words = shell_words(shell.text)
    assert words[-1] == "claude"
    assert "ANTHROPIC_BASE_URL=http://localhost:8080" in words  # no trailing slash, no /v1
    assert f"ANTHROPIC_AUTH_TOKEN={SECRET}" in words
    assert "ANTHROPIC_MODEL=claude-sonnet-4-5" in words  # the main model, not haiku
    assert "ANTHROPIC_DEFAULT_SONNET_MODEL=claude-sonnet-4-5" in words
    assert "ANTHROPIC_DEFAULT_OPUS_MODEL=claude-sonnet-4-5" in words
    assert "ANTHROPIC_DEFAULT_HAIKU_MODEL=claude-haiku-4-5" in words


def test_codex_config_is_toml_with_a_responses_provider() -> None:
    snippet = by_id(snippets(BASE, SECRET, MODELS))["codex"]
    config_block = block(snippet, "toml")
    assert config_block.label == "~/.codex/config.toml"
    config = tomllib.loads(config_block.text)
    assert config["model"] == "gpt-4o-mini"  # the first chat model, not the embedding one
    provider = config["model_providers"][config["model_provider"]]
    assert provider["base_url"] == "http://localhost:8080/v1"
    assert provider["wire_api"] == "responses"
    assert SECRET not in config_block.text  # the key stays in the environment
    words = shell_words(block(snippet, "shell").text)
    assert f"{provider['env_key']}={SECRET}" in words
    assert words[-1] == "codex"


def test_gemini_cli_settings_select_api_key_auth() -> None:
    snippet = by_id(snippets(BASE, SECRET, MODELS))["gemini-cli"]
    settings_block = block(snippet, "json")
    assert settings_block.label == "~/.gemini/settings.json"
    settings = json.loads(settings_block.text)
    assert settings["security"]["auth"]["selectedType"] == "gemini-api-key"
    words = shell_words(block(snippet, "shell").text)
    assert "GOOGLE_GEMINI_BASE_URL=http://localhost:8080" in words
    assert f"GEMINI_API_KEY={SECRET}" in words
    assert "GEMINI_MODEL=gemini-2.5-flash" in words
    assert words[-1] == "gemini"


@pytest.mark.parametrize(
    ("snippet_id", "module", "base", "model"),
    [
        ("openai-python", "openai", BASE + "/v1", "gpt-4o-mini"),
        ("anthropic-python", "anthropic", BASE, "claude-sonnet-4-5"),
        ("google-genai-python", "google", BASE, "gemini-2.5-flash"),
    ],
)
def test_python_snippets_parse_and_carry_the_values(
    snippet_id: str, module: str, base: str, model: str
) -> None:
    python = block(by_id(snippets(BASE, SECRET, MODELS))[snippet_id], "python")
    assert python.label == "Python"
    tree = ast.parse(python.text)
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert module in imported
    assert {SECRET, base, model} <= strings_in(python.text)


def test_curl_calls_chat_completions() -> None:
    words = shell_words(block(by_id(snippets(BASE, SECRET, MODELS))["curl"], "shell").text)
    assert words[0] == "curl"
    assert "http://localhost:8080/v1/chat/completions" in words
    assert f"authorization: Bearer {SECRET}" in words
    body = json.loads(words[words.index("-d") + 1])
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0]["role"] == "user"


@pytest.mark.parametrize("odd", [ODD, ODD_MULTILINE])
def test_odd_values_stay_inside_their_quotes(odd: str) -> None:
    base = f"http://h/{odd}"
    secret = f"tg-{odd}"
    models = [(f"gpt-{odd}", "openai"), (f"claude-{odd}", "anthropic"), (f"gem-{odd}", "gemini")]
    items = by_id(snippets(base, secret, models))
    assert list(items) == ALL_IDS

    config = tomllib.loads(block(items["codex"], "toml").text)
    assert config["model"] == f"gpt-{odd}"
    assert config["model_providers"][config["model_provider"]]["base_url"] == base + "/v1"

    for snippet_id, model, url in [
        ("openai-python", f"gpt-{odd}", base + "/v1"),
        ("anthropic-python", f"claude-{odd}", base),
        ("google-genai-python", f"gem-{odd}", base),
    ]:
        assert {secret, model, url} <= strings_in(block(items[snippet_id], "python").text)

    words = shell_words(block(items["curl"], "shell").text)
    assert f"authorization: Bearer {secret}" in words
    assert base + "/v1/chat/completions" in words
    assert json.loads(words[words.index("-d") + 1])["model"] == f"gpt-{odd}"

    shell = shell_words(block(items["claude-code"], "shell").text)
    assert f"ANTHROPIC_AUTH_TOKEN={secret}" in shell
    assert f"ANTHROPIC_MODEL=claude-{odd}" in shell


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("odd", [ODD, ODD_MULTILINE])
def test_bash_reads_the_exports_back_exactly(odd: str) -> None:
    """Pasted into bash (the tool itself stubbed), every variable holds the exact value
    and nothing else runs."""
    base = f"http://h/{odd}"
    secret = f"tg-{odd}"
    models = [(f"gpt-{odd}", "openai"), (f"claude-{odd}", "anthropic"), (f"gem-{odd}", "gemini")]
    items = by_id(snippets(base, secret, models))
    assert run_shell(
        block(items["claude-code"], "shell").text,
        "claude",
        ["ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_MODEL"],
    ) == [base, secret, f"claude-{odd}"]
    assert run_shell(block(items["codex"], "shell").text, "codex", ["TOLLGATE_API_KEY"]) == [secret]
    assert run_shell(
        block(items["gemini-cli"], "shell").text,
        "gemini",
        ["GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "GEMINI_MODEL"],
    ) == [base, secret, f"gem-{odd}"]
    # curl, stubbed to print its arguments: exactly the URL, headers and body.
    script = "curl() { printf '%s\\0' \"$@\"; }\n" + block(items["curl"], "shell").text
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    args = done.stdout.decode().split("\0")[:-1]
    assert args[:2] == ["-s", base + "/v1/chat/completions"]
    assert args[args.index("-H") + 1] == f"authorization: Bearer {secret}"
    assert json.loads(args[args.index("-d") + 1])["model"] == f"gpt-{odd}"


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=40))
def test_any_text_round_trips_through_every_format(value: str) -> None:
    """Whatever a model name or secret holds, each format gives the exact value back."""
    assume("embed" not in value.lower())  # an embedding model gets no snippet
    assume("\\\n" not in value)  # shell_words joins continuation lines the simple way
    models = [(value, "openai"), (value, "anthropic"), (value, "gemini")]
    items = by_id(snippets(BASE, value, models))
    config = tomllib.loads(block(items["codex"], "toml").text)
    assert config["model"] == value
    for snippet_id in ("openai-python", "anthropic-python", "google-genai-python"):
        assert value in strings_in(block(items[snippet_id], "python").text)
    assert f"ANTHROPIC_AUTH_TOKEN={value}" in shell_words(block(items["claude-code"], "shell").text)
    words = shell_words(block(items["curl"], "shell").text)
    assert f"authorization: Bearer {value}" in words
    assert json.loads(words[words.index("-d") + 1])["model"] == value
