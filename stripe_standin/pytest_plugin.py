"""The stand-in as pytest fixtures (loaded by the root conftest): a real server on loopback for
the session, emptied for each test that uses it, with faults to switch on."""

import queue
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stripe_standin.control import STANDIN_WEBHOOK_SECRET, TEST_STRIPE_SECRET_KEY, standin_config
from stripe_standin.processes import ROOT, free_port, stop_process, wait_for_port


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[str]:
    """localstripe with the stand-in's gap-fillers, as a real server on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_standin.server", "--port", str(port)], cwd=ROOT
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
            standin_config(
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
            standin_config(stripe_standin, "DELETE", "/_config/faults")

    yield switch
    switch(False)


@pytest.fixture
def webhook_deliveries(stripe_standin: str) -> Iterator["queue.Queue[tuple[bytes, str]]"]:
    """A webhook receiver registered with the stand-in (signing with STANDIN_WEBHOOK_SECRET);
    yields what it receives: each body and its Stripe-Signature."""
    received: queue.Queue[tuple[bytes, str]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    form = urllib.parse.urlencode(
        {"url": f"http://127.0.0.1:{receiver.server_port}/", "secret": STANDIN_WEBHOOK_SECRET}
    )
    register = urllib.request.Request(  # noqa: S310 (our own loopback server)
        f"{stripe_standin}/_config/webhooks/tests", data=form.encode()
    )
    urllib.request.urlopen(register, timeout=5).close()  # noqa: S310
    yield received
    receiver.shutdown()
    receiver.server_close()
