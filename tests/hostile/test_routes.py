"""The hostile suite's route list: read from the route tables, every route aimed at."""

from __future__ import annotations

from tests.hostile.routes import ROUTES, SPECS, Known, routes, spec_for

# The relay routes the issue names; discovery must find each.
RELAY_ROUTES = {
    "POST /v1/chat/completions",
    "POST /v1/responses",
    "POST /v1/embeddings",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1beta/models/{model}:{method}",
    "GET /v1/models",
    "GET /v1beta/models",
}


def test_every_route_has_a_generator() -> None:
    """A route added to any routes.py is in the suite; it needs a spec to aim at it."""
    missing = [route.key for route in ROUTES if spec_for(route) is None]
    assert missing == [], f"add a Spec for these routes in tests/hostile/routes.py: {missing}"


def test_routes_are_read_from_every_table() -> None:
    keys = {route.key for route in ROUTES}
    assert RELAY_ROUTES <= keys, RELAY_ROUTES - keys
    tables = {route.table for route in routes("api")}
    assert tables == {"auth", "billing", "usage", "gateway"}
    assert not [route for route in ROUTES if route.path.startswith("/internal/")]


def test_every_spec_names_a_route() -> None:
    """A spec left behind by a removed route is a sign the list went stale."""
    keys = {route.key for route in ROUTES}

    assert set(SPECS) - keys == set()


def test_every_focus_field_is_in_its_routes_body() -> None:
    known = Known(user_id="u", username="n", key_ids=[], channel_ids=[], aliases=[])
    for key, spec in SPECS.items():
        if spec.focus:
            assert spec.body is not None, key
            assert set(spec.focus) <= set(spec.body(known)), key
