"""Stripe events: stored first, applied once, in any order, from webhooks or the events list.

An event is stored as it arrived (one INSERT that does nothing for an id already stored) and
applied by a Celery task. Applying it writes the object it carries through the mirror, whose
version guard compares the event's `created` with the moment of the state already mirrored: a
late or replayed event never overwrites a newer state, and when both are from the same second
the object is re-read from Stripe. The events list is read on a beat schedule: it is how the
mirror catches up with webhooks that never arrived (Stripe keeps events for 30 days).
"""

import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from djstripe.utils import convert_tstamp
from stripe import StripeError

from backoffice.history import STRIPE_EVENTS, acting_as
from stripe_sync.backfill import lease_release, lease_release_failed, lease_take
from stripe_sync.client import StripeApi, is_transient
from stripe_sync.hooks import meter_errors_reported
from stripe_sync.mirror import Mirror, relink
from stripe_sync.models import StripeEvent, SyncStatus
from stripe_sync.object_types import BY_KEY, BY_STRIPE_OBJECT, EVENTS_KEY, OBJECT_TYPES

logger = logging.getLogger(__name__)
# The events list is read again from a little before the last event applied: Stripe may list
# an event a moment after a later one. Events already stored are skipped by their id.
EVENTS_OVERLAP = timedelta(minutes=5)
# A failed event is tried again by each events-list pass up to this many times in all; after
# that it waits for a person (admin action "Retry").
AUTOMATIC_ATTEMPTS = 5
# Stripe's v2 "thin" events (meter errors come only as these) carry no object, only its id.
THIN_EVENT = "v2.core.event"
METER_ERROR_TYPES = ("v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found")
# Types whose ".deleted" event means "ended", not "gone": a canceled subscription.
_DELETED_MEANS_ENDED = {"subscription"}


