"""The Stripe webhook endpoint: verify, store, answer. The work happens in a Celery task.

Stripe waits for an answer and retries deliveries it considers failed, so the endpoint does the
least it safely can: check the signature and its timestamp (300 s tolerance, past or future),
store the raw event in one statement (one round trip to the database), answer 200, and once the
row is committed and the answer sent, enqueue its processing (off the request, in a thread). A
second delivery of the same event stores nothing and enqueues nothing. A signed body that is
not an event Stripe's shape, or an event of the other mode or of another API version, is
stored as refused with the reason and answered 400: never applied, never a 500.
"""

import hashlib
import json
import logging
import time
from typing import Any

import stripe
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stripe_sync.client import stripe_livemode
from stripe_sync.drains import drain_soon
from stripe_sync.events import event_problem, event_refusal, event_store
from stripe_sync.models import StripeEvent

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # Never accept an event we cannot verify; Stripe retries for up to three days.
        logger.error("Stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set.")
        return JsonResponse({"error": "Webhook secret not configured."}, status=503)
    payload = request.body.decode("utf-8", errors="replace")
    header = request.headers.get("Stripe-Signature", "")
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as error:
        logger.warning("Stripe webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    # stripe-python refuses signatures too old, not those from the future: a clock far ahead
    # (or a forged replay window) is refused the same way.
    if _signed_at(header) > time.time() + tolerance:
        logger.warning("Stripe webhook refused: signature timestamped in the future.")
        return JsonResponse({"error": "Signature timestamp is in the future."}, status=400)
    try:
        event = json.loads(payload, parse_constant=_not_json)
    except ValueError:
        event = None
    problem = "The body is not JSON." if event is None else event_problem(event)
    kept: Any = event
    if not problem and "\\u0000" in payload:
        # Valid JSON that PostgreSQL's jsonb cannot hold: refused, and not kept either.
        problem = "The event contains a NUL character (\\u0000), which cannot be stored."
        kept = None
    if problem:
        # Signed by Stripe, so kept (with the reason) for a person to look at; never applied.
        _store_refused({"id": _malformed_id(event, payload), "malformed": kept}, problem)
        return JsonResponse({"error": problem}, status=400)
    refusal = event_refusal(
        event, livemode=stripe_livemode(), api_version=settings.STRIPE_API_VERSION
    )
    if refusal:
        _store_refused(event, refusal)
        return JsonResponse({"error": refusal}, status=400)

    stored = _store_in_one_round_trip(event, payload)
    answer = _Answer({"received": event["id"], "duplicate": stored is None})
    if stored is not None:
        # The stored event is its own outbox: a drain the broker never took is made up by
        # the next events pass (`events_sync`).
        transaction.on_commit(answer.drain_once_sent)
    return answer


class _Answer(JsonResponse):
    """The answer to a delivery, which queues the drain once the server has sent it (WSGI and
    ASGI servers close a response after its last byte): Stripe has its answer before the
    broker is asked anything, and the thread that asks does not compete with the answer for
    the CPU (about a tenth of its time on two cores)."""

    drain = False

    def drain_once_sent(self) -> None:
        """On commit, the event being stored; at once if the answer is sent already (the
        request ran in a transaction committed later: a test's)."""
        if self.closed:
            drain_soon()
        else:
            self.drain = True

    def close(self) -> None:
        super().close()
        if self.drain:
            self.drain = False
            drain_soon()


def _store_in_one_round_trip(event: dict[str, Any], payload: str) -> int | None:
    """`event_store`, without the ping Django sends before a kept connection's first query of
    a request (CONN_HEALTH_CHECKS: a round trip, about 6% of the answer's time). The INSERT is
    sent at once; if it finds the connection dead, it is sent again (storing twice stores once;
    a row the first one stored after all is applied by the events pass) on a new connection.
    The same guarantee as the ping: a dead kept connection is never a 500."""
    db: Any = connection  # Django's health-check flags (4.1+) are not in django-stubs
    kept = (
        db.connection is not None
        and db.health_check_enabled
        and not db.health_check_done
        and not db.in_atomic_block
    )
    if not kept:
        return event_store(event, source=StripeEvent.Source.WEBHOOK, body=payload)
    db.health_check_done = True
    try:
        return event_store(event, source=StripeEvent.Source.WEBHOOK, body=payload)
    except (InterfaceError, OperationalError):
        if connection.is_usable():
            raise  # the database refused the statement: not a dead connection
        logger.info("Stripe webhook: the kept database connection was dead; reconnecting.")
        connection.close()
        return event_store(event, source=StripeEvent.Source.WEBHOOK, body=payload)


def _not_json(constant: str) -> None:
    # Python's reader takes NaN and Infinity; JSON (and PostgreSQL) does not.
    raise ValueError(f"{constant} is not JSON")


def _signed_at(header: str) -> int:
    """The signature's timestamp (`t=`), already verified to be there."""
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return 0


def _malformed_id(event: Any, payload: str) -> str:
    if isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]:
        return event["id"][:200]
    return "malformed-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def _store_refused(event: dict[str, Any], reason: str) -> None:
    logger.warning("Stripe webhook event %s refused: %s", event.get("id"), reason)
    event_store(
        event,
        source=StripeEvent.Source.WEBHOOK,
        status=StripeEvent.Status.REFUSED,
        error=reason,
    )
