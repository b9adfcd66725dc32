"""What tax settings put on the home page (backoffice/home.py): rates Stripe refused or is
retrying, for those who change rates (finance). Registered in billing/apps.py."""

from collections.abc import Iterable

from django.http import HttpRequest

from backoffice.home import Figure, may_open
from billing.tax.models import TaxRate
from billing.tax.selectors import tax_rates_push_failing
from stripe_sync.selectors import PUSH_FAILING

CHANGE_TAX_RATE = "billing.change_taxrate"


def tax_home_figures(request: HttpRequest) -> Iterable[Figure]:
    # Account managers may read the rates; fixing one Stripe refused is finance's.
    if not (may_open(request, TaxRate) and request.user.has_perm(CHANGE_TAX_RATE)):
        return []
    return [
        Figure(
            "Stripe sync",
            "Tax rates Stripe refused or is retrying",
            tax_rates_push_failing().count(),
            TaxRate,
            {"stripe_push_status__in": ",".join(PUSH_FAILING)},
        )
    ]
