"""The stand-in's test controls (`/_config/...`: empty it, seed objects, inject faults, count
requests), called as the tests and benches call them."""

import json
import urllib.request
from typing import Any

# A key of the shape dj-stripe accepts (sk_test_ + 24 or more letters and digits).
TEST_STRIPE_SECRET_KEY = "sk_test_" + "backofficetests0123456789"


def standin_config(base_url: str, method: str, path: str, payload: Any = None) -> Any:
    """Calls one of the stand-in's /_config endpoints (JSON in, JSON out)."""
    body = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 (our own loopback server)
        f"{base_url}{path}", data=body, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        text = response.read()
    return json.loads(text) if text else None


# What the tests' webhook receiver registers with the stand-in (pytest_plugin.webhook_deliveries).
STANDIN_WEBHOOK_SECRET = "whsec_standin_tests"
