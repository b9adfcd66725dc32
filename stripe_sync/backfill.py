"""Backfill: list every object of a type from Stripe into the mirror, resumably.

Pages of 100, newest first. Each page is written in one transaction together with the
checkpoint (the last id written), so an interrupted backfill (a worker killed, Stripe failing
past our retries) continues after the last page that landed. While one page is written the
next is already being fetched, so the database and Stripe work at the same time.

A type with many objects is split into slices by creation date (`backfill_split`), each a
backfill of its own with its own checkpoint and lease (a `SyncStatus` row keyed
`<type>@<from>-<before>`), so that several workers read one type at once. The type is done when
its last slice is (`backfill_split_finished`); only then are references relinked and the type
marked as synced.
"""

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from stripe_sync.client import PAGE_SIZE, StripeApi
from stripe_sync.mirror import Mirror, read_stamp, relink
from stripe_sync.models import SyncStatus
from stripe_sync.object_types import LISTED_TYPES, ObjectType, object_type

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
STRIPE_FIRST_OBJECTS = 1_293_840_000  # 2011-01-01: nothing in Stripe is older


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


def _fetch(
    api: StripeApi, ot: ObjectType, after: str, created: tuple[int, int] | None
) -> tuple[datetime, dict[str, Any]]:
    # Stamped before asking: the page shows Stripe's state as of this moment or later.
    observed_at = read_stamp()
    params: dict[str, Any] = {"limit": PAGE_SIZE, **dict(ot.list_params)}
    if created:
        params["created"] = {"gte": created[0], "lt": created[1]}
    if ot.expand:
        params["expand"] = list(ot.expand)
    if after:
        params["starting_after"] = after
    return observed_at, api.get(ot.list_path, **params)


def slice_key(key: str, created: tuple[int, int]) -> str:
    return f"{key}@{created[0]}-{created[1]}"


def slice_of(status_key: str) -> tuple[str, tuple[int, int]] | None:
    """The type and creation range of a slice's `SyncStatus` key; None for a whole type."""
    key, at, bounds = status_key.partition("@")
    start, _, end = bounds.partition("-")
    if not at or not start.isdigit() or not end.isdigit():
        return None
    return key, (int(start), int(end))


def backfill(
    key: str,
    *,
    restart: bool = False,
    max_pages: int | None = None,
    api: StripeApi | None = None,
    created: tuple[int, int] | None = None,
) -> BackfillResult:
    """Run (or resume) the backfill of one object type, or of the slice of it `created` in
    [from, before) (Unix seconds). `max_pages` stops early (tests)."""
    ot = object_type(key)
    if not ot.list_path:
        raise ValueError(
            f"{ot.label} have no list of their own: they come with {ot.reached_through}."
        )
    if created is not None:
        key = slice_key(key, created)
        if SyncStatus.objects.filter(object_type=key, backfill_finished_at__isnull=False):
            # Read already (a task delivered twice): a slice is read again only in a new split.
            return BackfillResult(key, 0, 0, 0.0, True)
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
                _fetch, mirror.api, ot, cursor, created
            )
            while True:
                observed_at, page = pending.result()
                objects = page.get("data") or []
                more = bool(page.get("has_more")) and bool(objects)
                pages += 1
                if more and (max_pages is None or pages < max_pages):
                    pending = prefetch.submit(_fetch, mirror.api, ot, objects[-1]["id"], created)
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
        if finished and created is None:
            relink()  # a slice's type relinks once, when its last slice is done
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


def backfill_split(
    key: str, *, parts: int, restart: bool = False, api: StripeApi | None = None
) -> list[tuple[int, int]]:
    """Plan the type's backfill as `parts` slices by creation date, from the Stripe account's
    creation to now, or resume the split in progress: the slices left to read. Empty when the
    type is not split (one slice, or a type Stripe does not filter by date): run `backfill`.

    Equal spans of time: a company's objects grow over the years, so the later slices hold
    more; a few more slices than workers keeps every worker busy to the end.
    """
    ot = object_type(key)
    slices = SyncStatus.objects.filter(object_type__startswith=f"{key}@")
    status = sync_status_for(key)
    in_progress = status.backfill_started_at and not status.backfill_finished_at
    if in_progress and not restart and slices.exists():
        left = slices.filter(backfill_finished_at__isnull=True)
        return [
            part[1]
            for part in map(slice_of, left.values_list("object_type", flat=True))
            if part is not None
        ]
    if not ot.splittable or parts < 2:
        return []
    account = (api or StripeApi()).get("/v1/account")
    # An account object without `created` (some platforms): Stripe's own first year.
    start = int(account.get("created") or STRIPE_FIRST_OBJECTS)
    end = int(time.time()) + 1  # later objects reach the mirror by events
    step = max(1, -(-(end - start) // parts))
    bounds = [(s, min(s + step, end)) for s in range(start, end, step)]
    # Objects dated before the account (imported from another account): in the first slice.
    bounds[0] = (0, bounds[0][1])
    with transaction.atomic():
        slices.delete()
        SyncStatus.objects.bulk_create([SyncStatus(object_type=slice_key(key, b)) for b in bounds])
        SyncStatus.objects.filter(object_type=key).update(
            backfill_started_at=timezone.now(),
            backfill_finished_at=None,
            backfill_cursor="",
            backfill_objects=0,
            last_error="",
        )
    return bounds


def backfill_split_finished(key: str) -> bool:
    """Close the type's split once all its slices are read: relink, count, mark the type
    synced. True for the one caller that closed it (the next type's backfill follows)."""
    with transaction.atomic():
        status = SyncStatus.objects.select_for_update().get(object_type=key)
        slices = SyncStatus.objects.filter(object_type__startswith=f"{key}@")
        if status.backfill_finished_at or slices.filter(backfill_finished_at__isnull=True):
            return False
        totals = slices.aggregate(
            objects=Sum("backfill_objects"),
            requests=Sum("last_run_requests"),
            first=Min("last_run_started_at"),
        )
        relink()
        now = timezone.now()
        started = totals["first"] or status.backfill_started_at or now
        SyncStatus.objects.filter(object_type=key).update(
            backfill_finished_at=now,
            backfill_objects=totals["objects"] or 0,
            synced_through=status.backfill_started_at,
            last_run_started_at=started,
            last_run_finished_at=now,
            last_run_objects=totals["objects"] or 0,
            last_run_requests=totals["requests"] or 0,
            last_run_duration=now - started,
            last_error="",
        )
        return True


def backfill_all(*, restart: bool = False) -> list[BackfillResult]:
    """Every listed type, in dependency order (products before prices, customers first...)."""
    return [backfill(ot.key, restart=restart) for ot in LISTED_TYPES]
