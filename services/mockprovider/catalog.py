"""The models the mock serves, with their real names, per provider.

Each endpoint accepts only its own provider's models, as the real APIs do; an
unknown name is a 404 in the provider's format. `reasoning` models report
reasoning (OpenAI) or thought (Gemini) tokens on top of the visible output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


@dataclass(frozen=True, kw_only=True)
class Model:
    name: str
    provider: Provider
    display_name: str
    created: int  # unix seconds, as the provider's model list reports it
    kind: Literal["chat", "embedding"] = "chat"
    reasoning: bool = False
    dimensions: int = 0  # embedding models only
    input_limit: int = 128_000
    output_limit: int = 16_384


MODELS: tuple[Model, ...] = (
    Model(
        name="gpt-4o-mini", provider=Provider.OPENAI, display_name="GPT-4o mini", created=1721172741
    ),
    Model(name="gpt-4o", provider=Provider.OPENAI, display_name="GPT-4o", created=1715367049),
    Model(
        name="gpt-4.1-mini",
        provider=Provider.OPENAI,
        display_name="GPT-4.1 mini",
        created=1744318173,
        input_limit=1_047_576,
        output_limit=32_768,
    ),
    Model(
        name="o4-mini",
        provider=Provider.OPENAI,
        display_name="o4-mini",
        created=1744225351,
        reasoning=True,
        input_limit=200_000,
        output_limit=100_000,
    ),
    Model(
        name="text-embedding-3-small",
        provider=Provider.OPENAI,
        display_name="text-embedding-3-small",
        created=1705948997,
        kind="embedding",
        dimensions=1536,
        input_limit=8191,
        output_limit=0,
    ),
    Model(
        name="text-embedding-3-large",
        provider=Provider.OPENAI,
        display_name="text-embedding-3-large",
        created=1705953180,
        kind="embedding",
        dimensions=3072,
        input_limit=8191,
        output_limit=0,
    ),
    Model(
        name="claude-sonnet-4-5",
        provider=Provider.ANTHROPIC,
        display_name="Claude Sonnet 4.5",
        created=1759104000,
        input_limit=200_000,
        output_limit=64_000,
    ),
    Model(
        name="claude-haiku-4-5",
        provider=Provider.ANTHROPIC,
        display_name="Claude Haiku 4.5",
        created=1760486400,
        input_limit=200_000,
        output_limit=64_000,
    ),
    Model(
        name="gemini-2.5-flash",
        provider=Provider.GEMINI,
        display_name="Gemini 2.5 Flash",
        created=1750118400,
        input_limit=1_048_576,
        output_limit=65_536,
    ),
    Model(
        name="gemini-2.5-pro",
        provider=Provider.GEMINI,
        display_name="Gemini 2.5 Pro",
        created=1750118400,
        reasoning=True,
        input_limit=1_048_576,
        output_limit=65_536,
    ),
)

_BY_NAME = {model.name: model for model in MODELS}


def find(provider: Provider, name: str) -> Model | None:
    model = _BY_NAME.get(name)
    return model if model is not None and model.provider is provider else None


def listing(provider: Provider) -> tuple[Model, ...]:
    return tuple(model for model in MODELS if model.provider is provider)
