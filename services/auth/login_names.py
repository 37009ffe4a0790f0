"""Login names: the one key by which a username or an email finds its account.

Rules:
- `login_key` is the only normalisation of a login string. Sign-up stores it
  next to the name (unique columns `username_key`, `email_key`), login looks
  the account up by it, so every spelling that normalises alike is one account
  and a name equal to a taken one after normalisation is refused as taken.
- The key is NFKC, then full Unicode case folding, then NFKC again (folding can
  un-normalise), with one addition: the combining dot above (U+0307) after a
  soft-dotted `i` or `j` is dropped. Case folding turns the Turkish capital
  `İ` (U+0130) into `i` + U+0307, which would otherwise be a second spelling
  of `i` that looks the same; the dot on a lowercase `i` adds nothing.
- `display_username` is what is stored and shown: the name as given, in NFKC
  (so fullwidth `ａｄａ` is stored as `ada`, and is then held to the ASCII
  username rule), case kept.
"""

from __future__ import annotations

import re
import unicodedata

_DOT_ABOVE_ON_SOFT_DOTTED = re.compile("(?<=[ij])\u0307")


def login_key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text.strip()).casefold())
    return _DOT_ABOVE_ON_SOFT_DOTTED.sub("", folded)


def display_username(text: str) -> str:
    return unicodedata.normalize("NFKC", text.strip())
