"""Helpers for the HTML pages: CSRF tokens in the session, the buyer's secret cookie, admin login."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Response, abort, request, session

CSRF_KEY = "bo_csrf"
ADMIN_KEY = "bo_admin"


def csrf_token() -> str:
    """The session's CSRF token (created on first use); put it in every form as ``csrf_token``."""
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(24)
        session[CSRF_KEY] = token
    return str(token)


def check_csrf() -> None:
    """Abort with 400 unless the form's ``csrf_token`` matches the session's (constant time)."""
    expected = session.get(CSRF_KEY)
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(str(expected), given):
        abort(400, description="The form expired or did not come from this site; reload the page.")


def secret_cookie_name(order_id: str) -> str:
    return f"bo_{order_id}"


def set_secret_cookie(response: Response, order_id: str, secret: str, path: str, max_age: int) -> None:
    """Keep the buyer secret in an HttpOnly cookie limited to the order's pages (never in the URL bar)."""
    response.set_cookie(
        secret_cookie_name(order_id),
        secret,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )


def secret_from_request(order_id: str) -> str | None:
    return request.cookies.get(secret_cookie_name(order_id))


def form_errors(errors: list[dict[str, str]]) -> dict[str, str]:
    """``[{field, reason}]`` -> ``{field: reason}`` for templates (nested fields keep their dotted name)."""
    out: dict[str, Any] = {}
    for error in errors:
        out.setdefault(error["field"], error["reason"])
    return out
