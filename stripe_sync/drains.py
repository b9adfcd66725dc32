"""Draining the stored webhook events in batches: the webhook queues a drain task unless one
is queued already, and the drain applies what is pending (stripe_sync/events.py)."""

from typing import Any

from celery import current_app

from stripe_sync.outbox import send_soon

# Set while a drain task is queued and not yet started: events stored meanwhile are applied
# by that drain, so no other is queued. The drain clears it when it starts (before it reads
# the pending events), so an event stored after that queues the next drain.
DRAIN_FLAG = "backoffice:stripe-events-drain-queued"
DRAIN_FLAG_SECONDS = 30  # a drain lost with its broker is queued again after this
_REDIS: dict[str, Any] = {}


def _flags() -> Any:
    """The broker's Redis, for the flag; None when the broker is not Redis."""
    url = str(current_app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://")):
        return None
    if url not in _REDIS:
        import redis

        _REDIS[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _REDIS[url]


def drain_soon() -> None:
    """Queue a drain of the pending events unless one is queued already (off the request)."""
    from stripe_sync.tasks import stripe_events_drain_task

    if current_app.conf.task_always_eager:
        stripe_events_drain_task.delay()
        return
    send_soon(_queue_drain)


def _queue_drain() -> None:
    from stripe_sync.tasks import stripe_events_drain_task

    flags = _flags()
    if flags is not None and not flags.set(DRAIN_FLAG, 1, nx=True, ex=DRAIN_FLAG_SECONDS):
        return  # a drain is queued and will see this event
    stripe_events_drain_task.apply_async(retry=False)


def drain_flag_clear() -> None:
    flags = _flags()
    if flags is not None:
        flags.delete(DRAIN_FLAG)
