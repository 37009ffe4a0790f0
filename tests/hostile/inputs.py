"""Hypothesis strategies for hostile request parts, each drawn as raw BYTES.

What a hostile client sends is often not something `json.dumps` can make (a
lone surrogate, invalid UTF-8, `NaN`, a duplicate key, 10,000 levels of
nesting, 2**70), nor something aiohttp's client will write (a NUL in a header,
a byte above 0x7f in a path), so every strategy here yields bytes plus a short
`kind` naming what is hostile in them; the kind (never the bytes) goes into
the failure report.

Rules: a strategy's own data stays small (Hypothesis keeps a few KB per
example), so sizes are drawn as numbers and the long inputs built from them.
Nothing here knows a route: `probes.py` puts the parts together for one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import strategies as st

# ---------------------------------------------------------------- JSON fragments


@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of JSON text (not always valid JSON) and what is hostile in it."""

    text: bytes
    kind: str


def literal(value: Any) -> Fragment:
    return Fragment(orjson.dumps(value), "valid")


def _string(inner: bytes, kind: str) -> Fragment:
    return Fragment(b'"' + inner + b'"', kind)


_CONTROL = [0x01, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F, 0x85, 0x2028, 0x202E, 0xFEFF]
_BAD_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",  # a lead byte without its continuation
    b"\xc0\xaf",  # an overlong "/"
    b"\xe2\x82",  # cut short
    b"\xed\xa0\x80",  # a surrogate, UTF-8 encoded (CESU)
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # a five-byte form
]
_SURROGATES = [b"\\ud800", b"\\udfff", b"\\ud83d", b"\\udc00\\ud800", b"x\\ud800y"]
DATE_EDGES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T12:00:00Z",
    "9999-12-31",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "2038-01-19T03:14:08Z",
    "2262-04-11T23:47:16.854775808Z",
    "2023-02-29T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2016-12-31T23:59:60Z",
    "2025-01-01T24:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-01-01T00:00:00",
    "2025-01-01T00:00:00+24:00",
    "294277-01-01T00:00:00Z",
    "infinity",
    "-infinity",
    "epoch",
    "now",
    "4713-01-01 BC",
]
LONG_LENGTHS = [201, 1_001, 4_097, 65_537, 100_000]


@st.composite
def hostile_strings(draw: st.DrawFn) -> Fragment:
    """A JSON string literal carrying something hostile, between ordinary text."""
    before = draw(st.sampled_from([b"", b"a", b"gpt-4o-mini"]))
    choice = draw(st.integers(0, 9))
    if choice < 2:
        inner, kind = b"\\u0000", "NUL (escaped)"
    elif choice == 2:
        point = draw(st.sampled_from(_CONTROL))
        inner, kind = f"\\u{point:04x}".encode(), "control character"
    elif choice == 3:
        inner, kind = draw(st.sampled_from(_SURROGATES)), "lone surrogate"
    elif choice == 4:
        inner, kind = draw(st.sampled_from(_BAD_UTF8)), "invalid UTF-8"
    elif choice == 5:
        inner, kind = draw(st.sampled_from([b"\x00", b"\x01", b"\n", b"\x1f"])), "raw control byte"
    elif choice < 8:
        unit = draw(st.sampled_from([b"a", "\u00e9".encode(), "\U0001f600".encode(), b"\\u0000"]))
        inner, kind = unit * draw(st.sampled_from(LONG_LENGTHS)), "long string"
    elif choice == 8:
        inner, kind = draw(st.sampled_from(DATE_EDGES)).encode(), "calendar edge"
        before = b""
    else:
        text = draw(st.text(max_size=12))
        inner, kind = orjson.dumps(text)[1:-1], "unicode text"
    after = draw(st.sampled_from([b"", b"b"]))
    return _string(before + inner + after, kind)


