"""Time zones named by clients: an IANA name (`Asia/Shanghai`) or nothing.

Pure. A zone is taken only when it is one of the names the system's IANA
database lists (`zoneinfo.available_timezones()`), so a path, a POSIX TZ
string or a legacy alias the database does not list is refused the same way
an unknown name is. A problem is worded without the value (see
`shared.client_input`): the caller quotes it capped if it must.
"""

from __future__ import annotations

import functools
import zoneinfo

UTC_NAME = "UTC"
MAX_LENGTH = 64  # the longest IANA name is about 32 characters


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone this project takes, or None."""
    if len(name) > MAX_LENGTH or name not in _known():
        return "must be an IANA time zone name such as Europe/Paris or Asia/Shanghai"
    return None


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone of a name `zone_problem` accepted."""
    return zoneinfo.ZoneInfo(name)
