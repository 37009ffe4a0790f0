"""An in-process cache whose entries a Redis notice can drop at once.

The gateway caches what auth told it (an API key's principal, a session's,
a user's token generation) so a request needs no round trip, and trusts an
entry only while revocation notices can reach it:

- an entry lives `ttl_seconds` at most;
- while the invalidation feed is down nothing is cached, and the cache
  starts empty each time the feed is (re)made (`on_live`);
- every drop and feed change moves an epoch, and an answer is kept only if
  the epoch did not move while it was being fetched (`put` with the epoch
  read before asking), so a revocation racing a lookup is never outlived by
  the stale answer;
- past `max_entries` the whole cache is emptied (a flood of distinct
  credentials cannot grow it without bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 100_000


class RevocableCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[K, tuple[V, float]] = {}
        self._live = False
        self._epoch = 0

    @property
    def live(self) -> bool:
        """Whether notices reach this process (then answers are cached)."""
        return self._live

    @property
    def epoch(self) -> int:
        """Read before asking the source; pass to `put` with its answer."""
        return self._epoch

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None or not self._live or found[1] <= time.monotonic():
            return None
        return found[0]

    def put(self, key: K, value: V, epoch: int) -> None:
        """Keep `value` unless the feed is down or something was dropped since `epoch`."""
        if not self._live or epoch != self._epoch:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + self._ttl)

    def drop(self, key: K) -> None:
        self._epoch += 1
        self._entries.pop(key, None)

    def drop_where(self, matches: Callable[[V], bool]) -> None:
        self._epoch += 1
        stale = [key for key, (value, _) in self._entries.items() if matches(value)]
        for key in stale:
            del self._entries[key]

    def on_live(self, live: bool) -> None:
        self._epoch += 1
        self._entries.clear()
        self._live = live
