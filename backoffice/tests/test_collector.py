"""The cyclic collector is held off only inside collector_paused, and always runs again after,
even when the report inside fails: left off, the process would never free a cycle again."""

import gc

import pytest

from backoffice.collector import collector_paused


def test_the_collector_runs_again_after_the_block_even_when_it_fails():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()

    def report() -> None:  # one that fails
        with collector_paused():
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        report()
    assert gc.isenabled()


def test_a_block_inside_another_leaves_the_collector_off_until_the_outer_one_ends():
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_turned_off_elsewhere_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
