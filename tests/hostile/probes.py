"""One hostile request for one route: the parts of `inputs.py` put together.

A `Probe` is the bytes to write and a summary of what is hostile in them (the
kinds, never the bytes: a summary is safe to print). The caller's credential
goes where the route's clients put it: `Authorization: Bearer` for `/api`,
and for the relay any of the forms the SDKs use (bearer, `x-api-key`,
`x-goog-api-key`, `?key=`), unless the probe's headers replace it with junk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from tests.hostile import inputs
from tests.hostile.routes import Known, Route, Spec, fill
from tests.hostile.wire import request_bytes

KIND_LIMIT = 300
PROFILE = "tollgate-hostile"  # registered in conftest.py
RAW = b"RAW"


@dataclass(frozen=True, slots=True)
class Probe:
    method: bytes
    target: bytes
    headers: inputs.HeaderList
    body: bytes | None
    kind: str
    may_close: bool  # the server may close the connection without an answer

    @property
    def head(self) -> bool:
        """A HEAD request: its answer has no body whatever its Content-Length says."""
        return self.method == b"HEAD" or (self.method == RAW and self.target.startswith(b"HEAD "))

    def raw(self, host: bytes) -> bytes:
        if self.method == RAW:  # the whole request is in `target`, as written
            return self.target
        return request_bytes(self.method, self.target, self.headers, self.body, host=host)


def _summary(parts: list[str]) -> str:
    text = "; ".join(p for p in parts if p) or "valid-looking request"
    return text if len(text) <= KIND_LIMIT else text[: KIND_LIMIT - 3] + "..."


_BORING = {"known value", "plain headers", "no query"}


@st.composite
def probes(
    draw: st.DrawFn, route: Route, spec: Spec, known: Known, credential: str, relay: bool
) -> Probe:
    kinds: list[str] = []
    may_close = False
    method = route.method.encode()
    if route.method == "*":
        method = draw(st.sampled_from([m.encode() for m in spec.methods]))
        kinds.append(f"method {method.decode(errors='replace')}")

    values: dict[str, bytes] = {}
    for name in route.params:
        known_values = spec.params[name](known) if name in spec.params else []
        part = draw(inputs.segments(known_values))
        values[name] = part.raw
        may_close = may_close or part.may_close
        if part.kind not in _BORING:
            kinds.append(f"path {name}: {part.kind}")
    target = fill(route.path, values)

    query = b""
    if method in {b"GET", b"DELETE"} or draw(st.integers(0, 3)) == 0:
        part = draw(inputs.queries(spec.query))
        query = part.raw
        may_close = may_close or part.may_close
        if part.kind not in _BORING:
            kinds.append(f"query {part.kind}")

    body: bytes | None = None
    if spec.body is not None:
        drawn = draw(inputs.bodies(spec.body(known), spec.focus))
    elif draw(st.integers(0, 4)) == 0:
        drawn = draw(inputs.bodies(None))
    else:
        drawn = None
    if drawn is not None:
        body = drawn.raw
        may_close = may_close or drawn.may_close
        kinds.append(f"body {drawn.kind}")

    extra = draw(inputs.headers())
    may_close = may_close or extra.may_close
    if extra.kind not in _BORING:
        kinds.append(f"headers {extra.kind}")

    headers: inputs.HeaderList = []
    if extra.credential is not None:
        headers.append((b"Authorization", extra.credential))
    elif relay:
        place = draw(st.sampled_from(["authorization", "x-api-key", "x-goog-api-key", "query"]))
        if place == "authorization":
            headers.append((b"Authorization", b"Bearer " + credential.encode()))
        elif place == "query":
            query = b"key=" + credential.encode() + (b"&" + query if query else b"")
        else:
            headers.append((place.encode(), credential.encode()))
    else:
        headers.append((b"Authorization", b"Bearer " + credential.encode()))
    names = {name.lower() for name, _ in extra.extra}
    if body is not None and b"content-type" not in names:
        headers.append((b"Content-Type", b"application/json"))
    headers += extra.extra
    if extra.framing is not None:
        body = extra.framing(body or b"")

    if query:
        target += b"?" + query
    return Probe(method, target, headers, body, _summary(kinds), may_close)


def draw(strategy: st.SearchStrategy[Probe], name: str, count: int | None = None) -> list[Probe]:
    """`count` probes from `strategy` (by default the profile's `max_examples`),
    the same ones on every run: seeded from `name` (a route's, so each route
    gets its own inputs, and its callers the same ones), no example database."""
    drawn: list[Probe] = []
    profile = settings.get_profile(PROFILE)

    @seed(zlib.crc32(name.encode()))
    @settings(profile, max_examples=count or profile.max_examples)
    @given(strategy)
    def collect(probe: Probe) -> None:
        drawn.append(probe)

    collect()
    return drawn
