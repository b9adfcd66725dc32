"""Reads of usage quantities."""

from datetime import date

from billing.usage.models import UsageQuantity


def usage_for_period(
    account_id: int, metrics: set[str], period: tuple[date, date]
) -> dict[str, int]:
    """Units used of each metric over the period, from the quantities recorded inside it;
    a metric with nothing recorded is left out (unknown, not zero)."""
    used: dict[str, int] = {}
    recorded = UsageQuantity.objects.filter(
        account_id=account_id,
        metric__in=metrics,
        period_start__gte=period[0],
        period_end__lte=period[1],
    ).values_list("metric", "quantity")
    for metric, quantity in recorded:
        used[metric] = used.get(metric, 0) + quantity
    return used
