"""Backfill: list every object of a type from Stripe into the mirror, resumably.

Pages of 100, newest first. Each page is written in one transaction together with the
checkpoint (the last id written), so an interrupted backfill (a worker killed, Stripe failing
past our retries) continues after the last page that landed. While one page is written the
next is already being fetched, so the database and Stripe work at the same time.
"""

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stripe_sync.client import PAGE_SIZE, StripeApi
from stripe_sync.mirror import Mirror, read_stamp, relink
from stripe_sync.models import SyncStatus
from stripe_sync.object_types import LISTED_TYPES, ObjectType, object_type

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)


class SyncBusy(Exception):
    """Another worker is running this sync right now."""


@dataclass
class BackfillResult:
    object_type: str
    objects: int
    requests: int
    seconds: float
    finished: bool


def sync_status_for(key: str) -> SyncStatus:
    status, _ = SyncStatus.objects.get_or_create(object_type=key)
    return status


def lease_take(key: str) -> SyncStatus:
    """Hold the type's lease, or raise SyncBusy: one run per type at a time."""
    sync_status_for(key)
    now = timezone.now()
    taken = SyncStatus.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), object_type=key
    ).update(lease_until=now + LEASE)
    if not taken:
        raise SyncBusy(f"A sync of {key} is already running.")
    return SyncStatus.objects.get(object_type=key)


def lease_release(key: str, **fields: Any) -> None:
    SyncStatus.objects.filter(object_type=key).update(lease_until=None, **fields)


def lease_release_failed(key: str, run_started_at: datetime, error: Exception) -> None:
    """Release the lease of a run that failed, keeping its error for the sync status page."""
    lease_release(
        key,
        last_run_started_at=run_started_at,
        last_error=f"{type(error).__name__}: {error}",
        last_error_at=timezone.now(),
    )


def _fetch(api: StripeApi, ot: ObjectType, after: str) -> tuple[datetime, dict[str, Any]]:
    # Stamped before asking: the page shows Stripe's state as of this moment or later.
    observed_at = read_stamp()
    params: dict[str, Any] = {"limit": PAGE_SIZE, **dict(ot.list_params)}
    if ot.expand:
        params["expand"] = list(ot.expand)
    if after:
        params["starting_after"] = after
    return observed_at, api.get(ot.list_path, **params)


def backfill(
    key: str, *, restart: bool = False, max_pages: int | None = None, api: StripeApi | None = None
) -> BackfillResult:
    """Run (or resume) the backfill of one object type. `max_pages` stops early (tests)."""
    ot = object_type(key)
    if not ot.list_path:
        raise ValueError(
            f"{ot.label} have no list of their own: they come with {ot.reached_through}."
        )
    status = lease_take(key)
    mirror = Mirror(api)
    started = time.monotonic()
    run_started_at = timezone.now()
    written = 0
    finished = False
    try:
        if restart or not status.backfill_started_at or status.backfill_finished_at:
            status.backfill_started_at = run_started_at
            status.backfill_finished_at = None
            status.backfill_cursor = ""
            status.backfill_objects = 0
            status.save(
                update_fields=[
                    "backfill_started_at",
                    "backfill_finished_at",
                    "backfill_cursor",
                    "backfill_objects",
                ]
            )
        cursor = status.backfill_cursor
        pages = 0
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            pending: Future[tuple[datetime, dict[str, Any]]] = prefetch.submit(
                _fetch, mirror.api, ot, cursor
            )
            while True:
                observed_at, page = pending.result()
                objects = page.get("data") or []
                more = bool(page.get("has_more")) and bool(objects)
                pages += 1
                if more and (max_pages is None or pages < max_pages):
                    pending = prefetch.submit(_fetch, mirror.api, ot, objects[-1]["id"])
                with transaction.atomic():
                    mirror.write(ot, objects, observed_at=observed_at)
                    if objects:
                        cursor = objects[-1]["id"]
                    written += len(objects)
                    SyncStatus.objects.filter(object_type=key).update(
                        backfill_cursor=cursor,
                        backfill_objects=status.backfill_objects + written,
                        lease_until=timezone.now() + LEASE,
                    )
                if not more:
                    finished = True
                    break
                if max_pages is not None and pages >= max_pages:
                    break
        if finished:
            relink()
        seconds = time.monotonic() - started
        now = timezone.now()
        done: dict[str, Any] = {
            "last_run_started_at": run_started_at,
            "last_run_finished_at": now,
            "last_run_objects": written,
            "last_run_requests": mirror.api.requests,
            "last_run_duration": timedelta(seconds=seconds),
            "last_error": "",
        }
        if finished:
            done |= {
                "backfill_finished_at": now,
                "backfill_cursor": "",
                "synced_through": status.backfill_started_at,
            }
        lease_release(key, **done)
        return BackfillResult(key, written, mirror.api.requests, seconds, finished)
    except Exception as error:
        lease_release_failed(key, run_started_at, error)
        raise


def backfill_all(*, restart: bool = False) -> list[BackfillResult]:
    """Every listed type, in dependency order (products before prices, customers first...)."""
    return [backfill(ot.key, restart=restart) for ot in LISTED_TYPES]
