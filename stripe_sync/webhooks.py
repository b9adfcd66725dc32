"""The Stripe webhook endpoint: verify, store, answer. The work happens in a Celery task.

Stripe waits for an answer and retries deliveries it considers failed, so the endpoint does the
least it safely can: check the signature and its timestamp (300 s tolerance), store the raw
event in one statement, enqueue its processing once the row is committed, answer 200. A second
delivery of the same event stores nothing and enqueues nothing.
"""

import json
import logging

import stripe
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stripe_sync.events import event_store
from stripe_sync.models import StripeEvent
from stripe_sync.tasks import stripe_event_process_task

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
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            request.headers.get("Stripe-Signature", ""),
            secret,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
        event_id = event["id"]
    except stripe.SignatureVerificationError as error:
        logger.warning("Stripe webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Not a Stripe event."}, status=400)

    stored = event_store(event, source=StripeEvent.Source.WEBHOOK)
    if stored is not None:
        transaction.on_commit(lambda: stripe_event_process_task.delay(stored))
    return JsonResponse({"received": event_id, "duplicate": stored is None})
