"""Fixtures shared by the whole suite: the real Stripe stand-in, a real Celery worker, logins."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

# Fixtures that tests in several folders use.
pytest_plugins = ["customers.tests.fixtures", "billing.contracts.tests.fixtures"]

ROOT = Path(__file__).resolve().parent
# A key of the shape dj-stripe accepts (sk_test_ + 24 or more letters and digits).
TEST_STRIPE_SECRET_KEY = "sk_test_" + "backofficetests0123456789"
TEST_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config: pytest.Config) -> None:
    # Real password hashing costs about a second a login; the tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def stop_process(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[str]:
    """localstripe with the test tooling's gap-fillers, as a real server on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "billing.tests.localstripe_server", "--port", str(port)],
        cwd=ROOT,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture
def stripe_standin(stripe_server: str, settings: Any) -> str:
    """Points stripe-python and dj-stripe at the local stand-in, emptied for each test."""
    flush = urllib.request.Request(f"{stripe_server}/_config/data", method="DELETE")  # noqa: S310
    urllib.request.urlopen(flush, timeout=5).close()  # noqa: S310 (our own loopback server)
    settings.STRIPE_API_BASE = stripe_server
    settings.STRIPE_SECRET_KEY = TEST_STRIPE_SECRET_KEY
    return stripe_server


@pytest.fixture
def faults(stripe_standin: str, settings: Any) -> Iterator[Callable[..., None]]:
    """Turns the stand-in's fault injection on (a share of requests answered 429, 500 or late)
    and off; off again after the test."""
    # Our client gives up before the stand-in's late answers arrive, as with a real timeout.
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_ATTEMPTS = 3

    def switch(on: bool, rate: float = 0.3) -> None:
        if on:
            _standin_config(
                stripe_standin,
                "POST",
                "/_config/faults",
                {
                    "rate": rate,
                    "kinds": ["429", "500", "timeout"],
                    "seed": 11,
                    "timeout_seconds": 1,
                },
            )
        else:
            _standin_config(stripe_standin, "DELETE", "/_config/faults")

    yield switch
    switch(False)


def _standin_config(base: str, method: str, path: str, body: Any = None) -> Any:
    from billing.tests.test_stripe_standin_gaps import standin_config

    return standin_config(base, method, path, body)


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
def celery_worker_process(
    transactional_db: None, stripe_standin: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """A real `celery worker` process on the real Redis broker, on a queue of its own.

    Yields the broker URL and queue name to send tasks to. Needs committed data, hence
    transactional_db: the worker is another process with its own connection.
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
        "STRIPE_API_BASE": stripe_standin,
        "STRIPE_SECRET_KEY": TEST_STRIPE_SECRET_KEY,
        "CONN_MAX_AGE": "0",
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
        "1",
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
        yield {"broker_url": TEST_BROKER_URL, "queue": queue, "log": str(log_path)}
    finally:
        stop_process(process)
        # Drop whatever the test left on its private queue.
        import redis

        redis.Redis.from_url(TEST_BROKER_URL).delete(queue)


DEMO_TEST_PASSWORD = "correct-horse-battery"


@pytest.fixture
def demo_logins(db: None) -> dict[str, str]:
    """The demo users (admin, finance, manager, manager2) with a known password."""
    from backoffice.demo import DEMO_USERS, demo_users_ensure

    demo_users_ensure(password=DEMO_TEST_PASSWORD)
    return {username: DEMO_TEST_PASSWORD for username in DEMO_USERS}
