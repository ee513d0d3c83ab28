"""The tokens the harness's own probes present: HS256 JWTs with the dialect's claims.

Standard library only (no JWT library needed by the harness); the suite mints its users' tokens
itself (``tests/mission_critical/engine/tokens.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from contract.dialect import Dialect, load_dialect
from contract.messages import minted_claims

TOKEN_LIFETIME = 600  # seconds a minted probe token stays valid


def mint_token(
    secret: str, subject: str, lifetime: int = TOKEN_LIFETIME, *, dialect: Dialect | None = None
) -> str:
    """An HS256 JWT with ``sub``, ``iat``, ``exp`` and the claims the dialect demands (stdlib
    only: no JWT library needed here)."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = minted_claims(dialect or load_dialect(), subject, now=time.time(), expires_in=lifetime)
    signing_input = f"{_b64_json(header)}.{_b64_json(claims)}".encode("ascii")
    signature = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode("utf-8"))
