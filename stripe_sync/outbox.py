"""A transactional outbox for the tasks that must not be lost: every write to Stripe (and the
checks that follow a change).

`enqueue(task, *args)` writes the task in the transaction of the change that asks for it, so
the two commit or roll back together. Once the transaction commits, a background thread
publishes it to the broker with a bounded timeout: the request never waits on the broker, and
a broker that refuses connections or never answers costs it nothing. What could not be
published stays waiting; the relay (`relay`: beat's `outbox_relay_task` every minute, and
the admin's "Publish the selected tasks now") publishes it when the broker is back.
Publishing twice is harmless: every task is keyed by our record (its Stripe writes carry
idempotency keys), so a second run does nothing new.

In the embedded default (no broker, Celery eager) the task simply runs after commit.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from celery import current_app
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from stripe_sync.models import OutboxTask

logger = logging.getLogger(__name__)
# One thread per process publishes after commit; a hung broker holds it for the timeout only.
_PUBLISHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
# The relay leaves alone what the thread is about to publish.
RELAY_AFTER = timedelta(seconds=10)
# Waiting longer than this: shown as stuck in the admin.
STUCK_AFTER = timedelta(minutes=5)


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def enqueue(task: Any, *args: Any) -> None:
    """Run `task(*args)` once the current transaction commits, and never lose it."""
    if _eager():
        transaction.on_commit(lambda: task.delay(*args))
        return
    waiting = OutboxTask.objects.create(task=task.name, args=list(args))
    transaction.on_commit(lambda: publish_soon(waiting.pk))


def publish_soon(pk: int) -> None:
    """Publish from the background thread; the caller goes on at once."""
    _PUBLISHER.submit(_publish_in_thread, pk)


def _publish_in_thread(pk: int) -> None:
    try:
        publish(pk)
    except Exception:  # the relay will try again; never kill the thread
        logger.exception("Outbox task %s could not be published", pk)
    finally:
        connection.close()  # this thread's own connection


def publish(pk: int) -> bool:
    """Publish one waiting task to the broker (once: its row is locked while it is sent).
    False when the broker could not take it (the error is kept for the admin)."""
    with transaction.atomic():
        waiting = (
            OutboxTask.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, published_at__isnull=True)
            .first()
        )
        if waiting is None:
            return False  # published already, or being published by another process
        waiting.attempts += 1
        try:
            # No retries of kombu's own: the outbox retries, and nobody waits on it.
            current_app.tasks[waiting.task].apply_async(args=waiting.args, retry=False)
        except Exception as error:
            waiting.last_error = f"{type(error).__name__}: {error}"
            waiting.save(update_fields=["attempts", "last_error"])
            logger.warning("Broker did not take %s: %s", waiting, waiting.last_error)
            return False
        waiting.published_at = timezone.now()
        waiting.last_error = ""
        waiting.save(update_fields=["attempts", "last_error", "published_at"])
    return True


def relay(*, limit: int = 500) -> int:
    """Publish what is still waiting (the broker was down, the process died before its thread
    ran); oldest first. Returns how many were published."""
    close_old_connections()
    cutoff = timezone.now() - RELAY_AFTER
    published = 0
    for pk in (
        OutboxTask.objects.filter(published_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    ):
        if publish(pk):
            published += 1
        elif OutboxTask.objects.filter(pk=pk, published_at__isnull=True, attempts__gt=0).exists():
            break  # the broker is still away: the next pass tries again
    return published


def send_soon(send: Any) -> None:
    """Run `send()` (which talks to the broker) in the background thread; errors are logged.
    For work whose own record is already its outbox (a stored Stripe event is applied by the
    events pass if no task ever arrives)."""
    _PUBLISHER.submit(_send_in_thread, send)


def _send_in_thread(send: Any) -> None:
    try:
        send()
    except Exception as error:
        logger.warning("Broker did not take a task: %s: %s", type(error).__name__, error)
