"""Writes to Stripe: each one recorded before it is sent, under an idempotency key derived from
our own record, with its outcome; and where the record stands with Stripe.

A create is always sent with the same key (a retry after a timeout replays Stripe's first
answer instead of creating twice), an update with a digest of what it sends. A write whose
outcome is unknown is sent again exactly as it was. Stripe's refusals (4xx) are not retried:
they raise `PushRefused` and show on the record with Stripe's message.

Run outside a transaction (the Celery tasks do): each outcome must stay recorded even when a
later step fails.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import stripe
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from stripe_sync.client import StripeApi, is_transient
from stripe_sync.models import PushStatus, StripeWrite
from stripe_sync.outbox import enqueue

T = TypeVar("T")


# Stripe keeps an idempotency key "at least 24 hours"; after this, a create in doubt is looked
# up by our metadata before it is sent again.
KEY_WINDOW = timedelta(hours=23)


class PushRefused(Exception):
    """Stripe refused a write (a 4xx): a person has to change something first."""


def canonical(params: Any) -> Any:
    """The parameters with every hash's keys in one order (lists keep theirs): what is sent,
    the first time and on every retry. The database may hand stored parameters back in another
    order (PostgreSQL's jsonb does), and Stripe holds a key to the exact request it was first
    used with."""
    if isinstance(params, dict):
        return {key: canonical(params[key]) for key in sorted(params)}
    if isinstance(params, list):
        return [canonical(value) for value in params]
    return params


def params_digest(params: dict[str, Any]) -> str:
    """A short digest of what an update sends: the same content, the same idempotency key."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def record_link(record: models.Model | None) -> dict[str, Any]:
    """The write's link to the record it is for, as StripeWrite's fields."""
    if record is None:
        return {"record_type": None, "record_id": None}
    return {"record_type": ContentType.objects.get_for_model(record), "record_id": record.pk}


def stripe_write(
    api: StripeApi,
    *,
    key: str,
    description: str,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    record: models.Model | None = None,
    find: Callable[[], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Send one write under `key`, recording it (for `record`) and its outcome; Stripe's
    answer, or (for a write already done) `{"id": ...}` without asking again.

    `find` (for a create) looks the object up in Stripe by our metadata: a create whose
    outcome is unknown and that was first sent longer ago than Stripe keeps a key
    (KEY_WINDOW) may have been done, and re-sent under a forgotten key it would make a second
    object; what `find` finds is taken as its result instead.

    A write whose outcome is unknown (a timeout, a worker killed) is sent again exactly as it
    was first sent: Stripe may have done it, and answers the first result. A write Stripe
    refused did nothing: sent again, it goes with the parameters given now (what a person
    fixed since) under a new key, `<key>~2`, and the refused one is marked superseded."""
    params = params or {}
    write = _latest_write(key)
    if write is not None and write.outcome == StripeWrite.Outcome.DONE:
        return {"id": write.stripe_id}
    if write is not None and write.outcome == StripeWrite.Outcome.REFUSED:
        StripeWrite.objects.filter(pk=write.pk).update(outcome=StripeWrite.Outcome.SUPERSEDED)
        write = None
        key = f"{key}~{_attempt_number(key) + 1}"
    if write is None:
        write, _ = StripeWrite.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "description": description[:255],
                "method": method.upper(),
                "path": path,
                "params": params,
                **record_link(record),
            },
        )
    if write.outcome == StripeWrite.Outcome.DONE:
        return {"id": write.stripe_id}
    key = write.idempotency_key
    if find is not None and write.attempts and write.created_at < timezone.now() - KEY_WINDOW:
        existing = find()
        if existing is not None:
            StripeWrite.objects.filter(pk=write.pk).update(
                outcome=StripeWrite.Outcome.DONE,
                stripe_id=str(existing.get("id", "")),
                error="Found in Stripe by our metadata (the key had expired).",
            )
            return existing
    # A write whose outcome is unknown is sent again exactly as it was first sent.
    params = canonical(write.params)
    StripeWrite.objects.filter(pk=write.pk).update(
        attempts=models.F("attempts") + 1, outcome=StripeWrite.Outcome.PENDING
    )
    try:
        if method.upper() == "DELETE":
            data = api.delete(path, idempotency_key=key)
        else:
            data = api.post(path, params, idempotency_key=key)
    except stripe.StripeError as error:
        transient = is_transient(error)
        message = stripe_message(error)
        StripeWrite.objects.filter(pk=write.pk).update(
            outcome=StripeWrite.Outcome.RETRYING if transient else StripeWrite.Outcome.REFUSED,
            error=message,
        )
        if transient:
            raise
        raise PushRefused(f"{description}: {message}") from error
    StripeWrite.objects.filter(pk=write.pk).update(
        outcome=StripeWrite.Outcome.DONE, stripe_id=str(data.get("id", "")), error=""
    )
    return data


def _attempts_of(key: str) -> QuerySet[StripeWrite]:
    """The write under `key` and those that superseded it (`<key>~2`, `<key>~3`, ...)."""
    return StripeWrite.objects.filter(
        models.Q(idempotency_key=key) | models.Q(idempotency_key__startswith=f"{key}~")
    )


def _attempt_number(key: str) -> int:
    numbers = [
        int(k.rsplit("~", 1)[1]) if "~" in k.removeprefix(key) else 1
        for k in _attempts_of(key).values_list("idempotency_key", flat=True)
    ]
    return max(numbers, default=1)


def _latest_write(key: str) -> StripeWrite | None:
    return _attempts_of(key).order_by("-id").first()


def written_params(key: str) -> dict[str, Any] | None:
    """What the write under `key` (or the one that superseded it) sent, once done; None if
    it is not done."""
    write = _latest_write(key)
    if write is None or write.outcome != StripeWrite.Outcome.DONE:
        return None
    return canonical(write.params)


def found_in_list(
    api: StripeApi, list_path: str, matches: Callable[[dict[str, Any]], bool], **params: Any
) -> Callable[[], dict[str, Any] | None]:
    """A `find` for `stripe_write`: the first object of a Stripe list (narrowed by `params`,
    e.g. an invoice's credit notes) that `matches`. For lists that stay short; a customer or
    product is found with Stripe's search instead (`found_by_search`)."""

    def find() -> dict[str, Any] | None:
        for page in api.list_pages(list_path, **params):
            for obj in page.get("data") or []:
                if matches(obj):
                    return dict(obj)
        return None

    return find


def found_by_metadata(
    api: StripeApi, list_path: str, metadata: dict[str, str], **params: Any
) -> Callable[[], dict[str, Any] | None]:
    """`found_in_list`: the object whose metadata holds every pair of `metadata`."""

    def matches(obj: dict[str, Any]) -> bool:
        held = obj.get("metadata") or {}
        return all(str(held.get(k)) == v for k, v in metadata.items())

    return found_in_list(api, list_path, matches, **params)


def found_by_search(
    api: StripeApi, search_path: str, key: str, value: str
) -> Callable[[], dict[str, Any] | None]:
    """A `find` for `stripe_write` through Stripe's search (customers, products, prices):
    the object whose metadata `key` is `value`. Stripe's search index lags writes by about a
    minute; a create is looked up only a day after it was sent, long after that."""
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")

    def find() -> dict[str, Any] | None:
        found = api.get(search_path, query=f"metadata['{key}']:'{quoted}'")
        return next(iter(found.get("data") or []), None)

    return find


def stripe_write_recorded(
    *,
    key: str,
    description: str,
    path: str,
    params: dict[str, Any],
    stripe_id: str,
    record: models.Model | None,
) -> None:
    """Record a write as done without sending it: what another write already sent (a
    customer's creation sends its first state)."""
    StripeWrite.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "description": description[:255],
            "method": "POST",
            "path": path,
            "params": params,
            "outcome": StripeWrite.Outcome.DONE,
            "stripe_id": stripe_id,
            **record_link(record),
        },
    )


def stripe_writes_of(record: models.Model) -> QuerySet[StripeWrite]:
    """Every write sent to Stripe for one of our records, newest first."""
    return StripeWrite.objects.filter(**record_link(record)).order_by("-created_at", "-id")


def stripe_message(error: stripe.StripeError) -> str:
    message = error.user_message or str(error)
    param = getattr(error, "param", None)
    return f"{message} (parameter: {param})" if param else message


def _set_status(
    model: type[models.Model], pk: int, status: str, *, error: str = "", pushed: bool = False
) -> None:
    # A queryset update: push status is not a change to the record's history.
    fields: dict[str, Any] = {"stripe_push_status": status, "stripe_push_error": error}
    if pushed:
        fields["stripe_pushed_at"] = timezone.now()
    model._default_manager.filter(pk=pk).update(**fields)


def push_with_status(model: type[models.Model], pk: int, run: Callable[[], T]) -> T:
    """Run a push, keeping the record's status (StripePushState) in step with how it went."""
    _set_status(model, pk, PushStatus.PUSHING)
    try:
        result = run()
    except PushRefused as refused:
        _set_status(model, pk, PushStatus.REFUSED, error=str(refused))
        raise
    except stripe.StripeError as error:
        _set_status(model, pk, PushStatus.RETRYING, error=stripe_message(error))
        raise
    except Exception as error:
        _set_status(model, pk, PushStatus.REFUSED, error=f"{type(error).__name__}: {error}")
        raise
    _set_status(model, pk, PushStatus.PUSHED, pushed=True)
    return result


def push_after_commit(task: Any, *args: Any) -> None:
    """Enqueue a task that talks to Stripe once the transaction commits, through the outbox
    (never lost to a broker that is down), when a Stripe account is connected (the embedded
    demo has none: its records stay "not in Stripe yet")."""
    if stripe_connected():
        enqueue(task, *args)


def stripe_connected() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)
