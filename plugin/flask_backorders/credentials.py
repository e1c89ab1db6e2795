"""Buyer secrets: derived from the server key, stored only as a hash, compared in constant time.

A buyer secret is ``HMAC-SHA256(server key, order id + nonce)``. The database keeps ``sha256(secret)``, so
a leaked database alone reveals no secret, and an idempotent replay of an order placement can hand the
buyer the same secret again without it ever being stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .config import Secret

PREFIX = "bos_"


def new_order_id() -> str:
    """A random, unguessable public order id."""
    return "bo_" + secrets.token_urlsafe(15)


def new_nonce() -> str:
    return secrets.token_hex(16)


def derive_buyer_secret(key: Secret, order_id: str, nonce: str) -> str:
    """The buyer secret of an order (256 bits, URL-safe)."""
    mac = hmac.new(key.reveal().encode(), f"buyer-secret:{order_id}:{nonce}".encode(), hashlib.sha256)
    return PREFIX + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(presented: str | None, stored_hash: str) -> bool:
    """Constant-time check of a presented buyer secret against the stored hash."""
    if not presented:
        return False
    return hmac.compare_digest(hash_secret(presented), stored_hash)


def tokens_equal(presented: str | None, expected: Secret) -> bool:
    """Constant-time comparison of a bearer token with a configured secret."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.reveal().encode())
