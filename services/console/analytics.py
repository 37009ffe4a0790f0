"""Optional product analytics (PostHog), a side channel (DESIGN 8 and 15).

Off unless the operator sets `POSTHOG_KEY`. When on, every page loads our
`static/analytics.js` (deferred: nothing waits for it), which queues calls in
the stub PostHog's `array.js` expects and adds that script, asynchronously,
from PostHog's assets host; the Content-Security-Policy names PostHog's hosts
only then (`security.policy`). When PostHog is down or blocked, the page
works the same: the library never arrives and the queued calls are dropped.

What is sent: page views (the address without its query, which can hold a
mailed token) and four product events (`signed_up`, `key_created`,
`config_copied`, `top_up_started`), anonymous (no identify, no person
profiles, no autocapture of clicked text, no session recording).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

# The events a page may mark on `<body data-analytics-event>`; anything else is dropped.
EVENTS = ("signed_up", "key_created", "top_up_started")
US_HOST = "https://us.i.posthog.com"


@dataclass(frozen=True)
class Analytics:
    key: str
    api_host: str  # where events go
    assets_host: str  # where the library comes from

    @property
    def hosts(self) -> tuple[str, ...]:
        """The origins the Content-Security-Policy must allow."""
        return tuple(dict.fromkeys(_origin(host) for host in (self.api_host, self.assets_host)))


def configured(key: str | None, host: str) -> Analytics | None:
    if not key:
        return None
    host = host.rstrip("/")
    # PostHog's cloud serves its library from `<region>-assets.i.posthog.com`
    # (as its documented snippet does); a self-hosted or proxied PostHog serves both.
    assets = host.replace(".i.posthog.com", "-assets.i.posthog.com")
    return Analytics(key=key, api_host=host, assets_host=assets)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
