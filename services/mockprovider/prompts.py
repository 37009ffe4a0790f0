"""What each wire format's request says, reduced to one provider-neutral `Prompt`.

Segments are what `tokens.prompt_tokens` counts, in order:

- OpenAI chat: one per message (its text parts joined; an assistant's tool calls
  add `name` + `arguments`; a tool message counts its content).
- OpenAI Responses: `instructions`, then a string `input` or one per input item
  (message text; function_call `name` + `arguments`; function_call_output output).
- Anthropic: `system`, then one per message (text blocks; tool_use `name` +
  compact JSON `input`; tool_result content text).
- Gemini: `systemInstruction`, then one per content (text parts; functionCall
  `name` + compact JSON `args`; functionResponse `name` + compact JSON `response`).
- Every format: one per function tool, `"name: description"` (or `name` alone).

Images, files and other parts add nothing beyond their message's overhead.
`last_user_text` is the last text part of the last turn when it is a user's
text turn (what the person typed: agent CLIs put their own context, such as
Claude Code's `<system-reminder>` blocks naming its tools, in earlier parts or
turns), and None when the last turn is a tool result (so agent loops end with
text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from services.mockprovider import fields
from services.mockprovider.errors import BadRequest
from services.mockprovider.fields import Json

ToolMode = Literal["auto", "none", "required"]


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]

    @property
    def segment(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


@dataclass(frozen=True, kw_only=True)
class Prompt:
    segments: tuple[str, ...]
    last_user_text: str | None
    tools: tuple[ToolSpec, ...] = ()
    tool_mode: ToolMode = "auto"
    forced_tool: str | None = None
    output_limit: int | None = None


PromptReader = Callable[[Json], Prompt]


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def _parts_text(content: Any, *, keys: Iterable[str] = ("text",)) -> str:
    """A string, or the text fields of a list of parts, joined without separator."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            texts.extend(part[key] for key in keys if isinstance(part.get(key), str))
    return "".join(texts)


def _last_part_text(content: Any) -> str:
    """A string, or the last text part (not a thought) of a list of parts."""
    if isinstance(content, str):
        return content
    for part in reversed(content if isinstance(content, list) else []):
        if isinstance(part, str):
            return part
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            if not part.get("thought"):
                return str(part["text"])
    return ""


def _tool(name: Any, description: Any, parameters: Any) -> ToolSpec:
    if not isinstance(name, str) or not name:
        raise BadRequest("tools: each function tool needs a name")
    return ToolSpec(
        name=name,
        description=description if isinstance(description, str) else "",
        parameters=parameters if isinstance(parameters, dict) else {},
    )


def _with_tools(segments: list[str], tools: tuple[ToolSpec, ...]) -> tuple[str, ...]:
    return (*segments, *(tool.segment for tool in tools))


def _openai_choice(choice: Any) -> tuple[ToolMode, str | None]:
    """`tool_choice` of chat (`{"function": {"name"}}`) and Responses (`{"name"}`)."""
    if choice in ("none", "required"):
        return choice, None
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        if isinstance(name, str):
            return "required", name
    return "auto", None


def _chat_message_text(message: Any) -> str:
    if not isinstance(message, dict):
        raise BadRequest("messages: each message must be an object")
    text = _parts_text(message.get("content"))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            text += str(function.get("name", "")) + str(function.get("arguments", ""))
    return text


def from_openai_chat(body: Json) -> Prompt:
    messages = fields.array(body, "messages", required=True)
    segments = [_chat_message_text(message) for message in messages]
    last = messages[-1] if messages else {}
    tools = tuple(
        _tool(
            t["function"].get("name"),
            t["function"].get("description"),
            t["function"].get("parameters"),
        )
        for t in fields.array(body, "tools")
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    )
    mode, forced = _openai_choice(body.get("tool_choice"))
    limit = fields.count(body, "max_completion_tokens")
    return Prompt(
        segments=_with_tools(segments, tools),
        last_user_text=_last_part_text(last.get("content")) if last.get("role") == "user" else None,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        output_limit=limit if limit is not None else fields.count(body, "max_tokens"),
    )


