"""What this gateway last saw left for a user: the balance above its floor, and
each limit's remaining count, by which the hold may leave the latency path.

Every placed hold answers what is then available above the floor (nano-USD)
and where each of the request's limits stands (`shared/limits.py`: requests
or tokens left, concurrency slots free, a key budget's nano-USD left). A later
request of the same user whose worst case, and each of whose limits' costs,
are covered `multiple` times over by what was last seen goes optimistic
(`relay/optimistic_hold.py`): hold and upstream request together. Anything
not seen yet (a first request, a limit or a budget period not met before)
or any refusal keeps the order, hold first, until a placed hold shows room
again: a client hammering a spent limit or balance never reaches upstream.
Redis failing forgets every user: while it is down, requests are refused
(503) without reaching upstream, as on the thin path.

In-process and bounded (`KNOWN_USERS`, the least recently seen forgotten
first); stale by nature (other requests and gateways spend meanwhile), which
only costs a cancelled upstream request: the hold's script alone decides.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.limits import Limit, Standing

KNOWN_USERS = 65_536


@dataclass(frozen=True, slots=True)
class _Seen:
    available: int  # nano-USD above the floor
    remaining: dict[str, int]  # limit key -> what was left of it


class Headroom:
    def __init__(self, multiple: int) -> None:
        self.multiple = multiple  # 0: never optimistic
        self._seen: dict[uuid.UUID, _Seen] = {}

    def covers(self, user_id: uuid.UUID, amount_nano: int, applied: tuple[Limit, ...]) -> bool:
        """Whether the last-seen balance and every applied limit's remainder each
        cover this request `multiple` times over."""
        multiple = self.multiple
        if multiple <= 0:
            return False
        seen = self._seen.get(user_id)
        if seen is None or seen.available < multiple * amount_nano:
            return False
        for limit in applied:
            left = seen.remaining.get(limit.key)
            if left is None or left < multiple * max(limit.cost, 1):
                return False
        return True

    def saw(
        self, user_id: uuid.UUID, available: int | None, standings: tuple[Standing, ...]
    ) -> None:
        """A hold was placed: what it left. None (an old script's answer): forget."""
        self._seen.pop(user_id, None)  # to the newest end
        if available is None:
            return
        if len(self._seen) >= KNOWN_USERS:
            del self._seen[next(iter(self._seen))]
        remaining = {standing.limit.key: standing.remaining for standing in standings}
        self._seen[user_id] = _Seen(available, remaining)

    def forget(self, user_id: uuid.UUID) -> None:
        """A refusal (by the balance, a limit or a budget): hold first from now on."""
        self._seen.pop(user_id, None)

    def clear(self) -> None:
        """Redis did not answer: every user's hold goes first until theirs is placed
        again, so only requests sent before the failure was seen went upstream."""
        self._seen.clear()