def event_store(
    payload: dict[str, Any],
    *,
    source: str,
    status: str = StripeEvent.Status.PENDING,
    error: str = "",
    body: str | None = None,
) -> int | None:
    """Store a verified event; the new row's id, or None if this event id is already stored.

    One statement, so the webhook answers fast and two deliveries of one event at the same
    moment still make one row. A refused event is stored with its status and reason. `body`:
    the JSON text `payload` was read from (the webhook's), stored as received instead of
    serialising `payload` again.
    """
    data = payload.get("data")
    obj = (data.get("object") if isinstance(data, dict) else None) or {}
    if payload.get("object") == THIN_EVENT:
        obj = payload.get("related_object") or {}
        obj = {"object": obj.get("type"), "id": obj.get("id")}
    created = _created(payload.get("created"))
    table = StripeEvent._meta.db_table
    columns = (
        "stripe_id, type, created, livemode, api_version, object_type, object_id, payload, "
        "source, received_at, status, attempts, last_error"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 (our own table name)
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s) "
            "ON CONFLICT (stripe_id) DO NOTHING RETURNING id",
            [
                payload["id"],
                payload.get("type") or "",
                created,
                bool(payload.get("livemode")),
                payload.get("api_version") or "",
                str(obj.get("object") or ""),
                str(obj.get("id") or ""),
                json.dumps(payload) if body is None else body,
                source,
                timezone.now(),
                status,
                error,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def event_problem(payload: Any) -> str:
    """Why a signed body is not an event we can read ("" when it is): Stripe's shape, checked
    before anything is stored as pending."""
    if not isinstance(payload, dict):
        return "The body is not a JSON object."
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        return "The event has no id."
    if not isinstance(payload.get("type"), str):
        return "The event has no type."
    created = payload.get("created")
    if payload.get("object") == THIN_EVENT:
        if not isinstance(created, str) or _created(created, strict=True) is None:
            return f"The event's created ({created!r}) is not a time."
        return ""
    if not isinstance(created, int) or isinstance(created, bool):
        return f"The event's created ({created!r}) is not a Unix time."
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "The event's data is not an object."
    return ""


def event_refusal(payload: dict[str, Any], *, livemode: bool, api_version: str) -> str:
    """Why an event that reads well is not for this deployment ("" when it is): the other mode
    (a live event reaching a test deployment, or the reverse), or an API version other than
    the one the mirror reads."""
    if bool(payload.get("livemode")) != livemode:
        mode = "live" if payload.get("livemode") else "test"
        ours = "live" if livemode else "test"
        return f"A {mode}-mode event, and this deployment runs a {ours}-mode key."
    version = payload.get("api_version")
    if version and version != api_version:
        return (
            f"An event of API version {version}; the mirror reads {api_version} "
            "(set the webhook endpoint's version to it in Stripe)."
        )
    return ""


def _created(value: Any, *, strict: bool = False) -> Any:
    """When Stripe made the event: Unix seconds (v1 events) or RFC 3339 (v2 thin events); now
    for what is neither (`strict`: None)."""
    if isinstance(value, str) and not value.isdigit():
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None if strict else timezone.now()
    if isinstance(value, int | str):
        return convert_tstamp(value) or timezone.now()
    return None if strict else timezone.now()


def _meter_errors(event: StripeEvent, mirror: Mirror) -> str:
    """A thin event reporting meter events Stripe could not apply: the full event is read
    from Stripe (a thin event carries no data) and its errors handed to billing."""
    full = mirror.api.get(f"/v2/core/events/{event.stripe_id}")
    reason = (full.get("data") or {}).get("reason") or {}
    errors = [
        {
            "identifier": str((sample.get("request") or {}).get("identifier") or ""),
            "code": str(kind.get("code") or ""),
            "message": str(sample.get("error_message") or ""),
            "event": event.stripe_id,
        }
        for kind in reason.get("error_types") or []
        for sample in kind.get("sample_errors") or []
    ]
    meter_errors_reported.send(errors)
    total = reason.get("error_count") or len(errors)
    return f"Failed usage: Stripe could not apply {total} meter event(s)."


def event_apply(event: StripeEvent, mirror: Mirror) -> str:
    """Write the event's object to the mirror; returns what was done, in words."""
    if event.payload.get("object") == THIN_EVENT:
        if event.type.startswith(METER_ERROR_TYPES):
            return _meter_errors(event, mirror)
        event.status = StripeEvent.Status.IGNORED
        return f"Thin event {event.type}: nothing to apply."
    obj = (event.payload.get("data") or {}).get("object") or {}
    ot = BY_STRIPE_OBJECT.get(str(obj.get("object")))
    if ot is None or not obj.get("id"):
        event.status = StripeEvent.Status.IGNORED
        return f"No mirror for {obj.get('object') or 'this object'}: nothing to apply."
    deleted = obj.get("deleted") is True or (
        event.type.endswith(".deleted") and ot.stripe_object not in _DELETED_MEANS_ENDED
    )
    if deleted:
        mirror.mark_deleted(ot, obj, observed_at=event.created)
        return f"{ot.label}: {obj['id']} marked deleted."
    result = mirror.write(ot, [obj], observed_at=event.created)
    if result.tied and ot.retrieve_path:
        return f"{ot.label}: {obj['id']} re-read from Stripe (same-second states)."
    if result.skipped_stale:
        return f"{ot.label}: {obj['id']} already newer in the mirror; left as it is."
    return f"{ot.label}: {obj['id']} written."


def event_process(*, event_id: int, mirror: Mirror | None = None) -> StripeEvent:
    """Apply one stored event, once. A transient Stripe error is recorded and raised (the task
    retries); any other error leaves the event failed, with its error, for the admin."""
    mirror = mirror or Mirror()
    failure: Exception | None = None
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().get(pk=event_id)
        if event.status in (
            StripeEvent.Status.PROCESSED,
            StripeEvent.Status.IGNORED,
            StripeEvent.Status.REFUSED,  # not for this deployment: never applied
        ):
            return event
        event.attempts += 1
        event.status = StripeEvent.Status.PROCESSED
        try:
            with transaction.atomic(), acting_as(STRIPE_EVENTS, event_reason([event]), cite=True):
                event.last_error = ""
                note = event_apply(event, mirror)
                logger.debug("Stripe event %s (%s): %s", event.stripe_id, event.type, note)
        except Exception as error:
            failure = error
            event.status = StripeEvent.Status.FAILED
            event.last_error = f"{type(error).__name__}: {error}"
            logger.warning("Stripe event %s failed: %s", event.stripe_id, event.last_error)
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "attempts", "last_error", "processed_at"])
    if failure is not None and _worth_retrying(failure):
        raise failure
    return event


