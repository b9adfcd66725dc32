"""Timing an admin page as the benchmarks do: warmed once, then the median and 95th
percentile of `rounds` requests, and the SQL queries of one more."""

import os
import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def page_timing(client: Client, url: str, rounds: int) -> tuple[float, float, int]:
    """(median seconds, 95th percentile seconds, queries) of GET `url`, which must answer 200."""
    return pages_timing(client, {url: url}, rounds)[url]


def pages_timing(
    client: Client, urls: dict[str, str], rounds: int
) -> dict[str, tuple[float, float, int]]:
    """page_timing of each of `urls` (by name), the pages taken in turn each round rather
    than one page's rounds together: a slow minute of a shared machine then falls on every
    page alike, not on the one page timed during it. Each warmed once first; the queries of
    one more request each."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    for url in urls.values():
        client.get(url)  # warm caches
    for _ in range(rounds):
        for name, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            times[name].append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
    results = {}
    for name, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        ordered = sorted(times[name])
        results[name] = (
            statistics.median(ordered),
            ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            len(queries),
        )
    return results


def machine_yardstick() -> str:
    """How fast this machine runs Python right now, for reading a run's figures as ratios:
    the best of five timings of a fixed piece of work shaped like a report's (decimal sums
    and a dictionary a row), with the load average. Shared machines differ by half from one
    run to the next; two runs' figures compare only beside their yardsticks."""
    from decimal import Decimal

    def work() -> float:
        start = time.perf_counter()
        total, rows = Decimal(0), []
        for n in range(100_000):
            amount = Decimal(n) / 7
            total += amount.quantize(Decimal("0.01"))
            rows.append({"n": n, "amount": amount, "text": str(amount)})
        return time.perf_counter() - start

    best = min(work() for _ in range(5))
    return (
        f"yardstick {best * 1000:.0f} ms (fixed Python work), load average {os.getloadavg()[0]:.2f}"
    )
