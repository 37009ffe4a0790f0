"""The auth service's routes. `/api/*` is reached through the gateway;
`/internal/*` only by the gateway itself."""

from __future__ import annotations

from aiohttp import web

from services.auth import (
    admin_users,
    email_change,
    group_admin,
    handlers,
    key_handlers,
    key_suspension,
    oauth_handlers,
    oauth_link,
    password_change,
    password_reset,
    session_handlers,
    sign_in_link,
    signups,
    totp_handlers,
    user_lookup,
    verification,
)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/auth/signup", handlers.signup)
    router.add_get("/api/auth/signup/options", signups.options)
    router.add_post("/api/auth/login", handlers.login)
    router.add_post("/api/auth/login/mfa", totp_handlers.login_mfa)
    router.add_post("/api/auth/login/link", sign_in_link.finish_link)
    router.add_get("/api/auth/jwks", handlers.jwks)
    router.add_get("/api/me", handlers.me)
    router.add_patch("/api/me", handlers.update_me)
    router.add_get("/api/me/security-events", handlers.my_security_events)
    router.add_post("/api/me/totp", totp_handlers.enrol)
    router.add_post("/api/me/totp/confirm", totp_handlers.confirm)
    router.add_delete("/api/me/totp", totp_handlers.disable)
    router.add_post("/api/me/totp/recovery-codes", totp_handlers.new_recovery_codes)
    router.add_post("/api/keys", key_handlers.create_key)
    router.add_get("/api/keys", key_handlers.list_keys)
    router.add_patch("/api/keys/{key_id}", key_handlers.update_key)
    router.add_delete("/api/keys/{key_id}", key_handlers.revoke_key)
    router.add_post("/api/keys/{key_id}/rotate", key_handlers.rotate_key)
    router.add_post("/api/keys/{key_id}/resume", key_suspension.resume)
    router.add_get("/internal/keys/{key_id}", key_suspension.get_key)
    router.add_post("/internal/keys/{key_id}/suspend", key_suspension.suspend)
    router.add_get("/internal/admins/contacts", user_lookup.get_admin_contacts)
    router.add_post("/internal/keys/verify", key_handlers.verify_key)
    router.add_get("/internal/users/{user_id}", user_lookup.get_user)
    router.add_get("/internal/users/{user_id}/contact", user_lookup.get_contact)
    router.add_get("/internal/users/{user_id}/policy", user_lookup.get_policy)
    router.add_post("/api/auth/verify-email", verification.verify_email)
    router.add_post("/api/auth/verify-email/resend", verification.resend)
    router.add_post("/api/auth/password-reset", password_reset.request_reset)
    router.add_post("/api/auth/password-reset/confirm", password_reset.confirm_reset)
    router.add_post("/api/auth/confirm-email", email_change.confirm_change)
    router.add_post("/api/me/password", password_change.change_password)
    router.add_post("/api/me/email", email_change.request_change)
    router.add_post("/api/auth/logout", session_handlers.logout)
    router.add_get("/api/auth/session", session_handlers.current_session)
    router.add_get("/api/me/sessions", session_handlers.list_sessions)
    router.add_delete("/api/me/sessions", session_handlers.revoke_other_sessions)
    router.add_delete("/api/me/sessions/{session_id}", session_handlers.revoke_session)
    router.add_post("/internal/sessions/verify", session_handlers.verify_session)
    router.add_get("/api/auth/methods", oauth_handlers.methods)
    router.add_get("/api/auth/oauth/{provider}/start", oauth_handlers.start)
    router.add_get("/api/auth/oauth/{provider}/callback", oauth_handlers.callback)
    router.add_post("/api/auth/oauth/link", oauth_link.link)
    router.add_get("/api/admin/groups", group_admin.list_groups)
    router.add_get("/api/admin/groups/{name}", group_admin.get_group)
    router.add_put("/api/admin/groups/{name}", group_admin.put_group)
    router.add_delete("/api/admin/groups/{name}", group_admin.delete_group)
    router.add_get("/api/admin/users", admin_users.list_users)
    router.add_get("/api/admin/users/{user_id}", admin_users.get_user)
    router.add_patch("/api/admin/users/{user_id}", admin_users.update_user)