PENDING_BATCH = 500


def events_apply_pending(*, limit: int = PENDING_BATCH, mirror: Mirror | None = None) -> int:
    """Apply the stored events still pending, oldest first, up to `limit`; how many were
    taken. Two workers draining at once take different events (skip locked).

    Events that carry an object of a mirrored type are applied together: the newest state of
    each object in the batch is written, one upsert per type and second, and the older
    states in the batch are covered by it (the mirror's version guard keeps any newer state
    already there, as it does for one event). The rest (deletions, thin events, two states of
    one object from the same second, a batch that fails) go one by one through
    `event_process`, each with its own outcome."""
    mirror = mirror or Mirror()
    with transaction.atomic():
        events = list(
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(status=StripeEvent.Status.PENDING)
            .order_by("created", "id")[:limit]
        )
        if not events:
            return 0
        newest: dict[tuple[str, str], StripeEvent] = {}
        one_by_one: list[StripeEvent] = []
        tied: set[tuple[str, str]] = set()
        for event in events:
            obj, ot = _batchable(event)
            if ot is None:
                one_by_one.append(event)
                continue
            key = (ot.key, str(obj["id"]))
            other = newest.get(key)
            if other is not None and other.created == event.created:
                tied.add(key)
            if other is None or other.created <= event.created:
                newest[key] = event
        for key in tied:
            one_by_one.extend(e for e in events if _object_key(e) == key)
        batch = [e for e in events if e not in one_by_one]
        if batch and not _apply_together(batch, newest, tied, mirror):
            one_by_one.extend(batch)
            # What the failed batch wrote was rolled back, the owner account row with it.
            mirror = Mirror(mirror.api)
    for event in sorted(one_by_one, key=lambda e: (e.created, e.pk)):
        event_process(event_id=event.pk, mirror=mirror)
    return len(events)


def _batchable(event: StripeEvent) -> tuple[dict[str, Any], Any]:
    """The event's object and its type, when it can be applied in a batch."""
    if event.payload.get("object") == THIN_EVENT:
        return {}, None
    obj = (event.payload.get("data") or {}).get("object") or {}
    ot = BY_STRIPE_OBJECT.get(str(obj.get("object")))
    if ot is None or not obj.get("id") or obj.get("deleted") is True:
        return obj, None
    if event.type.endswith(".deleted") and ot.stripe_object not in _DELETED_MEANS_ENDED:
        return obj, None
    return obj, ot


def _object_key(event: StripeEvent) -> tuple[str, str] | None:
    obj, ot = _batchable(event)
    return (ot.key, str(obj["id"])) if ot is not None else None


def _apply_together(
    batch: list[StripeEvent],
    newest: dict[tuple[str, str], StripeEvent],
    tied: set[tuple[str, str]],
    mirror: Mirror,
) -> bool:
    """Write the newest state of each object of the batch, grouped by type and moment; mark
    the batch processed. False (nothing kept) if the write fails."""
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    sent_by: dict[tuple[str, datetime], list[StripeEvent]] = defaultdict(list)
    for key, event in newest.items():
        if key not in tied:
            obj, ot = _batchable(event)
            groups[(ot.key, event.created)].append(obj)
            sent_by[(ot.key, event.created)].append(event)
    try:
        with transaction.atomic():
            for (type_key, created), objects in sorted(groups.items(), key=lambda g: g[0][1]):
                # What the domains write from these objects names the events in its history.
                why = event_reason(sent_by[(type_key, created)])
                with acting_as(STRIPE_EVENTS, why, cite=True):
                    mirror.write(BY_KEY[type_key], objects, observed_at=created)
    except Exception as error:
        logger.warning(
            "A batch of %s events failed (%s); applying them one by one", len(batch), error
        )
        return False
    StripeEvent.objects.filter(pk__in=[e.pk for e in batch]).update(
        status=StripeEvent.Status.PROCESSED,
        attempts=F("attempts") + 1,
        last_error="",
        processed_at=timezone.now(),
    )
    return True


