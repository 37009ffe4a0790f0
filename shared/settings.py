"""Reading settings from the environment, once, at start-up.

Every service builds one frozen settings object with these readers. Each reader
names the variable and what is wrong with it in the `SettingsError` it raises,
so a bad deployment stops with a message an operator can act on. Nothing else
in the code base reads the environment.

Secrets have no defaults. In dev mode (`TOLLGATE_ENV=dev`) a missing secret is
generated once and kept under the data directory, so a restarted dev stack keeps
its tokens valid; in any other mode a missing secret stops start-up.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet
from yarl import URL

T = TypeVar("T")

Environ = Mapping[str, str]


class SettingsError(Exception):
    """A variable is missing or malformed; the message names it."""


def environ() -> Environ:
    """The process environment, read once by a service's `__main__`."""
    return dict(os.environ)


def load_or_exit(build: Callable[[Environ], T]) -> T:
    """Build settings from the process environment, or stop with the reason."""
    try:
        return build(environ())
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")


def text(env: Environ, name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None or value == "":
        raise SettingsError(f"{name} is required but not set")
    return value


def integer(env: Environ, name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def port(env: Environ, name: str, default: int) -> int:
    return integer(env, name, default, low=1, high=65535)


def flag(env: Environ, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def url(env: Environ, name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    raw = env.get(name) or default
    parsed = URL(raw)
    if parsed.scheme not in schemes or not parsed.host:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must be a {wanted} URL with a host, got {_redact(raw)!r}")
    return raw.rstrip("/") if parsed.scheme.startswith("http") else raw


def _redact(raw: str) -> str:
    try:
        parsed = URL(raw)
    except ValueError:
        return "<unparseable>"
    return str(parsed.with_password("***")) if parsed.password else raw


@dataclass(frozen=True, kw_only=True)
class Mode:
    """Whether secrets may be generated (dev) and where dev state lives."""

    dev: bool
    data_dir: Path


def mode(env: Environ) -> Mode:
    name = env.get("TOLLGATE_ENV", "production")
    if name not in {"dev", "test", "production"}:
        raise SettingsError(f"TOLLGATE_ENV must be dev, test or production, got {name!r}")
    return Mode(dev=name in {"dev", "test"}, data_dir=Path(env.get("TOLLGATE_DATA_DIR", ".data")))


def secret(env: Environ, name: str, mode: Mode, generate: Callable[[], str]) -> str:
    """A secret from the environment, or in dev mode from (or into) the data dir."""
    value = env.get(name)
    if value:
        return value
    if not mode.dev:
        raise SettingsError(
            f"{name} is required outside dev mode; generate one with `tollgate secrets` "
            "and set it in the environment"
        )
    path = mode.data_dir / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = generate()
    # O_EXCL: when several dev processes start at once, the first writer wins.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def token_secret() -> str:
    return secrets.token_urlsafe(32)


def fernet_secret() -> str:
    return Fernet.generate_key().decode()


def fernet_keys(raw: str, name: str) -> tuple[str, ...]:
    """A comma-separated Fernet key set, newest first (rotation prepends)."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not keys:
        raise SettingsError(f"{name} must hold at least one Fernet key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise SettingsError(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64 bytes)"
            ) from None
    return keys


@dataclass(frozen=True, kw_only=True)
class Common:
    """What every service reads: its stores, its secrets and its port."""

    dev: bool
    data_dir: Path
    database_url: str
    redis_url: str
    internal_token: str
    host: str
    port: int
    log_level: str
    # Names this process among its service's replicas (the stream consumer's
    # name, so a restarted process re-reads what it had pending).
    instance: str = socket.gethostname()
    # Bind with SO_REUSEPORT, so several processes of one service share its
    # port and the kernel spreads connections between them.
    reuse_port: bool = False
    # `/metrics` is served only here, never on the service's own port; 0: not served.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # Seconds a client has to send a whole request head (shared/http_server.py).
    head_timeout: float = 10.0


def common(env: Environ, *, port_var: str, default_port: int) -> Common:
    run_mode = mode(env)
    token = secret(env, "TOLLGATE_INTERNAL_TOKEN", run_mode, token_secret)
    if len(token) < 16:
        raise SettingsError("TOLLGATE_INTERNAL_TOKEN must be at least 16 characters")
    level = env.get("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return Common(
        dev=run_mode.dev,
        data_dir=run_mode.data_dir,
        database_url=url(
            env,
            "DATABASE_URL",
            "postgresql://postgres@127.0.0.1:5432/tollgate",
            schemes=("postgresql", "postgres"),
        ),
        redis_url=url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss")),
        internal_token=token,
        host=env.get("TOLLGATE_HOST", "127.0.0.1"),
        port=port(env, port_var, default_port),
        log_level=level,
        instance=env.get("TOLLGATE_INSTANCE") or socket.gethostname(),
        reuse_port=flag(env, "TOLLGATE_REUSE_PORT", False),
        metrics_host=env.get("TOLLGATE_METRICS_HOST", "127.0.0.1"),
        # GATEWAY_PORT 8080 -> GATEWAY_METRICS_PORT 9180, and so on. Dev and
        # test mode run many stacks on one machine (`tollgate dev`, the
        # tests): no listener there unless asked for, so none collide.
        metrics_port=integer(
            env,
            port_var.removesuffix("_PORT") + "_METRICS_PORT",
            0 if run_mode.dev else default_port + 1100,
            low=0,
            high=65535,
        ),
        head_timeout=integer(env, "TOLLGATE_HEAD_TIMEOUT", 10, low=1, high=300),
    )
