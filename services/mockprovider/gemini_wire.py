"""Gemini GenerateContentResponse bodies and `alt=sse` events for a `Completion`.

Copied from recorded responses (`fixtures/wire/gemini/`): SSE events are
data-only with CRLF line ends, each a whole GenerateContentResponse with its
own `usageMetadata`, the last one authoritative. `promptTokenCount` includes
`cachedContentTokenCount`; `thoughtsTokenCount` (reasoning models) is separate
from `candidatesTokenCount`; each appears only when non-zero, as in the real
API. A function call is one part, sent in one event (Gemini does not stream
arguments); its `candidatesTokenCount` is still the argument piece count.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.mockprovider import sse
from services.mockprovider.catalog import Model
from services.mockprovider.fields import Json
from services.mockprovider.generation import Completion, Usage
from services.mockprovider.sse import Frame, Part


def usage_metadata(counts: Usage, *, candidates: int) -> Json:
    thoughts = counts.reasoning_tokens
    metadata: Json = {
        "promptTokenCount": counts.prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": counts.prompt_tokens + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": counts.prompt_tokens}],
    }
    if counts.cache_read_tokens:
        metadata["cachedContentTokenCount"] = counts.cache_read_tokens
        metadata["cacheTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": counts.cache_read_tokens}
        ]
    if candidates:
        metadata["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": candidates}]
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    return metadata


def finish_reason(completion: Completion) -> str:
    return "MAX_TOKENS" if completion.truncated else "STOP"


def _response(
    completion: Completion, parts: list[Json], *, finish: str | None, candidates: int
) -> Json:
    content: Json = {"parts": parts, "role": "model"} if parts else {"role": "model"}
    candidate: Json = {"content": content}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(completion.usage, candidates=candidates),
        "modelVersion": completion.model,
        "responseId": completion.ident("response", 22),
    }


def _visible(completion: Completion) -> int:
    return completion.usage.output_tokens - completion.usage.reasoning_tokens


def body(completion: Completion, call_args: Json) -> Json:
    """`call_args` is the parsed arguments (`{}` when the cap cut them short)."""
    if completion.tool_call is not None:
        parts: list[Json] = [
            {"functionCall": {"name": completion.tool_call.name, "args": call_args}}
        ]
    else:
        parts = [{"text": completion.text}] if completion.text else []
    return _response(
        completion, parts, finish=finish_reason(completion), candidates=_visible(completion)
    )


def frames(completion: Completion, call_args: Json) -> Iterator[Frame]:
    pieces = completion.text_pieces
    if completion.tool_call is not None or not pieces:
        yield sse.crlf_data(body(completion, call_args), Part.CONTENT)
        return
    for index, piece in enumerate(pieces, start=1):
        last = index == len(pieces)
        event = _response(
            completion,
            [{"text": piece}],
            finish=finish_reason(completion) if last else None,
            candidates=index,
        )
        yield sse.crlf_data(event, Part.CONTENT)


def count_tokens_body(prompt_tokens: int) -> Json:
    return {
        "totalTokens": prompt_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }


def model_entry(model: Model) -> Json:
    return {
        "name": f"models/{model.name}",
        "version": "001",
        "displayName": model.display_name,
        "description": f"{model.display_name} (mock)",
        "inputTokenLimit": model.input_limit,
        "outputTokenLimit": model.output_limit,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    }


def model_list(models: tuple[Model, ...]) -> Json:
    return {"models": [model_entry(model) for model in models]}