def _responses_item(item: Any) -> tuple[str | None, str | None]:
    """The segment of one Responses input item, and its last text if a user text turn."""
    if not isinstance(item, dict):
        raise BadRequest("input: each item must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        content = item.get("content")
        typed = _last_part_text(content) if item.get("role") == "user" else None
        return _parts_text(content), typed
    if kind == "function_call":
        return str(item.get("name", "")) + str(item.get("arguments", "")), None
    if kind == "function_call_output":
        output = item.get("output")
        return (output if isinstance(output, str) else _parts_text(output)), None
    return None, None


def from_openai_responses(body: Json) -> Prompt:
    segments: list[str] = []
    instructions = fields.string(body, "instructions")
    if instructions:
        segments.append(instructions)
    raw_input = body.get("input")
    last_user_text: str | None = None
    if isinstance(raw_input, str):
        segments.append(raw_input)
        last_user_text = raw_input
    elif isinstance(raw_input, list):
        for item in raw_input:
            segment, typed = _responses_item(item)
            if segment is not None:
                segments.append(segment)
                last_user_text = typed
    elif raw_input is not None:
        raise BadRequest("input: Input should be a valid string or list")
    tools = tuple(
        _tool(t.get("name"), t.get("description"), t.get("parameters"))
        for t in fields.array(body, "tools")
        if isinstance(t, dict) and t.get("type") == "function"
    )
    mode, forced = _openai_choice(body.get("tool_choice"))
    return Prompt(
        segments=_with_tools(segments, tools),
        last_user_text=last_user_text,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        output_limit=fields.count(body, "max_output_tokens"),
    )


def _anthropic_blocks(content: Any) -> tuple[str, bool]:
    """A message's counted text, and whether it carries a tool result."""
    if isinstance(content, str):
        return content, False
    texts: list[str] = []
    tool_result = False
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            texts.append(str(block.get("name", "")) + _compact(block.get("input", {})))
        elif kind == "tool_result":
            tool_result = True
            texts.append(_parts_text(block.get("content")))
    return "".join(texts), tool_result


_ANTHROPIC_MODES: dict[str, ToolMode] = {"any": "required", "tool": "required", "none": "none"}


def from_anthropic(body: Json) -> Prompt:
    segments: list[str] = []
    system = body.get("system")
    if system:
        segments.append(_parts_text(system))
    messages = fields.array(body, "messages", required=True)
    last_user_text: str | None = None
    for message in messages:
        if not isinstance(message, dict):
            raise BadRequest("messages: each message must be an object")
        text, tool_result = _anthropic_blocks(message.get("content"))
        segments.append(text)
        from_user = message.get("role") == "user" and not tool_result
        last_user_text = _last_part_text(message.get("content")) if from_user else None
    tools = tuple(
        _tool(t.get("name"), t.get("description"), t.get("input_schema"))
        for t in fields.array(body, "tools")
        if isinstance(t, dict) and t.get("type") in (None, "custom")
    )
    choice = fields.obj(body, "tool_choice")
    mode = _ANTHROPIC_MODES.get(str(choice.get("type")), "auto")
    forced = choice.get("name") if choice.get("type") == "tool" else None
    return Prompt(
        segments=_with_tools(segments, tools),
        last_user_text=last_user_text,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced if isinstance(forced, str) else None,
        output_limit=fields.count(body, "max_tokens"),
    )


def _either(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    """Gemini's JSON accepts both spellings of a field; the SDK sends camelCase."""
    value = body.get(camel)
    return body.get(snake) if value is None else value


def _gemini_parts(content: Any) -> tuple[str, bool]:
    """A content's counted text, and whether it carries a function response."""
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    responded = False
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        call = _either(part, "functionCall", "function_call")
        response = _either(part, "functionResponse", "function_response")
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        elif isinstance(call, dict):
            texts.append(str(call.get("name", "")) + _compact(call.get("args", {})))
        elif isinstance(response, dict):
            responded = True
            texts.append(str(response.get("name", "")) + _compact(response.get("response", {})))
    return "".join(texts), responded


def _gemini_tools(body: Json) -> tuple[ToolSpec, ...]:
    declared: list[ToolSpec] = []
    for tool in fields.array(body, "tools"):
        if not isinstance(tool, dict):
            raise BadRequest("tools: each tool must be an object")
        functions = _either(tool, "functionDeclarations", "function_declarations")
        for function in functions if isinstance(functions, list) else []:
            if not isinstance(function, dict):
                continue
            schema = function.get("parameters")
            if schema is None:
                schema = _either(function, "parametersJsonSchema", "parameters_json_schema")
            declared.append(_tool(function.get("name"), function.get("description"), schema))
    return tuple(declared)


def _gemini_choice(body: Json) -> tuple[ToolMode, str | None, tuple[str, ...]]:
    config = _either(body, "toolConfig", "tool_config")
    calling = (
        _either(config, "functionCallingConfig", "function_calling_config")
        if isinstance(config, dict)
        else None
    )
    if not isinstance(calling, dict):
        return "auto", None, ()
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = _either(calling, "allowedFunctionNames", "allowed_function_names")
    names = tuple(n for n in allowed if isinstance(n, str)) if isinstance(allowed, list) else ()
    if mode == "NONE":
        return "none", None, names
    if mode == "ANY":
        return "required", names[0] if len(names) == 1 else None, names
    return "auto", None, names


def from_gemini(body: Json) -> Prompt:
    segments: list[str] = []
    system = _either(body, "systemInstruction", "system_instruction")
    if system:
        segments.append(system if isinstance(system, str) else _gemini_parts(system)[0])
    last_user_text: str | None = None
    for content in fields.array(body, "contents", required=True):
        if not isinstance(content, dict):
            raise BadRequest("contents: each content must be an object")
        text, responded = _gemini_parts(content)
        segments.append(text)
        from_user = content.get("role", "user") == "user" and not responded
        last_user_text = _last_part_text(content.get("parts")) if from_user else None
    tools = _gemini_tools(body)
    mode, forced, allowed = _gemini_choice(body)
    generation = _either(body, "generationConfig", "generation_config")
    limit = (
        _either(generation, "maxOutputTokens", "max_output_tokens")
        if isinstance(generation, dict)
        else None
    )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise BadRequest("generationConfig.maxOutputTokens: must be a non-negative integer")
    offered = tuple(tool for tool in tools if not allowed or tool.name in allowed)
    return Prompt(
        segments=_with_tools(segments, tools),
        last_user_text=last_user_text,
        tools=offered,
        tool_mode=mode,
        forced_tool=forced,
        output_limit=limit,
    )
