"""The measured targets and the exact requests each is sent.

Every target gets the same two request bodies (the ones recorded with the
mock's answers, `model` set to `bench-json` or `bench-sse`) and differs only
in its URL and credential: nginx directly (the provider key), the bare proxy
(the upstream port in the path), Tollgate's gateway with one and with two
processes (a Tollgate key), and LiteLLM (its master key). Before any load,
`preflight` sends each target one request of each kind and refuses to go on
unless the answer is the mock's (a JSON body with `usage`; a stream ending
in `data: [DONE]`): a misrouted target would otherwise be measured as fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.overhead import upstream, wrk
from bench.overhead.litellm import LiteLlm
from bench.overhead.processes import Child, ProcessFailed
from bench.overhead.seeding import JSON_MODEL, SSE_MODEL
from bench.overhead.stack import Tollgate

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True, kw_only=True)
class Target:
    key: str  # short, stable: direct, bare, tollgate, tollgate-2, litellm
    label: str  # the table's row name
    json_url: str
    sse_url: str
    credential: str  # the bearer token this target takes
    processes: tuple[Child, ...] = field(default=())  # whose memory counts

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}", "Content-Type": "application/json"}

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.processes]


@dataclass(frozen=True, kw_only=True)
class Requests:
    """The files the load generators read for one target."""

    wrk_script: Path
    sse_request: Path


def bodies() -> tuple[bytes, bytes]:
    """The non-streaming and the streaming request body, as sent to every target."""
    _, chat = upstream.recorded(upstream.JSON_FIXTURE)
    _, stream = upstream.recorded(upstream.SSE_FIXTURE)
    chat["model"], stream["model"] = JSON_MODEL, SSE_MODEL
    return json.dumps(chat).encode(), json.dumps(stream).encode()


def write_requests(target: Target, directory: Path) -> Requests:
    directory.mkdir(parents=True, exist_ok=True)
    chat, stream = bodies()
    script = directory / f"{target.key}.lua"
    script.write_text(wrk.lua_script(chat, target.headers))
    sse = directory / f"{target.key}-sse.json"
    headers = {**target.headers, "Accept": "text/event-stream"}
    sse.write_text(json.dumps({"url": target.sse_url, "headers": headers, "body": stream.decode()}))
    return Requests(wrk_script=script, sse_request=sse)


async def preflight(target: Target) -> None:
    chat, stream = bodies()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(target.json_url, data=chat, headers=target.headers) as response:
            answer = await response.read()
            if response.status != 200 or b'"usage"' not in answer:
                raise ProcessFailed(
                    f"preflight: {target.label} answered {response.status}: {answer[:500]!r}"
                )
        async with session.post(target.sse_url, data=stream, headers=target.headers) as response:
            answer = await response.read()
            if response.status != 200 or b"data: [DONE]" not in answer:
                raise ProcessFailed(
                    f"preflight: {target.label} stream answered {response.status}: {answer[:500]!r}"
                )


def bare_proxy(mock: upstream.Upstream, bare: Child, bare_port: int) -> Target:
    bare_url = f"http://127.0.0.1:{bare_port}"
    return Target(
        key="bare",
        label="bare aiohttp proxy",
        json_url=f"{bare_url}/{mock.json_port}{CHAT_PATH}",
        sse_url=f"{bare_url}/{mock.sse_port}{CHAT_PATH}",
        credential=upstream.UPSTREAM_KEY,
        processes=(bare,),
    )


def lone_gateway(tollgate: Tollgate, api_key: str) -> Target:
    return Target(
        key="tollgate",
        label="Tollgate gateway, 1 process",
        json_url=tollgate.gateway_url + CHAT_PATH,
        sse_url=tollgate.gateway_url + CHAT_PATH,
        credential=api_key,
        processes=tuple(tollgate.gateways),
    )


def line_up(
    *,
    mock: upstream.Upstream,
    nginx: Child,
    bare: Child,
    bare_port: int,
    tollgate: Tollgate,
    api_key: str,
    lite: LiteLlm,
) -> tuple[Target, ...]:
    """Every target, in the order each round measures them."""
    return (
        Target(
            key="direct",
            label="nginx directly",
            json_url=mock.url(mock.json_port) + CHAT_PATH,
            sse_url=mock.url(mock.sse_port) + CHAT_PATH,
            credential=upstream.UPSTREAM_KEY,
            processes=(nginx,),
        ),
        bare_proxy(mock, bare, bare_port),
        lone_gateway(tollgate, api_key),
        Target(
            key="tollgate-2",
            label="Tollgate gateway, 2 processes",
            json_url=tollgate.gateway_pair_url + CHAT_PATH,
            sse_url=tollgate.gateway_pair_url + CHAT_PATH,
            credential=api_key,
            processes=tuple(tollgate.gateway_pair),
        ),
        Target(
            key="litellm",
            label="LiteLLM proxy, 1 worker",
            json_url=lite.url + CHAT_PATH,
            sse_url=lite.url + CHAT_PATH,
            credential=lite.master_key,
            processes=(lite.child,),
        ),
    )
