"""The demo's Radar queue: an open review and an early fraud warning, each on a demo account."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from backoffice.models import User
from billing.money import format_money
from payments.radar import radar_queue

pytestmark = pytest.mark.django_db


def test_the_demo_has_an_open_review_and_a_fraud_warning_each_manager_sees_their_own(
    settings, client
):
    settings.DEMO_PASSWORD = "s3cret-demo"
    call_command("demo_data", stdout=io.StringIO())
    call_command("demo_data", stdout=io.StringIO())  # again: nothing doubled

    finance = User.objects.get(username="finance")
    items = radar_queue(finance)
    assert [(i.stripe_id, i.reason, format_money(i.amount)) for i in items] == [
        ("prv_demo_radar_review", "A Radar rule", "3,480.00 EUR"),
        ("issfr_demo_radar_warning", "Made with a stolen card", "1,299.00 EUR"),
    ]
    assert all(i.account is not None and i.kinds for i in items)
    client.force_login(finance)
    page = client.get(reverse("admin:payments_radarqueue_changelist")).content.decode()
    assert "3,480.00" in page
    assert items[0].account.legal_name in page

    for username in ("manager", "manager2"):
        manager = User.objects.get(username=username)
        theirs = [i.stripe_id for i in items if i.account.account_manager_id == manager.pk]
        assert [i.stripe_id for i in radar_queue(manager)] == theirs
