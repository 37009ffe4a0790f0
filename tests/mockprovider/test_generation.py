"""Deterministic output: text, tool choice, arguments, usage."""

from __future__ import annotations

from services.mockprovider import catalog, generation, tokens
from services.mockprovider.behaviour import Behaviour
from services.mockprovider.catalog import Provider
from services.mockprovider.prompts import Prompt, ToolMode, ToolSpec

MINI = catalog.find(Provider.OPENAI, "gpt-4o-mini")
O4 = catalog.find(Provider.OPENAI, "o4-mini")
WEATHER = ToolSpec(
    name="get_weather",
    description="",
    parameters={
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "detail": {"type": ["number", "null"]},
            "alerts": {"type": "BOOLEAN"},
            "hours": {"type": "array"},
            "where": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
)


def _prompt(
    text: str,
    *,
    tools: tuple[ToolSpec, ...] = (),
    tool_mode: ToolMode = "auto",
    forced_tool: str | None = None,
    output_limit: int | None = None,
) -> Prompt:
    return Prompt(
        segments=(text,),
        last_user_text=text,
        tools=tools,
        tool_mode=tool_mode,
        forced_tool=forced_tool,
        output_limit=output_limit,
    )


def test_digest_ignores_stream_flags_and_key_order() -> None:
    one = generation.request_digest({"messages": [], "model": "x@chunks=3", "stream": True}, "x")
    two = generation.request_digest({"model": "x", "messages": [], "stream_options": {}}, "x")
    assert one == two
    assert one != generation.request_digest({"messages": [1], "model": "x"}, "x")


def test_digest_of_a_body_nested_past_what_orjson_writes() -> None:
    deep: object = "x"
    for _ in range(400):
        deep = [deep]
    body = {"messages": [{"role": "user", "content": deep}]}
    first = generation.request_digest(body, "claude-sonnet-4-5")
    assert first == generation.request_digest(body, "claude-sonnet-4-5")
    assert first != generation.request_digest(body, "claude-haiku-4-5")


def test_text_is_deterministic_words() -> None:
    pieces = generation.text_pieces("abc", 5)
    assert pieces == generation.text_pieces("abc", 5)
    assert len(pieces) == 5 and pieces[0][0].isupper() and pieces[-1].endswith(".")
    assert all(piece.startswith(" ") for piece in pieces[1:])
    assert generation.text_pieces("abd", 5) != pieces


def test_generate_text_usage() -> None:
    assert MINI is not None
    prompt = _prompt("Say hello")
    completion = generation.generate(prompt, model=MINI, behaviour=Behaviour(), digest="d")
    assert completion.tool_call is None and not completion.truncated
    assert completion.text == "".join(generation.text_pieces("d", 8))
    assert completion.usage == generation.Usage(
        prompt_tokens=tokens.prompt_tokens(["Say hello"]),
        cache_read_tokens=0,
        cache_write_tokens=0,
        output_tokens=8,
        reasoning_tokens=0,
    )


def test_reasoning_model_and_cache_modes() -> None:
    assert O4 is not None
    prompt = _prompt("x" * 400)
    read = generation.generate(prompt, model=O4, behaviour=Behaviour(cache="read"), digest="d")
    assert read.usage.reasoning_tokens == tokens.REASONING_TOKENS
    assert read.usage.output_tokens == 8 + tokens.REASONING_TOKENS
    assert read.usage.cache_read_tokens == read.usage.prompt_tokens // 2 == 51
    write = generation.generate(prompt, model=O4, behaviour=Behaviour(cache="write"), digest="d")
    assert (write.usage.cache_read_tokens, write.usage.cache_write_tokens) == (0, 51)


def test_tool_named_in_the_last_user_turn_is_called() -> None:
    assert MINI is not None
    prompt = _prompt("What does GET_WEATHER say?", tools=(WEATHER,))
    completion = generation.generate(prompt, model=MINI, behaviour=Behaviour(chunks=4), digest="d")
    assert completion.tool_call is not None and completion.text_pieces == ()
    assert completion.tool_call.name == "get_weather"
    assert completion.call_arguments() == {
        "location": "mock",
        "unit": "celsius",
        "days": 42,
        "detail": 4.2,
        "alerts": True,
        "hours": [],
        "where": {"city": "mock"},
    }
    assert len(completion.tool_call.pieces) == 4 == completion.usage.output_tokens


def test_tool_choice_rules() -> None:
    other = ToolSpec(name="lookup", description="", parameters={})
    unnamed = _prompt("hello", tools=(WEATHER, other))
    assert generation.choose_tool(unnamed) is None
    assert (
        generation.choose_tool(_prompt("hello", tools=(WEATHER,), tool_mode="required")) == WEATHER
    )
    assert generation.choose_tool(_prompt("lookup", tools=(WEATHER, other))) == other
    assert generation.choose_tool(_prompt("lookup", tools=(other,), tool_mode="none")) is None
    forced = _prompt("hello", tools=(WEATHER, other), forced_tool="lookup", tool_mode="required")
    assert generation.choose_tool(forced) == other
    after_result = Prompt(segments=("r",), last_user_text=None, tools=(WEATHER,))
    assert generation.choose_tool(after_result) is None


def test_truncated_tool_call_has_partial_arguments() -> None:
    assert MINI is not None
    prompt = _prompt("get_weather", tools=(WEATHER,), output_limit=2)
    completion = generation.generate(prompt, model=MINI, behaviour=Behaviour(), digest="d")
    assert completion.truncated and completion.tool_call is not None
    assert len(completion.tool_call.pieces) == 2 and completion.call_arguments() == {}


def test_split_evenly_keeps_every_character() -> None:
    assert generation.split_evenly("abcdefg", 3) == ("abc", "de", "fg")
    assert generation.split_evenly("ab", 5) == ("a", "b")


def test_a_tool_is_named_only_as_a_whole_word() -> None:
    read = ToolSpec(name="Read", description="", parameters={})
    assert generation.choose_tool(_prompt("pull the thread", tools=(read,))) is None
    assert generation.choose_tool(_prompt("already done", tools=(read,))) is None
    assert generation.choose_tool(_prompt("please read it", tools=(read,))) == read
    assert generation.choose_tool(_prompt("(Read)", tools=(read,))) == read
    dotted = ToolSpec(name="a.b", description="", parameters={})
    assert generation.choose_tool(_prompt("axb", tools=(dotted,))) is None  # not a pattern
    assert generation.choose_tool(_prompt("call a.b now", tools=(dotted,))) == dotted
