"""Usage quantities recorded per account, metric and period."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from billing.usage.models import UsageQuantity
from billing.usage.selectors import usage_for_period
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def record(account, metric, start, end, quantity) -> UsageQuantity:
    return UsageQuantity.objects.create(
        account=account, metric=metric, period_start=start, period_end=end, quantity=quantity
    )


def test_usage_of_a_period_adds_what_is_recorded_inside_it():
    account, other = AccountFactory(), AccountFactory()
    record(account, "api_calls", date(2026, 3, 1), date(2026, 3, 15), 1000)
    record(account, "api_calls", date(2026, 3, 16), date(2026, 3, 31), 500)
    record(account, "api_calls", date(2026, 4, 1), date(2026, 4, 30), 7)  # another month
    record(other, "api_calls", *MARCH, 99)  # another customer
    record(account, "storage_gb", *MARCH, 0)  # measured: nothing used

    used = usage_for_period(account.pk, {"api_calls", "storage_gb", "seats_active"}, MARCH)

    # nothing recorded for seats_active: unknown, so left out rather than taken as 0
    assert used == {"api_calls": 1500, "storage_gb": 0}


def test_periods_of_one_metric_cannot_overlap():
    account = AccountFactory()
    record(account, "api_calls", *MARCH, 1000)

    overlapping = UsageQuantity(
        account=account,
        metric="api_calls",
        period_start=date(2026, 3, 20),
        period_end=date(2026, 4, 19),
        quantity=5,
    )
    with pytest.raises(ValidationError, match="already recorded for 2026-03-01 to 2026-03-31"):
        overlapping.full_clean()

    # another metric, or the next month, is fine
    overlapping.metric = "storage_gb"
    overlapping.full_clean()
    UsageQuantity(
        account=account,
        metric="api_calls",
        period_start=date(2026, 4, 1),
        period_end=date(2026, 4, 30),
        quantity=5,
    ).full_clean()
