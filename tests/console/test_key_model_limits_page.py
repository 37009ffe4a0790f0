"""A key's per-model limits on its settings page (issue 19, point 2): a table
of a model picked from the catalog and its three limits, saved through
`PATCH /api/keys/{id}` (the whole table), shown on the key's card, refusals
shown under the table naming the model."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.console.conftest import ConsoleStack
from tests.console.model_catalog import serve_mock_models
from tests.console.test_admission_pages import _key_form, _page, _post, _sign_in


async def test_a_person_sets_and_clears_a_keys_per_model_limits(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    await serve_mock_models(console_stack)  # loaded now, not when the notice arrives
    _, csrf = await _sign_in(console_stack, browser, db)
    async with browser.post(
        "/api/keys", json={"name": "ci"}, headers={"X-CSRF-Token": csrf}
    ) as response:
        assert response.status == 201, await response.text()
        key_id = (await response.json())["id"]

    form = await _page(browser, f"/keys/{key_id}/edit")
    assert 'name="model_limit_model_0"' in form and 'name="model_limit_rpm_2"' in form
    assert 'name="model_limit_model_3"' not in form  # three empty rows for a new key
    assert '<option value="gpt-4o-mini" >gpt-4o-mini</option>' in form

    rows = {
        "model_limit_model_0": "gpt-4o-mini",
        "model_limit_rpm_0": "2",
        "model_limit_model_1": "gpt-4o",
        "model_limit_concurrency_1": " 3 ",
        "model_limit_tpm_2": "500",  # no model: dropped
    }
    status, location, page = await _post(browser, f"/keys/{key_id}/edit", _key_form(csrf, **rows))
    assert status == 303, page
    async with browser.get("/api/keys") as response:
        (key,) = [k for k in (await response.json())["data"] if k["id"] == key_id]
    assert key["limits"]["models"] == {"gpt-4o-mini": {"rpm": 2}, "gpt-4o": {"concurrency": 3}}
    cards = await _page(browser, location)
    assert "Limits per model" in cards
    assert "gpt-4o-mini</code>: 2 requests a minute" in cards
    assert "gpt-4o</code>: 3 requests at once" in cards
    form = await _page(browser, f"/keys/{key_id}/edit")
    assert 'name="model_limit_model_4"' in form  # the key's two rows, then three empty ones
    assert 'value="gpt-4o-mini" selected' in form

    bad = {"model_limit_model_0": "gpt-4o-mini", "model_limit_rpm_0": "0"}
    status, _, page = await _post(browser, f"/keys/{key_id}/edit", _key_form(csrf, **bad))
    assert status == 422
    assert 'id="key-model-limits-problem"' in page
    assert "limits.models.gpt-4o-mini.rpm: a whole number from 1 to 1000000" in page
    async with browser.get("/api/keys") as response:
        (key,) = [k for k in (await response.json())["data"] if k["id"] == key_id]
    assert len(key["limits"]["models"]) == 2  # unchanged

    status, location, page = await _post(browser, f"/keys/{key_id}/edit", _key_form(csrf))
    assert status == 303, page
    assert "Limits per model" not in await _page(browser, location)
