"""Python's cyclic garbage collector held off while a request builds many objects that form no
cycles: a report's ten thousand rows and their export's 170,000 cells."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block. Each collection walks the young objects, and
    every so often every object the process holds. Over a report's rows, decimals and texts,
    which reference counting frees once the response is sent, they found nothing to free and
    took 10-40 ms of billed fairly's export (`GC_GENERATION0_THRESHOLD` sets how often they
    run elsewhere). The collector runs again after the block. Inside another such block, or
    with the collector already off, it is left as it is."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
