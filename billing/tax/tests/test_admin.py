"""Tax settings as finance reads them: percentages as people write them."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from billing.tax.models import TaxRate

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(demo_logins):
    client = Client()
    assert client.login(username="finance", password=demo_logins["finance"])
    return client


@pytest.mark.parametrize("percentage", ["8.875", "19", "0"])
def test_rates_show_their_percentage_as_written_and_an_untouched_save_changes_nothing(
    finance, percentage
):
    rate = TaxRate.objects.create(
        display_name="Sales tax NY",
        percentage=Decimal(percentage),
        country="US",
        state="NY",
        tax_type="sales_tax",
    )
    listed = finance.get(reverse("admin:billing_taxrate_changelist")).content.decode()
    assert f"{percentage}%" in listed
    assert f"{percentage}.0000" not in listed
    assert "8.8750" not in listed

    page = finance.get(reverse("admin:billing_taxrate_change", args=[rate.pk]))
    assert f'name="percentage" value="{percentage}"' in page.content.decode()

    # saving the page as shown is no change of percentage: the rate is not replaced
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["inclusive"] = "on" if rate.inclusive else ""
    response = finance.post(reverse("admin:billing_taxrate_change", args=[rate.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert TaxRate.objects.count() == 1
    rate.refresh_from_db()
    assert rate.active
