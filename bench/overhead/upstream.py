"""The mock upstream: a private nginx answering canned OpenAI Chat Completions.

Not Python, so the upstream costs the measured processes nothing and the
same for every target. One nginx, `worker_processes 1`, run in the
foreground with its configuration, pid file, logs and temp paths in the
run's own directory (never the system nginx, never a root-owned path):

- the JSON port answers `POST /v1/chat/completions` with a recorded
  non-streaming answer (with its real `usage` object);
- the SSE port answers it with a recorded stream (`text/event-stream`:
  `chat.completion.chunk` events, a last chunk with `usage` and empty
  `choices`, then `data: [DONE]`).

Both bodies are recorded provider answers from `shared/fixtures/wire/`,
served byte for byte from files (see `nginx_config` for how nginx is made to
answer POST from a file). The request bodies the bench sends are the ones
recorded with them.
"""

from __future__ import annotations

import json
import shutil
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.overhead.processes import ROOT, Child, ProcessFailed, http_probe, started

FIXTURES = ROOT.parent / "shared" / "fixtures" / "wire"
JSON_FIXTURE = "openai_chat/nonstream_reasoning_gpt5.json"
SSE_FIXTURE = "openai_chat/stream_include_usage_text.sse"
UPSTREAM_KEY = "sk-bench-upstream"  # nginx checks nothing; sent as a real client would


@dataclass(frozen=True, kw_only=True)
class Upstream:
    json_port: int
    sse_port: int

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"


def recorded(file: str) -> tuple[bytes, dict[str, Any]]:
    """A recorded answer and the request body recorded with it (from `index.json`)."""
    index = json.loads((FIXTURES / "index.json").read_text())
    entry = next(item for item in index if item["file"] == file)
    return (FIXTURES / file).read_bytes(), dict(entry["request_body"])


def nginx_config(directory: Path, *, json_port: int, sse_port: int) -> str:
    """The whole configuration; every path it names is under `directory`.

    The answers are files served by nginx's static handler. It refuses POST
    with 405, so the route answers 405 itself and `error_page 405 =200`
    redirects internally to the file, as GET (what nginx does to a POST on
    an error-page redirect), with status 200. `return 200 '...'` would do
    for short bodies, but one nginx token holds at most 4 KiB and the
    recorded stream is longer.
    """
    answers = directory / "answers"
    answers.mkdir(parents=True, exist_ok=True)
    (answers / "chat.json").write_bytes(recorded(JSON_FIXTURE)[0])
    (answers / "chat.sse").write_bytes(recorded(SSE_FIXTURE)[0])
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    return f"""
worker_processes 1;
daemon off;
master_process on;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    # Clients and gateways keep their connections: never close one on a count.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_buffer_size 64k;
    etag off;
    server {{
        listen 127.0.0.1:{json_port} backlog=4096;
        location = /v1/chat/completions {{
            error_page 405 =200 /answer;
            return 405;
        }}
        location = /answer {{
            internal;
            default_type application/json;
            alias {answers}/chat.json;
        }}
        location / {{ return 404; }}
    }}
    server {{
        listen 127.0.0.1:{sse_port} backlog=4096;
        location = /v1/chat/completions {{
            error_page 405 =200 /answer;
            return 405;
        }}
        location = /answer {{
            internal;
            default_type "text/event-stream; charset=utf-8";
            add_header Cache-Control no-cache;
            alias {answers}/chat.sse;
        }}
        location / {{ return 404; }}
    }}
}}
"""


def write_config(directory: Path, *, json_port: int, sse_port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory, json_port=json_port, sse_port=sse_port))
    return config


def binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise ProcessFailed("nginx is not installed (apt-get install nginx-light)")
    return found


async def start(
    exits: AsyncExitStack, directory: Path, logs: Path, *, json_port: int, sse_port: int
) -> tuple[Upstream, Child]:
    config = write_config(directory, json_port=json_port, sse_port=sse_port)
    argv = [binary(), "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(config)]
    child = Child("nginx", argv, env={"PATH": "/usr/sbin:/usr/bin:/bin"}, log=logs / "nginx.log")
    upstream = Upstream(json_port=json_port, sse_port=sse_port)
    await started(exits, child, http_probe(f"{upstream.url(sse_port)}/", statuses=(404,)))
    return upstream, child
