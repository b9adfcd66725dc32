from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from billing.catalog.models import CatalogItem, ListPrice

pytestmark = pytest.mark.django_db


def test_an_items_list_prices_are_in_their_currencys_precision(demo_logins):
    item = CatalogItem.objects.create(code="seats-x", name="Seats X", unit_label="seat")
    yen = ListPrice.objects.create(item=item, currency="JPY", unit_amount=Decimal("4000"))
    ListPrice.objects.create(item=item, currency="BHD", unit_amount=Decimal("12.5"))
    ListPrice.objects.create(item=item, currency="EUR", unit_amount=Decimal("0.0125"))
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    html = client.get(reverse("admin:billing_catalogitem_change", args=[item.pk])).content
    page = html.decode()

    for typed in ('value="4000"', 'value="12.500"', 'value="0.0125"'):
        assert typed in page, typed
    assert "4000.000000" not in page
    assert str(yen) == "Seats X 4,000 JPY"