_NUMBERS = [
    (b"18446744073709551616", "2**64"),
    (str(2**70).encode(), "2**70"),
    (str(-(2**63) - 1).encode(), "below int64"),
    (b"1" + b"0" * 5000, "5,001-digit integer"),
    (b"1e400", "float overflow"),
    (b"-1e400", "float overflow"),
    (b"1e-400", "float underflow"),
    (b"NaN", "NaN"),
    (b"Infinity", "Infinity"),
    (b"-Infinity", "-Infinity"),
    (b"-0", "negative zero"),
    (b"0.1e1", "float for integer"),
    (b"01", "leading zero"),
    (b"+1", "plus sign"),
    (b".5", "bare fraction"),
    (b"0x10", "hex"),
    (b"9007199254740993", "past double precision"),
    (b"1E+308", "largest double"),
    (b"-1", "negative"),
]


@st.composite
def hostile_numbers(draw: st.DrawFn) -> Fragment:
    if draw(st.booleans()):
        text, kind = draw(st.sampled_from(_NUMBERS))
        return Fragment(text, f"number: {kind}")
    value = draw(st.integers(min_value=-(2**80), max_value=2**80))
    return Fragment(str(value).encode(), "integer up to 2**80")


WRONG_TYPES = [b"null", b"true", b"false", b"[]", b"{}", b'""', b"0", b"[null]", b'{"a": 1}']

NESTING_DEPTHS = [64, 513, 1_025, 10_000, 100_000]


@st.composite
def nestings(draw: st.DrawFn) -> Fragment:
    depth = draw(st.sampled_from(NESTING_DEPTHS))
    shape = draw(st.sampled_from(["array", "object", "unclosed"]))
    if shape == "array":
        text = b"[" * depth + b"]" * depth
    elif shape == "object":
        text = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        text = b"[" * depth
    return Fragment(text, f"{depth}-level {shape} nesting")


def leaves() -> st.SearchStrategy[Fragment]:
    return st.one_of(
        hostile_strings(),
        hostile_strings(),
        hostile_numbers(),
        st.sampled_from(WRONG_TYPES).map(lambda text: Fragment(text, "wrong type")),
        nestings(),
    )


def render_array(items: list[Fragment]) -> Fragment:
    kinds = ", ".join(sorted({f.kind for f in items})) or "empty"
    return Fragment(b"[" + b",".join(f.text for f in items) + b"]", f"array of {kinds}")


def render_object(pairs: list[tuple[Fragment, Fragment]]) -> Fragment:
    kinds = {k.kind for k, _ in pairs} | {v.kind for _, v in pairs}
    text = b"{" + b",".join(k.text + b":" + v.text for k, v in pairs) + b"}"
    return Fragment(text, f"object of {', '.join(sorted(kinds)) or 'nothing'}")


def keys() -> st.SearchStrategy[Fragment]:
    """Object keys: ordinary, empty, hostile strings."""
    return st.one_of(
        st.sampled_from(["a", "", "__proto__", "constructor", "model"]).map(literal),
        hostile_strings(),
    )


def values() -> st.SearchStrategy[Fragment]:
    """Any hostile JSON value, leaves and small containers of them."""
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(render_array),
            st.lists(st.tuples(keys(), children), max_size=3).map(render_object),
        ),
        max_leaves=4,
    )


# ---------------------------------------------------------------- bodies

_JUNK_BODIES = [
    (b"", "empty body"),
    (b"   \r\n", "blank body"),
    (b"null", "null body"),
    (b"[]", "array body"),
    (b'"text"', "string body"),
    (b"{", "truncated JSON"),
    (b'{"a":1}{"a":2}', "two JSON objects"),
    (b'{"a":1} trailing', "trailing garbage"),
    (b"\xef\xbb\xbf{}", "byte-order mark"),
    (b"\xff\xfe{\x00}\x00", "UTF-16 JSON"),
    (b"\xc3\x28{}", "invalid UTF-8 outside strings"),
    (b"NaN", "NaN body"),
    (b"{'a': 1}", "single quotes"),
    (b'{"a":1,}', "trailing comma"),
    (b"/* c */ {}", "comment"),
    (b"\x00\x00\x00\x00", "NUL bytes"),
    (b"a=1&b=2", "form body"),
]
BIG_BODY_SIZES = [(1024 * 1024 + 1, "body over 1 MiB"), (10 * 1024 * 1024 + 1, "body over 10 MiB")]


