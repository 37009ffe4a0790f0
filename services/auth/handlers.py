"""Accounts over HTTP: sign-up, login, the profile, the JWKS.

Handlers parse, call the domain, render. A wrong password and an unknown
login get the same 401 in the same time; failures are throttled (see
`throttle`: per account and source, per source, and over all sources, where a
source the account has not used is asked for more proof: the second factor, or
without one a link mailed to the account, `sign_in_link`) and recorded as
security events with the client's IP and user agent. Sign-ups are throttled
per source and network.
Usernames are stored in NFKC and found by `login_names.login_key`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.auth import (
    accounts,
    login_names,
    mail,
    sessions,
    sign_in,
    sign_in_link,
    signups,
    store,
    totp_handlers,
    totp_store,
)
from services.auth.keys import BILLING, PASSWORDS, SIGNING_KEYS, THROTTLE
from services.auth.passwords import MAX_LENGTH, weaknesses
from services.auth.throttle import login_subject
from shared.bodies import Fields, read_object
from shared.errors import NotFound, Unauthorized, Unprocessable
from shared.internal import caller
from shared.mail.templates import LANGUAGES
from shared.service import DB
from shared.time_zones import zone_problem


async def signup(request: web.Request) -> web.Response:
    who = caller(request)
    await request.app[THROTTLE].admit_signup(who.client_ip)
    fields = Fields(await read_object(request))
    email = fields.string("email", max_length=254, controls="none")
    username = fields.string("username", max_length=64, controls="none")
    password = fields.string("password", max_length=MAX_LENGTH + 1, controls="any")
    challenge = fields.string("turnstile_token", required=False, max_length=2048, controls="none")
    # The language of the account's pages and mails (the sign-up page's own), English by default.
    language = fields.string("language", required=False, max_length=16, controls="none")
    if language is not None and language not in LANGUAGES:
        fields.problems.append(f"language: one of {', '.join(LANGUAGES)}")
    fields.check()
    assert email is not None and username is not None and password is not None
    email = accounts.normalise_email(email)
    username = login_names.display_username(username)
    problems = accounts.email_problems(email) + accounts.username_problems(username)
    problems += weaknesses(password, username=username, email=email)
    problems += signups.email_refusals(request.app, email)
    if problems:
        raise Unprocessable("sign-up refused", details=problems)
    await signups.check_challenge(request.app, challenge, who.client_ip)
    db = request.app[DB]
    password_hash = await request.app[PASSWORDS].hash(password)
    # A taken email answers as a new account does; its owner is mailed instead.
    user = await signups.create_or_notify(
        request,
        who,
        email=email,
        username=username,
        password_hash=password_hash,
        language=language or "en",
    )
    if user is not None:
        await store.record_event(
            db, "signup", user_id=user.id, ip=who.client_ip, user_agent=who.user_agent
        )
    return signups.answer(email, username)


async def login(request: web.Request) -> web.Response:
    fields = Fields(await read_object(request))
    login_name = fields.string("login", max_length=254, controls="none")
    password = fields.string("password", max_length=MAX_LENGTH, controls="any")
    session = fields.boolean("session") or False  # a browser session cookie, not a JWT
    fields.check()
    assert login_name is not None and password is not None
    if session:
        sessions.check_sign_in_origin(request)
    app, who = request.app, caller(request)
    user = await store.user_by_login(app[DB], login_name)
    subject = login_subject(user.id if user else None, login_names.login_key(login_name))
    throttle = app[THROTTLE]
    if await throttle.check(subject, who.client_ip):
        known = user is not None and await store.is_known_source(
            app[DB], user.id, who.client_ip, throttle.limits.known_source_days
        )
        if not known and user is not None and await totp_store.enabled(app[DB], user.id):
            # With TOTP on, the second factor is the further proof: every password gets
            # `mfa_required`, and only the right one with a right code gets in.
            return await totp_handlers.blind_challenge(request, user, password, session=session)
        if not known:
            # Without it, a link mailed to the account's address is the further proof:
            # every password gets the same 403, and only the right one gets the mail.
            await sign_in_link.challenge(request, user, subject, password, session=session)
    if not await app[PASSWORDS].verify(user.password_hash if user else None, password):
        await throttle.record_failure(subject, who.client_ip)
        await store.record_event(
            app[DB],
            "login_failed",
            user_id=user.id if user else None,
            ip=who.client_ip,
            user_agent=who.user_agent,
            detail={"reason": "bad_password" if user else "unknown_login"},
        )
        raise Unauthorized("invalid login or password")
    assert user is not None
    challenge = await totp_handlers.login_challenge(request, user, session=session)
    if challenge is not None:
        return challenge
    return (await sign_in.finish(request, user, method="password", session=session)).json()


async def _profile(request: web.Request, user: store.User) -> dict[str, Any]:
    balance = await request.app[BILLING].balance(user.id)
    language = await mail.language_of(request.app[DB], user.id)
    totp_enabled = await totp_store.enabled(request.app[DB], user.id)
    return {**user.public(), "language": language, "balance": balance, "totp_enabled": totp_enabled}


async def me(request: web.Request) -> web.Response:
    user = await store.user_by_id(request.app[DB], caller(request).require_user())
    if user is None:
        raise NotFound("account not found")
    return web.json_response(await _profile(request, user))


async def update_me(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    body = await read_object(request)
    fields = Fields(body)
    fields.refuse_unknown(
        {"username", "display_name", "language", "time_zone"}, "cannot be changed here"
    )
    changes: dict[str, str | None] = {}
    if fields.has("username"):
        username = fields.string("username", max_length=64, controls="none")
        if username is not None:
            username = login_names.display_username(username)
            fields.problems.extend(accounts.username_problems(username))
            changes["username"] = username
    if fields.has("display_name"):
        display_name = fields.string("display_name", required=False, max_length=1000)
        if display_name is not None:
            fields.problems.extend(accounts.display_name_problems(display_name))
        changes["display_name"] = display_name.strip() if display_name else None
    if fields.has("language"):  # the language of the mails this account is sent
        language = fields.string("language", max_length=16, controls="none")
        if language is not None and language not in LANGUAGES:
            fields.problems.append(f"language: one of {', '.join(LANGUAGES)}")
        elif language is not None:
            changes["language"] = language
    if fields.has("time_zone"):  # the zone the console cuts days in; null: not chosen
        time_zone = fields.string("time_zone", required=False, max_length=64, controls="none")
        if time_zone is not None and (problem := zone_problem(time_zone)) is not None:
            fields.problems.append(f"time_zone: {problem}")
        elif time_zone is not None or body.get("time_zone") is None:
            changes["time_zone"] = time_zone
    fields.check()
    user = await store.update_profile(request.app[DB], user_id, changes)
    if user is None:
        raise NotFound("account not found")
    return web.json_response(await _profile(request, user))


async def my_security_events(request: web.Request) -> web.Response:
    user_id = caller(request).require_user()
    return web.json_response({"data": await store.security_events(request.app[DB], user_id)})


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        await request.app[SIGNING_KEYS].jwks(), headers={"Cache-Control": "max-age=60"}
    )
