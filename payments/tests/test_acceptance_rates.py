"""The acceptance rates read the charges' outcomes (payments.models.ChargeOutcome), which follow
the mirror's charges as the sync writes them and are rebuilt from it by `reports_rebuild`: the
figures are those counted straight from the mirror's Stripe payloads, as the report first did."""

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Count, Q
from django.db.models.fields.json import KT
from djstripe.models import Account as StripeAccount
from djstripe.models import Charge

from backoffice.models import User
from backoffice.roles import FINANCE
from customers.selectors import VIEW_ALL_ACCOUNTS
from customers.tests.factories import AccountFactory, UserFactory
from payments.acceptance import DECIDED, acceptance_rates
from payments.models import ChargeOutcome
from stripe_sync.mirror import Mirror, relink
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "stripe_standin/fixtures/fixtures3.json"
OWNER = "acct_acceptance_tests"
MARCH = {"start": date(2026, 3, 1), "end": date(2026, 3, 31)}
SEEN = datetime(2026, 4, 1, tzinfo=UTC)


def march(day: int) -> int:
    return int(datetime(2026, 3, day, 12, tzinfo=UTC).timestamp())


def mirror() -> Mirror:
    StripeAccount.objects.get_or_create(id=OWNER, defaults={"stripe_data": {"id": OWNER}})
    writer = Mirror()
    writer._owner_account_id = OWNER  # no Stripe to ask who owns the objects
    return writer


def customer_mirrored(customer_id: str, name: str) -> None:
    mirror().write(
        object_type("customers"),
        [{"id": customer_id, "object": "customer", "name": name, "metadata": {}}],
        observed_at=SEEN,
    )


def charge(charge_id: str, customer: str | None, method: str, status: str, day: int) -> Any:
    """A charge as Stripe sends it (its own example, fixtures3.json), paid by `method`."""
    example = json.loads(FIXTURES.read_text())["resources"]["charge"]
    details = example["payment_method_details"] if method == "card" else {method: {}}
    return {
        **example,
        "id": charge_id,
        "created": march(day),
        "customer": customer,
        "paid": status == "succeeded",
        "payment_method_details": {**details, "type": method},
        "source": None,
        "status": status,
    }


def mirrored(*charges: dict[str, Any], at: datetime = SEEN) -> None:
    """Written by the sync's mirror, as a backfill page or a webhook's event writes them."""
    mirror().write(object_type("charges"), list(charges), observed_at=at)


def counted(user: User, **filters: Any) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (r.country, r.method): (r.attempted, r.succeeded)
        for r in acceptance_rates(user, **MARCH, **filters)
    }


def counted_from_the_payloads(user: User, **filters: Any) -> dict[tuple[str, str], tuple[int, int]]:
    """The same figures counted as the report first did: the mirror's charges, each one's
    payment method read from its Stripe payload."""
    charges = Charge.objects.filter(
        status__in=DECIDED,
        created__gte=datetime(2026, 3, 1, tzinfo=UTC),
        created__lt=datetime(2026, 4, 1, tzinfo=UTC),
    )
    if not user.has_perm(VIEW_ALL_ACCOUNTS):
        charges = charges.filter(customer__backoffice_account__account_manager=user)
    if filters.get("country"):
        charges = charges.filter(customer__backoffice_account__billing_country=filters["country"])
    if filters.get("manager_id"):
        charges = charges.filter(
            customer__backoffice_account__account_manager_id=filters["manager_id"]
        )
    rows = (
        charges.annotate(method=KT("stripe_data__payment_method_details__type"))
        .values("customer__backoffice_account__billing_country", "method")
        .annotate(attempted=Count("pk"), succeeded=Count("pk", filter=Q(status="succeeded")))
    )
    return {
        (str(r["customer__backoffice_account__billing_country"] or ""), r["method"] or "unknown"): (
            r["attempted"],
            r["succeeded"],
        )
        for r in rows
    }


@pytest.fixture
def people(manager: User) -> dict[str, User]:
    finance = UserFactory(username="fin-acceptance")
    finance.groups.add(Group.objects.get(name=FINANCE))
    other = UserFactory(username="am-acceptance-other")
    other.groups.add(*manager.groups.all())
    return {"finance": finance, "manager": manager, "other": other}


