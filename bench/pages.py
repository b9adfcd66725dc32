"""Timing an admin page as the benchmarks do: warmed once, then the median and 95th
percentile of `rounds` requests, and the SQL queries of one more."""

import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def page_timing(client: Client, url: str, rounds: int) -> tuple[float, float, int]:
    """(median seconds, 95th percentile seconds, queries) of GET `url`, which must answer 200."""
    client.get(url)  # warm caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)], len(queries)
