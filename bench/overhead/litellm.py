"""LiteLLM's proxy, the other gateway we compare with, in a venv of its own.

Installed by `bench/overhead/run` with `pip install 'litellm[proxy]'` into
`.bench/litellm-venv` (git-ignored), never into the project's venv. Run as
its documentation says: `litellm --config FILE --port P --num_workers 1`,
with no database (no `DATABASE_URL`: the master key alone authenticates),
`LITELLM_LOCAL_MODEL_COST_MAP=True` (the cost map shipped in the package, no
download), a fresh random master key, and a config generated at run time:
the two bench models as `openai/<model>` with `api_base` on the matching
nginx port. JSON is YAML, so the config is written as JSON.
"""

from __future__ import annotations

import json
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.processes import ROOT, Child, ProcessFailed, http_probe, started
from bench.overhead.seeding import JSON_MODEL, SSE_MODEL
from bench.overhead.upstream import UPSTREAM_KEY, Upstream

VENV = ROOT / ".bench" / "litellm-venv"
START_SECONDS = 180.0  # its first start compiles and imports a great deal


@dataclass(frozen=True, kw_only=True)
class LiteLlm:
    url: str
    master_key: str
    child: Child


def config(upstream: Upstream, master_key: str) -> dict[str, object]:
    models = ((JSON_MODEL, upstream.json_port), (SSE_MODEL, upstream.sse_port))
    return {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    "model": f"openai/{model}",
                    "api_base": f"{upstream.url(port)}/v1",
                    "api_key": UPSTREAM_KEY,
                },
            }
            for model, port in models
        ],
        "general_settings": {"master_key": master_key},
        "litellm_settings": {"telemetry": False},
    }


def write_config(directory: Path, upstream: Upstream, master_key: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "litellm.json"
    path.write_text(json.dumps(config(upstream, master_key), indent=2))
    return path


def binary() -> Path:
    path = VENV / "bin" / "litellm"
    if not path.exists():
        raise ProcessFailed(f"LiteLLM is not installed in {VENV} (bench/overhead/run installs it)")
    return path


async def start(
    exits: AsyncExitStack,
    directory: Path,
    logs: Path,
    upstream: Upstream,
    *,
    port: int,
    base_env: dict[str, str],
) -> LiteLlm:
    master_key = "sk-" + secrets.token_hex(16)
    path = write_config(directory, upstream, master_key)
    env = {
        **base_env,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "HOME": str(directory),  # anything it caches goes to the run's folder
    }
    argv = [str(binary()), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    child = Child("litellm", argv, env=env, log=logs / "litellm.log")
    url = f"http://127.0.0.1:{port}"
    await started(exits, child, http_probe(f"{url}/health/liveliness"), START_SECONDS)
    return LiteLlm(url=url, master_key=master_key, child=child)
