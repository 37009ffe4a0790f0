"""Deterministic output from a request: the same body gives the same answer.

`request_digest` hashes the canonical JSON of the body (sorted keys, the model's
base name, without `stream`/`stream_options`), so a streamed and a non-streamed
call with the same prompt get the same text, ids and counts; timestamps are the
only thing that varies. Text is `chunks` words drawn from a fixed vocabulary by
the digest; one word is one piece is one output token.

A tool call is answered when the request offers function tools and either the
choice forces one, or the last turn is a user's text naming a tool as a whole
word, case aside (first offered tool named wins; only the turn's last text part
counts, see `prompts`), or the choice is "required" (then the first named
tool, else the first tool). Its arguments are compact JSON built from the
parameter schema (string "mock" or the first enum value, integer 42, number
4.2, boolean true, array [], object {}), split into `chunks` near-equal
pieces (at most one per character); one piece is one output token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from services.mockprovider import tokens
from services.mockprovider.behaviour import Behaviour
from services.mockprovider.catalog import Model
from services.mockprovider.prompts import Prompt, ToolSpec

VOCABULARY = (
    "amber", "beacon", "cedar", "delta", "ember", "fjord", "garnet", "harbor",
    "island", "juniper", "kestrel", "lantern", "meadow", "nimbus", "orchid", "pebble",
    "quartz", "river", "saffron", "timber", "umber", "velvet", "willow", "xenon",
    "yarrow", "zephyr", "anchor", "birch", "canyon", "dune", "echo", "falcon",
)  # fmt: skip

_IGNORED_KEYS = frozenset({"stream", "stream_options"})


def request_digest(body: Mapping[str, Any], model: str) -> str:
    canonical = {k: v for k, v in body.items() if k not in _IGNORED_KEYS}
    canonical["model"] = model
    try:
        text = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # nested past the 254 levels orjson writes
        text = repr(sorted(canonical.items())).encode()
    return hashlib.sha256(text).hexdigest()


def ident(digest: str, label: str, length: int = 24) -> str:
    """A stable id fragment for one object of one answer (`label` tells them apart)."""
    return hashlib.sha256(f"{digest}:{label}".encode()).hexdigest()[:length]


@dataclass(frozen=True, kw_only=True)
class Usage:
    prompt_tokens: int  # all input, cached included
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int  # reasoning included
    reasoning_tokens: int


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    name: str
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, kw_only=True)
class Completion:
    digest: str
    model: str
    text_pieces: tuple[str, ...]
    tool_call: ToolCall | None
    usage: Usage
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.text_pieces)

    @property
    def piece_count(self) -> int:
        return len(self.tool_call.pieces) if self.tool_call is not None else len(self.text_pieces)

    def call_arguments(self) -> dict[str, Any]:
        """The tool call's arguments parsed, or `{}` when the output cap cut them short."""
        if self.tool_call is None or self.truncated:
            return {}
        parsed = orjson.loads(self.tool_call.arguments)
        return parsed if isinstance(parsed, dict) else {}

    def ident(self, label: str, length: int = 24) -> str:
        return ident(self.digest, label, length)


def text_pieces(digest: str, count: int) -> tuple[str, ...]:
    stream = hashlib.shake_256(digest.encode()).digest(count)
    words = [VOCABULARY[byte % len(VOCABULARY)] for byte in stream]
    if words:
        words[0] = words[0].capitalize()
        words[-1] += "."
    return tuple(word if i == 0 else " " + word for i, word in enumerate(words))


def choose_tool(prompt: Prompt) -> ToolSpec | None:
    if not prompt.tools or prompt.tool_mode == "none":
        return None
    if prompt.forced_tool is not None:
        for tool in prompt.tools:
            if tool.name == prompt.forced_tool:
                return tool
        return ToolSpec(name=prompt.forced_tool, description="", parameters={})
    said = prompt.last_user_text or ""
    for tool in prompt.tools:
        if said and _names(said, tool.name):
            return tool
    return prompt.tools[0] if prompt.tool_mode == "required" else None


def _names(text: str, name: str) -> bool:
    """Whether `text` holds `name` as a whole word (`read` is not in `thread`)."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def _sample(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    kind = str(kind).lower()
    if kind == "object" or (kind == "none" and "properties" in schema):
        return arguments_object(schema)
    samples: dict[str, Any] = {"string": "mock", "integer": 42, "number": 4.2, "boolean": True}
    return [] if kind == "array" else samples.get(kind)


def arguments_object(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {name: _sample(sub) for name, sub in properties.items()}


def split_evenly(text: str, count: int) -> tuple[str, ...]:
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return tuple(pieces)


def usage_for(prompt: Prompt, behaviour: Behaviour, plan: tokens.OutputPlan) -> Usage:
    total = tokens.prompt_tokens(prompt.segments)
    cached = tokens.cached_portion(total)
    return Usage(
        prompt_tokens=total,
        cache_read_tokens=cached if behaviour.cache == "read" else 0,
        cache_write_tokens=cached if behaviour.cache == "write" else 0,
        output_tokens=plan.output_tokens,
        reasoning_tokens=plan.reasoning_tokens,
    )


def generate(prompt: Prompt, *, model: Model, behaviour: Behaviour, digest: str) -> Completion:
    tool = choose_tool(prompt)
    if tool is not None:
        arguments = orjson.dumps(arguments_object(tool.parameters)).decode()
        available = split_evenly(arguments, behaviour.chunks)
    else:
        available = text_pieces(digest, behaviour.chunks)
    plan = tokens.plan_output(len(available), prompt.output_limit, reasoning=model.reasoning)
    kept = available[: plan.pieces]
    return Completion(
        digest=digest,
        model=model.name,
        text_pieces=() if tool is not None else kept,
        tool_call=ToolCall(name=tool.name, pieces=kept) if tool is not None else None,
        usage=usage_for(prompt, behaviour, plan),
        truncated=plan.truncated,
    )
