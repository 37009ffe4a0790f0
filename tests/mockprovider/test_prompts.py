"""Each wire format's request reduced to segments, last user turn and tools."""

from __future__ import annotations

import pytest

from services.mockprovider import prompts
from services.mockprovider.errors import BadRequest

WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}


def test_openai_chat_segments_tools_and_limit() -> None:
    prompt = prompts.from_openai_chat(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Use "}, {"text": "it"}]},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": WEATHER,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": 12,
        }
    )
    assert prompt.segments == ("Be brief.", "Use it", "get_weather: Weather")
    assert prompt.last_user_text == "it"  # the last part: what the person typed
    assert [tool.name for tool in prompt.tools] == ["get_weather"]
    assert (prompt.tool_mode, prompt.forced_tool, prompt.output_limit) == (
        "required",
        "get_weather",
        12,
    )


def test_openai_chat_tool_turns_end_the_user_turn() -> None:
    prompt = prompts.from_openai_chat(
        {
            "messages": [
                {"role": "user", "content": "get_weather please"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "sunny"},
            ]
        }
    )
    assert prompt.segments == ("get_weather please", "get_weather{}", "sunny")
    assert prompt.last_user_text is None


def test_responses_instructions_items_and_function_tools() -> None:
    prompt = prompts.from_openai_responses(
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
                {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"},
                {"type": "function_call_output", "call_id": "c", "output": "42"},
            ],
            "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}],
            "tool_choice": "required",
            "max_output_tokens": 7,
        }
    )
    assert prompt.segments == ("Be brief.", "hello", "f{}", "42", "f")
    assert prompt.last_user_text is None
    assert (prompt.tool_mode, prompt.output_limit) == ("required", 7)
    assert prompts.from_openai_responses({"input": "hi"}).last_user_text == "hi"


def test_anthropic_system_blocks_and_tool_results() -> None:
    body = {
        "system": [{"type": "text", "text": "Be brief."}],
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "lookup x"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "lookup", "input": {"q": 1}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}],
            },
        ],
        "tools": [
            {"name": "lookup", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "tool", "name": "lookup"},
    }
    prompt = prompts.from_anthropic(body)
    assert prompt.segments == ("Be brief.", "lookup x", 'lookup{"q":1}', "ok", "lookup")
    assert prompt.last_user_text is None
    assert (prompt.tool_mode, prompt.forced_tool, prompt.output_limit) == (
        "required",
        "lookup",
        100,
    )


def test_gemini_camel_and_snake_case() -> None:
    camel = prompts.from_gemini(
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "call "}, {"text": "lookup"}]}],
            "tools": [{"functionDeclarations": [{"name": "lookup", "description": "Find"}]}],
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
            },
            "generationConfig": {"maxOutputTokens": 9},
        }
    )
    snake = prompts.from_gemini(
        {
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "call "}, {"text": "lookup"}]}],
            "tools": [{"function_declarations": [{"name": "lookup", "description": "Find"}]}],
            "tool_config": {
                "function_calling_config": {"mode": "ANY", "allowed_function_names": ["lookup"]}
            },
            "generation_config": {"max_output_tokens": 9},
        }
    )
    assert camel == snake
    assert camel.segments == ("Be brief.", "call lookup", "lookup: Find")
    assert (camel.last_user_text, camel.forced_tool, camel.output_limit) == (
        "lookup",  # the last text part
        "lookup",
        9,
    )


def test_gemini_function_response_ends_the_user_turn() -> None:
    prompt = prompts.from_gemini(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "f", "response": {"a": 1}}}],
                }
            ]
        }
    )
    assert prompt.segments == ('f{"a":1}',)
    assert prompt.last_user_text is None


@pytest.mark.parametrize(
    ("reader", "body"),
    [
        (prompts.from_openai_chat, {}),
        (prompts.from_openai_chat, {"messages": "hi"}),
        (prompts.from_openai_chat, {"messages": [], "max_tokens": "9"}),
        (prompts.from_openai_responses, {"input": 3}),
        (prompts.from_anthropic, {"messages": [1]}),
        (prompts.from_gemini, {"contents": {}}),
        (prompts.from_gemini, {"contents": [], "generationConfig": {"maxOutputTokens": -1}}),
    ],
)
def test_wrong_shapes_are_400s(reader: prompts.PromptReader, body: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        reader(dict(body))


REMINDER = (
    "<system-reminder>Available agent types for the Agent tool; use Bash or Read</system-reminder>"
)


def test_only_the_typed_text_of_the_last_turn_counts() -> None:
    """Agent CLIs send their own context before what the person typed (Claude Code's
    `<system-reminder>` blocks name its tools); only the last text part is the
    person's, so "say hi" names no tool."""
    anthropic = prompts.from_anthropic(
        {
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": REMINDER},
                        {"type": "text", "text": "say hi"},
                    ],
                }
            ],
        }
    )
    chat = prompts.from_openai_chat(
        {"messages": [{"role": "user", "content": [{"text": REMINDER}, {"text": "say hi"}]}]}
    )
    responses = prompts.from_openai_responses(
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": REMINDER}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": REMINDER},
                        {"type": "input_text", "text": "say hi"},
                    ],
                },
            ]
        }
    )
    gemini = prompts.from_gemini(
        {
            "contents": [
                {"role": "user", "parts": [{"text": REMINDER}, {"text": "say hi"}]},
            ]
        }
    )
    for prompt in (anthropic, chat, responses, gemini):
        assert prompt.last_user_text == "say hi"
        assert REMINDER in "".join(prompt.segments)  # still counted as prompt tokens
    thought = prompts.from_gemini(
        {"contents": [{"parts": [{"text": "say hi"}, {"text": "hmm", "thought": True}]}]}
    )
    assert thought.last_user_text == "say hi"
