"""How requests carry the keys: Basic for write keys, Bearer for the admin key, the widget
key header, and the userHash (HMAC of the user id) that a secure worker checks."""
from __future__ import annotations

import base64
import hashlib
import hmac

from tests.fuzz.config import ADMIN_KEY, WIDGET_KEY


def basic(user: bytes, password: bytes = b"") -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


def user_hash(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), user.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def admin_headers() -> list:
    """A valid admin Authorization header (a new list: requests may extend their headers)."""
    return [(b"Authorization", f"Bearer {ADMIN_KEY}".encode())]


def widget_headers() -> list:
    """A valid widget key header (a new list, as above)."""
    return [(b"X-Widget-Key", WIDGET_KEY.encode())]
