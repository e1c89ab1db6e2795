"""Error rendering: every error under the prefix is ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..errors import BackordersError, MethodNotAllowed, NotFound
from .http import problem_response

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask, prefix: str) -> None:
    """Render our errors as problems, and routing 404/405s under ``prefix`` too (blueprint handlers do
    not see routing errors, so these are registered on the app and leave other paths alone)."""

    def under_prefix() -> bool:
        return request.path == prefix or request.path.startswith(prefix + "/")

    @app.errorhandler(BackordersError)
    def _backorders_error(error: BackordersError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response | HTTPException:
        if not under_prefix():
            return error
        if error.code == 404:
            return problem_response(NotFound("There is no such resource."))
        if error.code == 405:
            response = problem_response(MethodNotAllowed(f"{request.method} is not allowed here."))
            if error.response is None and hasattr(error, "valid_methods") and error.valid_methods:
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response
        problem = BackordersError(error.description or error.name)
        problem.status = error.code or 500  # type: ignore[misc]
        problem.title = error.name  # type: ignore[misc]
        return problem_response(problem)
