"""The one place that talks HTTP to Stripe: which server, which key, which retries.

dj-stripe calls stripe-python's module-level API, so `configure_stripe` sets the module
globals. The sync engine and the pushes use `StripeApi`: plain dicts in and out, a request
count, and one retry policy (429, 409, 5xx and network errors are retried with exponential
backoff and jitter; 4xx validation errors never are). Writes always carry an idempotency key
derived from our own record, so a retry (here, or of a whole Celery task) cannot write twice.
"""

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from stripe._request_options import extract_options_from_dict
from stripe._util import get_api_mode

STRIPE_DEFAULT_API_BASE = "https://api.stripe.com"
_STRIPE_SETTINGS = {"STRIPE_API_BASE", "STRIPE_API_VERSION", "STRIPE_SECRET_KEY"}
PAGE_SIZE = 100  # Stripe's largest page


def configure_stripe() -> None:
    # dj-stripe calls stripe-python's module-level API, so the module globals are what count.
    stripe.api_base = settings.STRIPE_API_BASE or STRIPE_DEFAULT_API_BASE
    stripe.api_version = settings.STRIPE_API_VERSION


def reconfigure_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _STRIPE_SETTINGS:
        configure_stripe()


def stripe_secret_key() -> str:
    key: str = settings.STRIPE_SECRET_KEY
    if not key:
        raise ImproperlyConfigured(
            "No Stripe secret key: set STRIPE_SECRET_KEY in the environment (README: "
            "'Connecting a Stripe account')."
        )
    return key


def stripe_livemode() -> bool:
    """Whether this deployment talks to Stripe's live mode: its key says so (sk_live_,
    rk_live_); events of the other mode are not for it."""
    return "_live_" in (settings.STRIPE_SECRET_KEY or "")


def is_transient(error: stripe.StripeError) -> bool:
    """Worth retrying: rate limits, lock conflicts, Stripe's own failures, network trouble."""
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    status = error.http_status or 0
    return status == 409 or status >= 500


def is_missing(error: stripe.StripeError) -> bool:
    return isinstance(error, stripe.InvalidRequestError) and (
        error.code == "resource_missing" or error.http_status == 404
    )


class StripeApi:
    """A Stripe connection for one run of the engine; counts its requests."""

    def __init__(
        self,
        *,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = stripe_secret_key()
        # Tells keys apart without keeping the key itself around.
        self.key_fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.client = stripe.StripeClient(
            key,
            stripe_version=settings.STRIPE_API_VERSION,
            base_addresses={"api": settings.STRIPE_API_BASE or STRIPE_DEFAULT_API_BASE},
            max_network_retries=0,  # our own policy below, the same for reads and writes
            http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        )
        self.max_attempts = max_attempts or settings.STRIPE_MAX_ATTEMPTS
        self.sleep = sleep
        self.requests = 0

    def _request(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(1, self.max_attempts + 1):
            self.requests += 1
            try:
                return self._send(method, path, params)
            except stripe.StripeError as error:
                if not is_transient(error) or attempt == self.max_attempts:
                    raise
                # Exponential backoff with full jitter, so that retries do not arrive together.
                self.sleep(random.uniform(0, min(8.0, 0.25 * 2**attempt)))  # noqa: S311
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """`StripeClient.raw_request`, with the answer read by orjson: stripe-python parses
        every answer into OrderedDicts with the stdlib's decoder, which took a third of a
        backfill's time. Errors are still raised by stripe-python, as the same exceptions."""
        options, params = extract_options_from_dict(params)
        api_mode = get_api_mode(path)
        requestor = self.client._requestor
        body, code, headers = requestor.request_raw(
            method,
            path,
            params=params,
            options=options,
            base_address="api",
            api_mode=api_mode,
            usage=["raw_request"],
        )
        if 200 <= code < 300:
            try:
                data: dict[str, Any] = orjson.loads(body)  # type: ignore[arg-type]
            except orjson.JSONDecodeError:
                pass  # not JSON, or an integer past 64 bits: stripe-python says which
            else:
                if isinstance(data, dict):
                    return data
        response = requestor._interpret_response(body, code, headers, api_mode)
        return response.data  # type: ignore[return-value]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self._request("get", path, params)

    def post(self, path: str, params: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return self._request("post", path, {**params, "idempotency_key": idempotency_key})

    def delete(self, path: str, *, idempotency_key: str) -> dict[str, Any]:
        return self._request("delete", path, {"idempotency_key": idempotency_key})

    def list_pages(
        self, path: str, *, starting_after: str = "", **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page of a Stripe list, 100 objects at a time, after `starting_after`."""
        while True:
            page_params = {"limit": PAGE_SIZE, **params}
            if starting_after:
                page_params["starting_after"] = starting_after
            page = self.get(path, **page_params)
            yield page
            if not page.get("has_more") or not page["data"]:
                return
            starting_after = page["data"][-1]["id"]
