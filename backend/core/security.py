"""Secrets: gateway passwords (in Mosquitto's PBKDF2-SHA512 format) and API tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# Mosquitto verifies this hash on every CONNECT: enough iterations to slow guessing, few
# enough that a fleet of gateways reconnecting at once does not stall the broker.
PBKDF2_ITERATIONS = 10_000


def new_secret() -> str:
    return secrets.token_urlsafe(18)


def mosquitto_hash(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    try:
        _, kind, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(computed, base64.b64decode(digest))


TOKEN_PREFIX = "rmk_"


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """API tokens are long random strings, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()
