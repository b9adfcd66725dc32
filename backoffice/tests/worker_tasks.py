"""Tasks only the test worker loads (celery worker --include), to test Celery's own settings."""

import os
from pathlib import Path

from celery import shared_task

from customers.models import Account


@shared_task(name="tests.create_account_after_worker_lost")
def create_account_after_worker_lost(attempts_file: str, external_ref: str) -> None:
    attempts = Path(attempts_file)
    attempts.write_text(str(int(attempts.read_text() or 0) + 1) if attempts.exists() else "1")
    if attempts.read_text() == "1":
        # The first delivery dies with its worker process, as under an out-of-memory kill.
        os._exit(1)
    Account.objects.get_or_create(
        external_ref=external_ref,
        defaults={
            "legal_name": "Redelivered Ltd",
            "billing_country": "GB",
            "default_currency": "GBP",
        },
    )


@shared_task(name="tests.hold_the_worker")
def hold_the_worker(seconds: float) -> None:
    """Keep the test worker's one process busy, as a long task would."""
    import time

    time.sleep(seconds)
