"""The API's problems sorted by the form field they are about.

A refused body comes back as one 422 whose `details` name the field first
(`shared.bodies.Fields`: `"ip_allowlist: item 2 is not a CIDR network"`,
`"limits.rpm: must be an integer"`). A form shows each problem next to its
field (with `aria-invalid` and `aria-describedby`, so a screen reader reads
it with the field); a problem no field of the form owns stays in the list at
the top, so nothing the API said is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# The API's name of a field: words, dots and an index (`limits.rpm`, `ip_allowlist[2]`).
_NAMED = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:\[\d+\])?\s*:")


@dataclass(frozen=True)
class FieldProblems:
    """`by_field[form field]` lists what the API said of it (without the field's
    name, which its label says); `rest` the others, whole."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    rest: list[str] = field(default_factory=list)


def sort_problems(details: Iterable[str], fields: Mapping[str, str]) -> FieldProblems:
    """Sort `details` by `fields`, which maps the API's field name (`limits.rpm`)
    to the form's (`rpm`). A name missing from `fields` that has a known parent
    (`budget.usd` when `budget` is mapped) goes to the parent's field."""
    found = FieldProblems()
    for detail in details:
        match = _NAMED.match(detail)
        name = match.group(1) if match else ""
        target = fields.get(name)
        while target is None and "." in name:
            name = name.rsplit(".", 1)[0]
            target = fields.get(name)
        if target is None:
            found.rest.append(detail)
        else:
            # Next to its field the field's name is said already: the problem alone.
            found.by_field.setdefault(target, []).append(
                detail[match.end() :].strip() if match else detail
            )
    return found