@dataclass(frozen=True, slots=True)
class Body:
    raw: bytes
    kind: str
    may_close: bool = False  # over a limit: the server may close before answering


def render_template(template: dict[str, Any], changes: list[tuple[Fragment, Fragment]]) -> bytes:
    """The template as a JSON object with `changes` appended (raw, duplicates kept)."""
    pairs = [(literal(k), literal(v)) for k, v in template.items()]
    return render_object(pairs + changes).text


Path = tuple[str | int, ...]


def leaf_paths(value: Any, path: Path = ()) -> list[Path]:
    """Where the leaves of a JSON value are, deepest structures included."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaf_paths(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*path, i))] or [path]
    return [path]


def render_with(value: Any, path: Path, fragment: Fragment) -> bytes:
    """`value` as JSON text with the leaf at `path` replaced by `fragment`."""
    if not path:
        return fragment.text
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        items = [
            literal(k).text
            + b":"
            + (render_with(v, rest, fragment) if k == head else literal(v).text)
            for k, v in value.items()
        ]
        return b"{" + b",".join(items) + b"}"
    items = [
        render_with(v, rest, fragment) if i == head else literal(v).text
        for i, v in enumerate(value)
    ]
    return b"[" + b",".join(items) + b"]"


@st.composite
def deep(draw: st.DrawFn, template: dict[str, Any]) -> Body:
    """The template with one leaf, however deep (a message's text), made hostile:
    a request that passes every check but the one the leaf is for."""
    path = draw(st.sampled_from(leaf_paths(template)))
    value = draw(st.one_of(hostile_strings(), hostile_strings(), leaves()))
    where = ".".join(str(p) for p in path)
    return Body(render_with(template, path, value), f"{where}: {value.kind}")


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> Body:
    """The route's valid-looking body with one field (or two) made hostile."""
    names = list(template) or ["a"]
    pairs = {k: literal(v) for k, v in template.items()}
    how = draw(st.sampled_from(["replace", "replace", "replace", "duplicate", "add", "drop"]))
    name = draw(st.sampled_from(names))
    if how == "drop":
        pairs.pop(name, None)
        kind = f"{name} left out"
        if draw(st.booleans()) and pairs:
            other = draw(st.sampled_from(sorted(pairs)))
            value = draw(values())
            pairs[other] = value
            kind += f"; {other}: {value.kind}"
        return Body(render_object([(literal(k), v) for k, v in pairs.items()]).text, kind)
    value = draw(values())
    if how == "replace":
        pairs[name] = value
        return Body(
            render_object([(literal(k), v) for k, v in pairs.items()]).text,
            f"{name}: {value.kind}",
        )
    if how == "duplicate":
        raw = render_template(template, [(literal(name), value)])
        return Body(raw, f"duplicate key {name}: {value.kind}")
    key = draw(keys())
    raw = render_template(template, [(key, value)])
    return Body(raw, f"extra field ({key.kind}): {value.kind}")


@st.composite
def focused(draw: st.DrawFn, template: dict[str, Any], focus: tuple[str, ...]) -> Body:
    """The template, valid but for one of the fields a route records or looks up
    (a model name, a reason, a date) holding a hostile string."""
    name = draw(st.sampled_from(focus))
    value = draw(hostile_strings())
    return Body(render_with(template, (name,), value), f"{name}: {value.kind}")


@st.composite
def bodies(draw: st.DrawFn, template: dict[str, Any] | None, focus: tuple[str, ...] = ()) -> Body:
    """A body for a route: mostly its template made hostile (a field, a deep leaf,
    a focus field), sometimes junk, a bare hostile value, or a body past the
    size limits."""
    choice = draw(st.integers(0, 19))
    if template is not None and choice < 5:
        return draw(mutated(template))
    if template is not None and choice < 9:
        return draw(deep(template))
    if template is not None and choice < 12:
        return draw(focused(template, focus) if focus else deep(template))
    if choice < 15:
        raw, kind = draw(st.sampled_from(_JUNK_BODIES))
        return Body(raw, kind)
    if choice < 19:
        value = draw(st.one_of(values(), nestings()))
        return Body(value.text, f"whole body: {value.kind}")
    size, kind = draw(st.sampled_from(BIG_BODY_SIZES))
    return Body(b'{"a":"' + b"x" * size + b'"}', kind, may_close=True)


# ---------------------------------------------------------------- path segments and queries

_SEGMENTS = [
    (b"%00", "NUL"),
    (b"pz%00", "NUL"),
    (b"a%00b", "NUL"),
    (b"%ff", "invalid UTF-8"),
    (b"%c0%af", "overlong UTF-8"),
    (b"%ed%a0%80", "encoded surrogate"),
    (b"%e2%80%ae", "bidi override"),
    (b"%01%1f%7f", "control characters"),
    (b"..", "dot-dot"),
    (b"%2e%2e", "encoded dot-dot"),
    (b"%2F", "encoded slash"),
    (b"a%2Fb", "encoded slash"),
    (b"%20", "space"),
    (b"%", "lone percent"),
    (b"%zz", "bad percent escape"),
    (b"%u0000", "%u escape"),
    (b"\xff", "raw byte 0xff"),
    (b"\xc3\xa9", "raw UTF-8"),
    (b"-1", "negative number"),
    (b"9" * 40, "long number"),
    (b"0" * 36, "zeros"),
    (b"00000000-0000-0000-0000-000000000000", "nil UUID"),
    (b"{}", "braces"),
    (b"*", "star"),
    (b"a:b", "colon"),
    (b";a=b", "path parameter"),
]
SEGMENT_LENGTHS = [201, 1_001, 8_200, 70_000]


@dataclass(frozen=True, slots=True)
class Part:
    """A path segment, query string or header set, and what is hostile in it."""

    raw: bytes
    kind: str
    may_close: bool = False  # the server may close the connection without answering


@st.composite
def segments(draw: st.DrawFn, known: list[str]) -> Part:
    """One path segment: a known good value (to reach the handler), a fresh UUID,
    or odd bytes; long ones past the request line's limit."""
    choice = draw(st.integers(0, 9))
    if choice < 2 and known:
        return Part(draw(st.sampled_from(known)).encode(), "known value")
    if choice == 2:
        return Part(str(draw(st.uuids())).encode(), "unknown UUID")
    if choice == 3:
        length = draw(st.sampled_from(SEGMENT_LENGTHS))
        unit = draw(st.sampled_from([b"a", b"%00", b"%ff"]))
        raw = unit * (length // len(unit))
        return Part(raw, f"{length}-byte segment", may_close=length > 8_000)
    if choice == 4 and known:
        good = draw(st.sampled_from(known)).encode()
        odd, kind = draw(st.sampled_from(_SEGMENTS))
        return Part(good + odd, f"known value + {kind}")
    raw, kind = draw(st.sampled_from(_SEGMENTS))
    return Part(raw, kind)


_QUERY_VALUES = [
    (b"%00", "NUL"),
    (b"a%00b", "NUL"),
    (b"%ff", "invalid UTF-8"),
    (b"%ed%a0%80", "encoded surrogate"),
    (b"%zz", "bad percent escape"),
    (b"%", "lone percent"),
    (b"\xff", "raw byte 0xff"),
    (b"\xc3\xa9", "raw UTF-8"),
    (b"+", "plus"),
    (b"", "empty"),
    (b"-1", "negative"),
    (b"0", "zero"),
    (str(2**70).encode(), "2**70"),
    (b"1e3", "exponent"),
    (b"%20%201", "padded number"),
    ("\u0663".encode(), "Arabic-Indic digit"),
    (b"NaN", "NaN"),
    (b"true", "boolean"),
    (b"a;b", "semicolon"),
    (b"[]", "brackets"),
]


def _quote_date(text: str) -> bytes:
    return text.replace("+", "%2B").replace(" ", "%20").encode()


@st.composite
def query_values(draw: st.DrawFn) -> Part:
    choice = draw(st.integers(0, 5))
    if choice < 3:
        raw, kind = draw(st.sampled_from(_QUERY_VALUES))
        return Part(raw, kind)
    if choice == 3:
        return Part(_quote_date(draw(st.sampled_from(DATE_EDGES))), "calendar edge")
    if choice == 4:
        length = draw(st.sampled_from(SEGMENT_LENGTHS))
        return Part(b"a" * length, f"{length}-byte value", may_close=length > 8_000)
    # A cursor-like value: URL-safe base64 of hostile JSON.
    inner = draw(values())
    return Part(base64.urlsafe_b64encode(inner.text[:2000]).rstrip(b"="), f"base64 of {inner.kind}")


@st.composite
def queries(draw: st.DrawFn, names: dict[str, list[str]]) -> Part:
    """A query string: the route's own parameters (good values beside hostile
    ones, so one bad parameter is not hidden by another) and stray ones, some
    repeated, some without `=`."""
    pool = [*names, "key", "a", "%00", "format", "limit"]
    count = draw(st.integers(0, 4))
    pairs: list[bytes] = []
    kinds: list[str] = []
    may_close = False
    for _ in range(count):
        name = draw(st.sampled_from(pool))
        good = names.get(name, [])
        take_good: bool = draw(st.booleans())
        if good and take_good:
            pairs.append(name.encode() + b"=" + draw(st.sampled_from(good)).encode())
            continue
        value = draw(query_values())
        form = draw(st.sampled_from(["pair", "pair", "pair", "repeat", "bare"]))
        if form == "bare":
            pairs.append(name.encode())
            kinds.append(f"{name} without value")
            continue
        pairs.append(name.encode() + b"=" + value.raw)
        if form == "repeat":
            pairs.append(name.encode() + b"=" + value.raw)
        kinds.append(f"{name}{' twice' if form == 'repeat' else ''}: {value.kind}")
        may_close = may_close or value.may_close
    tail = draw(st.sampled_from([b"", b"", b"&", b"&&", b"#fragment"]))
    return Part(b"&".join(pairs) + tail, "; ".join(kinds) or "no query", may_close=may_close)


# ---------------------------------------------------------------- headers

HeaderList = list[tuple[bytes, bytes]]

_HEADER_SETS: list[tuple[HeaderList, str, bool]] = [
    ([(b"X-Long", b"a" * 100_000)], "100 KB header value", True),
    ([(b"X-Long", b"a" * 9_000)], "9 KB header value", True),
    ([(b"User-Agent", b"u" * 20_000)], "20 KB user agent", True),
    ([(f"X-Many-{i}".encode(), b"v") for i in range(200)], "200 headers", True),
    ([(b"X-Nul", b"a\x00b")], "NUL in header value", True),
    ([(b"X-Ctl", b"a\x01\x7fb")], "control bytes in header value", True),
    ([(b"X-High", b"\xff\xfe\xc3\x28")], "bytes above 0x7f in header value", False),
    ([(b"X-Fold", b"a\r\n folded")], "obs-fold header", True),
    ([(b"X-Cr", b"a\rb")], "bare CR in header value", True),
    ([(b"X Bad", b"v")], "space in header name", True),
    ([(b"X\x00Bad", b"v")], "NUL in header name", True),
    ([(b"", b"v")], "empty header name", True),
    ([(b"User-Agent", b"agent\x00\x01")], "NUL in user agent", True),
    ([(b"User-Agent", b"\xff\xfe agent")], "invalid UTF-8 user agent", False),
    ([(b"User-Agent", "\u202eagent".encode())], "bidi user agent", False),
    ([(b"X-Forwarded-For", b"999.1.1.1, \xff, ::g")], "junk X-Forwarded-For", False),
    ([(b"X-Request-Id", b"\xff" * 300)], "junk X-Request-Id", False),
    ([(b"X-Tollgate-User-Id", b"00000000-0000-0000-0000-000000000000")], "spoofed internal", False),
    ([(b"X-Tollgate-Role", b"admin")], "spoofed role", False),
    ([(b"Content-Type", b"text/plain")], "text/plain", False),
    ([(b"Content-Type", b"application/json; charset=utf-16")], "UTF-16 charset", False),
    ([(b"Content-Type", b"multipart/form-data; boundary=")], "empty multipart boundary", False),
    ([(b"Content-Type", b"application/x-www-form-urlencoded")], "form content type", False),
    ([(b"Content-Type", b"application/json"), (b"Content-Type", b"text/html")], "two types", False),
    ([(b"Content-Encoding", b"gzip")], "gzip claimed, not gzip", False),
    ([(b"Content-Encoding", b"br, deflate, zstd")], "stacked encodings claimed", False),
    ([(b"Expect", b"100-continue")], "Expect: 100-continue", False),
    ([(b"Expect", b"teapot")], "unknown Expect", False),
    ([(b"Accept-Encoding", b"\x00" * 10)], "junk Accept-Encoding", True),
    ([(b"anthropic-version", b"\x00")], "junk anthropic-version", True),
    ([(b"anthropic-version", b"9999-99-99")], "future anthropic-version", False),
    ([(b"anthropic-beta", b"a" * 5000)], "long anthropic-beta", False),
    ([(b"Connection", b"keep-alive, Upgrade"), (b"Upgrade", b"websocket")], "upgrade", True),
]


def _at_least_2(body: bytes) -> bytes:
    """A body no shorter than any Content-Length below claims: a server waiting
    for bytes the client never sends is the client's hang, not the server's."""
    return body if len(body) >= 2 else b"{}"


# Framing: these replace the Content-Length the sender would add.
_FRAMINGS: list[tuple[HeaderList, Callable[[bytes], bytes], str]] = [
    ([(b"Transfer-Encoding", b"chunked")], lambda b: b"zz\r\n" + b + b"\r\n0\r\n\r\n", "bad chunk"),
    (
        [(b"Transfer-Encoding", b"chunked")],
        lambda b: f"{len(b):x}\r\n".encode() + b + b"\r\n0\r\n\r\n",
        "chunked",
    ),
    (
        [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")],
        lambda b: f"{len(b):x}\r\n".encode() + b + b"\r\n0\r\n\r\n",
        "chunked and Content-Length",
    ),
    ([(b"Transfer-Encoding", b"gzip, chunked")], lambda b: b"0\r\n\r\n", "gzip transfer coding"),
    ([(b"Content-Length", b"-1")], _at_least_2, "negative Content-Length"),
    ([(b"Content-Length", b"1e3")], _at_least_2, "Content-Length 1e3"),
    ([(b"Content-Length", b"1"), (b"Content-Length", b"2")], _at_least_2, "two Content-Lengths"),
    ([(b"Content-Length", b"99999999999999999999999")], _at_least_2, "huge Content-Length"),
    ([(b"Content-Length", b"1")], _at_least_2, "short Content-Length"),
]

CREDENTIAL_JUNK: list[tuple[bytes, str]] = [
    (b"Bearer", "Bearer without token"),
    (b"Bearer \x00", "NUL token"),
    (b"Basic YTpi", "Basic auth"),
    (b"Bearer " + b"a" * 10_000, "10 KB token"),
    (b"Bearer tg-" + b"\xff" * 20, "key with bytes above 0x7f"),
    (b"Bearer tg-%00", "key with %00"),
    (b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "alg none JWT"),
    (b"Bearer a.b.c", "junk JWT"),
    (b"bearer  ", "blank bearer"),
]


@dataclass(frozen=True, slots=True)
class Headers:
    extra: HeaderList
    kind: str
    may_close: bool
    credential: bytes | None  # replaces the caller's Authorization when set
    framing: Callable[[bytes], bytes] | None = None


@st.composite
def headers(draw: st.DrawFn) -> Headers:
    """Mostly plain; else odd headers, junk credentials or junk framing."""
    choice = draw(st.integers(0, 9))
    if choice < 4:
        return Headers([], "plain headers", False, None)
    if choice < 7:
        extra, kind, big = draw(st.sampled_from(_HEADER_SETS))
        return Headers(list(extra), kind, big, None)
    if choice < 9:
        credential, kind = draw(st.sampled_from(CREDENTIAL_JUNK))
        return Headers([], kind, True, credential)
    extra, framing, kind = draw(st.sampled_from(_FRAMINGS))
    return Headers(list(extra), kind, True, None, framing)


METHODS = [b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD", b"get", b"FOO"]
