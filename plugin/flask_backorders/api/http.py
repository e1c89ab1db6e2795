"""HTTP plumbing shared by the views: JSON parsing into schemas, auth guards, problem responses, the route
registry the OpenAPI document is built from."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Response, current_app, json, request, session
from pydantic import BaseModel, ValidationError

from ..errors import (
    BackordersError,
    Forbidden,
    MalformedRequest,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..extension import get_state

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class RouteDoc:
    """What the OpenAPI document says about one route."""

    rule: str
    methods: list[str]
    summary: str
    auth: str  # "public" | "buyer" | "admin"
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    produces: list[str] = field(default_factory=lambda: ["application/json"])


ROUTES: list[RouteDoc] = []


def documented(doc: RouteDoc) -> Callable[[F], F]:
    """Record a view in the OpenAPI registry."""

    def decorator(view: F) -> F:
        ROUTES.append(doc)
        return view

    return decorator


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    out = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        reason = item["msg"].removeprefix("Value error, ")
        out.append({"field": location, "reason": reason})
    return out


def parse_body(model: type[M]) -> M:
    """Parse the JSON body into ``model`` or raise 415/400/422 problems naming the field."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except ValueError:
        raise MalformedRequest("The body could not be parsed as JSON.") from None
    if not isinstance(data, dict):
        raise ValidationFailed(errors=[{"field": "body", "reason": "must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(errors=field_errors(error)) from None


def problem_response(error: BackordersError) -> Response:
    body = error.to_problem(instance=request.path)
    response = current_app.response_class(
        json.dumps(body), status=error.status, mimetype="application/problem+json"
    )
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="backorders"'
    return response


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = current_app.response_class(model.model_dump_json(), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_admin() -> None:
    """Deny by default: allow only the host's ``authorize_admin`` callback or the configured bearer token."""
    state = get_state()
    from ..credentials import tokens_equal

    token = bearer_token()
    if state.settings.admin_token is not None and tokens_equal(token, state.settings.admin_token):
        return
    if state.authorize_admin is not None and state.authorize_admin(request):
        return
    if state.settings.admin_token is not None and session.get("bo_admin") == _admin_marker(state):
        return  # logged in to the dashboard with the admin token
    if token is None:
        raise Unauthorized("Admin routes need a bearer token.")
    raise Forbidden("These credentials do not allow admin access.")


def _admin_marker(state: Any) -> str:
    """What a dashboard login stores in the session: a MAC of the current admin token, so rotating the
    token logs every session out."""
    import hashlib
    import hmac

    token = state.settings.admin_token.reveal().encode()
    return hmac.new(
        state.settings.secret_key.reveal().encode(), b"dashboard:" + token, hashlib.sha256
    ).hexdigest()


def admin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    wrapper.backorders_admin = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