@pytest.fixture
def march_charges(people: dict[str, User]) -> None:
    """An American account of the manager's and a German one of the other manager's, charged in
    March 2026 (and once in April, outside the range), plus a customer that is no account."""
    customer_mirrored("cus_acc_us", "Prairie Freight Inc.")
    customer_mirrored("cus_acc_de", "Rheinwerk GmbH")
    customer_mirrored("cus_acc_guest", "Walk-in buyer")
    AccountFactory(
        legal_name="Prairie Freight Inc.",
        billing_country="US",
        default_currency="USD",
        stripe_customer_id="cus_acc_us",
        account_manager=people["manager"],
    )
    AccountFactory(
        legal_name="Rheinwerk GmbH",
        billing_country="DE",
        stripe_customer_id="cus_acc_de",
        account_manager=people["other"],
    )
    mirrored(
        charge("ch_us_1", "cus_acc_us", "card", "succeeded", 2),
        charge("ch_us_2", "cus_acc_us", "card", "failed", 5),
        charge("ch_us_3", "cus_acc_us", "card", "succeeded", 9),
        charge("ch_us_4", "cus_acc_us", "us_bank_account", "succeeded", 12),
        charge("ch_us_5", "cus_acc_us", "us_bank_account", "pending", 30),
        charge("ch_de_1", "cus_acc_de", "sepa_debit", "succeeded", 3),
        charge("ch_de_2", "cus_acc_de", "sepa_debit", "failed", 17),
        charge("ch_de_3", "cus_acc_de", "card", "succeeded", 31),
        charge("ch_guest_1", "cus_acc_guest", "card", "failed", 20),
        {**charge("ch_us_april", "cus_acc_us", "card", "failed", 1), "created": march(31) + 86400},
    )


def test_the_rates_are_the_charges_counted_by_hand_and_from_the_mirror(
    people: dict[str, User], march_charges: None, django_assert_num_queries: Any
) -> None:
    # given finance, whose permissions are read once a request
    assert people["finance"].has_perm(VIEW_ALL_ACCOUNTS)
    # when: one query, whatever the number of charges
    with django_assert_num_queries(1):
        rates = acceptance_rates(people["finance"], **MARCH)
    # then: the pending debit and April's charge are not counted
    by_hand = {
        ("US", "card"): (3, 2),
        ("US", "us_bank_account"): (1, 1),
        ("DE", "sepa_debit"): (2, 1),
        ("DE", "card"): (1, 1),
        ("", "card"): (1, 0),
    }
    assert {(r.country, r.method): (r.attempted, r.succeeded) for r in rates} == by_hand
    assert [(r.country, r.method) for r in rates][-1] == ("", "card")  # no account comes last
    for user, filters in (
        (people["finance"], {}),
        (people["finance"], {"country": "DE"}),
        (people["finance"], {"manager_id": people["manager"].pk}),
        (people["manager"], {}),
        (people["other"], {}),
    ):
        assert counted(user, **filters) == counted_from_the_payloads(user, **filters)
    assert counted(people["manager"]) == {("US", "card"): (3, 2), ("US", "us_bank_account"): (1, 1)}


def test_a_pending_debit_counts_once_stripe_says_it_settled(
    people: dict[str, User], march_charges: None
) -> None:
    # given the ACH debit of 30 March, pending
    pending = charge("ch_us_5", "cus_acc_us", "us_bank_account", "pending", 30)
    # when its event says it succeeded
    mirrored({**pending, "status": "succeeded", "paid": True}, at=datetime(2026, 4, 3, tzinfo=UTC))
    # then it is counted, on the day it was created
    assert counted(people["finance"])[("US", "us_bank_account")] == (2, 2)
    # and an older state arriving late changes nothing
    mirrored(pending, at=datetime(2026, 4, 2, tzinfo=UTC))
    assert counted(people["finance"])[("US", "us_bank_account")] == (2, 2)
    assert counted(people["finance"]) == counted_from_the_payloads(people["finance"])


def test_reports_rebuild_writes_the_same_outcomes_again(
    people: dict[str, User], march_charges: None
) -> None:
    # given the outcomes lost (a restore of the mirror alone)
    before = counted(people["finance"])
    ChargeOutcome.objects.all().delete()
    assert counted(people["finance"]) == {}
    # when
    out = io.StringIO()
    call_command("reports_rebuild", stdout=out)
    # then
    assert "the outcomes of 10 charge(s)" in out.getvalue()
    assert counted(people["finance"]) == before


def test_a_charge_mirrored_before_its_customer_counts_for_the_account_once_it_is_linked(
    people: dict[str, User], march_charges: None
) -> None:
    # given a charge of a customer the mirror does not hold yet
    mirrored(charge("ch_late_1", "cus_acc_late", "bacs_debit", "succeeded", 10))
    assert counted(people["finance"])[("", "bacs_debit")] == (1, 1)
    # when the customer arrives and an account of ours is linked to it
    customer_mirrored("cus_acc_late", "Thameside Ltd")
    AccountFactory(
        legal_name="Thameside Ltd",
        billing_country="GB",
        default_currency="GBP",
        stripe_customer_id="cus_acc_late",
        account_manager=people["manager"],
    )
    # then the charge counts for the account's country
    assert counted(people["finance"])[("GB", "bacs_debit")] == (1, 1)
    assert ("", "bacs_debit") not in counted(people["finance"])
    # as it does in the mirror once the mirror links the charge to its customer
    relink()
    assert counted(people["finance"]) == counted_from_the_payloads(people["finance"])
