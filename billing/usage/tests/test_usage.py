"""Usage quantities recorded per account, metric and period."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from billing.usage.models import UsageQuantity
from billing.usage.selectors import usage_figures
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def record(account, metric, start, end, quantity) -> UsageQuantity:
    return UsageQuantity.objects.create(
        account=account, metric=metric, period_start=start, period_end=end, quantity=quantity
    )


def test_the_figures_of_a_span_are_those_recorded_inside_it():
    account, other = AccountFactory(), AccountFactory()
    record(account, "api_calls", date(2026, 3, 1), date(2026, 3, 15), 1000)
    record(account, "api_calls", date(2026, 3, 16), date(2026, 3, 31), 500)
    record(account, "api_calls", date(2026, 4, 1), date(2026, 4, 30), 7)  # another month
    record(other, "api_calls", *MARCH, 99)  # another customer
    record(account, "storage_gb", *MARCH, 0)  # measured: nothing used

    figures = usage_figures(account.pk, {"api_calls", "storage_gb", "seats_active"}, MARCH)

    # (invoice review adds them up per billing period; nothing recorded is unknown, not 0)
    assert figures == [
        ("api_calls", date(2026, 3, 1), date(2026, 3, 15), 1000),
        ("storage_gb", *MARCH, 0),
        ("api_calls", date(2026, 3, 16), date(2026, 3, 31), 500),
    ]


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
