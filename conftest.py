"""Fixtures shared by the whole suite: the real Stripe stand-in (stripe_standin's plugin), a
real Celery worker, logins."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from stripe_standin.control import TEST_STRIPE_SECRET_KEY
from stripe_standin.processes import ROOT, stop_process

# Fixtures that tests in several folders use.
pytest_plugins = [
    "stripe_standin.pytest_plugin",
    "customers.tests.fixtures",
    "billing.contracts.tests.fixtures",
]

TEST_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config: pytest.Config) -> None:
    # Real password hashing costs about a second a login; the tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # client.login and force_login sessions have given their second factor (the tests of
    # signing in use the real forms): backoffice/logins/tests/client.py.
    from backoffice.logins.tests.client import client_logins_give_the_second_factor

    client_logins_give_the_second_factor()


def database_url_for_other_processes() -> str:
    """The test database as a DATABASE_URL, so that a worker process writes where we read."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


def broker_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def worker_stripe_api_base(stripe_standin: str) -> str:
    """The Stripe the worker talks to; a test module may override it (another stand-in)."""
    return stripe_standin


@pytest.fixture
def worker_concurrency() -> int:
    """Processes in the worker's pool; a test module may override it."""
    return 1


@pytest.fixture
def celery_worker_process(
    transactional_db: None, worker_stripe_api_base: str, worker_concurrency: int, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """A real `celery worker` process on the real Redis broker, on a queue of its own.

    Yields the broker URL and queue name to send tasks to. Needs committed data, hence
    transactional_db: the worker is another process with its own connection. What the worker
    queues itself goes to the same queue.
    """
    if not broker_reachable(TEST_BROKER_URL):
        pytest.fail(
            f"No Redis broker at {TEST_BROKER_URL}: start Redis (README, 'Running the tests') "
            "or set TEST_BROKER_URL."
        )
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_other_processes(),
        "CELERY_BROKER_URL": TEST_BROKER_URL,
        "STRIPE_API_BASE": worker_stripe_api_base,
        "STRIPE_SECRET_KEY": TEST_STRIPE_SECRET_KEY,
        "CONN_MAX_AGE": "0",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "backoffice",
        "worker",
        "--queues",
        queue,
        "--concurrency",
        str(worker_concurrency),
        "--hostname",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
        "--include",
        "backoffice.tests.worker_tasks",
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield {
            "broker_url": TEST_BROKER_URL,
            "queue": queue,
            "log": str(log_path),
            "pid": str(process.pid),
        }
    finally:
        stop_process(process)
        # Drop whatever the test left on its private queue.
        import redis

        redis.Redis.from_url(TEST_BROKER_URL).delete(queue)


DEMO_TEST_PASSWORD = "correct-horse-battery"


@pytest.fixture
def demo_logins(db: None) -> dict[str, str]:
    """The demo users (admin, finance, manager, manager2) with a known password."""
    from demo.users import DEMO_USERS, demo_users_ensure

    demo_users_ensure(password=DEMO_TEST_PASSWORD)
    return {username: DEMO_TEST_PASSWORD for username in DEMO_USERS}