def event_reason(events: list[StripeEvent], shown: int = 3) -> str:
    """Why, in the history of what an event changed: "stripe event evt_1 (invoice.updated)";
    for several written together, "stripe events evt_1, evt_2, evt_3 and 2 more"."""
    if len(events) == 1:
        return f"stripe event {events[0].stripe_id} ({events[0].type})"
    ids = ", ".join(e.stripe_id for e in events[:shown])
    more = f" and {len(events) - shown} more" if len(events) > shown else ""
    return f"stripe events {ids}{more}"


def _worth_retrying(error: Exception) -> bool:
    return isinstance(error, StripeError) and is_transient(error)


def events_sync(*, api: StripeApi | None = None) -> int:
    """Read the events list since the last event applied; apply what is new. Returns the
    number of new events."""
    status = lease_take(EVENTS_KEY)
    mirror = Mirror(api)
    run_started_at = timezone.now()
    started = time.monotonic()
    try:
        since = status.events_cursor_created or _first_backfill_start() or run_started_at
        params: dict[str, Any] = {"created[gte]": int((since - EVENTS_OVERLAP).timestamp())}
        listed: list[dict[str, Any]] = []
        for page in mirror.api.list_pages("/v1/events", **params):
            listed.extend(page["data"])
        listed.sort(key=lambda e: (e["created"], e["id"]))
        new = 0
        newest: tuple[datetime, str] | None = None
        for payload in listed:
            if event_store(payload, source=StripeEvent.Source.EVENTS_LIST) is not None:
                new += 1
            newest = (convert_tstamp(payload["created"]), payload["id"])
        # Applied in batches, as the webhook's drain does (a backlog of a day's events after
        # an outage is thousands); each pass takes at most a batch, so this ends.
        for _ in range(new // PENDING_BATCH + 2):
            if events_apply_pending(limit=PENDING_BATCH, mirror=mirror) < PENDING_BATCH:
                break
        # Also the stored events whose task has not run (worker down) or that failed.
        for event_id in StripeEvent.objects.filter(
            status__in=[StripeEvent.Status.PENDING, StripeEvent.Status.FAILED],
            received_at__lt=run_started_at - timedelta(minutes=1),
            attempts__lt=AUTOMATIC_ATTEMPTS,
        ).values_list("pk", flat=True)[:500]:
            event_process(event_id=event_id, mirror=mirror)
        if new:
            relink()
        done: dict[str, Any] = {
            "last_run_started_at": run_started_at,
            "last_run_finished_at": timezone.now(),
            "last_run_objects": new,
            "last_run_requests": mirror.api.requests,
            "last_run_duration": timedelta(seconds=time.monotonic() - started),
            "last_error": "",
            "synced_through": run_started_at,
        }
        if newest:
            done |= {"events_cursor_created": newest[0], "events_cursor_id": newest[1]}
        lease_release(EVENTS_KEY, **done)
        # Every type whose backfill has finished is now current up to this run's start.
        SyncStatus.objects.filter(
            object_type__in=[t.key for t in OBJECT_TYPES], backfill_finished_at__isnull=False
        ).update(synced_through=run_started_at)
        return new
    except Exception as error:
        lease_release_failed(EVENTS_KEY, run_started_at, error)
        raise


def _first_backfill_start() -> datetime | None:
    first = (
        SyncStatus.objects.exclude(object_type=EVENTS_KEY)
        .filter(backfill_started_at__isnull=False)
        .order_by("backfill_started_at")
        .values_list("backfill_started_at", flat=True)
        .first()
    )
    return first
