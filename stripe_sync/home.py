"""What the Stripe sync puts on the home page (backoffice/home.py): events that failed, and
tasks stuck before the broker (writes to Stripe among them). The records Stripe refused are
counted by their own domains. Registered in stripe_sync/apps.py."""

from collections.abc import Iterable

from django.http import HttpRequest
from django.utils import timezone

from backoffice.home import Figure, may_open
from stripe_sync.models import OutboxTask, StripeEvent
from stripe_sync.selectors import outbox_tasks_stuck, stripe_events_failed

PANEL = "Stripe sync"


def stripe_sync_home_figures(request: HttpRequest) -> Iterable[Figure]:
    figures = []
    if may_open(request, StripeEvent):
        figures.append(
            Figure(
                PANEL,
                "Stripe events that failed",
                stripe_events_failed().count(),
                StripeEvent,
                {"status__exact": StripeEvent.Status.FAILED},
            )
        )
    if may_open(request, OutboxTask):
        figures.append(
            Figure(
                PANEL,
                "Tasks stuck before the broker (writes to Stripe among them)",
                outbox_tasks_stuck(now=timezone.now()).count(),
                OutboxTask,
                {"state": "stuck"},  # the tasks list's filter "state"
            )
        )
    return figures
