"""The error hierarchy. Every leaf renders as an RFC 9457 ``application/problem+json`` document."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://flask-backorders.dev/problems/"


class BackordersError(Exception):
    """Root of every error the extension raises on purpose.

    ``status``, ``type`` and ``title`` describe the kind of problem; ``detail`` and ``errors`` this
    occurrence. The message never contains secrets.
    """

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None, **context: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.context = context

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document for this error."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.context)
        return body


class ValidationFailed(BackordersError):
    """The request body or a parameter is invalid; ``errors`` names each field and the reason."""

    status = 422
    slug = "validation-failed"
    title = "Your request is not valid"


class MalformedRequest(BackordersError):
    """The body is not parseable JSON."""

    status = 400
    slug = "malformed-request"
    title = "The request body is not valid JSON"


class UnsupportedMediaType(BackordersError):
    """The body is not ``application/json``."""

    status = 415
    slug = "unsupported-media-type"
    title = "The request body must be application/json"


class NotFound(BackordersError):
    """No such resource (or the caller may not know it exists)."""

    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(BackordersError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class Unauthorized(BackordersError):
    """No credentials were given."""

    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(BackordersError):
    """Credentials were given but do not allow this."""

    status = 403
    slug = "forbidden"
    title = "Not allowed"


class Conflict(BackordersError):
    """The request conflicts with the current state of a resource."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class IllegalTransition(Conflict):
    """A lifecycle transition the transition table does not allow."""

    slug = "illegal-transition"
    title = "This action is not possible in the order's current state"


class IdempotencyKeyReused(Conflict):
    """The same ``Idempotency-Key`` was sent with a different request."""

    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used with a different request"


class QueueFull(Conflict):
    """The product's queue cap is reached."""

    slug = "queue-full"
    title = "The reservation queue for this product is full"


class CustomerCapReached(Conflict):
    """The buyer would hold more units of the product than the per-customer cap allows."""

    slug = "customer-cap-reached"
    title = "The per-customer limit for this product is reached"


class ServiceUnavailable(BackordersError):
    """A dependency (the chain, a rate source) cannot be reached; nothing was changed."""

    status = 503
    slug = "service-unavailable"
    title = "A service this request needs is unavailable"


class ConfigurationError(BackordersError, RuntimeError):
    """A ``BACKORDERS_*`` setting is invalid. Raised at start-up, never during a request."""

    status = 500
    slug = "configuration-error"
    title = "Invalid Flask-Backorders configuration"
